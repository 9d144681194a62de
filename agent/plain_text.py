"""Free text made safe to store and to speak: no control, bidirectional or invisible characters.

Text from callers, the model and operators (ticket descriptions, callback reasons, an outbound
call's purpose, transcript lines) can carry characters nobody sees: C0 and C1 control codes
(terminal escapes in a log viewer), bidirectional overrides and isolates (text that displays
reversed, "Trojan Source"), zero-width spaces and joiners (words that look equal but are not).
`strip_invisible` removes every character of the Unicode categories Cc (controls) and Cf
(format: bidi controls, zero-width characters, the BOM, soft hyphens); tabs and line breaks
become spaces, so words stay apart.
"""

from __future__ import annotations

import unicodedata

_SPACES = {"\t", "\n", "\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029"}


def strip_invisible(text: str, *, keep_newlines: bool = False) -> str:
    """`text` without control, bidirectional-override or zero-width characters.
    `keep_newlines`: "\n" stays (text whose line structure still matters, e.g. markdown)."""
    if text.isascii() and text.isprintable():
        return text  # the common case, without a per-character walk
    out: list[str] = []
    for ch in text:
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif ch in _SPACES:
            out.append(" ")
        elif unicodedata.category(ch) not in ("Cc", "Cf"):
            out.append(ch)
    return "".join(out)
