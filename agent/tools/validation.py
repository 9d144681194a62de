"""Turn raw model arguments into typed values, or one short sentence the agent can say.

Every parser raises `ToolError` with a speakable message; none lets a stack trace or a raw
value reach the model. Phone numbers are parsed in `agent.phones`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from livekit.agents import ToolError
from pydantic import BeforeValidator

from agent.plain_text import strip_invisible

MAX_ARG_CHARS = 2000  # anything longer than this is rejected before any parsing


def _coerce_text(value: Any) -> Any:
    """Accept numbers/null where text is expected; validation proper happens in the tool."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (dict, list)):
        return "[structured value]"
    return value


# A string parameter that tolerates numbers and null, so every call reaches the tool body
# (and the audit log) instead of failing in schema validation.
Text = Annotated[str, BeforeValidator(_coerce_text)]


def as_text(value: Any) -> str:
    """A scalar argument as stripped text; anything else, or anything huge, is refused."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float, str)):
        text = str(value)
    else:
        raise ToolError("That value isn't in a form I can use. Please say it again.")
    if len(text) > MAX_ARG_CHARS:
        raise ToolError("That's too long for me to use. Please keep it short.")
    return text.strip()


def clean_text(value: Any, *, what: str, max_len: int, min_len: int = 1,
               required: bool = True) -> str:
    """Free text: control, bidi and zero-width characters removed (`strip_invisible`),
    whitespace collapsed, length checked."""
    text = strip_invisible(as_text(value))
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        if required:
            raise ToolError(f"I need the {what} first. Please ask the caller for it.")
        return ""
    if len(text) > max_len:
        raise ToolError(f"The {what} is too long. Please summarise it in a sentence or two.")
    if len(text) < min_len:
        raise ToolError(f"The {what} is too short. Please ask for a little more detail.")
    return text


def parse_id(value: Any, *, what: str, max_digits: int = 9) -> int:
    """A numeric id as spoken ("slot 12", "#12", "12") → 12; anything else is a clean error."""
    text = as_text(value)
    if not text:
        raise ToolError(f"I need the {what} number first.")
    m = re.fullmatch(rf"(?i)(?:[a-z ]{{0,12}}?)[#\s]*(\d{{1,{max_digits}}})", text)
    if not m:
        raise ToolError(f"That doesn't look like a {what} number. It should be just digits.")
    number = int(m.group(1))
    if number <= 0:
        raise ToolError(f"That doesn't look like a valid {what} number.")
    return number


def parse_order_number(value: Any) -> str:
    text = as_text(value)
    compact = re.sub(r"(?i)^\s*(?:(?:order|ord)\s*(?:number|no\.?)?)?\s*[-#:]?\s*", "", text)
    compact = re.sub(r"[\s-]", "", compact)
    if not re.fullmatch(r"\d{6}", compact):
        raise ToolError("That doesn't look like an order number. Order numbers are six digits, "
                        "printed on the confirmation email.")
    return compact


def parse_date(value: Any, *, today: date, what: str = "date", allow_past: bool = False,
               max_days_ahead: int | None = 90) -> date:
    text = as_text(value).lower()
    if text == "today":
        return today
    if text == "tomorrow":
        return today + timedelta(days=1)
    if not re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", text):
        raise ToolError(f"I couldn't read that {what}. Please give it as year, month and day.")
    try:
        parsed = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise ToolError(f"That {what} doesn't exist on the calendar. "
                        "Please check the day and month.") from None
    if not allow_past and parsed < today:
        raise ToolError(f"That {what} is in the past. Please choose a future date.")
    if max_days_ahead is not None and parsed > today + timedelta(days=max_days_ahead):
        raise ToolError(f"That {what} is too far ahead; we book up to "
                        f"{max_days_ahead} days in advance.")
    return parsed


def parse_birth_date(value: Any, *, today: date) -> date:
    parsed = parse_date(value, today=today, what="date of birth", allow_past=True,
                        max_days_ahead=None)
    if parsed > today or parsed.year < 1900:
        raise ToolError("That date of birth doesn't look right. Please check the year.")
    return parsed


def parse_pin(value: Any) -> str:
    text = re.sub(r"[\s-]", "", as_text(value)).rstrip("#")
    if not re.fullmatch(r"\d{4,8}", text):
        raise ToolError("A PIN is four to eight digits. Please ask the caller to type or say it "
                        "again.")
    return text
