"""Regenerate the bundled fallback recordings (agent/recovery/bundled/*.wav) with espeak-ng.

    python -m devstack.bundle_voice

They are what a caller hears from `agent/recovery/lines.py` when the primary voice could not
render the lines yet (a first call, or the TTS already down at prewarm). A unit test checks
that the bundle covers every line and says it (tests/unit/test_recovery_voice.py).
"""

from __future__ import annotations

import json
import wave

from agent.recovery.lines import PRERENDERED
from agent.recovery.voice import BUNDLED
from emulators.speech import synthesize

RATE = 8000  # what a phone line carries (G.711); keeps the bundle small


def main() -> None:
    BUNDLED.mkdir(parents=True, exist_ok=True)
    for old in BUNDLED.glob("*.wav"):
        old.unlink()
    for name, text in PRERENDERED.items():
        with wave.open(str(BUNDLED / f"{name}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(synthesize(text, RATE))
    (BUNDLED / "lines.json").write_text(json.dumps(PRERENDERED, indent=1) + "\n")
    print(f"wrote {len(PRERENDERED)} recordings to {BUNDLED}")


if __name__ == "__main__":
    main()
