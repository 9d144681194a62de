"""`python -m devstack dev`: the local loop behind `make dev`.

Starts Redis, livekit-server, the SIP bridge, the worker (`python agent.py dev`), the browser
page (`python -m agent.web`, its URL printed) and Prometheus (monitoring/prometheus.yml), and
the provider emulators when `.env` has no real
provider keys. Ctrl-C stops everything it started.
On machines where WebRTC must stay off real interfaces, `--netns on` (the Makefile's default
when running as root) runs it all inside a private network namespace.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from dotenv import dotenv_values

from . import services as svc

PROVIDER_KEYS = ("DEEPGRAM_API_KEY", "DEEPSEEK_API_KEY", "ELEVEN_API_KEY")
HERE = svc.ROOT / "devstack"
DIALOGUE = HERE / "dialogue.json"
PHRASES = HERE / "phrases.txt"
STATE_PID = svc.STATE / "dev.pid"  # lets `make call` join the dev stack's network namespace


def _provision() -> None:
    """Create the SIP trunks and dispatch rule (sip/*.json) on the local server."""
    import asyncio

    from sip import provision

    os.environ.update(svc.livekit_env())
    changes = asyncio.run(provision.apply_to_server())
    for c in changes:
        print(f"[dev] sip {c.kind} {c.name}: {c.action} ({c.id})", flush=True)


def _want_netns(mode: str) -> bool:
    if mode == "on":
        return True
    if mode == "off":
        return False
    return os.geteuid() == 0 and sys.platform.startswith("linux")


def _provider_env(emulate: str) -> tuple[dict[str, str], bool]:
    file_env = {k: v for k, v in dotenv_values(svc.ROOT / ".env").items() if v}
    merged = {**file_env, **os.environ}
    have_keys = all(merged.get(k) for k in PROVIDER_KEYS)
    use_emulators = emulate == "on" or (emulate == "auto" and not have_keys)
    return (svc.emulator_env() if use_emulators else {}), use_emulators


def dev(args: argparse.Namespace) -> int:
    if _want_netns(args.netns) and not svc.in_private_netns():
        print("[dev] entering a private network namespace (scripts/in-netns)", flush=True)
        argv = [str(svc.ROOT / "scripts" / "in-netns"), sys.executable, "-m", "devstack",
                *sys.argv[1:]]
        child = subprocess.Popen(argv)
        # Pass Ctrl-C / SIGTERM on to the stack inside the namespace, so it stops everything.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda s, _f: child.send_signal(s))
        return child.wait()

    # SIGTERM (e.g. from `timeout` or a service manager) stops the stack like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda _s, _f: (_ for _ in ()).throw(KeyboardInterrupt()))

    from dotenv import load_dotenv

    load_dotenv(svc.ROOT / ".env", override=False)
    env, emulated = _provider_env(args.emulate)
    with svc.Stack() as stack:
        try:
            stack.up(svc.redis())
            stack.up(svc.livekit_server())
            if emulated:
                print("[dev] no provider keys in .env: Deepgram, DeepSeek and ElevenLabs are "
                      "EMULATED locally (emulators/), following devstack/dialogue.json",
                      flush=True)
                stack.up(svc.emulators(profile=args.profile, script=DIALOGUE,
                                       phrases=PHRASES))
            stack.up(svc.livekit_sip())
            _provision()
            worker = stack.up(svc.worker("dev", env=env))
            stack.up(svc.web(env=env))
            stack.up(svc.prometheus())
            STATE_PID.write_text(str(os.getpid()))
        except svc.ServiceError as e:
            print(f"[dev] {e}", file=sys.stderr)
            return 1
        key, _ = svc.livekit_keys()
        print(f"[dev] stack is up: LiveKit {svc.LIVEKIT_URL} (API key {key}), SIP bridge on "
              "127.0.0.1:5060, worker registered.\n"
              f"[dev] talk to the agent in a browser: {svc.web_url(env)}\n"
              "[dev] or `make call` phones it. Ctrl-C stops everything.", flush=True)
        print(f"[dev] monitoring: Prometheus {svc.PROMETHEUS_URL} (alerts: "
              f"{svc.PROMETHEUS_URL}/alerts), scraping the worker's metrics "
              f"http://127.0.0.1:{svc.WORKER_METRICS_PORT}/metrics, livekit-server's "
              f":{svc.LIVEKIT_METRICS_PORT} and livekit-sip's :{svc.SIP_METRICS_PORT}; "
              "Grafana dashboard: monitoring/grafana-dashboard.json", flush=True)
        if args.exit_when_ready:
            return 0
        return _follow(worker)


def _follow(worker: svc.Service) -> int:
    """Print the worker's log as it grows until Ctrl-C or the worker exits."""
    offset = 0
    try:
        while worker.proc is not None and worker.proc.poll() is None:
            text = worker.log_text()
            if len(text) > offset:
                sys.stdout.write(text[offset:])
                sys.stdout.flush()
                offset = len(text)
            time.sleep(0.3)
    except KeyboardInterrupt:
        print("\n[dev] stopping…", flush=True)
        return 0
    print(f"[dev] worker exited; see {worker.log_path}", file=sys.stderr)
    return 1


def token(args: argparse.Namespace) -> int:
    """Print a join token whose room config dispatches the agent (browser users need one)."""
    from livekit import api

    key, secret = svc.livekit_keys()
    settings_name = os.environ.get("AGENT_NAME") or dotenv_values(svc.ROOT / ".env").get(
        "AGENT_NAME") or "phone-agent"
    jwt = (api.AccessToken(key, secret).with_identity(args.identity).with_name(args.identity)
           .with_grants(api.VideoGrants(room_join=True, room=args.room))
           .with_room_config(api.RoomConfiguration(
               agents=[api.RoomAgentDispatch(agent_name=settings_name)]))
           .to_jwt())
    print(f"server: {svc.LIVEKIT_URL}\nroom:   {args.room}\nagent:  {settings_name}\n"
          f"token:  {jwt}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("dev", help="run the local stack and the worker in dev mode")
    p.add_argument("--netns", choices=["auto", "on", "off"], default="auto",
                   help="run inside a private network namespace (auto: when root on Linux)")
    p.add_argument("--emulate", choices=["auto", "on", "off"], default="auto",
                   help="use local provider emulators (auto: when .env has no provider keys)")
    p.add_argument("--profile", choices=["none", "reference"], default="reference",
                   help="emulator latency profile")
    p.add_argument("--exit-when-ready", action="store_true",
                   help="stop as soon as the worker has registered (smoke test)")
    t = sub.add_parser("token", help="print a join token that dispatches the agent")
    t.add_argument("--room", default="demo-room")
    t.add_argument("--identity", default="operator")
    args = parser.parse_args()
    return token(args) if args.command == "token" else dev(args)


if __name__ == "__main__":
    sys.exit(main())
