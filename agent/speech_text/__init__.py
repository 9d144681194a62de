"""Rewrite LLM text so the TTS voice says it the way a person would on the phone.

The LLM writes for the eye ("$12.50", "14:30", "(415) 555-0100", "order #A12345"); the voice
must speak for the ear ("twelve dollars and fifty cents", "two thirty PM", ...). This package
does that rewrite in pure Python (no number-to-words dependency).

Public API
----------
``normalize_for_speech(text) -> str``
    Pure and idempotent: ``normalize(normalize(t)) == normalize(t)``. Every rewrite produces
    words only (no digits, no symbols a later rule would match), which is what makes a second
    pass a no-op.

``speech_text_transform``
    An async generator function ``(AsyncIterable[str]) -> AsyncIterable[str]``, the shape
    LiveKit accepts in ``AgentSession(tts_text_transforms=[speech_text_transform])``. It strips
    markdown and emoji itself, so it replaces LiveKit's default ``filter_markdown`` /
    ``filter_emoji`` transforms (passing the list overrides the defaults).

``SpeechTextBuffer``
    The synchronous streaming core the transform uses: ``push(chunk) -> str`` returns the
    text that is now safe to speak, ``flush() -> str`` returns the rest at end of stream.

``number_to_words``, ``ordinal_words``, ``year_to_words``, ``digits_to_words``,
``house_number_words``
    The number-reading primitives the rules are built on.

Choices
-------
* Dates are spoken without a weekday ("November twenty-second, twenty twenty-six"): adding
  one would double it whenever the LLM already wrote "Sunday, 2026-11-22".
* Numeric dates are US style (month/day/year). "22/11/2026" (first part > 12) is read as
  day/month because nothing else makes sense.
* Phone numbers: North American numbers (+1 or none) are read without the country code,
  as "four one five, five five five, zero one zero zero" (commas are pauses). Any other
  country code is said ("plus four four, two zero, ...").
* Reference numbers ("order #A12345", "ticket T-1043") are spelled character by character
  with the letters upper-cased so the voice spells them; a "#" after the keyword is dropped.
  Bare digit runs of five or more are read digit by digit (grouped in threes and fours with
  pauses when longer than six); smaller numbers are read as words; four-digit numbers from
  1900 to 2099 are read as years ("twenty twenty-six").
* A clock time without AM/PM is read in 24-hour terms when it is clearly 24-hour ("14:30",
  "09:15", "00:15", "12:00"), otherwise as written ("9:05" -> "nine oh five").

Streaming
---------
LLM text arrives in small chunks, so "$12.50" may arrive as "$1" + "2.5" + "0". The
transform only cuts the stream between two plain words (letters only, no rule keyword
nearby): no rule can match across such a gap, so normalizing the pieces separately gives
exactly the one-shot result. That cut point is found about one or two words behind the
newest text, so the added latency is a word or two of LLM output. At end of stream the rest
is flushed. If a very long stretch has no safe cut (e.g. a long list of numbers), the buffer
is cut at whitespace once it exceeds a length limit, trading exactness for latency.

Layout
------
Imports only go down this list (no cycles):

* ``tables``: month, weekday, currency, unit, street and title vocabulary.
* ``numbers``: cardinal, ordinal, year, digit and spelling words.
* ``markdown``: markdown and emoji clean-up.
* rule families, each a set of compiled patterns and their replacement functions:
  ``addresses`` (emails, URLs), ``abbreviations`` (streets, titles, "etc."), ``times``,
  ``dates``, ``phone_numbers``, ``references`` (order numbers, codes, "ending in"),
  ``money``, ``measures`` (percent, degrees, units, ranges, every other number).
* ``pipeline``: the ordered rule list and ``normalize_for_speech``.
* ``streaming``: ``SpeechTextBuffer``, ``speech_text_transform`` and the safe-cut logic.
"""

from __future__ import annotations

from .abbreviations import house_number_words
from .numbers import digits_to_words, number_to_words, ordinal_words, year_to_words
from .pipeline import normalize_for_speech
from .streaming import SpeechTextBuffer, speech_text_transform

__all__ = [
    "SpeechTextBuffer",
    "digits_to_words",
    "house_number_words",
    "normalize_for_speech",
    "number_to_words",
    "ordinal_words",
    "speech_text_transform",
    "year_to_words",
]
