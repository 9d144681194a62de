"""Run the provider emulators (primary and backup endpoints) on 127.0.0.1 until Ctrl-C.

    python -m emulators --port 8700 [--profile none|reference] [--script script.json]
                              [--phrases phrases.txt]

Prints the environment to export so `python agent.py dev` talks to the emulators. Control:
    curl -X POST localhost:8700/__emulator/script -d '[{"when": "hours", "content": "9 to 5"}]'
    curl -X POST localhost:8700/__emulator/phrases -d '["what are your opening hours"]'
    curl -X POST localhost:8700/__emulator/faults -d '{"llm_error_status": 429}'
    curl -X POST localhost:8700/__emulator/backup/faults -d '{"tts_stall_s": 5}'
    curl localhost:8700/__emulator/requests ; curl localhost:8700/__emulator/transcripts
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shlex
import signal
import sys

from .llm_script import Script
from .profiles import LatencyProfile
from .server import ProviderEmulators


def _load_phrases(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    try:
        data = json.loads(raw)
        if isinstance(data, list):
            return [str(p) for p in data]
    except json.JSONDecodeError:
        pass
    return [line.strip() for line in raw.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def _load_json(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


async def _main(args: argparse.Namespace) -> None:
    script = Script.from_json(_load_json(args.script)) if args.script else Script()
    phrases = _load_phrases(args.phrases) if args.phrases else []
    emu = ProviderEmulators(script=script, profile=LatencyProfile.named(args.profile),
                            stt_phrases=phrases, port=args.port)
    await emu.start()
    print(f"# provider emulators listening on {emu.base_url} (profile {args.profile}, "
          f"{len(script.remaining)} scripted turns, {len(phrases)} STT phrases)")
    print("# export these before starting the agent:")
    for key, value in emu.env().items():
        print(f"export {key}={shlex.quote(value)}")
    print("# and, to try provider failover, the backups (same server, under /backup):")
    for key, value in emu.backup_env().items():
        print(f"# export {key}={shlex.quote(value)}")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await emu.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m emulators", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--profile", choices=["none", "reference"], default="none")
    parser.add_argument("--script", help="JSON list of LLM turns (llm_script.Script.from_json)")
    parser.add_argument("--phrases", help="STT phrase list: one per line, or a JSON list")
    asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
