"""Text normalization before TTS: what the phone voice actually says."""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator

import pytest

from agent.speech_text import (
    SpeechTextBuffer,
    normalize_for_speech,
    number_to_words,
    ordinal_words,
    speech_text_transform,
    year_to_words,
)

# --------------------------------------------------------------------------- number words


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (7, "seven"),
        (13, "thirteen"),
        (20, "twenty"),
        (42, "forty-two"),
        (100, "one hundred"),
        (105, "one hundred five"),
        (999, "nine hundred ninety-nine"),
        (1000, "one thousand"),
        (1200, "one thousand two hundred"),
        (1_000_001, "one million one"),
        (2_500_000_000, "two billion five hundred million"),
    ],
)
def test_number_to_words(n: int, words: str) -> None:
    assert number_to_words(n) == words


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (1, "first"),
        (2, "second"),
        (3, "third"),
        (5, "fifth"),
        (8, "eighth"),
        (9, "ninth"),
        (11, "eleventh"),
        (12, "twelfth"),
        (20, "twentieth"),
        (22, "twenty-second"),
        (31, "thirty-first"),
        (100, "one hundredth"),
    ],
)
def test_ordinal_words(n: int, words: str) -> None:
    assert ordinal_words(n) == words


@pytest.mark.parametrize(
    ("year", "words"),
    [
        (2026, "twenty twenty-six"),
        (2000, "two thousand"),
        (2005, "two thousand five"),
        (2010, "twenty ten"),
        (1999, "nineteen ninety-nine"),
        (1905, "nineteen oh five"),
        (1900, "nineteen hundred"),
    ],
)
def test_year_to_words(year: int, words: str) -> None:
    assert year_to_words(year) == words


# --------------------------------------------------------------------------- categories

MONEY = [
    ("$12.50", "twelve dollars and fifty cents"),
    ("$1,200", "one thousand two hundred dollars"),
    ("$0.99", "ninety-nine cents"),
    ("$1", "one dollar"),
    ("$1.01", "one dollar and one cent"),
    ("$12.00", "twelve dollars"),
    ("$12.5", "twelve dollars and fifty cents"),
    ("€5", "five euros"),
    ("£3.20", "three pounds and twenty pence"),
    ("USD 40", "forty US dollars"),
    ("It costs 40 USD.", "It costs forty US dollars."),
    ("$2k", "two thousand dollars"),
    ("$1.5 million", "one point five million dollars"),
    ("$10-$20", "ten dollars to twenty dollars"),
    ("$10/month", "ten dollars per month"),
    ("Your total is $12.50.", "Your total is twelve dollars and fifty cents."),
]

DATES = [
    ("2026-11-22", "November twenty-second, twenty twenty-six"),
    ("11/22/2026", "November twenty-second, twenty twenty-six"),
    ("11/22/26", "November twenty-second, twenty twenty-six"),
    ("22/11/2026", "November twenty-second, twenty twenty-six"),
    ("Nov 3", "November third"),
    ("Nov. 3rd", "November third"),
    ("on November 3, 2026.", "on November third, twenty twenty-six."),
    ("3 March 2026", "March third, twenty twenty-six"),
    ("by 11/22", "by November twenty-second"),
    (
        "2026-11-22T14:30:00Z",
        "November twenty-second, twenty twenty-six at two thirty PM",
    ),
    ("Mon-Fri", "Monday to Friday"),
    ("in 2026", "in twenty twenty-six"),
]

TIMES = [
    ("14:30", "two thirty PM"),
    ("9:00 am", "nine AM"),
    ("9am", "nine AM"),
    ("9 AM", "nine AM"),
    ("9:00 a.m.", "nine AM."),
    ("at 9 a.m. Then we talk", "at nine AM. Then we talk"),
    ("at 9 a.m. tomorrow", "at nine AM tomorrow"),
    ("12:00", "twelve noon"),
    ("12pm", "twelve noon"),
    ("12:00 am", "twelve midnight"),
    ("00:15", "twelve fifteen AM"),
    ("09:15", "nine fifteen AM"),
    ("9:05", "nine oh five"),
    ("9:00", "nine o'clock"),
    ("2:45 PM", "two forty-five PM"),
    ("9am-5pm", "nine AM to five PM"),
    ("9:30-10:30 AM", "nine thirty to ten thirty AM"),
    ("9-11am", "nine to eleven AM"),
    ("10:00 to 14:00", "ten o'clock to two PM"),
]

PHONES = [
    ("+1 415-555-0100", "four one five, five five five, zero one zero zero"),
    ("(415) 555-0100", "four one five, five five five, zero one zero zero"),
    ("+14155550100", "four one five, five five five, zero one zero zero"),
    ("415.555.0100", "four one five, five five five, zero one zero zero"),
    ("+1 (415) 555-0100", "four one five, five five five, zero one zero zero"),
    ("1-800-555-0199", "eight zero zero, five five five, zero one nine nine"),
    ("555-0100", "five five five, zero one zero zero"),
    ("+44 20 7123 4567", "plus four four, two zero, seven one two three, four five six seven"),
    ("+442071234567", "plus four four, two zero seven, one two three, four five six seven"),
    (
        "Call us at (415) 555-0100.",
        "Call us at four one five, five five five, zero one zero zero.",
    ),
]

REFERENCES = [
    ("order #A12345", "order A one two three four five"),
    ("order number 48213", "order number four eight two one three"),
    ("Order No. 48213", "Order number four eight two one three"),
    ("ticket T-1043", "ticket T one zero four three"),
    ("booking BK-7731", "booking B K seven seven three one"),
    ("confirmation code XJ4K2.", "confirmation code X J four K two."),
    ("your order number is 1043", "your order number is one zero four three"),
    ("reference: ab123", "reference A B one two three"),
    ("card ending in 4821", "card ending in four eight two one"),
    ("Your code is A12345.", "Your code is A one two three four five."),
    ("48213", "four eight two one three"),
    (
        "1234567890123456",
        "one two three four, five six seven eight, nine zero one two, three four five six",
    ),
    ("3 items", "three items"),
    ("at 2", "at two"),
    ("order 2 pizzas", "order two pizzas"),
    ("order #7", "order number seven"),
    ("1500 people", "one thousand five hundred people"),
]

OTHER = [
    ("50%", "fifty percent"),
    ("3.5%", "three point five percent"),
    ("10-20%", "ten to twenty percent"),
    ("1st", "first"),
    ("the 22nd", "the twenty-second"),
    ("2-3 days", "two to three days"),
    ("pages 10-12, 14", "pages ten to twelve, fourteen"),
    ("3.14", "three point one four"),
    ("72°F", "seventy-two degrees Fahrenheit"),
    ("approx. 5 min", "approximately five minutes"),
    ("R&D", "R and D"),
    ("Q & A", "Q and A"),
    ("Dr. Smith will see you", "Doctor Smith will see you"),
    ("Ask Dr. Patel.", "Ask Doctor Patel."),
    ("123 Main St.", "one twenty-three Main Street."),
    ("I live on Main St. near the park", "I live on Main Street near the park"),
    ("Visit St. Mary's Hospital", "Visit Saint Mary's Hospital"),
    ("at 45 Elm Dr. today", "at forty-five Elm Drive today"),
    ("John Smith Jr. is here", "John Smith Junior is here"),
    ("apples, pears, etc. Then more", "apples, pears, et cetera. Then more"),
    ("e.g. a refund", "for example, a refund"),
    ("24/7", "twenty-four seven"),
]

ADDRESSES = [
    ("Email support@example.com today.", "Email support at example dot com today."),
    ("jane.doe42@mail.example.org", "jane dot doe four two at mail dot example dot org"),
    ("Visit https://www.example.com/help.", "Visit example dot com slash help."),
    ("go to example.com", "go to example dot com"),
    ("see https://example.com/a?x=1", "see example dot com slash a"),
]

MARKDOWN = [
    ("**Great news!** Your refund is ready.", "Great news! Your refund is ready."),
    ("*really* sure", "really sure"),
    ("- item one\n- item two", "item one\nitem two"),
    ("* one\n+ two\n• three", "one\ntwo\nthree"),
    ("# Heading\nText", "Heading\nText"),
    ("## Your options", "Your options"),
    ("Run `reset` now", "Run reset now"),
    ("See [our policy](https://example.com/policy) online", "See our policy online"),
    ("> quoted", "quoted"),
    ("Great 😀 see you", "Great see you"),
    ("Thanks! 👍", "Thanks!"),
    ("👋 Hi there", "Hi there"),
    ("Done 🎉.", "Done."),
    ("Nice 👍🏽 work", "Nice work"),
]

ALL_CASES = MONEY + DATES + TIMES + PHONES + REFERENCES + OTHER + ADDRESSES + MARKDOWN


@pytest.mark.parametrize(("text", "spoken"), MONEY)
def test_money(text: str, spoken: str) -> None:
    assert normalize_for_speech(text) == spoken


@pytest.mark.parametrize(("text", "spoken"), DATES)
def test_dates(text: str, spoken: str) -> None:
    assert normalize_for_speech(text) == spoken


@pytest.mark.parametrize(("text", "spoken"), TIMES)
def test_times(text: str, spoken: str) -> None:
    assert normalize_for_speech(text) == spoken


@pytest.mark.parametrize(("text", "spoken"), PHONES)
def test_phone_numbers(text: str, spoken: str) -> None:
    assert normalize_for_speech(text) == spoken


@pytest.mark.parametrize(("text", "spoken"), REFERENCES)
def test_reference_numbers_and_digits(text: str, spoken: str) -> None:
    assert normalize_for_speech(text) == spoken


@pytest.mark.parametrize(("text", "spoken"), OTHER)
def test_other_rewrites(text: str, spoken: str) -> None:
    assert normalize_for_speech(text) == spoken


@pytest.mark.parametrize(("text", "spoken"), ADDRESSES)
def test_emails_and_urls(text: str, spoken: str) -> None:
    assert normalize_for_speech(text) == spoken


@pytest.mark.parametrize(("text", "spoken"), MARKDOWN)
def test_markdown_and_emoji_are_stripped(text: str, spoken: str) -> None:
    assert normalize_for_speech(text) == spoken


PLAIN = [
    "Hello, how can I help you today?",
    "I am here. May I ask your name?",
    "Sure, let me check that for you.",
    "Thanks for calling, and have a wonderful day!",
    "I'm sorry, I didn't catch that. Could you say it again?",
    "Your order has shipped and should arrive tomorrow morning.",
    "We're open every day except Sunday; is there anything else?",
    "It's a well-known issue — don't worry about it.",
    "",
]


@pytest.mark.parametrize("text", PLAIN)
def test_plain_sentences_pass_through_unchanged(text: str) -> None:
    assert normalize_for_speech(text) == text


@pytest.mark.parametrize(("text", "spoken"), ALL_CASES)
def test_idempotent(text: str, spoken: str) -> None:
    once = normalize_for_speech(text)
    assert normalize_for_speech(once) == once


def test_output_has_no_digits_for_rewritten_categories() -> None:
    for text, _ in MONEY + DATES + TIMES + PHONES + REFERENCES:
        assert not re.search(r"\d", normalize_for_speech(text)), text


# --------------------------------------------------------------------------- streaming

PARAGRAPHS = [
    "Sure thing! Your total comes to $12.50, and the order number is 48213. Anything else?",
    "Your appointment is on 2026-11-22 at 14:30 with Dr. Smith at 123 Main St. Please come early.",
    "You can reach us at +1 415-555-0100 or (415) 555-0100, or email support@example.com today.",
    "I booked ticket T-1043 and booking BK-7731 for you, and your confirmation code is XJ4K2.",
    "**Great news!** 😀 Your refund of $1,200 arrives by Nov 3, 2026, approx. 5 min later.",
    "- First item costs €5\n- Second item costs £3.20\n# Summary\nThat's all, etc. Thanks.",
    "We are open Mon-Fri 9am-5pm and weekends 10:00 to 14:00. Visit https://www.example.com/help.",
    "The card ending in 4821 was charged 3.5% extra, i.e. about $0.99 on the 1st of the month.",
    "Visit St. Mary's Hospital on Elm Dr. near the Park Ave. exit. I live on Main St. Call me.",
    "Hello, how can I help you today? I am here to help you with anything you need, just ask.",
    "Order #A12345 shipped on 11/22/2026 and arrives in 2-3 days; call 555-0100 at 9:05 or 12:00.",
    "In 2026 we served 1500 people & grew 50% in the 3rd quarter, from USD 40 to 40 USD per seat.",
    "John Smith Jr. will see you. He is a member of account number 3345 and customer ID 88.",
    "at 9 a.m. Then we can talk about the order 2 pizzas for the 24/7 team with 1/2 off.",
    "We are near Main St.) today and Dr. Smith (at Elm Dr.) waits. 👍 **Thanks** #1 fan!",
]


def _stream(chunks: list[str]) -> str:
    buffer = SpeechTextBuffer()
    out = "".join(buffer.push(chunk) for chunk in chunks)
    return out + buffer.flush()


@pytest.mark.parametrize("text", PARAGRAPHS + [case for case, _ in ALL_CASES])
def test_streaming_split_at_every_position_matches_one_shot(text: str) -> None:
    expected = normalize_for_speech(text)
    for i in range(len(text) + 1):
        assert _stream([text[:i], text[i:]]) == expected, (text[:i], text[i:])


@pytest.mark.parametrize("text", PARAGRAPHS)
def test_streaming_char_by_char_and_random_chunks_match_one_shot(text: str) -> None:
    expected = normalize_for_speech(text)
    assert _stream(list(text)) == expected
    rng = random.Random(text)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(text)), rng.randint(1, 12)))
        chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        assert _stream(chunks) == expected, chunks


_FUZZ_WORDS = (
    "the order number is A12345 $12.50 at 9am - 14:30 Dr. Smith Main St. on Nov 3, 2026 "
    "2026-11-22 call (415) 555-0100 +1 415-555-0100 ticket T-1043 & **bold** 😀 etc. Then "
    "e.g. 50% 1st 12:00 and USD 40 €5 x@y.com example.com. No. 5 ending in 4821 Mon-Fri "
    "9-5 a.m. Elm Dr Ave. I am pin Jr. approx. min 3.5 1,200 48213 #7 code XJ4K2 /month "
    "°F 72 2-3 11/22 11/22/2026 Visit Hello, you? ok. o'clock BK-7731 ID 88 customer 1/2 "
    "24/7 +44 20 7123 4567 👍 * `x` Sunday, £3.20 00:15 9:05 12pm Park St. Mary's i.e. w/ Apt"
)
_FUZZ_VOCAB = [*_FUZZ_WORDS.split(" "), "\n- ", "\n# ", "\n"]


def test_random_token_soup_is_idempotent_and_stream_safe() -> None:
    """Adversarial mixes of every rule's trigger, joined with and without spaces."""
    rng = random.Random(1234)
    for _ in range(1500):
        words = [rng.choice(_FUZZ_VOCAB) for _ in range(rng.randint(1, 14))]
        text = "".join(w + rng.choice([" ", " ", "", "  ", ", "]) for w in words)
        expected = normalize_for_speech(text)
        assert normalize_for_speech(expected) == expected, text
        cuts = sorted(rng.sample(range(len(text) + 1), min(len(text) + 1, rng.randint(1, 6))))
        chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        assert _stream(chunks) == expected, chunks


def test_streaming_emits_early_for_plain_text() -> None:
    """Latency: plain words come out a couple of words behind the input, not at the end."""
    buffer = SpeechTextBuffer()
    words = "Sure let me look that up for you right now please hold on".split()
    emitted = [buffer.push(word + " ") for word in words]
    assert emitted[2] == "Sure "
    assert all(emitted[3:])
    assert "".join(emitted) + buffer.flush() == " ".join(words) + " "


def test_streaming_holds_a_split_amount_until_complete() -> None:
    buffer = SpeechTextBuffer()
    out = buffer.push("It is $1")
    out += buffer.push("2.")
    out += buffer.push("50 today")
    out += buffer.flush()
    assert out == "It is twelve dollars and fifty cents today"


async def _agen(chunks: list[str]) -> AsyncIterator[str]:
    for chunk in chunks:
        yield chunk


async def test_speech_text_transform_async() -> None:
    text = PARAGRAPHS[0]
    chunks = re.findall(r".{1,3}", text, re.DOTALL)
    out = [piece async for piece in speech_text_transform(_agen(chunks))]
    assert "".join(out) == normalize_for_speech(text)
    assert len(out) > 1  # streamed, not one blob at the end


async def test_speech_text_transform_empty_stream() -> None:
    assert [piece async for piece in speech_text_transform(_agen([]))] == []


async def test_livekit_applies_the_transform() -> None:
    """The exact object goes into ``AgentSession(tts_text_transforms=[...])``."""
    from livekit.agents.voice.transcription.text_transforms import _apply_text_transforms

    chunks = ["Call (415) ", "555-01", "00 by ", "9am."]
    out = [p async for p in _apply_text_transforms(_agen(chunks), [speech_text_transform])]
    assert "".join(out) == "Call four one five, five five five, zero one zero zero by nine AM."


async def test_agent_session_accepts_the_transform() -> None:
    from livekit.agents import AgentSession

    session = AgentSession(tts_text_transforms=[speech_text_transform])
    assert list(session.options.tts_text_transforms or []) == [speech_text_transform]
