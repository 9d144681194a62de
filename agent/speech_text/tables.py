"""Vocabulary the speech rules share: month and weekday names, currencies, measurement units,
street suffixes and titles, and the spoken names of address symbols. Plain data, no logic, so
every other module of the package may import it."""

from __future__ import annotations

MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
]  # fmt: skip
MONTH_LOOKUP = {m.lower(): i + 1 for i, m in enumerate(MONTHS)}
MONTH_LOOKUP.update({m[:3].lower(): i + 1 for i, m in enumerate(MONTHS)})
MONTH_LOOKUP["sept"] = 9
MONTH_RE = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
WEEKDAYS = {
    "mon": "Monday", "tue": "Tuesday", "tues": "Tuesday", "wed": "Wednesday",
    "thu": "Thursday", "thur": "Thursday", "thurs": "Thursday", "fri": "Friday",
    "sat": "Saturday", "sun": "Sunday",
}  # fmt: skip

# (singular, plural, sub-unit singular, sub-unit plural)
CURRENCIES: dict[str, tuple[str, str, str | None, str | None]] = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "USD": ("US dollar", "US dollars", "cent", "cents"),
    "EUR": ("euro", "euros", "cent", "cents"),
    "GBP": ("pound", "pounds", "penny", "pence"),
    "CAD": ("Canadian dollar", "Canadian dollars", "cent", "cents"),
    "AUD": ("Australian dollar", "Australian dollars", "cent", "cents"),
    "JPY": ("yen", "yen", None, None),
}
SYMBOL_CODES = {"$": "$", "US$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"}
SCALE_WORDS = {
    "k": "thousand", "K": "thousand", "M": "million", "B": "billion", "bn": "billion",
    "thousand": "thousand", "million": "million", "billion": "billion", "trillion": "trillion",
}  # fmt: skip

UNITS = {
    "min": ("minute", "minutes"), "mins": ("minute", "minutes"),
    "hr": ("hour", "hours"), "hrs": ("hour", "hours"),
    "sec": ("second", "seconds"), "secs": ("second", "seconds"),
    "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"), "ft": ("foot", "feet"), "mi": ("mile", "miles"),
    "km": ("kilometer", "kilometers"), "kg": ("kilogram", "kilograms"),
    "mph": ("mile per hour", "miles per hour"),
}  # fmt: skip
PER_UNITS = {
    "month": "month", "mo": "month", "hour": "hour", "hr": "hour", "day": "day",
    "night": "night", "week": "week", "wk": "week", "year": "year", "yr": "year",
    "person": "person", "minute": "minute", "min": "minute", "user": "user", "seat": "seat",
}  # fmt: skip

STREET_SUFFIXES = {
    "st": "Street", "ave": "Avenue", "blvd": "Boulevard", "rd": "Road", "ln": "Lane",
    "ct": "Court", "hwy": "Highway", "pkwy": "Parkway", "dr": "Drive",
}  # fmt: skip
TITLES = {
    "dr": "Doctor", "mr": "Mister", "mrs": "Missus", "ms": "Miz", "prof": "Professor",
    "st": "Saint",
}  # fmt: skip

# Spelled-out symbols inside emails and URLs.
URL_SYMBOLS = {".": "dot", "/": "slash", "-": "dash", "_": "underscore", "+": "plus",
               "@": "at", "~": "tilde", "#": "hash", "=": "equals", ":": "colon"}  # fmt: skip
