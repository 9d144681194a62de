"""What a call costs the worker: idle memory, and the memory and CPU each concurrent session adds.

    scripts/in-netns python -m bench.cost [--window 20] [--out bench-results/cost.json]

Starts the local stack with emulated providers, measures the worker's whole process tree
(supervisor, forkserver, job processes) idle, then with 1 and with 5 simultaneous callers that
each hold a conversation for `--window` seconds. Memory is PSS (shared pages split fairly
between processes, so forked model weights are not counted twice) and RSS; CPU is the tree's
user+system seconds during the window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]  # types-psutil is not a dependency

from bench._stack import local_stack, require_netns
from devstack import services as svc
from devstack.caller import TestCaller, caller_token
from emulators import LatencyProfile
from emulators.llm_script import Script, reply
from emulators.speech import synthesize

AGENT = "phone-agent-cost"
QUESTION = "what are your opening hours"


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def memory_mb(pid: int) -> dict[str, float]:
    pss = rss = 0
    procs = tree(pid)
    for p in procs:
        try:
            full = p.memory_full_info()
        except psutil.Error:
            continue
        pss += full.pss
        rss += full.rss
    return {"pss_mb": round(pss / 2**20, 1), "rss_mb": round(rss / 2**20, 1),
            "processes": len(procs)}


def cpu_seconds(pid: int) -> float:
    total = 0.0
    for p in tree(pid):
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


async def one_call(key: str, secret: str, room: str, window: float) -> None:
    async with TestCaller(svc.LIVEKIT_URL, caller_token(key, secret, room, f"c-{room}",
                                                        AGENT)) as caller:
        await asyncio.wait_for(caller.agent_joined.wait(), 60)
        deadline = time.monotonic() + window
        await caller.wait_for_speech(after=0.0, within=30)
        while time.monotonic() < deadline - 4:
            end = await caller.say(synthesize(QUESTION))
            try:
                await caller.wait_for_speech(after=end, within=8)
            except TimeoutError:
                pass
            await asyncio.sleep(1.0)
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))


async def measure(pid: int, key: str, secret: str, n: int, window: float) -> dict[str, float]:
    print(f"[cost] {n} simultaneous caller(s) for {window:.0f} s …", flush=True)
    cpu0 = cpu_seconds(pid)
    samples: list[dict[str, float]] = []

    async def sampler() -> None:
        while True:
            await asyncio.sleep(2.0)
            samples.append(memory_mb(pid))

    task = asyncio.create_task(sampler())
    rooms = [f"cost-{n}-{i}-{os.getpid()}" for i in range(n)]
    await asyncio.gather(*(one_call(key, secret, r, window) for r in rooms))
    task.cancel()
    cpu = cpu_seconds(pid) - cpu0
    peak = max(samples, key=lambda s: s["pss_mb"]) if samples else memory_mb(pid)
    return {"callers": n, "cpu_s": round(cpu, 2), "cpu_percent_of_core": round(
        100 * cpu / window, 1), **{f"peak_{k}": v for k, v in peak.items()}}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    script = Script([reply("We are open from eight until six.", repeat=True)])
    with local_stack(agent_name=AGENT, script=script, profile=LatencyProfile.reference(),
                     phrases=[QUESTION], turn_detector="stt",
                     database_url=args.database_url) as stack:
        key, secret = stack.key, stack.secret
        assert stack.worker.proc is not None
        pid = stack.worker.proc.pid
        await asyncio.sleep(5)
        idle = [memory_mb(pid) for _ in range(3)]
        idle_pss = statistics.median(s["pss_mb"] for s in idle)
        idle_rss = statistics.median(s["rss_mb"] for s in idle)
        print(f"[cost] idle: PSS {idle_pss} MB, RSS {idle_rss} MB, "
              f"{idle[0]['processes']} processes", flush=True)
        one = await measure(pid, key, secret, 1, args.window)
        await asyncio.sleep(8)  # let the jobs of the first round exit
        five = await measure(pid, key, secret, 5, args.window)
    per_session_pss_1 = one["peak_pss_mb"] - idle_pss
    per_session_pss_5 = (five["peak_pss_mb"] - idle_pss) / 5
    result = {
        "idle": {"pss_mb": idle_pss, "rss_mb": idle_rss},
        "one_caller": one,
        "five_callers": five,
        "per_session": {
            "pss_mb_with_1": round(per_session_pss_1, 1),
            "pss_mb_each_with_5": round(per_session_pss_5, 1),
            "cpu_percent_of_core_with_1": one["cpu_percent_of_core"],
            "cpu_percent_of_core_each_with_5": round(five["cpu_percent_of_core"] / 5, 1),
        },
        "window_s": args.window,
        "note": "providers emulated (reference latency profile); TURN_DETECTOR=stt",
    }
    return result


def main() -> None:
    require_netns("bench.cost")
    parser = argparse.ArgumentParser(prog="python -m bench.cost")
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--database-url", default=None,
                        help="where the worker keeps its call records (default: a temporary "
                             "SQLite file); `python -m agent.report` reads them")
    parser.add_argument("--out", type=Path,
                        default=Path("bench-results") / f"cost-{int(time.time())}.json")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result["per_session"], indent=2))
    print(f"[cost] idle PSS {result['idle']['pss_mb']} MB; raw results in {args.out}")


if __name__ == "__main__":
    main()
