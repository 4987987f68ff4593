"""Service-level checks of the content helpers, without HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from content_utils import FAKE_EXE, make_pdf, make_png

from portal.core import attendance, calendar, uploads
from portal.core.classes import expand_occurrences
from portal.core.errors import ValidationFailed


def test_sniff_type_uses_content_not_names():
    assert uploads.sniff_type(make_pdf()) == "application/pdf"
    assert uploads.sniff_type(make_png()) == "image/png"
    assert uploads.sniff_type(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert uploads.sniff_type(b"GIF89a....") == "image/gif"
    assert uploads.sniff_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert uploads.sniff_type("plain text, é".encode()) == "text/plain"
    assert uploads.sniff_type(FAKE_EXE) is None
    assert uploads.sniff_type(b"\x7fELF\x02\x01\x01") is None
    assert uploads.sniff_type(b"PK\x03\x04zip") is None
    assert uploads.sniff_type(b"bin\x00ary") is None


def test_validate_pdf_reports_pages_and_refuses_bad_ones():
    assert uploads.validate_pdf(make_pdf(pages=4), max_pages=10).page_count == 4
    for data, code in (
        (FAKE_EXE, "not_a_pdf"),
        (make_pdf(encrypt=True), "encrypted_pdf"),
        (b"%PDF-1.4\n%%EOF", "invalid_pdf"),
        (make_pdf(pages=3), "too_many_pages"),
    ):
        with pytest.raises(ValidationFailed) as err:
            uploads.validate_pdf(data, max_pages=2)
        assert err.value.code == code


def test_check_size_and_clean_filename():
    with pytest.raises(uploads.TooLarge):
        uploads.check_size(b"x" * 11, 10, "file")
    with pytest.raises(ValidationFailed):
        uploads.check_size(b"", 10, "file")
    assert uploads.clean_filename("C:\\Users\\me\\Week 1.exe", "pdf") == "Week 1.pdf"
    assert uploads.clean_filename("../../etc/passwd", "txt") == "passwd.txt"
    assert uploads.clean_filename(None, "png") == "file.png"
    assert uploads.allowed_types(" image/png, text/plain ,") == {"image/png", "text/plain"}


def test_never_ending_rule_is_refused_by_the_service():
    start = datetime(2027, 1, 4, 9, tzinfo=UTC)
    with pytest.raises(ValidationFailed) as err:
        expand_occurrences(start, "FREQ=DAILY", "Europe/Paris")
    assert err.value.code == "unbounded_rrule"
    assert len(expand_occurrences(start, "RRULE:FREQ=DAILY;COUNT=3", "Europe/Paris")) == 3


def test_range_bounds_accept_what_fullcalendar_sends():
    utc = UTC
    assert calendar.parse_range_bound("2027-03-01", "Europe/Paris") == datetime(
        2027, 2, 28, 23, tzinfo=utc
    )
    assert calendar.parse_range_bound("2027-03-01T00:00:00Z", "Asia/Tokyo") == datetime(
        2027, 3, 1, tzinfo=utc
    )
    # A '+' offset that arrived as a space (unencoded query string).
    assert calendar.parse_range_bound("2027-03-01T00:00:00 02:00", "UTC") == datetime(
        2027, 2, 28, 22, tzinfo=utc
    )
    with pytest.raises(ValidationFailed):
        calendar.parse_range_bound("soon", "UTC")


def test_csv_neutralises_formulas_and_uses_the_zone():
    row = attendance.AttendanceRow(
        user_id=None,
        name="+SUM(A1)",
        email=None,
        role="guest",
        present=True,
        first_joined_at=datetime(2027, 1, 1, 8, tzinfo=UTC),
        left_at=None,
        minutes=None,
        source="backend",
    )
    report = attendance.AttendanceReport(
        schedule_id=1,
        class_id=1,
        title="t",
        starts_at=datetime(2027, 1, 1, tzinfo=UTC),
        ends_at=datetime(2027, 1, 1, 1, tzinfo=UTC),
        source="backend",
        rows=[row],
    )
    lines = attendance.to_csv(report, "Europe/Paris").splitlines()
    assert lines[1].startswith("'+SUM(A1),,,guest,yes,2027-01-01T09:00:00+01:00")
