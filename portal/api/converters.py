"""URL converters shared by every blueprint (the core's and the plugins')."""

from __future__ import annotations

from werkzeug.routing import IntegerConverter

# Ids are 32-bit integer columns on PostgreSQL; SQLite overflows past 64 bits.
MAX_ID = 2**31 - 1


class BoundedIntConverter(IntegerConverter):
    """`<int:...>` that only matches 0..MAX_ID, so a huge id is a 404, never a driver error."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=MAX_ID if max is None else max,
                         signed=signed)
