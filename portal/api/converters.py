"""URL converters shared by every blueprint (the core's and the plugins')."""

from __future__ import annotations

from werkzeug.routing import IntegerConverter

# Ids are 32-bit integer columns on PostgreSQL; SQLite overflows past 64 bits.
MAX_ID = 2**31 - 1


def digits_up_to(limit: int) -> str:
    """A regular expression matching the decimal numbers 0..`limit` (leading zeros allowed)."""
    text = str(limit)
    choices = [rf"\d{{1,{len(text) - 1}}}"] if len(text) > 1 else []  # every shorter number
    for position, digit in enumerate(text):  # as long as `limit`: equal up to here, then smaller
        lowest = 1 if position == 0 and len(text) > 1 else 0  # no leading zero, but 0 itself
        if int(digit) > lowest:
            rest = len(text) - position - 1
            choices.append(
                text[:position]
                + f"[{lowest}-{int(digit) - 1}]"
                + (rf"\d{{{rest}}}" if rest else "")
            )
    choices.append(text)
    return "0*(?:" + "|".join(choices) + ")"


class BoundedIntConverter(IntegerConverter):
    """`<int:...>` that only matches 0..MAX_ID, so a huge id is a 404, never a driver error.

    The bound is in the regular expression, not only in to_python: werkzeug's router treats a
    URL whose number fails to_python as "no match" but remembers the methods of the rules it
    passed on the way, so PATCH /api/classes/99999999999 answered 405 (GET allowed)."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):  # noqa: A002
        super().__init__(
            map,
            fixed_digits=fixed_digits,
            min=min,
            max=MAX_ID if max is None else max,
            signed=signed,
        )
        if not fixed_digits and not signed and self.max is not None:
            self.regex = digits_up_to(self.max)
