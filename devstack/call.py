"""`make call`: phone the agent through the local SIP bridge with baresip.

With real provider keys, `--talk` uses this machine's microphone and speaker so a person
talks to the agent. Otherwise (the default) it "watches" a call: baresip speaks the phrases
in devstack/phrases.txt one by one and the transcript is printed from the call record.
Run it while `make dev` is up; it joins the dev stack's private network namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import services as svc

OUR_NUMBER = os.environ.get("PHONE_AGENT_NUMBER", "+15550100100")


def dev_pid() -> int | None:
    pid_file = svc.STATE / "dev.pid"
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def same_netns(pid: int) -> bool:
    return os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net")


def join_dev_netns(module: str, label: str) -> int | None:
    """Run `python -m module` (same arguments) inside the dev stack's network namespace and
    return its exit code; None when this process is in it already."""
    pid = dev_pid()
    if pid is None:
        print(f"[{label}] the dev stack is not running: start `make dev` first",
              file=sys.stderr)
        return 1
    if same_netns(pid):
        return None
    return subprocess.call(["nsenter", f"--net=/proc/{pid}/ns/net", "--", sys.executable,
                            "-m", module, *sys.argv[1:]])


async def _print_transcript(database_url: str, since: float, seen: set[int]) -> bool:
    from agent.data.repository import Repository

    repo = await Repository.open(database_url)
    try:
        calls = await repo.recent_calls(1)
        if not calls:
            return False
        call = calls[0]
        for ev in await repo.call_events(call["call_uid"]):
            if ev["id"] in seen:
                continue
            seen.add(ev["id"])
            who = {"assistant": "agent ", "user": "caller"}.get(ev["role"] or "", "event ")
            text = ev["text"] or ev["detail"]
            print(f"  [{time.monotonic() - since:6.1f}s] {who}: {text}", flush=True)
        return bool(call["ended_at"])
    finally:
        await repo.close()


async def watch(ua_dir: Path, phrases: list[str], database_url: str, talk: bool) -> int:
    from emulators.speech import resample, synthesize

    from .baresip import Baresip, write_wav8k

    async with Baresip(ua_dir, sip_port=5070, ctrl_port=4470, user="+15550001111",
                       sound_card=talk) as ua:
        print(f"[call] dialling sip:{OUR_NUMBER}@127.0.0.1:5060 …", flush=True)
        await ua.dial(f"sip:{OUR_NUMBER}@127.0.0.1:5060")
        await ua.wait_for("CALL_ESTABLISHED", within=40)
        start = time.monotonic()
        print("[call] connected", flush=True)
        seen: set[int] = set()
        if talk:
            print("[call] talk now; Ctrl-C hangs up", flush=True)
            try:
                await ua.wait_for("CALL_CLOSED", within=3600)
            except (KeyboardInterrupt, asyncio.CancelledError, TimeoutError):
                await ua.hangup()
            return 0
        await asyncio.sleep(7)
        await _print_transcript(database_url, start, seen)
        for phrase in phrases:
            if any(e.type == "CALL_CLOSED" for e in ua.events):
                break
            print(f"[call] caller says: {phrase!r}", flush=True)
            pcm = resample(synthesize(phrase), 16000, 8000)
            await ua.play(write_wav8k(ua_dir / "say.wav", pcm + bytes(8000 * 2 * 120)))
            await asyncio.sleep(9)
            await _print_transcript(database_url, start, seen)
        if not any(e.type == "CALL_CLOSED" for e in ua.events):
            await ua.hangup()
        await asyncio.sleep(1.5)
        await _print_transcript(database_url, start, seen)
    print("[call] call ended", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.call")
    parser.add_argument("--talk", action="store_true",
                        help="use the microphone and speaker (needs real provider keys)")
    parser.add_argument("--phrases", type=Path, default=svc.ROOT / "devstack" / "phrases.txt")
    args = parser.parse_args()
    code = join_dev_netns("devstack.call", "call")
    if code is not None:
        return code
    from dotenv import dotenv_values

    database_url = (os.environ.get("DATABASE_URL")
                    or dotenv_values(svc.ROOT / ".env").get("DATABASE_URL")
                    or "sqlite:///.state/phone-agent.db")
    phrases = [p.strip() for p in args.phrases.read_text().splitlines() if p.strip()]
    with tempfile.TemporaryDirectory(prefix="phone-agent-call-") as d:
        return asyncio.run(watch(Path(d), phrases, database_url, args.talk))


if __name__ == "__main__":
    sys.exit(main())
