"""The fallback lines as audio: the bundled recordings cover every line and say it, and the
lines rendered through the primary voice are cached for the next call's process."""

from __future__ import annotations

import json
from pathlib import Path

from agent.config import load_settings
from agent.recovery.lines import PRERENDERED
from agent.recovery.voice import BUNDLED, RATE, PrerenderedVoice, render_missing, resample
from emulators import ProviderEmulators
from emulators.recognizer import get_recognizer

from .test_config import GOOD


def test_the_bundle_covers_every_line_and_says_it() -> None:
    assert json.loads((BUNDLED / "lines.json").read_text()) == PRERENDERED, \
        "stale bundle: python -m devstack.bundle_voice"
    voice = PrerenderedVoice.load(load_settings({**GOOD, "FAILOVER_STATE_DIR": "/nonexistent"}))
    for name, text in PRERENDERED.items():
        clip = voice[name]
        assert clip.source == "bundled" and clip.seconds > len(text.split()) * 0.2, name
    # recognition is slow on this machine: three lines, recognised among all of them
    rec = get_recognizer(list(PRERENDERED.values()))
    for name in ("hold", "keypad", "handover"):
        pcm = resample(voice[name].pcm, RATE, 16000)
        assert rec.recognize(pcm, 16000).text == PRERENDERED[name], name


async def test_lines_rendered_in_the_primary_voice_are_cached(tmp_path: Path) -> None:
    async with ProviderEmulators() as emu:
        settings = load_settings({**GOOD, **emu.env(), "FAILOVER_STATE_DIR": str(tmp_path)})
        assert sorted(await render_missing(settings)) == sorted(PRERENDERED)
        assert sorted(emu.tts_texts) == sorted(PRERENDERED.values())
        assert await render_missing(settings) == []  # the next process finds them on disk
    voice = PrerenderedVoice.load(settings)
    assert {c.source for c in voice.clips.values()} == {"tts"}
    frames = [f async for f in voice["hold"].frames()]
    assert frames[0].sample_rate == RATE and len(frames) * 0.02 >= voice["hold"].seconds
