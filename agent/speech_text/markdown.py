"""Markdown and emoji clean-up. The transform replaces LiveKit's ``filter_markdown`` and
``filter_emoji``, so it strips headers, bullets, emphasis, code fences, link targets and emoji
itself before any other rule runs; ``CLEANUP_RE`` removes the ``#`` and ``_`` left over once
every other rule has had its chance to use them."""

from __future__ import annotations

import re

EMOJI = (
    "["
    "\U0001f000-\U0001faff"  # pictographs, emoticons, transport, flags, supplemental symbols
    "\u2600-\u27bf"  # misc symbols and dingbats
    "\u2b00-\u2bff"  # arrows and stars (⭐)
    "\u2300-\u23ff"  # misc technical (⌚, ⏰)
    "\ufe0e\ufe0f\u200d\u20e3"  # variation selectors, joiner, keycap
    "\U000e0020-\U000e007f"  # tag characters (subdivision flags)
    "]+"
)
_EMOJI_RE = re.compile(rf"[ \t]*(?:{EMOJI})[ \t]*")


def _emoji_sub(m: re.Match[str]) -> str:
    s = m.string
    before = s[m.start() - 1] if m.start() > 0 else "\n"
    after = s[m.end()] if m.end() < len(s) else "\n"
    if before == "\n" or after == "\n" or after in ",.!?;:)]\"'":
        return ""
    return " "


_MD_LINK_TARGET = re.compile(r"\]\((?:[^()\s]|\([^()\s]*\))*\)")
_MD_CODE_FENCE = re.compile(r"`{3,}[\w+-]*")
_MD_HEADER = re.compile(r"^[ \t]*#{1,6}[ \t]+", re.MULTILINE)
_MD_BULLET = re.compile(r"^[ \t]*(?:[-*+•·]|>)[ \t]+", re.MULTILINE)
_MD_INLINE = re.compile(r"\*+|`+|~~|[\[\]•]")


def strip_markdown(text: str) -> str:
    text = _MD_LINK_TARGET.sub("", text)  # [label](url) -> [label  (brackets go below)
    text = _MD_CODE_FENCE.sub("", text)
    text = _MD_HEADER.sub("", text)
    text = _MD_BULLET.sub("", text)
    text = _MD_INLINE.sub("", text)
    return _EMOJI_RE.sub(_emoji_sub, text)


CLEANUP_RE = re.compile(r"#+|(?<!\w)_{1,3}(?=\w)|(?<=\w)_{1,3}(?!\w)")
