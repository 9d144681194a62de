"""The fault matrix: how long a caller waits in silence when a provider dies.

    scripts/in-netns python -m bench.faults [--runs 3] [--sip-runs N] [--rows llm_5xx,...]
                                            [--turn-detector stt] [--out FILE.json]

Two stacks in turn — a worker with a backup for every stage, then one without any — each
called over real audio through livekit-server by a `TestCaller`, then (the LLM and TTS rows,
`--sip-runs` times, default `--runs`) by baresip through livekit-sip, timed on baresip's own
recordings of what it sent and received (as `bench.sip_latency`). Per row and run: a fresh
call, the greeting, the primary made to fail for good (before the call, or right after the
greeting for the faults that hit what happens next), one question. Measured at the caller:
- gap: end of the question → the first agent sound (an answer, a hold line, an apology);
- dead air beyond a normal turn: gap − the p50 gap of unfaulted turns on the same stack;
- continued: the question was answered (backup) or the call is still up with the agent
  talking (no backup: apology, retry, keypad, handover);
- the call record: the recovery events written for the call (agent/recovery, failover.py).
Targets: dead air ≤ 1.5 s p95 with a backup; without one, words within 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.observability import metrics
from bench._stack import BenchStack, local_stack, require_netns
from bench.latency import percentile, trimmed_speech
from bench.sip_latency import provision_sip, sip_gaps
from devstack import services as svc
from devstack.baresip import Baresip, write_wav8k
from emulators import LatencyProfile
from emulators.llm_script import Script, reply, tool_call
from emulators.speech import resample

AGENT = "phone-agent-faults"
QUESTION = "what are your opening hours"
GREETING = "Hello, this is the Northwind AI assistant. How can I help you today?"
ANSWER = "We are open from eight in the morning until six in the evening."
PHRASES = [QUESTION, "where is my order"]
SIP_NUMBER = "+15550100100"
FOREVER = 99  # shots: the primary stays down for the whole call


@dataclass(frozen=True)
class Row:
    name: str
    stage: str
    knobs: dict[str, Any] = field(default_factory=dict)
    mid_call: bool = False  # armed after the greeting (it hits what happens next)
    malformed_tool_call: bool = False


ROWS = [
    Row("stt_refused_at_start", "stt", {"stt_reject_status": 503, "stt_reject_count": FOREVER}),
    Row("stt_dropped_mid_utterance", "stt", {"stt_drop_in_speech_s": 0.6,
                                             "stt_drop_in_speech_count": FOREVER,
                                             "stt_reject_status": 503,
                                             "stt_reject_count": FOREVER}, mid_call=True),
    Row("stt_silent", "stt", {"stt_silent": True, "stt_silent_count": FOREVER}),
    Row("llm_5xx", "llm", {"llm_error_status": 503, "llm_error_count": FOREVER}),
    Row("llm_stall", "llm", {"llm_stall_s": 30.0, "llm_stall_count": FOREVER}),
    Row("llm_stream_cut", "llm", {"llm_cut_after": 3, "llm_cut_count": FOREVER}, mid_call=True),
    Row("malformed_tool_call", "llm", malformed_tool_call=True),
    Row("tts_5xx", "tts", {"tts_error": "server error", "tts_error_count": FOREVER,
                           "tts_http_status": 503, "tts_http_count": FOREVER}),
    Row("tts_stall", "tts", {"tts_stall_s": 30.0, "tts_stall_count": FOREVER}),
    Row("tts_closed_mid_sentence", "tts", {"tts_cut_after_chunks": 3, "tts_cut_count": FOREVER,
                                           "tts_http_status": 503, "tts_http_count": FOREVER},
        mid_call=True),
]
RECOVERY_EVENTS = (*metrics.RECOVERY_EVENTS, "provider_error")


def script_for(row: Row | None) -> Script:
    turns = [reply(GREETING, when="greet the caller", repeat=True)]
    if row is not None and row.malformed_tool_call:
        turns.append(tool_call("list_available_slots", '{"date": "tomorr', when="opening hours"))
        turns.append(reply(ANSWER, when=".", repeat=True))
    # the retry after a cut answer asks with the cut answer (or "say that again") last
    turns.append(reply(ANSWER, when="opening hours|say that again|^We are open", repeat=True))
    return Script(turns)


SIP_STAGES = ("llm", "tts")  # the rows also measured over a real SIP call


def call_events(database_url: str, room: str) -> list[tuple[str, str]]:
    """The events of the latest call whose room is `room` (a LIKE pattern: a SIP call's room
    is only known by its prefix, and the record masks the caller's number in it)."""
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
        return db.execute("SELECT e.kind, e.detail FROM call_events e JOIN calls c ON "
                          "c.call_uid = e.call_uid WHERE c.call_uid = (SELECT call_uid FROM "
                          "calls WHERE room LIKE ? ORDER BY rowid DESC LIMIT 1) ORDER BY e.id",
                          (room,)).fetchall()


def prepare(stack: BenchStack, row: Row | None, state_dir: Path,
            workdir: Path | None = None) -> None:
    """Healthy, scripted emulators; no provider remembered as down; a row's fault armed
    unless it waits for the greeting; the SIP caller's `workdir` made."""
    if workdir is not None:
        workdir.mkdir(parents=True)
    emu = stack.emulators
    emu.faults.reset()
    emu.backup.faults.reset()
    emu.script, emu.backup.script = script_for(row), script_for(None)
    (state_dir / "provider-health.json").unlink(missing_ok=True)
    if row is not None and not row.mid_call:
        emu.faults.update(row.knobs)


def answered_since(stack: BenchStack, voiced_before: int) -> bool:
    emu = stack.emulators
    spoken = " ".join([*emu.tts_texts, *emu.backup.tts_texts][voiced_before:])
    return ANSWER in spoken or any(
        e.get("content") == ANSWER for e in [*emu.state.llm_responses,
                                              *emu.backup.llm_responses][-3:])


def recovery_events(stack: BenchStack, room: str) -> list[tuple[str, str]]:
    return [(k, d) for k, d in call_events(stack.worker_env["DATABASE_URL"], room)
            if k in RECOVERY_EVENTS]


async def one_call(stack: BenchStack, row: Row | None, state_dir: Path) -> dict[str, Any]:
    emu = stack.emulators
    prepare(stack, row, state_dir)
    room = f"faults-{uuid.uuid4().hex[:8]}"
    caller = stack.caller(room)
    async with caller:
        await asyncio.wait_for(caller.agent_joined.wait(), 30)
        greeting = await caller.wait_for_speech(after=0.0, within=30)
        await caller.wait_until_quiet(greeting)
        if row is not None and row.mid_call:
            emu.faults.update(row.knobs)
        answered_before = len(emu.tts_texts) + len(emu.backup.tts_texts)
        end = await caller.say(trimmed_speech(QUESTION))
        try:
            first = await caller.wait_for_speech(after=end, within=20)
            gap: float | None = first.start - end
        except TimeoutError:
            gap = None
        await asyncio.sleep(8.0)  # what follows: the answer, a retry, a handover
        answered = answered_since(stack, answered_before)
        connected = caller.room.isconnected() and any(
            p.identity == caller.agent_identity for p in caller.room.remote_participants.values())
    await asyncio.sleep(1.0)
    return {"gap_s": gap, "answered": answered, "connected_after": connected,
            "events": recovery_events(stack, room)}


async def one_sip_call(stack: BenchStack, row: Row | None, state_dir: Path, workdir: Path
                       ) -> dict[str, Any]:
    """The same over a real SIP call: baresip dials the bridge, which dispatches the worker
    (sip/dispatch-rule.json: rooms `call-…`); the gap is read from baresip's recordings."""
    emu = stack.emulators
    prepare(stack, row, state_dir, workdir)
    async with Baresip(workdir, sip_port=5072, ctrl_port=4472, user="+15550003333") as ua:
        await ua.dial(f"sip:{SIP_NUMBER}@127.0.0.1:5060")
        await ua.wait_for("CALL_ESTABLISHED", within=40)
        await asyncio.sleep(7.0)  # the greeting
        if row is not None and row.mid_call:
            emu.faults.update(row.knobs)
        answered_before = len(emu.tts_texts) + len(emu.backup.tts_texts)
        pcm = resample(trimmed_speech(QUESTION), 16000, 8000)
        await ua.play(write_wav8k(workdir / "q.wav", pcm + bytes(8000 * 2 * 30)))
        await asyncio.sleep(len(pcm) / 16000 + 10.0)  # the question, then what follows
        answered = answered_since(stack, answered_before)
        connected = not any(e.type == "CALL_CLOSED" for e in ua.events)
        await ua.hangup()
        await asyncio.sleep(1.0)
    gaps = sip_gaps(workdir / "rec")  # ms from the end of each caller utterance: one
    return {"gap_s": round(gaps[0] / 1000, 3) if gaps else None, "answered": answered,
            "connected_after": connected, "events": recovery_events(stack, "call-%")}


async def run_stack(backups: bool, rows: list[Row], runs: int, turn_detector: str,
                    sip_runs: int = 0) -> dict[str, Any]:
    state_dir = Path(f"/tmp/bench-faults-{uuid.uuid4().hex[:6]}")
    holder: dict[str, Any] = {}
    # No summaries: the request after each call would reach the scripted emulator.
    with local_stack(agent_name=AGENT, script=script_for(None), profile=LatencyProfile.none(),
                     phrases=PHRASES, turn_detector=turn_detector, quiet=True,
                     extra_env=lambda emu: {**(emu.backup_env() if backups else {}),
                                            "FAILOVER_STATE_DIR": str(state_dir),
                                            "CALL_SUMMARY": "off"}) as stack:
        label = "backup" if backups else "no backup"
        baseline = [r["gap_s"] for r in [await one_call(stack, None, state_dir)
                                         for _ in range(max(3, runs))] if r["gap_s"]]
        holder["baseline_p50_s"] = percentile(baseline, 50)
        print(f"[faults] {label}: normal turn p50 {holder['baseline_p50_s']:.2f} s", flush=True)
        for row in rows:
            samples = []
            for i in range(runs):
                samples.append(await one_call(stack, row, state_dir))
                print(f"[faults] {label} {row.name} {i + 1}/{runs}: gap "
                      f"{samples[-1]['gap_s']}", flush=True)
            holder[row.name] = samples
        if sip_runs:
            holder.update(await sip_rows(stack, label, [r for r in rows
                                                        if r.stage in SIP_STAGES],
                                         sip_runs, state_dir))
    return holder


async def sip_rows(stack: BenchStack, label: str, rows: list[Row], runs: int,
                   state_dir: Path) -> dict[str, Any]:
    """The rows over SIP (`sip:<row>`), after a SIP baseline (`sip:baseline_p50_s`)."""
    out: dict[str, Any] = {}
    bridge = svc.livekit_sip().start()
    try:
        bridge.wait_ready()
        await provision_sip(AGENT, SIP_NUMBER)
        with tempfile.TemporaryDirectory(prefix="faults-sip-") as d:
            n = iter(range(10_000))
            baseline = [r["gap_s"] for r in [
                await one_sip_call(stack, None, state_dir, Path(d) / f"{next(n)}")
                for _ in range(max(2, runs))] if r["gap_s"]]
            out["sip:baseline_p50_s"] = percentile(baseline, 50) if baseline else 0.0
            print(f"[faults] {label} SIP: normal turn p50 {out['sip:baseline_p50_s']:.2f} s",
                  flush=True)
            for row in rows:
                samples = []
                for i in range(runs):
                    samples.append(await one_sip_call(stack, row, state_dir,
                                                      Path(d) / f"{next(n)}"))
                    print(f"[faults] {label} SIP {row.name} {i + 1}/{runs}: gap "
                          f"{samples[-1]['gap_s']}", flush=True)
                out[f"sip:{row.name}"] = samples
    finally:
        bridge.stop()
    return out


def summarize(result: dict[str, Any], row: Row, prefix: str = "") -> dict[str, Any]:
    samples = result[f"{prefix}{row.name}"]
    gaps = [s["gap_s"] for s in samples if s["gap_s"] is not None]
    beyond = [max(0.0, g - result[f"{prefix}baseline_p50_s"]) for g in gaps]
    kinds = Counter(k for s in samples for k, _ in s["events"])
    return {"silence_p50_s": round(percentile(beyond, 50), 2) if beyond else None,
            "silence_p95_s": round(percentile(beyond, 95), 2) if beyond else None,
            "first_words_p50_s": round(percentile(gaps, 50), 2) if gaps else None,
            "first_words_p95_s": round(percentile(gaps, 95), 2) if gaps else None,
            "answered": sum(s["answered"] for s in samples), "runs": len(samples),
            "continued": sum(s["answered"] or s["connected_after"] for s in samples),
            "record": ", ".join(f"{k}×{n}" for k, n in sorted(kinds.items()))}


def table(results: dict[str, dict[str, Any]], rows: list[Row]) -> str:
    out = ["| Fault | backup: dead air beyond a normal turn p50 / p95 | backup: answered | "
           "backup: call record | no backup: first words p50 / p95 | no backup: continued | "
           "no backup: call record |", "|---|---|---|---|---|---|---|"]
    for prefix, over in (("", "room"), ("sip:", "SIP")):
        for row in rows:
            if f"{prefix}{row.name}" not in results["backup"]:
                continue
            b = summarize(results["backup"], row, prefix)
            n = summarize(results["no_backup"], row, prefix)
            out.append(f"| {row.name} ({over}) | {b['silence_p50_s']} / {b['silence_p95_s']} s"
                       f" | {b['answered']}/{b['runs']} | {b['record']} | "
                       f"{n['first_words_p50_s']} / {n['first_words_p95_s']} s | "
                       f"{n['continued']}/{n['runs']} | {n['record']} |")
    return "\n".join(out)


def main() -> None:
    require_netns("bench.faults")
    parser = argparse.ArgumentParser(prog="python -m bench.faults")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", default="all", help="comma-separated row names, or all")
    parser.add_argument("--sip-runs", type=int, default=None,
                        help="calls per LLM/TTS row over SIP (default --runs; 0: none)")
    parser.add_argument("--turn-detector", default="stt")
    parser.add_argument("--out", type=Path,
                        default=Path("bench-results") / f"faults-{int(time.time())}.json")
    args = parser.parse_args()
    rows = ROWS if args.rows == "all" else [r for r in ROWS if r.name in args.rows.split(",")]
    sip_runs = args.runs if args.sip_runs is None else args.sip_runs
    results = {"backup": asyncio.run(run_stack(True, rows, args.runs, args.turn_detector,
                                               sip_runs)),
               "no_backup": asyncio.run(run_stack(False, rows, args.runs, args.turn_detector,
                                                  sip_runs))}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=str))
    print(table(results, rows))
    base = {k: results[k].get("baseline_p50_s", 0.0) for k in results}
    sip = {k: results[k].get("sip:baseline_p50_s") for k in results}
    print(f"normal turn p50: room backup {base['backup']:.2f} s, no backup "
          f"{base['no_backup']:.2f} s" + (f"; SIP backup {sip['backup']:.2f} s, no backup "
                                          f"{sip['no_backup']:.2f} s" if sip_runs else "")
          + f"; raw samples in {args.out}")


if __name__ == "__main__":
    main()
