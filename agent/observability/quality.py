"""Call-quality figures from the call records: what `python -m agent.report` prints and draws.

Read from the tables the call lifecycle writes (`calls`, `call_events`, `audit_log`), for the
calls started in a period:

* calls: every record; answered: all but outbound dials that never connected (busy,
  no_answer, failed); completed: answered calls whose record is closed.
* containment: completed calls that ended without a human and without an error (caller or
  agent hung up, or a voicemail was left); transfer rate: ended by a transfer; dropped: ended
  on an error. Each as a share of the completed calls.
* average handle time: mean duration of the completed calls.
* turn latency p50/p95/p99: the end of the caller's speech to the agent's first audio
  (`e2e_latency` of each answered turn).
* interruption rate: agent utterances the caller talked over / agent utterances.
* dead-air ratio: silences over 2 s the agent caused / total duration of the completed
  calls. A silence runs from the end of a caller's turn to whatever ends it first: the agent's
  next speech (an answer, or a recovery line after a failure: agent/recovery's lines are
  transcript lines, its hold lines `hold_line` events), the caller speaking again, or the
  call's end.
* tool success rate: audit rows whose outcome is `ok` (TOOL_RESULTS in agent/data/audit.py)
  / all audit rows of the period; provider errors: the errors the call record kept, final
  (the plugin gave up) and retried, by stage.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..data.audit import tool_result
from ..data.records import AuditEntry, CallEvent, CallRecord

DEAD_AIR_S = 2.0
NEVER_CONNECTED = {"busy", "no_answer", "failed"}
CONTAINED = {"caller", "agent", "voicemail"}


@dataclass
class CallFacts:
    """What one call contributes."""

    record: CallRecord
    latencies: list[float] = field(default_factory=list)
    utterances: int = 0
    interrupted: int = 0
    dead_air_s: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)  # "llm final", "tts retried", ...

    @property
    def answered(self) -> bool:
        return self.record["ended_by"] not in NEVER_CONNECTED

    @property
    def completed(self) -> bool:
        return self.answered and self.record["ended_at"] is not None


@dataclass
class Figures:
    """The figures of one period (a day, or the whole range)."""

    label: str
    calls: int = 0
    answered: int = 0
    completed: int = 0
    containment: float | None = None
    transfer_rate: float | None = None
    dropped_rate: float | None = None
    aht_s: float | None = None
    turns: int = 0
    p50_s: float | None = None
    p95_s: float | None = None
    p99_s: float | None = None
    latencies: list[float] = field(default_factory=list)
    interruption_rate: float | None = None
    dead_air_ratio: float | None = None
    tool_calls: int = 0
    tool_success_rate: float | None = None
    tool_results: Counter[str] = field(default_factory=Counter)
    errors_final: int = 0
    errors_retried: int = 0
    errors_by_stage: Counter[str] = field(default_factory=Counter)


def percentiles(values: list[float]) -> tuple[float, float, float] | tuple[None, None, None]:
    """p50, p95, p99 (linear between order statistics, like numpy's default)."""
    if not values:
        return None, None, None
    if len(values) == 1:
        return values[0], values[0], values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _epoch(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso).timestamp() if iso else None


def _detail(event: CallEvent) -> dict[str, Any]:
    try:
        data = json.loads(event["detail"] or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def call_facts(record: CallRecord, events: list[CallEvent]) -> CallFacts:
    """The facts of one call from its events (transcript lines, apologies, errors)."""
    facts = CallFacts(record)
    turns: list[tuple[str, float, float | None]] = []  # (role, start, end)
    agent_sounds: list[float] = []  # when agent speech began: answers and apologies
    for ev in events:
        if ev["kind"] == "transcript":
            detail = _detail(ev)
            metrics = detail.get("metrics") or {}
            if ev["role"] == "assistant":
                facts.utterances += 1
                facts.interrupted += bool(detail.get("interrupted"))
                if isinstance(metrics.get("e2e_latency"), int | float):
                    facts.latencies.append(float(metrics["e2e_latency"]))
            start = metrics.get("started_speaking_at")
            if isinstance(start, int | float):
                end = metrics.get("stopped_speaking_at")
                turns.append((ev["role"] or "", float(start),
                              float(end) if isinstance(end, int | float) else None))
                if ev["role"] == "assistant":
                    agent_sounds.append(float(start))
        elif ev["kind"] in ("apology", "hold_line"):  # apology: records before recovery/
            at = _detail(ev).get("at")
            if isinstance(at, int | float):
                agent_sounds.append(float(at))
        elif ev["kind"] == "provider_error":
            head = (ev["detail"] or "").split(" ", 1)[0].split("/")
            stage, outcome = (head[0], head[3]) if len(head) == 4 else ("other", "final")
            facts.errors[f"{stage} {outcome}"] += 1
    facts.dead_air_s = _dead_air(turns, agent_sounds, _epoch(record["ended_at"]))
    return facts


def _dead_air(turns: list[tuple[str, float, float | None]], agent_sounds: list[float],
              call_end: float | None) -> float:
    caller_starts = sorted(start for role, start, _ in turns if role == "user")
    total = 0.0
    for role, _, end in turns:
        if role != "user" or end is None:
            continue
        candidates = [t for t in agent_sounds + caller_starts if t > end]
        if call_end is not None and call_end > end:
            candidates.append(call_end)
        if candidates and (gap := min(candidates) - end) > DEAD_AIR_S:
            total += gap
    return total


def figures(label: str, calls: list[CallFacts], audit: list[AuditEntry]) -> Figures:
    """Sum up the calls (and the audit rows) of one period."""
    fig = Figures(label=label, calls=len(calls))
    answered = [c for c in calls if c.answered]
    completed = [c for c in answered if c.completed]
    fig.answered, fig.completed = len(answered), len(completed)
    ended = Counter(c.record["ended_by"] for c in completed)
    fig.containment = _share(sum(ended[k] for k in CONTAINED), len(completed))
    fig.transfer_rate = _share(ended["transfer"], len(completed))
    fig.dropped_rate = _share(ended["error"], len(completed))
    durations = [c.record["duration_s"] or 0.0 for c in completed]
    fig.aht_s = statistics.fmean(durations) if durations else None
    fig.latencies = sorted(x for c in calls for x in c.latencies)
    fig.turns = len(fig.latencies)
    fig.p50_s, fig.p95_s, fig.p99_s = percentiles(fig.latencies)
    fig.interruption_rate = _share(sum(c.interrupted for c in calls),
                                   sum(c.utterances for c in calls))
    talk = sum(durations)
    fig.dead_air_ratio = sum(c.dead_air_s for c in completed) / talk if talk else None
    fig.tool_results = Counter(tool_result(a.outcome) for a in audit)
    fig.tool_calls = len(audit)
    fig.tool_success_rate = _share(fig.tool_results["ok"], len(audit))
    for c in calls:
        for key, n in c.errors.items():
            stage, outcome = key.split(" ")
            fig.errors_by_stage[stage] += n
            if outcome == "retried":
                fig.errors_retried += n
            else:
                fig.errors_final += n
    return fig
