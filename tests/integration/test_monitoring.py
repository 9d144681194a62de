"""Monitoring through the real stack: calls are placed (a browser call with answered turns, a
tool call and an LLM 503 fault; a SIP call handed over with keypad 0) while the real
Prometheus scrapes the worker, livekit-server and livekit-sip; then its HTTP API is asked what
it saw, every dashboard panel's query is run against it, and the fault's series feed the
alert rules under `promtool test rules`.

The worker is the session's (other tests' calls are in its counters too), so the counts are
read from its own /metrics endpoint before the calls and compared as differences.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from livekit import api
from prometheus_client.parser import text_string_to_metric_families

from agent.livekit_api import livekit_api_from_env
from agent.providers import LLM_CONN_OPTIONS
from agent.recovery.lines import TROUBLE as APOLOGY
from devstack import services as svc
from devstack.caller import TestCaller
from emulators.llm_script import Script, reply, tool_call
from emulators.speech import synthesize

from .conftest import OUR_NUMBER, LiveStack, SipStack
from .test_conversation_audio import GREETING, HOURS, heard

LLM_ATTEMPTS = LLM_CONN_OPTIONS.max_retry + 1
ROOT = Path(__file__).resolve().parents[2]
ERRORS_FINAL = {"stage": "llm", "provider": "openai", "kind": "http_5xx",
                "recoverable": "false"}
ERRORS_RETRIED = {**ERRORS_FINAL, "recoverable": "true"}


# --- reading the worker and Prometheus ------------------------------------------------------

def worker_samples() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample on the worker's /metrics endpoint (the sum over its processes)."""
    url = f"http://127.0.0.1:{svc.WORKER_METRICS_PORT}/metrics"
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def total(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def prom(path: str, **params: Any) -> Any:
    url = f"{svc.PROMETHEUS_URL}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.loads(r.read())
    assert body["status"] == "success", body
    return body["data"]


def instant(expr: str) -> list[dict[str, Any]]:
    return list(prom("query", query=expr)["result"])


def scalar(expr: str) -> float | None:
    result = instant(expr)
    return float(result[0]["value"][1]) if result else None


def eventually(check: Callable[[], bool], what: str, within: float = 60.0,
               state: Callable[[], object] | None = None) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1.0)
    raise AssertionError(f"not within {within:.0f} s: {what}"
                         + (f" (last seen: {state()})" if state else ""))


# --- the calls ------------------------------------------------------------------------------

@dataclass
class Run:
    started: float  # wall clock, before the first call
    before: dict[tuple[str, frozenset[tuple[str, str]]], float]
    after: dict[tuple[str, frozenset[tuple[str, str]]], float] = field(default_factory=dict)
    answered_turns: int = 0
    caller_turns: int = 0

    def delta(self, name: str, **labels: str) -> float:
        return total(self.after, name, **labels) - total(self.before, name, **labels)


async def browser_call(stack: LiveStack, run: Run) -> None:
    """Greeting; hours (answered); services (a tool call, then the answer); hours again; an
    order question whose every LLM attempt gets a 503 (the recovery's apology, then the turn
    once more); hang up."""
    stack.reset(Script([
        reply(GREETING, when="greet the caller"),
        reply(HOURS, when="opening hours", repeat=True),
        tool_call("list_available_slots", {"date": "", "service": ""}, when="services"),
        reply("I found {tool_output}", when="."),
    ]))
    # A long silence gap: on a loaded machine the agent's audio can pause mid-sentence.
    room = f"test-{uuid.uuid4().hex[:8]}"
    async with TestCaller(svc.LIVEKIT_URL, stack.token(room), silence_gap=1.5) as caller:
        await asyncio.wait_for(caller.agent_joined.wait(), 30)
        greeting = await caller.wait_for_speech(after=0.0, within=30)
        await caller.wait_until_quiet(greeting)

        async def ask(question: str) -> Any:
            end = await caller.say(synthesize(question))
            answer = await caller.wait_for_speech(after=end, within=30)
            await caller.wait_until_quiet(answer)
            run.caller_turns += 1
            await asyncio.sleep(0.5)
            return answer

        assert heard(await ask("what are your opening hours"), HOURS, GREETING) == HOURS
        await ask("can you tell me about your services")
        assert heard(await ask("what are your opening hours"), HOURS, GREETING) == HOURS
        run.answered_turns += 3  # hours, services, hours
        # Last, so the count above does not hang on what follows a failure (the call going
        # on after it is test_resilience_audio's subject).
        stack.emulators.faults.update({"llm_error_status": 503,
                                       "llm_error_count": LLM_ATTEMPTS})
        apology = await ask("where is my order")
        assert heard(apology, APOLOGY, HOURS, GREETING) == APOLOGY
        assert stack.emulators.faults.fired.count("llm_error_status") == LLM_ATTEMPTS


async def sip_keypad_call(sip: SipStack) -> None:
    sip.live.reset(Script([reply(GREETING, when="greet the caller")]))
    async with sip.user_agent(user="support", port=5090) as human, \
            sip.user_agent() as ua:
        await ua.dial(f"sip:{OUR_NUMBER}@127.0.0.1:5060")
        await ua.wait_for("CALL_ESTABLISHED", within=40)
        await asyncio.sleep(6)  # the greeting
        await ua.send_digit("0")
        await ua.wait_for("TRANSFER", within=20)
        await human.wait_for("CALL_ESTABLISHED", within=20)


async def _end_leftover_rooms() -> None:
    async with livekit_api_from_env({"LIVEKIT_URL": svc.LIVEKIT_URL,
                                     "LIVEKIT_API_KEY": svc.livekit_keys()[0],
                                     "LIVEKIT_API_SECRET": svc.livekit_keys()[1]}) as lk:
        rooms = await lk.room.list_rooms(api.ListRoomsRequest())
        for room in rooms.rooms:
            await lk.room.delete_room(api.DeleteRoomRequest(room=room.name))


@pytest.fixture(scope="module")
def run(live_stack: LiveStack, sip_stack: SipStack, prometheus: svc.Service) -> Run:
    eventually(lambda: scalar('sum(up{job=~"worker|livekit-server|livekit-sip"})') == 3,
               "Prometheus scrapes the worker, livekit-server and livekit-sip")
    # Calls of earlier tests are over (their close is counted) before the baseline is taken.
    # A room an earlier test left behind (a participant that never left) would keep its call
    # going for the rest of the suite: end every room first, as an operator would.
    asyncio.run(_end_leftover_rooms())
    eventually(lambda: total(worker_samples(), "phone_agent_active_calls") == 0,
               "no call in progress", within=90,
               state=lambda: {k: v for k, v in worker_samples().items()
                              if k[0] in ("phone_agent_active_calls", "phone_agent_call_capacity")})
    live_stack.reset()
    result = Run(started=time.time(), before=worker_samples())
    asyncio.run(browser_call(live_stack, result))
    asyncio.run(sip_keypad_call(sip_stack))
    eventually(lambda: total(worker_samples(), "phone_agent_active_calls") == 0,
               "both calls closed", within=60)
    result.after = worker_samples()
    # Prometheus has scraped the final values once its count matches the endpoint's.
    expected = total(result.after, "phone_agent_turn_latency_seconds_count")
    eventually(lambda: scalar("sum(phone_agent_turn_latency_seconds_count)") == expected
               and scalar("sum(phone_agent_calls_total)")
               == total(result.after, "phone_agent_calls_total"),
               "Prometheus caught up with the worker", within=60)
    return result


# --- what Prometheus saw --------------------------------------------------------------------

def test_turn_latency_count_equals_the_turns_answered(run: Run) -> None:
    assert run.delta("phone_agent_turn_latency_seconds_count") == run.answered_turns == 3
    assert scalar("sum(phone_agent_turn_latency_seconds_count)") == \
        total(run.after, "phone_agent_turn_latency_seconds_count")
    # Every caller turn was counted, the faulted one too; stages were measured per turn.
    assert run.delta("phone_agent_user_turns_total", channel="browser") == run.caller_turns
    assert run.delta("phone_agent_turn_stage_seconds_count", stage="llm_ttft") >= 3
    assert run.delta("phone_agent_turn_stage_seconds_count", stage="tts_ttfb") >= 3


def test_turn_latency_quantiles_are_numbers(run: Run) -> None:
    for q in (0.5, 0.95, 0.99):
        value = scalar(f"histogram_quantile({q}, sum by (le) "
                       "(rate(phone_agent_turn_latency_seconds_bucket[5m])))")
        assert value is not None and math.isfinite(value) and 0.05 < value < 10.0, (q, value)


def test_calls_are_counted_by_how_they_ended(run: Run) -> None:
    assert run.delta("phone_agent_calls_started_total", channel="browser") == 1
    assert run.delta("phone_agent_calls_started_total", channel="sip") == 1
    assert run.delta("phone_agent_calls_total", direction="inbound", channel="browser",
                     ended_by="caller") == 1
    assert run.delta("phone_agent_calls_total", direction="inbound", channel="sip",
                     ended_by="transfer") == 1
    assert run.delta("phone_agent_calls_total") == 2
    for (name, labels), value in run.after.items():
        if name == "phone_agent_calls_total":
            got = scalar(f"sum(phone_agent_calls_total{{{_selector(dict(labels))}}})")
            assert got == value, (dict(labels), got, value)


def test_keypad_handover_transfer_and_tool_outcome_are_counted(run: Run) -> None:
    assert run.delta("phone_agent_keypad_handovers_total", result="transferred") == 1
    assert run.delta("phone_agent_transfers_total", route="refer", result="ok") == 1
    assert run.delta("phone_agent_tool_calls_total", tool="list_available_slots",
                     result="ok") == 1
    assert run.delta("phone_agent_tool_latency_seconds_count",
                     tool="list_available_slots") == 1


def test_the_llm_fault_shows_in_the_error_counter(run: Run) -> None:
    assert run.delta("phone_agent_provider_errors_total", **ERRORS_FINAL) == 1
    # ...and what the caller got instead: the apology and the turn tried once more
    assert run.delta("phone_agent_recovery_events_total", kind="reply_retried") == 1
    assert run.delta("phone_agent_provider_errors_total", **ERRORS_RETRIED) == LLM_ATTEMPTS - 1
    assert scalar(f"sum(phone_agent_provider_errors_total{{{_selector(ERRORS_FINAL)}}})") == \
        total(run.after, "phone_agent_provider_errors_total", **ERRORS_FINAL)


def test_the_observed_fault_fires_the_error_rate_alert_in_promtool(run: Run,
                                                                   tmp_path: Path) -> None:
    """The series exactly as Prometheus stored them (names and every label, job and instance
    included), growing as they did in this call, fire HighErrorRate under the real rules."""
    errors = instant(f"phone_agent_provider_errors_total{{{_selector(ERRORS_FINAL)}}}")
    turns = instant('phone_agent_user_turns_total{channel="browser"}')
    assert len(errors) == 1 and len(turns) == 1
    per_minute_errors = run.delta("phone_agent_provider_errors_total", **ERRORS_FINAL)
    per_minute_turns = run.delta("phone_agent_user_turns_total", channel="browser")
    tests = {
        "rule_files": [str(ROOT / "monitoring" / "alerts.yml")],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                {"series": _series(errors[0]["metric"]),
                 "values": f"0+{per_minute_errors:g}x20"},
                {"series": _series(turns[0]["metric"]),
                 "values": f"0+{per_minute_turns:g}x20"},
            ],
            "alert_rule_test": [
                {"eval_time": "3m", "alertname": "HighErrorRate", "exp_alerts": []},
                {"eval_time": "12m", "alertname": "HighErrorRate", "exp_alerts": [{
                    "exp_labels": {"severity": "critical"},
                    "exp_annotations": {
                        "summary": f"{100 * per_minute_errors / per_minute_turns:g}% of "
                                   "caller turns hit a provider error",
                        "action": "Check the provider APIs (phone_agent_provider_errors_total"
                                  " by stage, kind)."}}]},
            ],
        }],
    }
    path = tmp_path / "observed_test.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_livekit_server_and_bridge_metrics_are_scraped(run: Run) -> None:
    server = scalar('count({job="livekit-server", __name__!~"up|scrape_.*"})')
    bridge = scalar('count({job="livekit-sip", __name__!~"up|scrape_.*"})')
    assert server is not None and server > 10, server
    assert bridge is not None and bridge > 5, bridge


def test_every_dashboard_panel_query_returns_data(run: Run) -> None:
    dash = json.loads((ROOT / "monitoring" / "grafana-dashboard.json").read_text())
    empty = []
    for panel in dash["panels"]:
        for target in panel["targets"]:
            data = prom("query_range", query=target["expr"], start=run.started - 30,
                        end=time.time(), step=5)
            values = [v for series in data["result"] for _, v in series["values"]
                      if v != "NaN"]
            if not values:
                empty.append(f"{panel['title']}: {target['expr']}")
    assert not empty, "panels without data:\n" + "\n".join(empty)


def _selector(labels: dict[str, str]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))


def _series(metric: dict[str, str]) -> str:
    labels = {k: v for k, v in metric.items() if k != "__name__"}
    return f"{metric['__name__']}{{{_selector(labels)}}}"


def test_the_call_records_agree_with_the_metrics(run: Run, live_stack: LiveStack) -> None:
    """What `python -m agent.report` reads (the call records) tells the same story."""
    from datetime import UTC, datetime

    from agent.data.repository import Repository
    from agent.observability.quality import call_facts, figures

    async def read() -> tuple[list[Any], list[Any]]:
        repo = await Repository.open(live_stack.database_url)
        try:
            since = datetime.fromtimestamp(run.started - 2, UTC).isoformat(timespec="seconds")
            return (await repo.calls_between(since, "9999-12-31"),
                    await repo.events_of_calls_between(since, "9999-12-31"))
        finally:
            await repo.close()

    records, events = asyncio.run(read())
    facts = [call_facts(r, [e for e in events if e["call_uid"] == r["call_uid"]])
             for r in records]
    assert sorted((f.record["channel"], f.record["ended_by"]) for f in facts) == \
        [("browser", "caller"), ("sip", "transfer")]
    browser = next(f for f in facts if f.record["channel"] == "browser")
    assert len(browser.latencies) == run.answered_turns
    assert sum(browser.latencies) == pytest.approx(
        run.delta("phone_agent_turn_latency_seconds_sum"), abs=0.01)
    assert browser.errors["llm final"] == 1 and browser.errors["llm retried"] == LLM_ATTEMPTS - 1
    # Every spoken line carries its speaking times (the dead-air figure is built from them),
    # and the apology that ended the faulted turn's silence is one of them (agent/recovery),
    # with its retry recorded.
    lines = [json.loads(e["detail"])["metrics"] for e in events
             if e["call_uid"] == browser.record["call_uid"] and e["kind"] == "transcript"]
    assert lines and all("started_speaking_at" in m and "stopped_speaking_at" in m
                         for m in lines)
    assert any(e["kind"] == "transcript" and e["role"] == "assistant"
               and "trouble on my end" in (e["text"] or "") for e in events
               if e["call_uid"] == browser.record["call_uid"])
    assert any(e["kind"] == "reply_retried" for e in events)
    fig = figures("run", facts, [])
    assert fig.completed == 2 and fig.transfer_rate == 0.5 and fig.turns == 3
