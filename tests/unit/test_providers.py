"""Provider construction: the official plugins, the right options, thinking disabled on the wire."""

from __future__ import annotations

import aiohttp
import pytest
from livekit.agents import inference, llm
from livekit.plugins import deepgram, elevenlabs, openai

from agent import providers
from agent.config import load_settings
from emulators import ProviderEmulators
from emulators.llm_script import Script, reply, tool_call

from .test_config import GOOD


def settings(**extra: str):  # type: ignore[no-untyped-def]
    return load_settings({**GOOD, **extra})


def test_llm_is_the_openai_plugin_pointed_at_deepseek() -> None:
    model = providers.build_llm(settings())
    assert isinstance(model, openai.LLM)
    assert model.model == "deepseek-v4-flash"
    assert str(model._client.base_url).startswith("https://api.deepseek.com")
    assert model._opts.extra_body == {"thinking": {"type": "disabled"}}


async def test_outgoing_request_body_disables_thinking_even_after_a_tool_call() -> None:
    script = Script([tool_call("get_time", {}, when="time"), reply("It is noon.")])
    async with ProviderEmulators(script=script) as emu:
        model = providers.build_llm(settings(**emu.env()))

        @llm.function_tool
        async def get_time() -> str:
            """Current time."""
            return "12:00"

        ctx = llm.ChatContext()
        ctx.add_message(role="user", content="what time is it")
        calls = []
        async with model.chat(chat_ctx=ctx, tools=[get_time]) as stream:
            async for chunk in stream:
                if chunk.delta and chunk.delta.tool_calls:
                    calls.extend(chunk.delta.tool_calls)
        assert [c.name for c in calls] == ["get_time"]
        ctx.insert(llm.FunctionCall(call_id=calls[0].call_id, name="get_time", arguments="{}"))
        ctx.insert(llm.FunctionCallOutput(call_id=calls[0].call_id, name="get_time",
                                          output="12:00", is_error=False))
        text = ""
        async with model.chat(chat_ctx=ctx, tools=[get_time]) as stream:
            async for chunk in stream:
                if chunk.delta and chunk.delta.content:
                    text += chunk.delta.content
        assert text == "It is noon."
        assert len(emu.llm_requests) == 2
        for body in emu.llm_requests:
            assert body["thinking"] == {"type": "disabled"}
            assert body["model"] == "deepseek-v4-flash"
            assert body["stream"] is True


async def test_stt_is_deepgram_streaming_with_interim_results() -> None:
    async with aiohttp.ClientSession() as http:
        stt = providers.build_stt(settings(DEEPGRAM_BASE_URL="http://127.0.0.1:9/v1/listen"),
                                  http_session=http)
        assert isinstance(stt, deepgram.STT)
        assert stt.capabilities.streaming and stt.capabilities.interim_results
        assert stt._opts.model == "nova-3"
        assert stt._opts.endpointing_ms == 300
        assert stt._opts.endpoint_url == "http://127.0.0.1:9/v1/listen"


async def test_stt_turn_detection_puts_the_whole_silence_wait_in_deepgram_endpointing() -> None:
    """TURN_DETECTOR=stt: Deepgram's speech_final ends the turn, so its endpointing is
    MIN_ENDPOINTING_DELAY and the session adds no min delay on top (livekit-agents anchors that
    delay at the final's arrival in stt mode, so it would be added, not overlapped)."""
    async with aiohttp.ClientSession() as http:
        for value, expected in (("0.3", 300), ("0.5", 500), ("0", 10)):
            s = settings(TURN_DETECTOR="stt", MIN_ENDPOINTING_DELAY=value)
            stt = providers.build_stt(s, http_session=http)
            assert stt._opts.endpointing_ms == expected
            assert providers.endpointing_delays(s, "stt") == {"min_delay": 0.0, "max_delay": 2.0}
        s = settings(TURN_DETECTOR="audio")
        assert providers.build_stt(s, http_session=http)._opts.endpointing_ms == 300
        assert providers.endpointing_delays(s, "audio") == {"min_delay": 0.3, "max_delay": 2.0}


async def test_tts_is_elevenlabs_streaming_pcm() -> None:
    async with aiohttp.ClientSession() as http:
        tts = providers.build_tts(settings(ELEVENLABS_BASE_URL="http://127.0.0.1:9/v1"),
                                  http_session=http)
        assert isinstance(tts, elevenlabs.TTS)
        assert tts.capabilities.streaming
        assert tts._opts.encoding == "pcm_24000"
        assert tts.sample_rate == 24000
        assert tts._opts.model == "eleven_flash_v2_5"


def test_auto_turn_detection_uses_offline_audio_model_without_text_model(monkeypatch) -> None:
    monkeypatch.setattr(providers.turns, "semantic_model_available", lambda: None)
    choice = providers.choose_turn_detector("auto")
    assert choice.kind == "audio"
    detector = providers.build_turn_detector(choice)
    assert isinstance(detector, inference.TurnDetector)
    assert "v1-mini" in str(detector.model)  # never the cloud v1, in dev or start


def test_auto_turn_detection_prefers_semantic_model_when_cached(monkeypatch) -> None:
    monkeypatch.setattr(providers.turns, "semantic_model_available", lambda: "v0.4.1-intl")
    assert providers.choose_turn_detector("auto").kind == "semantic"


def test_semantic_without_model_files_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setattr(providers.turns, "semantic_model_available", lambda: None)
    with pytest.raises(RuntimeError, match="download-files"):
        providers.choose_turn_detector("semantic")


def test_turn_handling_is_explicit_and_offline() -> None:
    opts = providers.turn_handling(settings(), providers.TurnDetectorChoice("stt", "test"))
    assert opts["turn_detection"] == "stt"
    # stt mode: the 0.3 s silence wait is Deepgram's endpointing (see the test above)
    assert opts["endpointing"] == {"mode": "fixed", "min_delay": 0.0, "max_delay": 2.0}
    assert opts["interruption"]["mode"] == "vad"  # adaptive mode would call LiveKit Cloud
    assert opts["interruption"]["resume_false_interruption"] is True
    assert opts["preemptive_generation"]["enabled"] is True
