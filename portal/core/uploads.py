"""Checking uploaded files by their content, never by their name or the browser's claim.

A renamed .exe stays an .exe: the type comes from the leading bytes, PDFs must parse with
pypdf (not encrypted, with pages) and images must decode with Pillow.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass

from portal.core.errors import PortalError, ValidationFailed
from portal.i18n import gettext

log = logging.getLogger(__name__)


class TooLarge(PortalError):
    status = 413
    code = "file_too_large"


# MIME type -> file extension used for the storage key and the download name.
EXTENSIONS = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "audio/mpeg": "mp3",
    "video/mp4": "mp4",
    "text/plain": "txt",
}
IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


def sniff_type(data: bytes) -> str | None:
    """The MIME type the content really has, from its signature; None when unknown."""
    head = data[:32]
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if head[4:8] == b"ftyp":
        return "video/mp4"
    if head.startswith((b"MZ", b"\x7fELF", b"PK\x03\x04", b"\xca\xfe\xba\xbe", b"#!")):
        return None  # executables, archives and scripts are never "text"
    return "text/plain" if _is_text(data[:4096]) and data else None


def _is_text(sample: bytes) -> bool:
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the sample's end is still text.
        return exc.start >= len(sample) - 3
    return True


def check_size(data: bytes, limit: int, what: str) -> None:
    if not data:
        raise ValidationFailed(gettext("the %(what)s is empty", what=what), code="empty_file")
    if len(data) > limit:
        raise TooLarge(
            gettext(
                "the %(what)s is %(size)s KB; the limit is %(limit)s KB",
                what=what,
                size=len(data) // 1024,
                limit=limit // 1024,
            ),
            details={"size": len(data), "limit": limit},
        )


@dataclass(frozen=True)
class PdfInfo:
    page_count: int


def validate_pdf(data: bytes, *, max_pages: int) -> PdfInfo:
    """A real, unencrypted PDF with 1..max_pages pages, or a 400 that says what is wrong."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    if not data[:1024].lstrip().startswith(b"%PDF-"):
        raise ValidationFailed(
            "this file is not a PDF (checked by its content, not its name)", code="not_a_pdf"
        )
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise ValidationFailed(
                "this PDF is encrypted or password-protected; upload an unprotected copy",
                code="encrypted_pdf",
            )
        declared = _declared_page_count(reader)
        if declared is not None and declared > max_pages:
            # Refused before walking the page tree: a few bytes can declare a billion pages.
            raise ValidationFailed(
                gettext(
                    "this PDF has %(pages)s pages; the limit is %(limit)s",
                    pages=declared,
                    limit=max_pages,
                ),
                code="too_many_pages",
            )
        pages = len(reader.pages)
        if declared is not None and declared != pages:
            # Viewers and converters (BBB) trust /Count: a lying page tree is refused.
            raise ValidationFailed("this PDF's page tree is inconsistent", code="invalid_pdf")
    except ValidationFailed:
        raise
    except (
        PyPdfError,
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        IndexError,
        RecursionError,
    ) as exc:
        log.info("rejected unreadable PDF: %s", exc)
        raise ValidationFailed(
            "this PDF is damaged and cannot be read", code="invalid_pdf"
        ) from exc
    if pages < 1:
        raise ValidationFailed("this PDF has no pages", code="invalid_pdf")
    if pages > max_pages:
        raise ValidationFailed(
            gettext(
                "this PDF has %(pages)s pages; the limit is %(limit)s",
                pages=pages,
                limit=max_pages,
            ),
            code="too_many_pages",
        )
    return PdfInfo(page_count=pages)


def _declared_page_count(reader) -> int | None:
    """The /Count the root page tree claims, without walking it (None if absent or odd)."""
    count = reader.trailer["/Root"]["/Pages"].get("/Count")
    return int(count) if isinstance(count, int) else None


def validate_image(data: bytes, mime: str) -> None:
    """Decode the whole image with Pillow so a truncated or disguised file is refused."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > 80_000_000:  # decompression bombs
                raise ValidationFailed("this image is too large in pixels", code="invalid_image")
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except ValidationFailed:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
    ) as exc:
        raise ValidationFailed(
            gettext("this %(type)s image is damaged or not really an image", type=mime),
            code="invalid_image",
        ) from exc


def allowed_types(setting: str | list[str] | tuple[str, ...] | None) -> set[str]:
    if not setting:
        return set()
    items = setting if isinstance(setting, list | tuple) else str(setting).split(",")
    return {item.strip().lower() for item in items if item.strip()}


def clean_filename(name: str | None, extension: str) -> str:
    """A display name safe for headers and listings, ending in the real type's extension."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = re.sub(r"[^\w.\- ]+", "_", base).strip(" .")[:150]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return f"{stem or 'file'}.{extension}"
