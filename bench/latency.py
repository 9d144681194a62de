"""Response latency as a caller hears it: end of the caller's speech → first agent audio.

    scripts/in-netns python -m bench.latency [--turns 30] [--profile reference]
                                              [--turn-detector stt] [--out FILE.json]
                                              [--breakdown]

Starts the local stack itself (Redis, livekit-server, the provider emulators with a latency
profile, one agent worker with the product configuration), places `--turns` questions through
livekit-server with a `TestCaller` (real WebRTC audio, real time), and times each gap at the
caller. Prints p50/p95/p99, the floor implied by the worker's settings and the emulated
providers' latencies, and the overhead above that floor. The providers are EMULATED: the
numbers measure our pipeline (LiveKit, plugins, turn handling), not Deepgram/DeepSeek/
ElevenLabs themselves.

`--breakdown` prints p50/p95 per stage of a turn (caller -> STT -> LLM -> TTS -> caller), from
wall-clock stamps the emulators keep (`stt_timings`, `llm_timings`, `tts_timings`); the
per-turn stages are always stored in the JSON output under "breakdown".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

import numpy as np

from bench._stack import local_stack, require_netns
from emulators import LatencyProfile
from emulators.deepgram import HANGOVER_S
from emulators.deepseek import token_pieces
from emulators.llm_script import Script, reply
from emulators.speech import synthesize

AGENT = "phone-agent-bench"
QUESTIONS = ["what are your opening hours", "where is my order"]
ANSWER = "We are open from eight until six."
GREETING = "Hello, this is the Northwind AI assistant. How can I help you today?"
TARGETS = {"p50_ms": 650, "p95_ms": 850, "overhead_p50_ms": 60}
TURN_TIMEOUT_S = 15.0


def trimmed_speech(text: str) -> bytes:
    """espeak-ng ends every utterance with ~335 ms of silence; cut it (after the last 10 ms
    window above RMS 100), so `say()` returns when the caller actually stops speaking."""
    pcm = synthesize(text)
    x = np.frombuffer(pcm, np.int16).astype(np.float64)
    n = len(x) // 160
    rms = np.sqrt((x[: n * 160].reshape(n, 160) ** 2).mean(axis=1))
    voiced = np.nonzero(rms > 100.0)[0]
    return pcm[: (int(voiced[-1]) + 1) * 320] if len(voiced) else pcm


def worker_turn_metrics(log: Path) -> list[dict[str, float]]:
    """The worker's own per-turn metrics (`turn latency` records of observability/calls.py)."""
    rows: list[dict[str, float]] = []
    try:
        lines = log.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return rows
    for raw in lines:
        if '"turn latency"' not in raw:
            continue
        try:
            rec = json.loads(raw)
        except ValueError:
            continue
        rows.append({k: rec[k] for k in ("e2e_latency", "llm_node_ttft", "tts_node_ttfb",
                                         "end_of_turn_delay", "transcription_delay")
                     if isinstance(rec.get(k), int | float)})
    return rows


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank-interpolated percentile (same as numpy's default 'linear')."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def product_settings(turn_detector: str) -> dict[str, Any]:
    """The worker's actual turn-handling values (same code path as the worker)."""
    from livekit.plugins import silero

    from agent import providers
    from agent.config import load_settings
    from devstack import services as svc

    env = {**svc.livekit_env(), "DEEPGRAM_API_KEY": "k", "DEEPSEEK_API_KEY": "k",
           "ELEVEN_API_KEY": "k", "TURN_DETECTOR": turn_detector,
           "DEEPGRAM_BASE_URL": "http://127.0.0.1:8700/v1/listen"}
    settings = load_settings(env)
    choice = providers.choose_turn_detector(settings.turn_detector)
    stt = providers.build_stt(settings)
    vad = cast(silero.VAD, providers.load_vad())  # Silero: its options are read below
    handling = providers.turn_handling(
        settings, providers.TurnDetectorChoice("stt", "bench: options only")
        if choice.kind in ("semantic", "audio") else choice)
    preemptive = handling["preemptive_generation"]
    delays = providers.endpointing_delays(settings, choice.kind)  # what the session gets
    return {
        "turn_detector": choice.kind,
        "min_endpointing_delay_s": delays["min_delay"],
        "max_endpointing_delay_s": delays["max_delay"],
        "MIN_ENDPOINTING_DELAY_s": settings.min_endpointing_delay,
        "stt_endpointing_ms": stt._opts.endpointing_ms,
        "vad_min_silence_s": vad._opts.min_silence_duration,
        "preemptive_generation": bool(preemptive.get("enabled")),
        "preemptive_tts": bool(preemptive.get("preemptive_tts", False)),
        "llm_timeout_s": providers.LLM_CONN_OPTIONS.timeout,
    }


def floor_ms(cfg: dict[str, Any], profile: LatencyProfile, answer: str) -> dict[str, Any]:
    """The earliest the first agent audio can start after the caller stops, given the
    configuration and the emulated providers, with zero cost for everything else.

      stt_final  = max(profile STT final delay, emulator hangover, Deepgram endpointing_ms)
                   (Deepgram sends speech_final only after `endpointing` ms of silence)
      turn_end   = stt mode: stt_final + the session's min_endpointing_delay (livekit-agents
                   anchors it at the arrival of Deepgram's END_OF_SPEECH, which carries no
                   speech end time);
                   otherwise max(stt_final, min_endpointing_delay, VAD min_silence if
                   VAD-driven) (the wait is measured from the VAD's end of speech)
      llm_start  = stt_final if preemptive generation (not in stt mode) else turn_end
      text_ready = llm_start + LLM first token + remaining tokens of the first sentence
                   (the ElevenLabs plugin's sentence tokenizer hands TTS whole sentences; a
                   one-sentence answer is complete when the stream ends)
      tts_start  = max(turn_end, text_ready)   (TTS is not preemptive unless preemptive_tts)
      floor      = tts_start + TTS first byte
    """
    stt_final = max(profile.stt_final_delay_ms, HANGOVER_S * 1000, cfg["stt_endpointing_ms"])
    if cfg["turn_detector"] == "stt":
        turn_end = stt_final + cfg["min_endpointing_delay_s"] * 1000
    else:
        turn_end = max(stt_final, cfg["min_endpointing_delay_s"] * 1000,
                       cfg["vad_min_silence_s"] * 1000)
    # preemptive generation starts on a final transcript only when the VAD/turn detector
    # decides the turn; in stt mode the final and END_OF_SPEECH arrive together and the LLM
    # starts at the commit (audio_recognition.py: _vad_base_turn_detection/_user_turn_committed)
    preemptive = cfg["preemptive_generation"] and cfg["turn_detector"] != "stt"
    llm_start = stt_final if preemptive else turn_end
    pieces = len(token_pieces(answer))
    per_token = 1000.0 / profile.llm_tokens_per_s if profile.llm_tokens_per_s else 0.0
    text_ready = llm_start + profile.llm_first_token_ms + pieces * per_token
    tts_start = text_ready if cfg["preemptive_tts"] else max(turn_end, text_ready)
    floor = tts_start + profile.tts_first_byte_ms
    ideal = (profile.stt_final_delay_ms + profile.llm_first_token_ms
             + profile.tts_first_byte_ms)
    return {
        "floor_ms": round(floor, 1),
        "terms_ms": {"stt_final": stt_final, "turn_end": turn_end, "llm_start": llm_start,
                     "first_sentence_tokens": pieces,
                     "first_sentence_streaming": round(pieces * per_token, 1),
                     "text_ready": round(text_ready, 1), "tts_start": round(tts_start, 1),
                     "tts_first_byte": profile.tts_first_byte_ms},
        "providers_only_ms": ideal,
        "note": ("audio/semantic turn detectors add model inference and may wait up to "
                 "max_endpointing_delay; the floor above is then a lower bound")
        if cfg["turn_detector"] in ("audio", "semantic") else "",
    }


STAGES = [
    # (key, from event, to event, what it covers)
    ("uplink", "caller_end", "stt_speech_end_arrived",
     "caller's last sample -> that audio reaches the STT emulator (WebRTC in, agent input, "
     "plugin chunking)"),
    ("stt_endpoint", "stt_speech_end_arrived", "stt_final_sent",
     "STT: end of speech -> final sent (endpointing / profile delay, paced by audio arrival)"),
    ("turn_commit", "stt_final_sent", "llm_received",
     "final -> LLM request at the emulator (worker end-of-turn decision, preemption)"),
    ("llm_first_token", "llm_received", "llm_first_token", "LLM first-token latency"),
    ("text_to_tts", "llm_first_token", "tts_first_text",
     "first token -> first text at the TTS (text transforms, tokenizer, scheduling)"),
    ("tts_flush", "tts_first_text", "tts_first_job",
     "first text at the TTS -> TTS starts synthesizing it (waits for flush / chunk)"),
    ("tts_first_byte", "tts_first_job", "tts_first_audio",
     "TTS synthesis start -> first audio message sent"),
    ("downlink", "tts_first_audio", "caller_first_audio",
     "first TTS audio -> first agent audio frame at the caller (plugin, output buffer, "
     "WebRTC out, caller detection)"),
]


def turn_events(sample: dict[str, Any], emu: Any) -> dict[str, float] | None:
    """Wall-clock (time.time()) events of one turn, matched from the emulators' captures.

    The TTS context is the last one whose first audio went out before the caller heard the
    agent; the LLM request the last one whose first token preceded that context's first
    text; the STT final the last non-empty one sent before that request."""
    end, heard = sample.get("caller_end_wall"), sample.get("caller_first_audio_wall")
    if end is None or heard is None:
        return None
    tts = [t for t in emu.tts_timings if t.get("first_audio_wall") and t.get("first_text_wall")
           and end - 1.0 < t["first_audio_wall"] <= heard]
    if not tts:
        return None
    tts_t = tts[-1]
    llm = [t for t in emu.llm_timings if t.get("first_token_wall")
           and end - 2.0 < t["received_wall"] and t["first_token_wall"] <= tts_t["first_text_wall"]]
    if not llm:
        return None
    llm_t = llm[-1]
    stt = [t for t in emu.stt_timings if t.get("transcript") and t.get("sent_wall")
           and end - 2.0 < t["sent_wall"] <= llm_t["received_wall"] + 0.001]
    if not stt:
        return None
    stt_t = stt[-1]
    return {"caller_end": end, "stt_speech_end_arrived": stt_t["speech_end_arrived_wall"],
            "stt_final_sent": stt_t["sent_wall"], "llm_received": llm_t["received_wall"],
            "llm_first_token": llm_t["first_token_wall"],
            "tts_first_text": tts_t["first_text_wall"],
            "tts_first_job": tts_t["first_job_wall"] or tts_t["first_audio_wall"],
            "tts_first_audio": tts_t["first_audio_wall"], "caller_first_audio": heard}


def breakdown(samples: list[dict[str, Any]], emu: Any) -> dict[str, Any]:
    """Per-stage durations (ms) of every turn and their p50/p95."""
    per_turn: list[dict[str, float]] = []
    for sample in samples:
        ev = turn_events(sample, emu)
        if ev is None:
            continue
        per_turn.append({key: round((ev[b] - ev[a]) * 1000, 1) for key, a, b, _ in STAGES}
                        | {"total": round((ev["caller_first_audio"] - ev["caller_end"]) * 1000,
                                          1), "turn": sample["turn"]})
    summary = {key: {"p50_ms": round(percentile([t[key] for t in per_turn], 50), 1),
                     "p95_ms": round(percentile([t[key] for t in per_turn], 95), 1)}
               for key in [k for k, *_ in STAGES] + ["total"]} if per_turn else {}
    return {"turns_matched": len(per_turn), "stages": summary, "per_turn": per_turn}


def print_breakdown(bd: dict[str, Any]) -> None:
    print(f"  per-stage breakdown ({bd['turns_matched']} turns matched; wall clock, "
          "p50 / p95):")
    if not bd["stages"]:
        return
    for key, _, _, what in STAGES:
        st = bd["stages"][key]
        print(f"    {key:<16} {st['p50_ms']:7.1f} / {st['p95_ms']:7.1f} ms  {what}")
    st = bd["stages"]["total"]
    print(f"    {'total':<16} {st['p50_ms']:7.1f} / {st['p95_ms']:7.1f} ms  (the stages' p50s "
          "need not add up to the total's p50)")


async def run_turns(stack: Any, turns: int, deadline: float) -> list[dict[str, Any]]:
    samples: list[dict[str, Any]] = []
    # caller times are monotonic; the emulators stamp time.time(): one offset converts
    to_wall = time.time() - time.monotonic()
    room = f"bench-{int(time.time())}"
    async with stack.caller(room) as caller:
        await asyncio.wait_for(caller.agent_joined.wait(), 60)
        greeting = await caller.wait_for_speech(after=0.0, within=30)
        await caller.wait_until_quiet(greeting)
        for i in range(turns):
            if time.monotonic() > deadline:
                print(f"[latency] time budget used up after {i} turns", flush=True)
                break
            question = QUESTIONS[i % len(QUESTIONS)]
            end = await caller.say(trimmed_speech(question))
            try:
                burst = await caller.wait_for_speech(after=end, within=TURN_TIMEOUT_S)
            except TimeoutError:
                print(f"[latency] turn {i + 1:>3}/{turns}: no answer within "
                      f"{TURN_TIMEOUT_S:.0f} s", flush=True)
                samples.append({"turn": i + 1, "question": question, "gap_ms": None,
                                "caller_end_wall": end + to_wall})
                continue
            gap = (burst.start - end) * 1000
            samples.append({"turn": i + 1, "question": question, "gap_ms": round(gap, 1),
                            "caller_end_wall": end + to_wall,
                            "caller_first_audio_wall": burst.start + to_wall})
            print(f"[latency] turn {i + 1:>3}/{turns}: {gap:7.0f} ms  ({question!r})",
                  flush=True)
            await caller.wait_until_quiet(burst)
            await asyncio.sleep(0.4)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--profile", choices=["reference", "none"], default="reference")
    parser.add_argument("--turn-detector", default="stt",
                        choices=["stt", "vad", "audio", "auto"],
                        help="TURN_DETECTOR for the worker (default stt: the espeak-ng test "
                             "voice reads as 'unfinished' to the audio model)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--database-url", default=None,
                        help="where the worker keeps its call records (default: a temporary "
                             "SQLite file); `python -m agent.report` reads them")
    parser.add_argument("--breakdown", action="store_true",
                        help="also print p50/p95 per stage of a turn (caller -> STT -> LLM -> "
                             "TTS -> caller), from the emulators' wall-clock captures")
    parser.add_argument("--max-seconds", type=float, default=600.0,
                        help="stop placing turns after this long (the run is always bounded)")
    args = parser.parse_args()
    require_netns("bench.latency")
    out = args.out or Path("bench-results") / f"latency-{time.strftime('%Y%m%d-%H%M%S')}.json"

    profile = LatencyProfile.named(args.profile)
    cfg = product_settings(args.turn_detector)
    floor = floor_ms(cfg, profile, ANSWER)
    print("[latency] providers are EMULATED (emulators/, profile "
          f"{args.profile}: {asdict(profile)})", flush=True)
    print(f"[latency] worker turn handling: {cfg}", flush=True)

    script = Script([reply(GREETING, when="greet the caller"), reply(ANSWER, repeat=True)])
    started = time.monotonic()
    with local_stack(agent_name=AGENT, script=script, profile=profile, phrases=QUESTIONS,
                     turn_detector=args.turn_detector,
                     database_url=args.database_url) as stack:
        samples = asyncio.run(run_turns(stack, args.turns,
                                        started + args.max_seconds))
        logs = str(stack.logs)
        bd = breakdown(samples, stack.emulators.state)
        worker_metrics = worker_turn_metrics(stack.logs / "worker.log")[1:]  # not the greeting

    gaps = [s["gap_ms"] for s in samples if s["gap_ms"] is not None]
    missed = len(samples) - len(gaps)
    stats = {}
    if gaps:
        stats = {f"p{q}_ms": round(percentile(gaps, q), 1) for q in (50, 95, 99)}
        stats.update(mean_ms=round(statistics.fmean(gaps), 1), min_ms=min(gaps),
                     max_ms=max(gaps), n=len(gaps), missed=missed)
        stats["overhead_p50_ms"] = round(stats["p50_ms"] - floor["floor_ms"], 1)
        stats["overhead_p95_ms"] = round(stats["p95_ms"] - floor["floor_ms"], 1)
    e2e = [m["e2e_latency"] * 1000 for m in worker_metrics if "e2e_latency" in m]
    if e2e and gaps:
        # The worker's e2e_latency runs from its view of the end of speech to its playout
        # start. In stt mode that view is the ARRIVAL of Deepgram's speech_final (the plugin
        # sets no speech end time), so the rest of the caller-measured gap is the STT's
        # endpointing wait plus WebRTC transport both ways (--breakdown separates them).
        stats["worker_e2e_p50_ms"] = round(percentile(e2e, 50), 1)
        stats["transport_p50_ms"] = round(stats["p50_ms"] - stats["worker_e2e_p50_ms"], 1)
    result = {"stats": stats, "breakdown": bd, "worker_metrics": worker_metrics,
              "floor": floor,
              "worker_config": cfg,
              "profile": {"name": args.profile, **asdict(profile)}, "targets": TARGETS,
              "answer": ANSWER, "samples": samples, "logs": logs,
              "note": "providers emulated; gap = caller's end of speech (say() return) to "
                      "first agent audio frame above RMS 200 at the caller"}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))

    print()
    print(f"Latency over {len(gaps)} turns ({missed} without an answer), providers EMULATED")
    if gaps:
        for key in ("p50_ms", "p95_ms", "p99_ms"):
            target = TARGETS.get(key)
            verdict = "" if target is None else (
                f"  target ≤ {target} ms: {'met' if stats[key] <= target else 'MISSED'}")
            print(f"  {key[:-3]:>4}: {stats[key]:7.1f} ms{verdict}")
    t = floor["terms_ms"]
    print(f"  floor: {floor['floor_ms']:.0f} ms = tts_start {t['tts_start']:.0f} "
          f"+ TTS first byte {t['tts_first_byte']:.0f}")
    print(f"         stt_final = max(profile {profile.stt_final_delay_ms:.0f}, hangover "
          f"{HANGOVER_S * 1000:.0f}, Deepgram endpointing {cfg['stt_endpointing_ms']}) "
          f"= {t['stt_final']:.0f}")
    if cfg["turn_detector"] == "stt":
        print(f"         turn_end  = stt_final + session min_endpointing_delay "
              f"{cfg['min_endpointing_delay_s'] * 1000:.0f} (anchored at the final) "
              f"= {t['turn_end']:.0f}")
    else:
        print(f"         turn_end  = max(stt_final, min_endpointing_delay "
              f"{cfg['min_endpointing_delay_s'] * 1000:.0f}, VAD silence) = {t['turn_end']:.0f}")
    print(f"         text_ready = llm_start {t['llm_start']:.0f} (preemptive="
          f"{cfg['preemptive_generation']}) + first token {profile.llm_first_token_ms:.0f} "
          f"+ {t['first_sentence_tokens']} tokens at {profile.llm_tokens_per_s:.0f}/s "
          f"{t['first_sentence_streaming']:.0f} = {t['text_ready']:.0f}")
    print(f"         tts_start = max(turn_end, text_ready) = {t['tts_start']:.0f} "
          f"(preemptive_tts={cfg['preemptive_tts']})")
    print(f"         (providers alone, fully overlapped: {floor['providers_only_ms']:.0f} ms)")
    if floor["note"]:
        print(f"         {floor['note']}")
    if gaps:
        print(f"  overhead above floor: p50 {stats['overhead_p50_ms']:+.0f} ms (target ≤ "
              f"{TARGETS['overhead_p50_ms']}), p95 {stats['overhead_p95_ms']:+.0f} ms")
    if "worker_e2e_p50_ms" in stats:
        print(f"  worker-side e2e_latency p50 {stats['worker_e2e_p50_ms']:.0f} ms (its end of "
              f"speech -> playout start); the remaining {stats['transport_p50_ms']:.0f} ms is "
              "audio transport caller->server->agent and back, plus (stt mode) the STT "
              "endpointing wait the worker cannot see; --breakdown separates them")
    if args.breakdown:
        print_breakdown(bd)
    print(f"  raw samples and config: {out}")


if __name__ == "__main__":
    main()
