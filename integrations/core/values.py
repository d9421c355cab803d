"""Read typed values out of a shop's JSON (text, numbers, flags, lists, times),
collecting a warning for each value that cannot be read. Pure, no I/O."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from .wire import JSONObject

# The largest number a double holds (1.8e308): past it a number is no amount.
MAX_INTEGER = int(sys.float_info.max)
# A number written as text the way JSON writes one, in ASCII digits (Decimal
# would also take "1_000", "NaN" and other scripts' digits).
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)
# The usable times: a day inside datetime's range, so that no time zone
# (offsets are under a day) can take them out of it.
EARLIEST = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
LATEST = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)


@dataclass
class Reader:
    """Reads typed values out of one object, collecting warnings as it goes."""

    source: JSONObject
    where: str
    warnings: list[str] = field(default_factory=list)

    def raw(self, *keys: str) -> Any:
        for key in keys:
            value = self.source.get(key)
            if value is not None and value != "":
                return value
        return None

    def listed(self, *keys: str) -> Any:
        """Like ``raw``, but a PHP list comes back as a list.

        PHP's ``json_encode`` writes an array whose keys are not 0..n-1 (say,
        after ``array_filter``) as an object: ``{"0": {...}, "2": {...}}``.
        """
        value = self.raw(*keys)
        if isinstance(value, dict) and value and all(_index(key) for key in value):
            # Ordered as numbers without turning them into ints: a key may be
            # longer than Python converts.
            return [value[key] for key in sorted(value, key=lambda k: (len(_index(k)), _index(k)))]
        return value

    def text(self, *keys: str) -> str | None:
        value = self.raw(*keys)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return js_number(value)
        self.warn(keys[0], value, "is not text")
        return None

    def number(self, *keys: str) -> int | float | None:
        value = self.raw(*keys)
        if value is None:
            return None
        if isinstance(value, float) or (
            isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_INTEGER
        ):
            return value
        if isinstance(value, str) and NUMBER.fullmatch(value.strip()):
            number = Decimal(value.strip())
            # Past a double's range a numeric string is no usable amount (and
            # its digits might not even print: Python's int/str limit). The
            # comparison itself is exact whatever the exponent ("1e999999999").
            if number.is_finite() and number.adjusted() <= 308 and abs(number) <= MAX_INTEGER:
                return int(number) if number == number.to_integral_value() else float(number)
        self.warn(keys[0], value, "is not a number")
        return None

    def flag(self, *keys: str) -> bool | None:
        value = self.raw(*keys)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        self.warn(keys[0], value, "is not true or false")
        return None

    def texts(self, plural: str, singular: str) -> list[str] | None:
        """An array of strings from ``plural``, else a one-element one from ``singular``."""
        value = self.listed(plural)
        if value is None:
            one = self.text(singular)
            return [one] if one is not None else None
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list):
            self.warn(plural, value, "is not a list")
            return None
        kept = [
            item if isinstance(item, str) else js_number(item)
            for item in value
            if isinstance(item, str | int | float) and not isinstance(item, bool)
        ]
        if len(kept) != len(value):
            self.warn(plural, value, "holds items that are not text; they were left out")
        return kept

    def warn(self, key: str, value: Any, problem: str) -> None:
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        self.warnings.append(f"{self.where}.{key} {shown} {problem}; left out.")


def _index(key: str) -> str:
    """An array index written as an object key ("0", "12"), without leading zeros; '' if none."""
    if key.isascii() and key.isdigit():
        return key.lstrip("0") or "0"
    return ""


def parse_time(value: str | None) -> datetime | None:
    """Read an ISO 8601 time as an aware UTC datetime, or None when unusable.

    Unusable: not ISO 8601, or within a day of the ends of what a datetime
    holds, where converting it to UTC or to any local time overflows
    (``0001-01-01T00:00:00+01:00``, an unset .NET ``DateTime`` with a local
    offset, is in the year 0 in UTC). A time without an offset is UTC.
    """
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        parsed = parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None
    return parsed if EARLIEST <= parsed <= LATEST else None


def time_problem(value: str) -> str | None:
    """Why ``parse_time`` cannot use ``value``, for the event's warnings; None if it can."""
    if parse_time(value) is not None:
        return None
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        return "is not ISO 8601"
    return "is too close to the ends of the calendar to use"


def js_number(value: int | float) -> str:
    """A JSON number as JavaScript prints it (ECMA-262, Number::toString): ``4211.0``
    and ``4211`` both read ``"4211"``, ``1e16`` reads ``"10000000000000000"``, ``1.5e-7``
    reads ``"1.5e-7"``. An id sent as a number is the same id as its text, whichever
    client sent it (a pandas backfill writes ``4211.0``; analytics.js would send 4211).
    """
    if isinstance(value, int):
        return str(value)
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    k, n = len(digits), int(exponent) + len(digits)
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        mantissa = digits[0] + (f".{digits[1:]}" if k > 1 else "")
        text = f"{mantissa}e{'+' if n - 1 > 0 else '-'}{abs(n - 1)}"
    return ("-" if sign else "") + text
