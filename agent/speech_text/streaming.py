"""Streaming: ``SpeechTextBuffer`` and the LiveKit transform ``speech_text_transform``.

LLM text arrives in small chunks, so "$12.50" may arrive as "$1" + "2.5" + "0". The buffer
only cuts the stream between two plain words (letters only, no rule keyword nearby): no rule
can match across such a gap, so normalizing the pieces separately gives exactly the one-shot
result. If a very long stretch has no safe cut (e.g. a long list of numbers), the buffer is cut
at whitespace once it exceeds ``_MAX_BUFFER`` characters, trading exactness for latency."""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator

from .markdown import EMOJI
from .pipeline import normalize_for_speech
from .references import ID_KEYWORDS, ID_MARKERS
from .tables import STREET_SUFFIXES, TITLES

# Words whose rule looks at a neighbouring plain word: never cut next to them.
_TRIGGERS = frozenset(
    {*(ID_KEYWORDS), *(ID_MARKERS), "ending", "ends", *(STREET_SUFFIXES), *(TITLES),
     "jr", "sr", "etc", "apt", "ste", "approx", "vs", "ext", "dept"}
)  # fmt: skip
_PLAIN_TOKEN_RE = re.compile(r"[\"“‘']?([^\W\d_]+(?:['’-][^\W\d_]+)*)[,.!?;:\"”’']*")
_TOKEN_RE = re.compile(r"\S+")
_LEADING_WORD_RE = re.compile(r"[\"“‘'(\[{]*([^\W\d_]+)")
# characters the markdown/emoji clean-up deletes: a token made only of these disappears
_VANISHING_RE = re.compile(rf"[#*`~_\[\]>•+-]|{EMOJI}")
_MAX_BUFFER = 600


def _is_plain(token: str) -> bool:
    m = _PLAIN_TOKEN_RE.fullmatch(token)
    return m is not None and m.group(1).lower() not in _TRIGGERS


def _safe_cut(buffer: str) -> int:
    """Index to cut ``buffer`` at so both halves normalize independently; 0 if none yet.

    A cut goes just before token i+1 when tokens i and i+1 are plain words and token i+2
    (which must be complete, i.e. followed by whitespace) is not a rule keyword: a rule that
    looks back two words from a keyword then still sees them in its own piece.
    """
    tokens = list(_TOKEN_RE.finditer(buffer))
    complete = len(tokens) if buffer[-1:].isspace() else len(tokens) - 1
    # the first token with content after each index (markup-only tokens vanish later)
    next_solid: list[int | None] = [None] * (complete + 1)
    for j in range(complete - 1, -1, -1):
        next_solid[j] = j if _VANISHING_RE.sub("", tokens[j].group(0)) else next_solid[j + 1]
    for i in range(complete - 2, -1, -1):
        c_index = next_solid[i + 2] if i + 2 <= complete else None
        if c_index is None:
            continue
        a, b, c = tokens[i].group(0), tokens[i + 1].group(0), tokens[c_index].group(0)
        if _is_plain(a) and _is_plain(b) and not _is_trigger(_VANISHING_RE.sub("", c)):
            return tokens[i + 1].start()
    if len(buffer) > _MAX_BUFFER and complete >= 2:
        return tokens[complete - 1].start()
    return 0


def _is_trigger(token: str) -> bool:
    """Does the token start with a rule keyword ("St.", "St.)", "order#12", "Ave.Park")?
    Tokens starting with a digit or symbol ("$5", "(415)") are not: rules that start there
    look back at most one character."""
    m = _LEADING_WORD_RE.match(token)
    return m is not None and m.group(1).lower() in _TRIGGERS


class SpeechTextBuffer:
    """Streaming normalizer: ``push`` chunks, get back text that is safe to speak now."""

    def __init__(self) -> None:
        self._buffer = ""

    def push(self, chunk: str) -> str:
        self._buffer += chunk
        cut = _safe_cut(self._buffer)
        if not cut:
            return ""
        ready, self._buffer = self._buffer[:cut], self._buffer[cut:]
        return normalize_for_speech(ready)

    def flush(self) -> str:
        ready, self._buffer = self._buffer, ""
        return normalize_for_speech(ready)


async def speech_text_transform(text: AsyncIterable[str]) -> AsyncIterator[str]:
    """LiveKit ``tts_text_transforms`` entry: normalize a streamed LLM reply for speech."""
    buffer = SpeechTextBuffer()
    async for chunk in text:
        out = buffer.push(chunk)
        if out:
            yield out
    out = buffer.flush()
    if out:
        yield out
