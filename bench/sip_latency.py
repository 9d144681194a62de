"""What the phone leg adds to turn latency: the same turns over a room and over real SIP.

    scripts/in-netns python -m bench.sip_latency [--turns 15] [--out bench-results/sip-<ts>.json]

One stack (emulated providers on the reference profile: STT final 150 ms after speech, LLM
first token 350 ms then 40 tokens/s, TTS first byte 150 ms), two callers in turn:
- a `livekit.rtc` participant in a room (as `bench.latency`), timed at the caller;
- baresip calling through livekit-sip (G.711 μ-law, RTP, the bridge's jitter buffer and
  Opus transcoding), timed at its end: baresip records what it sent and what it received
  from the start of the call, so each gap is "end of my speech" → "first agent audio" on
  the caller's own timeline.
Prints p50/p95 of both and the difference; writes the raw samples to JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

from bench._stack import local_stack, require_netns
from bench.latency import ANSWER, GREETING, QUESTIONS, percentile, run_turns, trimmed_speech
from devstack import services as svc
from devstack.baresip import Baresip, write_wav8k
from emulators import LatencyProfile
from emulators.llm_script import Script, reply
from emulators.speech import resample

AGENT = "phone-agent-sipbench"
NUMBER = "+15550100100"
FRAME = 80  # 10 ms at 8 kHz


def _voiced(pcm8k: bytes, threshold: float = 300.0) -> np.ndarray:
    x = np.frombuffer(pcm8k, np.int16).astype(np.float64)
    n = len(x) // FRAME
    return np.sqrt((x[: n * FRAME].reshape(n, FRAME) ** 2).mean(axis=1)) > threshold


def _segments(voiced: np.ndarray, min_gap: int = 40) -> list[tuple[int, int]]:
    """(start, end) frame indices of speech, merging pauses shorter than `min_gap` frames."""
    segs: list[tuple[int, int]] = []
    idx = np.nonzero(voiced)[0]
    for i in idx:
        if segs and i - segs[-1][1] <= min_gap:
            segs[-1] = (segs[-1][0], int(i))
        else:
            segs.append((int(i), int(i)))
    return segs


def _read(path: Path) -> bytes:
    with wave.open(str(path), "rb") as w:
        return w.readframes(w.getnframes())


def sip_gaps(rec_dir: Path) -> list[float]:
    """Gaps (ms) from the end of each caller utterance to the next agent audio."""
    enc = _read(next(rec_dir.glob("dump-*-enc.wav")))
    dec = _read(next(rec_dir.glob("dump-*-dec.wav")))
    mine = _segments(_voiced(enc))
    theirs = _segments(_voiced(dec))
    gaps = []
    for _, end in mine:
        nxt = [s for s, _ in theirs if s > end]
        if nxt:
            gaps.append((nxt[0] - end - 1) * 10.0)
    return gaps


async def sip_turns(turns: int, workdir: Path) -> list[float]:
    async with Baresip(workdir, sip_port=5072, ctrl_port=4472, user="+15550003333") as ua:
        await ua.dial(f"sip:{NUMBER}@127.0.0.1:5060")
        await ua.wait_for("CALL_ESTABLISHED", within=40)
        await asyncio.sleep(7)  # greeting
        for i in range(turns):
            question = QUESTIONS[i % len(QUESTIONS)]
            pcm = resample(trimmed_speech(question), 16000, 8000)
            await ua.play(write_wav8k(workdir / f"q{i}.wav", pcm + bytes(8000 * 2 * 30)))
            await asyncio.sleep(len(pcm) / 16000 + 4.5)
            print(f"[sip-latency] SIP turn {i + 1}/{turns} spoken", flush=True)
        await ua.hangup()
        await asyncio.sleep(1)
    return sip_gaps(workdir / "rec")


async def provision_sip(agent: str = AGENT, number: str = NUMBER) -> None:
    """sip/*.json applied to the local server, the rule dispatching `agent` for `number`."""
    import os

    from sip import provision

    os.environ.update({**svc.livekit_env(), "AGENT_NAME": agent, "PHONE_AGENT_NUMBER": number})
    await provision.apply_to_server()


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50_ms": round(percentile(values, 50), 1),
            "p95_ms": round(percentile(values, 95), 1)}


async def run(turns: int) -> dict[str, object]:
    script = Script([reply(GREETING, when="greet the caller", repeat=True),
                     reply(ANSWER, repeat=True)])
    with local_stack(agent_name=AGENT, script=script, profile=LatencyProfile.reference(),
                     phrases=QUESTIONS, turn_detector="stt") as stack:
        bridge = svc.livekit_sip().start()
        try:
            bridge.wait_ready()
            await provision_sip()
            print(f"[sip-latency] {turns} turns in a room …", flush=True)
            room = [s["gap_ms"] for s in await run_turns(stack, turns, time.monotonic() + 300)
                    if s["gap_ms"] is not None]
            print(f"[sip-latency] {turns} turns over SIP …", flush=True)
            with tempfile.TemporaryDirectory(prefix="sip-bench-") as d:
                sip = await sip_turns(turns, Path(d))
        finally:
            bridge.stop()
    room_s, sip_s = summary(room), summary(sip)
    return {"profile": "reference", "turn_detector": "stt", "room": room_s, "sip": sip_s,
            "sip_adds_p50_ms": round(sip_s["p50_ms"] - room_s["p50_ms"], 1),
            "sip_adds_p95_ms": round(sip_s["p95_ms"] - room_s["p95_ms"], 1),
            "samples": {"room_ms": room, "sip_ms": sip}}


def main() -> None:
    require_netns("bench.sip_latency")
    parser = argparse.ArgumentParser(prog="python -m bench.sip_latency")
    parser.add_argument("--turns", type=int, default=15)
    parser.add_argument("--out", type=Path,
                        default=Path("bench-results") / f"sip-latency-{int(time.time())}.json")
    args = parser.parse_args()
    result = asyncio.run(run(args.turns))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    room, sip = result["room"], result["sip"]
    print(f"room: p50 {room['p50_ms']} ms  p95 {room['p95_ms']} ms  (n={room['n']})")  # type: ignore[index]
    print(f"SIP:  p50 {sip['p50_ms']} ms  p95 {sip['p95_ms']} ms  (n={sip['n']})")  # type: ignore[index]
    print(f"the SIP leg adds {result['sip_adds_p50_ms']} ms at p50, "
          f"{result['sip_adds_p95_ms']} ms at p95; raw samples in {args.out}")


if __name__ == "__main__":
    main()
