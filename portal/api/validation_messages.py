"""The 400 answer's `details` in the reader's language: Pydantic's `msg` is English, so each
problem is said again from its stable error `type` (and the numbers of its `ctx`). The `type`
and `loc` stay as Pydantic gives them, for programs."""

from __future__ import annotations

import re
from typing import Any

from pydantic_core import ErrorDetails

from portal.i18n import gettext, lazy_gettext, ngettext

# Types whose sentence needs no value from the error's ctx.
PLAIN = {
    "missing": lazy_gettext("this field is required"),
    "extra_forbidden": lazy_gettext("this field is not accepted here"),
    "string_type": lazy_gettext("must be a text string"),
    "string_unicode": lazy_gettext("must be a valid text string"),
    "string_pattern_mismatch": lazy_gettext("does not have the expected format"),
    "int_type": lazy_gettext("must be a whole number"),
    "int_parsing": lazy_gettext("must be a whole number"),
    "int_from_float": lazy_gettext("must be a whole number"),
    "float_type": lazy_gettext("must be a number"),
    "float_parsing": lazy_gettext("must be a number"),
    "finite_number": lazy_gettext("must be a finite number"),
    "bool_type": lazy_gettext("must be true or false"),
    "bool_parsing": lazy_gettext("must be true or false"),
    "list_type": lazy_gettext("must be a list"),
    "dict_type": lazy_gettext("must be an object"),
    "model_type": lazy_gettext("must be an object"),
    "model_attributes_type": lazy_gettext("must be an object"),
    "datetime_type": lazy_gettext("must be a date and time"),
    "datetime_parsing": lazy_gettext("must be a date and time"),
    "datetime_from_date_parsing": lazy_gettext("must be a date and time"),
    "timezone_aware": lazy_gettext("must be a date and time with a UTC offset"),
    "date_type": lazy_gettext("must be a date"),
    "date_parsing": lazy_gettext("must be a date"),
    "date_from_datetime_parsing": lazy_gettext("must be a date"),
    "time_type": lazy_gettext("must be a time of day"),
    "time_parsing": lazy_gettext("must be a time of day"),
    "url_type": lazy_gettext("must be a URL"),
    "url_parsing": lazy_gettext("must be a valid URL"),
    "url_syntax_violation": lazy_gettext("must be a valid URL"),
    "url_scheme": lazy_gettext("must be a URL with an allowed scheme (such as https)"),
    "url_too_long": lazy_gettext("this URL is too long"),
    "uuid_type": lazy_gettext("must be a UUID"),
    "uuid_parsing": lazy_gettext("must be a UUID"),
    "json_invalid": lazy_gettext("must be valid JSON"),
    "none_required": lazy_gettext("must be null"),
}
QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")


def _choices(expected: Any) -> str:
    """Pydantic's `expected` reads "'a', 'b' or 'c'" (English "or"): the values alone."""
    values = QUOTED.findall(str(expected)) or [str(expected)]
    return ", ".join(values)


def message_of(error: ErrorDetails) -> str:
    """One problem of a Pydantic ValidationError, said in the request's language."""
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind in PLAIN:
        return str(PLAIN[kind])
    if kind == "string_too_short":
        count = int(ctx["min_length"])
        return ngettext(
            "must have at least %(num)d character", "must have at least %(num)d characters", count
        )
    if kind == "string_too_long":
        count = int(ctx["max_length"])
        return ngettext(
            "must have at most %(num)d character", "must have at most %(num)d characters", count
        )
    if kind == "too_short":
        count = int(ctx["min_length"])
        return ngettext(
            "must have at least %(num)d item", "must have at least %(num)d items", count
        )
    if kind == "too_long":
        count = int(ctx["max_length"])
        return ngettext("must have at most %(num)d item", "must have at most %(num)d items", count)
    if kind == "greater_than":
        return gettext("must be greater than %(limit)s", limit=ctx["gt"])
    if kind == "greater_than_equal":
        return gettext("must be at least %(limit)s", limit=ctx["ge"])
    if kind == "less_than":
        return gettext("must be less than %(limit)s", limit=ctx["lt"])
    if kind == "less_than_equal":
        return gettext("must be at most %(limit)s", limit=ctx["le"])
    if kind == "multiple_of":
        return gettext("must be a multiple of %(step)s", step=ctx["multiple_of"])
    if kind in ("enum", "literal_error"):
        return gettext("must be one of %(values)s", values=_choices(ctx.get("expected", "")))
    if kind in ("value_error", "assertion_error"):
        # Our validators raise ValueError with a sentence already translated (schemas.py).
        reason = str(ctx.get("error") or "")
        if reason:
            return reason
    return gettext("this value is not valid")


def problems_of(errors: list[ErrorDetails]) -> list[dict[str, Any]]:
    """The `details` of a 400: field, translated message, and Pydantic's type and loc."""
    return [
        {
            "field": ".".join(str(p) for p in error["loc"]) or "body",
            "message": message_of(error),
            "type": error["type"],
            "loc": list(error["loc"]),
        }
        for error in errors
    ]
