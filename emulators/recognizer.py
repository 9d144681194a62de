"""Phrase-constrained speech recognition for the Deepgram emulator (and for checking TTS output).

Two real recognizers vote; neither ever invents text outside the phrase list:

1. pocketsphinx (the English acoustic model shipped in the wheel) decoding with a JSGF grammar
   whose only sentences are the current phrases. Words missing from CMUdict get a pronunciation
   derived from espeak-ng's IPA; every word also gets espeak's pronunciation as an alternative.
   Only a hypothesis that is a *complete* phrase counts (pocketsphinx returns partial paths when
   the audio does not fit the grammar — that is how out-of-grammar speech is rejected).
2. Acoustic template matching: MFCCs (telephone band, 200–3400 Hz, so it survives 8 kHz μ-law)
   of the utterance against espeak-ng renderings of each phrase, compared with dynamic time
   warping. Same-voice speech matches at a distance of ~0–6; anything else sits above ~20.

Result: the template match if it is confident, else pocketsphinx's complete-phrase hypothesis,
else nothing. Noise bursts, "mm-hmm" and other out-of-list speech give None.

    rec = get_recognizer(["what are your opening hours", "yes please"])
    rec.recognize(pcm, 16000).text   # -> "what are your opening hours" | None
    rec.partial(pcm_so_far, 16000)   # -> "what are your" (best-effort interim words)

Thread-safe (a lock guards the decoder); call from an executor, not the event loop.
"""

from __future__ import annotations

import functools
import re
import subprocess
import threading
from dataclasses import dataclass

import numpy as np
from pocketsphinx import Decoder  # type: ignore[import-untyped]  # ships no type information

from .speech import resample, synthesize

RATE = 16000
DTW_ACCEPT = 12.0  # mean frame distance; same-voice matches ≤ ~6, other speech ≥ ~20

_IPA = sorted({
    "eɪ": "EY", "aɪ": "AY", "ɔɪ": "OY", "aʊ": "AW", "oʊ": "OW", "tʃ": "CH", "dʒ": "JH",
    "ɜː": "ER", "ɚ": "ER", "ɝ": "ER", "iː": "IY", "uː": "UW", "ɑː": "AA", "ɔː": "AO",
    "ɪ": "IH", "i": "IY", "ɛ": "EH", "e": "EH", "æ": "AE", "ɑ": "AA", "ɒ": "AA", "ɔ": "AO",
    "ʌ": "AH", "ə": "AH", "ᵻ": "IH", "ʊ": "UH", "u": "UW", "a": "AA", "o": "OW", "ɐ": "AH",
    "p": "P", "b": "B", "t": "T", "d": "D", "k": "K", "g": "G", "ɡ": "G", "f": "F", "v": "V",
    "θ": "TH", "ð": "DH", "s": "S", "z": "Z", "ʃ": "SH", "ʒ": "ZH", "h": "HH", "m": "M",
    "n": "N", "ŋ": "NG", "l": "L", "ɫ": "L", "ɹ": "R", "r": "R", "w": "W", "j": "Y",
    "ɾ": "D", "x": "K", "ʔ": "",
}.items(), key=lambda kv: -len(kv[0]))


def normalize(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", text.lower().replace("-", " ")).split()


@functools.lru_cache(maxsize=4096)
def espeak_pronunciation(word: str) -> str:
    ipa = subprocess.run(["espeak-ng", "-v", "en-us", "-q", "--ipa", "--", word],
                         capture_output=True, text=True, timeout=10).stdout.strip()
    phones: list[str] = []
    i = 0
    while i < len(ipa):
        for sym, arpa in _IPA:
            if ipa.startswith(sym, i):
                if arpa:
                    phones.append(arpa)
                i += len(sym)
                break
        else:
            i += 1
    return " ".join(phones) or "AH"


# ---------------------------------------------------------------- acoustic features
def _mel_filterbank(n_fft: int, sr: int, n_mels: int = 26, fmin: float = 200.0,
                    fmax: float = 3400.0) -> np.ndarray:
    def mel(f: np.ndarray | float) -> np.ndarray:
        return 2595 * np.log10(1 + np.asarray(f) / 700)

    def inv(m: np.ndarray) -> np.ndarray:
        return 700 * (10 ** (m / 2595) - 1)

    pts = inv(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    bins = np.floor((n_fft + 1) * pts / sr).astype(int)
    fb = np.zeros((n_mels, n_fft // 2 + 1))
    for i in range(1, n_mels + 1):
        left, center, right = bins[i - 1], bins[i], bins[i + 1]
        fb[i - 1, left:center] = (np.arange(left, center) - left) / max(center - left, 1)
        fb[i - 1, center:right] = (right - np.arange(center, right)) / max(right - center, 1)
    return fb


_FB = _mel_filterbank(512, RATE)
_DCT = np.cos(np.pi / 26 * (np.arange(26)[:, None] + 0.5) * np.arange(1, 13)[None, :])
_WINDOW = np.hamming(400)


def mfcc(pcm16k: bytes) -> np.ndarray:
    """12 cepstra per 10 ms frame, near-silent frames dropped, mean-normalized."""
    x = np.frombuffer(pcm16k, np.int16).astype(np.float32)
    if len(x) < 400:
        return np.zeros((0, 12), np.float32)
    x = np.append(x[0], x[1:] - 0.97 * x[:-1])
    n = 1 + (len(x) - 400) // 160
    frames = x[np.arange(400)[None, :] + 160 * np.arange(n)[:, None]] * _WINDOW
    power = np.abs(np.fft.rfft(frames, 512)) ** 2
    logmel = np.log(np.maximum(power @ _FB.T, 1e-3))
    energy = logmel.sum(1)
    logmel = logmel[energy > energy.max() - 26 * 8]
    ceps = logmel @ _DCT
    return (ceps - ceps.mean(0)).astype(np.float32)


def dtw_distance(a: np.ndarray, b: np.ndarray, open_end: bool = False) -> tuple[float, float]:
    """Mean frame distance along the best warping path; with open_end, `a` may match a prefix
    of `b`. Returns (distance, fraction of `b` covered)."""
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        return float("inf"), 0.0
    d = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        prev = acc[i - 1]
        diag_up = np.minimum(prev[:-1], prev[1:]) + d[i - 1]
        row = acc[i]
        # row[j] = min(diag_up[j-1], row[j-1] + d[i-1, j-1]): a running min over the row
        run = np.inf
        di = d[i - 1]
        for j in range(1, m + 1):
            run = min(diag_up[j - 1], run + di[j - 1])
            row[j] = run
    if not open_end:
        return float(acc[n, m] / (n + m)), 1.0
    norm = acc[n, 1:] / (n + np.arange(1, m + 1))
    j = int(np.argmin(norm))
    return float(norm[j]), (j + 1) / m


@dataclass
class Recognition:
    text: str | None  # the phrase as given in the list, or None
    method: str  # "template", "pocketsphinx" or "none"
    distance: float  # best template distance
    sphinx_hyp: str | None


class Recognizer:
    def __init__(self, phrases: list[str] | tuple[str, ...]) -> None:
        self.phrases = [p.strip() for p in phrases if p and p.strip()]
        self._lock = threading.Lock()
        self._by_norm = {" ".join(normalize(p)): p for p in self.phrases if normalize(p)}
        self._templates = {p: mfcc(synthesize(p, RATE)) for p in self.phrases}
        self._decoder = self._build_decoder() if self._by_norm else None

    def _build_decoder(self) -> Decoder:

        decoder = Decoder(lm=None, samprate=RATE, loglevel="FATAL")
        words = sorted({w for key in self._by_norm for w in key.split()})
        for w in words:
            pron = espeak_pronunciation(w)
            if decoder.lookup_word(w) is None:
                decoder.add_word(w, pron, False)
            else:
                decoder.add_word(f"{w}(9)", pron, False)
        alternatives = " | ".join(sorted(self._by_norm))
        decoder.add_jsgf_string(
            "phrases", f"#JSGF V1.0;\ngrammar phrases;\npublic <s> = {alternatives} ;\n")
        decoder.activate_search("phrases")
        return decoder

    @staticmethod
    def _to16k(pcm: bytes, sample_rate: int) -> bytes:
        pcm = pcm[: len(pcm) - len(pcm) % 2]
        return resample(pcm, sample_rate, RATE) if sample_rate != RATE else pcm

    def _sphinx(self, pcm16k: bytes) -> str | None:
        if self._decoder is None:
            return None
        with self._lock:
            self._decoder.start_utt()
            self._decoder.process_raw(pcm16k, full_utt=True)
            self._decoder.end_utt()
            hyp = self._decoder.hyp()
        return hyp.hypstr if hyp is not None else None

    def recognize(self, pcm: bytes, sample_rate: int = RATE) -> Recognition:
        pcm16k = self._to16k(pcm, sample_rate)
        if not self.phrases or len(pcm16k) < RATE // 5:  # < 100 ms
            return Recognition(None, "none", float("inf"), None)
        feats = mfcc(pcm16k)
        best, best_d = None, float("inf")
        for phrase, tmpl in self._templates.items():
            if not (0.5 <= len(feats) / max(len(tmpl), 1) <= 2.0):
                continue
            dist, _ = dtw_distance(feats, tmpl)
            if dist < best_d:
                best, best_d = phrase, dist
        hyp = self._sphinx(pcm16k)
        if best is not None and best_d <= DTW_ACCEPT:
            return Recognition(best, "template", best_d, hyp)
        if hyp and hyp in self._by_norm:
            return Recognition(self._by_norm[hyp], "pocketsphinx", best_d, hyp)
        return Recognition(None, "none", best_d, hyp)

    def partial(self, pcm: bytes, sample_rate: int = RATE) -> str:
        """Best-effort interim words for the audio so far (may be empty)."""
        pcm16k = self._to16k(pcm, sample_rate)
        if not self.phrases or len(pcm16k) < RATE // 5:
            return ""
        feats = mfcc(pcm16k)
        best, best_d, best_frac = None, float("inf"), 0.0
        for phrase, tmpl in self._templates.items():
            if len(feats) > 2 * len(tmpl):
                continue
            dist, frac = dtw_distance(feats, tmpl, open_end=True)
            if dist < best_d:
                best, best_d, best_frac = phrase, dist, frac
        if best is not None and best_d <= DTW_ACCEPT:
            words = best.split()
            return " ".join(words[: max(1, round(len(words) * best_frac))])
        hyp = self._sphinx(pcm16k)
        return hyp or ""


_cache: dict[tuple[str, ...], Recognizer] = {}
_cache_lock = threading.Lock()


def get_recognizer(phrases: list[str] | tuple[str, ...]) -> Recognizer:
    key = tuple(p.strip() for p in phrases if p and p.strip())
    with _cache_lock:
        rec = _cache.get(key)
    if rec is None:
        rec = Recognizer(key)
        with _cache_lock:
            _cache[key] = rec
    return rec


def recognize(pcm: bytes, sample_rate: int, phrases: list[str]) -> str | None:
    """Convenience: the phrase heard in `pcm` (s16le mono), or None."""
    return get_recognizer(phrases).recognize(pcm, sample_rate).text
