"""One call's providers, stage by stage: the primary plugin alone (no backup configured — the
behaviour and options are exactly those without failover), or livekit-agents' own
`FallbackAdapter` over the primary and its backup.

How the 1.8.9 adapters behave (stt/llm/tts `fallback_adapter.py`), and what we set:
- an instance that fails is marked unavailable (`*_availability_changed`, available=False)
  and the request moves on to the next one in the same turn; later requests skip it;
- each request that skips an unavailable instance starts a background check of it: LLM, the
  same chat request; TTS, the same text; STT, a stream fed the live audio that must produce a
  final transcript. Success marks it available again (`*_availability_changed`, True);
- the per-instance attempt gets `timeout` = our attempt timeout and `max_retry` = 0: a sick
  primary costs one attempt, not a retry ladder. Chunks already sent are not replayed on the
  backup (`retry_on_chunk_sent=False`): a cut answer is the turn guard's to repair
  (agent/recovery), never spoken twice.

Across calls (each call has its own process) `ProviderHealth` remembers which providers are
down: a new call starts with them marked unavailable, so it is served by the backup while the
adapter checks the primary in the background. Every switch is logged and reported to the call
(`provider_fallback`, `provider_recovered`, `provider_stage_down` events).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from livekit.agents import APIConnectOptions, llm, stt, tts, vad
from livekit.agents.voice.agent_session import SessionConnectOptions
from livekit.plugins import deepgram

from ..config import Settings
from . import plugins
from .health import ProviderHealth
from .stt_guard import AudioTape, GuardedSTT

logger = logging.getLogger("phone-agent.failover")

Stage = Literal["stt", "llm", "tts"]
EventSink = Callable[[str, str], None]  # (kind, detail) -> the call record
Listener = Callable[[str, Stage], None]  # (kind, stage) -> the call's recovery

# How long a primary may stay silent before the backup takes the turn, measured with
# `python -m bench.faults` (README): the dead air a stalled primary costs is about this long.
# - LLM 1.5 s per read (httpx applies it to the connect and to each SSE line): DeepSeek's
#   non-thinking first token normally comes well under a second; a slower one loses the turn
#   to the backup, and the background check gives the primary back after its next good answer.
# - TTS 1.0 s from the first sentence sent to the first audio (ElevenLabs flash: ~0.1-0.3 s).
# - STT 2.0 s to connect; a connected but silent STT is tripped by the transcription timeout.
LLM_ATTEMPT_TIMEOUT = 1.5
TTS_ATTEMPT_TIMEOUT = 1.0
STT_ATTEMPT_TIMEOUT = 2.0
# With a backup the whole chain runs once per request: the adapter already tried everyone.
FALLBACK_CONN = {"stt": APIConnectOptions(max_retry=0, timeout=STT_ATTEMPT_TIMEOUT),
                 "llm": APIConnectOptions(max_retry=0, timeout=LLM_ATTEMPT_TIMEOUT),
                 "tts": APIConnectOptions(max_retry=0, timeout=TTS_ATTEMPT_TIMEOUT)}
# Consecutive unrecoverable errors after which the session would close itself (default 3).
# The product decides instead: a dead stage is answered by a handover (agent/recovery), and
# the STT pipeline re-creates its stream every 0.5 s, so 3 would end the call in seconds.
MAX_UNRECOVERABLE_ERRORS = 50


@dataclass
class Member:
    role: str  # primary | backup
    key: str  # names the provider in the shared health file: no secrets
    label: str  # for logs and the call record
    plugin: Any


@dataclass
class Chain:
    """One stage's providers for one call, and which of them are up."""

    stage: Stage
    members: list[Member]
    adapter: Any = None  # the FallbackAdapter, None without a backup
    up: list[bool] = field(default_factory=list)

    @property
    def plugin(self) -> Any:
        """What the session gets."""
        return self.adapter if self.adapter is not None else self.members[0].plugin

    def serving(self) -> Member | None:
        """The member the next request goes to (None: every one is down)."""
        return next((m for m, ok in zip(self.members, self.up, strict=True) if ok), None)


class CallProviders:
    """Builds the chains of one call and reports what happens to them."""

    def __init__(self, settings: Settings, *, vad: vad.VAD, health: ProviderHealth) -> None:
        self.settings = settings
        self.health = health
        self.tape = AudioTape()
        self._sink: EventSink | None = None
        self._pending: list[tuple[str, str]] = []
        self._listeners: list[Listener] = []
        s = settings
        primary_stt: stt.STT = plugins.build_stt(s)
        self.stt = self._chain("stt", [
            Member("primary", f"stt:deepgram:{s.deepgram_model}@"
                   f"{plugins.host_of(s.deepgram_base_url, 'api.deepgram.com')}",
                   f"Deepgram {s.deepgram_model}",
                   GuardedSTT(primary_stt, self.tape) if s.stt_backup != "off" else primary_stt),
            *([self._stt_backup(vad)] if s.stt_backup != "off" else [])])
        self.llm = self._chain("llm", [
            Member("primary", f"llm:{s.deepseek_model}@{plugins.host_of(s.deepseek_base_url, '')}",
                   f"DeepSeek {s.deepseek_model}", plugins.build_llm(s)),
            *([Member("backup", f"llm:{s.llm_backup_model}@"
                      f"{plugins.host_of(s.llm_backup_base_url, '')}",
                      f"{s.llm_backup_model} (backup)", plugins.build_backup_llm(s))]
              if s.llm_backup == "openai" else [])])
        self.tts = self._chain("tts", [
            Member("primary", f"tts:elevenlabs:{s.elevenlabs_voice_id}@"
                   f"{plugins.host_of(s.elevenlabs_base_url, 'api.elevenlabs.io')}",
                   f"ElevenLabs {s.elevenlabs_model}", plugins.build_tts(s)),
            *([Member("backup", f"tts:deepgram:{s.tts_backup_model}@"
                      f"{plugins.host_of(s.tts_backup_base_url, 'api.deepgram.com')}",
                      f"Deepgram {s.tts_backup_model} (backup)", plugins.build_backup_tts(s))]
              if s.tts_backup == "deepgram" else [])])

    # --- construction ---------------------------------------------------------------------

    def _stt_backup(self, vad: vad.VAD) -> Member:
        s = self.settings
        backup: stt.STT = plugins.build_backup_stt(s)
        if not backup.capabilities.streaming:  # OpenAI-compatible: one request per utterance
            backup = stt.StreamAdapter(stt=backup, vad=vad)
        kind = "openai" if s.stt_backup == "openai" else "deepgram"
        model = s.stt_backup_model or s.deepgram_model
        default_host = "api.openai.com" if kind == "openai" else "api.deepgram.com"
        return Member("backup", f"stt:{kind}:{model}@"
                      f"{plugins.host_of(s.stt_backup_base_url, default_host)}",
                      f"{kind} {model} (backup)", GuardedSTT(backup, self.tape))

    def _chain(self, stage: Stage, members: list[Member]) -> Chain:
        chain = Chain(stage, members, up=[True] * len(members))
        if len(members) == 1:
            return chain
        plugins_ = [m.plugin for m in members]
        if stage == "stt":
            chain.adapter = stt.FallbackAdapter(plugins_, attempt_timeout=STT_ATTEMPT_TIMEOUT,
                                                max_retry_per_stt=0)
        elif stage == "llm":
            chain.adapter = llm.FallbackAdapter(plugins_, attempt_timeout=LLM_ATTEMPT_TIMEOUT,
                                                max_retry_per_llm=0, retry_on_chunk_sent=False)
        else:
            chain.adapter = tts.FallbackAdapter(plugins_, max_retry_per_tts=0)
        chain.adapter.on(f"{stage}_availability_changed",
                         lambda ev: self._on_availability(chain, ev))
        self._skip_known_down(chain)
        return chain

    def _skip_known_down(self, chain: Chain) -> None:
        """Start the call on the backup when an earlier call found the primary down. The
        adapter skips an unavailable instance and checks it in the background; 1.8.9 has no
        public way to say "start unavailable", hence its status list (pinned: <1.9)."""
        for i, member in enumerate(chain.members):
            since = self.health.down_since(member.key)
            if since is None or sum(chain.up) == 1:
                continue
            chain.up[i] = False
            chain.adapter._status[i].available = False
            nxt = chain.serving()
            self._report("provider_fallback", f"{chain.stage}: {member.label} known down since "
                         f"{time.strftime('%H:%M:%S', time.localtime(since))} (an earlier "
                         f"call); {nxt.label if nxt else '-'} takes over")

    def session_conn_options(self) -> SessionConnectOptions:
        """Without a backup, the plugins' own policies (LLM: providers.LLM_CONN_OPTIONS)."""
        def opts(stage: Stage, default: APIConnectOptions) -> APIConnectOptions:
            return FALLBACK_CONN[stage] if getattr(self, stage).adapter is not None else default

        base = SessionConnectOptions()
        return SessionConnectOptions(
            stt_conn_options=opts("stt", base.stt_conn_options),
            llm_conn_options=opts("llm", plugins.LLM_CONN_OPTIONS),
            tts_conn_options=opts("tts", base.tts_conn_options),
            max_unrecoverable_errors=MAX_UNRECOVERABLE_ERRORS)

    # --- what happens to them -------------------------------------------------------------

    def connect(self, sink: EventSink, listener: Listener | None = None) -> None:
        """Send events to the call record from now on (and those from construction), and
        tell `listener` of every switch as it happens."""
        if listener is not None:
            self._listeners.append(listener)
        self._sink = sink
        for kind, detail in self._pending:
            sink(kind, detail)
        self._pending.clear()

    def _report(self, kind: str, detail: str) -> None:
        (logger.info if kind == "provider_recovered" else logger.warning)(
            "%s: %s", kind, detail, extra={"event": kind})
        if self._sink is None:
            self._pending.append((kind, detail))
        else:
            self._sink(kind, detail)

    def _on_availability(self, chain: Chain, ev: Any) -> None:
        instance = getattr(ev, chain.stage)
        i = next((i for i, m in enumerate(chain.members) if m.plugin is instance), None)
        if i is None or chain.up[i] == ev.available:
            return
        chain.up[i] = ev.available
        member = chain.members[i]
        if ev.available:
            self.health.mark_up(member.key)
            self._report("provider_recovered", f"{chain.stage}: {member.label} is healthy "
                         "again (background check)")
            return
        self.health.mark_down(member.key, f"failed in a call at {time.strftime('%H:%M:%S')}")
        nxt = chain.serving()
        kind = "provider_stage_down" if nxt is None else "provider_fallback"
        self._report(kind, f"{chain.stage}: {member.label} failed; " + (
            f"{nxt.label} takes over" if nxt else "no provider of this stage is left"))
        for listener in self._listeners:
            listener(kind, chain.stage)

    def trip_silent_stt(self, reason: str) -> bool:
        """Fail the STT being served (it heard speech and sent nothing): True when a backup
        exists to take over."""
        serving = self.stt.serving()
        if (self.stt.adapter is None or serving is None or sum(self.stt.up) < 2
                or not isinstance(serving.plugin, GuardedSTT)):
            return False  # never fail the last provider standing: ask the caller instead
        return serving.plugin.trip(reason) > 0

    def reconnect_stt(self) -> None:
        """No backup: open a fresh socket to the one STT (a silent socket is the usual cause
        of speech without a transcript); the plugin reconnects its live stream."""
        plugin = self.stt.members[0].plugin
        if self.stt.adapter is None and isinstance(plugin, deepgram.STT):
            plugin.update_options(language=self.settings.deepgram_language)
