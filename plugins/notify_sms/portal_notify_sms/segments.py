"""SMS length: GSM-7 vs UCS-2 encoding and concatenated-segment counting (3GPP TS 23.038)."""

from __future__ import annotations

import math

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Characters of the extension table take two septets (escape + character).
GSM7_EXTENDED = set("^{}\\[~]|€\f")


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text)


def units(text: str) -> int:
    """Septets for GSM-7, UTF-16 code units for UCS-2."""
    if is_gsm7(text):
        return sum(2 if c in GSM7_EXTENDED else 1 for c in text)
    return len(text.encode("utf-16-le")) // 2


def _limits(gsm: bool) -> tuple[int, int]:
    # (single-message capacity, per-segment capacity once concatenated: the UDH takes room)
    return (160, 153) if gsm else (70, 67)


def segment_count(text: str) -> int:
    single, per = _limits(is_gsm7(text))
    n = units(text)
    return 1 if n <= single else math.ceil(n / per)


def capacity(text: str, max_segments: int) -> int:
    single, per = _limits(is_gsm7(text))
    return single if max_segments <= 1 else per * max_segments


def fit(text: str, max_segments: int = 2) -> str:
    """Shorten `text` to at most `max_segments` segments, keeping a trailing link whole."""
    text = " ".join(text.split())
    if segment_count(text) <= max_segments:
        return text
    head, sep, tail = text.rpartition(" ")
    link = tail if sep and tail.startswith(("http://", "https://")) else ""
    body = head if link else text
    ellipsis = "..."
    suffix = f"{ellipsis} {link}" if link else ellipsis
    limit = capacity(text, max_segments)
    while body and units(body + suffix) > limit:
        body = body[:-1]
    shortened = (body.rstrip() + suffix).strip()
    # Dropping characters may switch UCS-2 text to GSM-7 (more room) but never the reverse.
    return shortened if units(shortened) <= capacity(shortened, max_segments) else shortened[:limit]
