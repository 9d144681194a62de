"""Real synthetic speech for the emulators and their test callers (espeak-ng + sox).

    pcm = synthesize("what are your opening hours", 16000)   # s16le mono bytes, cached
    write_wav("/tmp/q.wav", "what are your opening hours", 16000)
    phone = mulaw_roundtrip(pcm, 16000)                      # through 8 kHz G.711 μ-law and back
"""

from __future__ import annotations

import functools
import subprocess
import wave

VOICE = "en-us"
WORDS_PER_MINUTE = 165


def _sox_raw(rate: int) -> list[str]:
    return ["-t", "raw", "-r", str(rate), "-e", "signed-integer", "-b", "16", "-c", "1"]


@functools.lru_cache(maxsize=256)
def synthesize(text: str, sample_rate: int = 16000) -> bytes:
    """Speak `text` with espeak-ng; return s16le mono PCM at `sample_rate` (cached by text)."""
    text = text.strip()
    if not text:
        return b""
    wav = subprocess.run(
        ["espeak-ng", "-v", VOICE, "-s", str(WORDS_PER_MINUTE), "--stdout", "--", text],
        check=True, capture_output=True, timeout=30).stdout
    pcm = subprocess.run(
        ["sox", "-t", "wav", "-", *_sox_raw(sample_rate), "-"],
        input=wav, check=True, capture_output=True, timeout=30).stdout
    return pcm[: len(pcm) - len(pcm) % 2]


def silence(seconds: float, sample_rate: int = 16000) -> bytes:
    return b"\x00\x00" * int(seconds * sample_rate)


def write_wav(path: str, text: str, sample_rate: int = 16000) -> str:
    """Write `text` spoken by espeak-ng to a mono 16-bit WAV file; return the path."""
    pcm = synthesize(text, sample_rate)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm)
    return path


def mulaw_roundtrip(pcm: bytes, sample_rate: int = 16000) -> bytes:
    """Pass s16le mono PCM through 8 kHz μ-law (telephone audio) and back to `sample_rate`."""
    ulaw = subprocess.run(
        ["sox", *_sox_raw(sample_rate), "-", "-t", "raw", "-r", "8000", "-e", "mu-law",
         "-b", "8", "-c", "1", "-"],
        input=pcm, check=True, capture_output=True, timeout=30).stdout
    back = subprocess.run(
        ["sox", "-t", "raw", "-r", "8000", "-e", "mu-law", "-b", "8", "-c", "1", "-",
         *_sox_raw(sample_rate), "-"],
        input=ulaw, check=True, capture_output=True, timeout=30).stdout
    return back[: len(back) - len(back) % 2]


def resample(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    if from_rate == to_rate:
        return pcm
    out = subprocess.run(["sox", *_sox_raw(from_rate), "-", *_sox_raw(to_rate), "-"],
                         input=pcm, check=True, capture_output=True, timeout=30).stdout
    return out[: len(out) - len(out) % 2]


def encode_mp3(pcm: bytes, sample_rate: int, bitrate_kbps: int = 32) -> bytes:
    """Encode s16le mono PCM to MP3 with PyAV (libmp3lame)."""
    import io

    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=sample_rate)
        stream.bit_rate = bitrate_kbps * 1000
        stream.layout = "mono"
        samples = np.frombuffer(pcm, np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = sample_rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()
