"""The API client against the simulator: checksums, typed errors, retries, paging."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import pytest
from bigbluebutton_api_python.bigbluebutton import BigBlueButton
from bigbluebutton_api_python.util import UrlBuilder
from portal_bbb_backend.client import (
    BBBClient,
    BBBError,
    BBBUnavailable,
    api_base,
    checksum,
    encode_query,
)
from portal_testing import free_port

SECRET = "639259d4-9dd8-4b25-bf01-95f9567eaf4b"


def test_checksum_matches_the_worked_example_in_the_bbb_docs():
    query = "name=Test+Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444"
    assert checksum("create", query, SECRET, "sha1") == "1fcbb0c4fc1f039f73aa6d697d2db9ba7f803f17"
    params = OrderedDict(
        name="Test Meeting", meetingID="abc123", attendeePW="111222", moderatorPW="333444"
    )
    assert encode_query(params) == query


@pytest.mark.parametrize(
    "call,params",
    [
        (
            "create",
            OrderedDict(
                name="Maths 3ème – groupe B",
                meetingID="portal-1-2-abc",
                record=True,
                welcome="Hello & <welcome>!",
                logoutURL="https://portal.example/classes/1?x=1",
                **{
                    "meta_bbb-recording-ready-url": "https://portal.example/plugins/bbb/recording-ready"
                },
            ),
        ),
        (
            "join",
            OrderedDict(
                fullName="Zoë O'Brien",
                meetingID="portal-1-2-abc",
                role="VIEWER",
                userID=42,
                createTime=1531155809613,
                avatarURL="https://cdn.example/a b.png",
                redirect=True,
            ),
        ),
        (
            "getRecordings",
            OrderedDict(meetingID="a,b,c", state="published,unpublished", offset=0, limit=100),
        ),
        ("end", OrderedDict(meetingID="plain")),
    ],
)
def test_sha1_urls_equal_those_of_bigbluebutton_api_python(call, params):
    base = "http://bbb.example.org/bigbluebutton/api/"
    ours = BBBClient(base, SECRET, algorithm="sha1").url(call, params)
    assert ours == UrlBuilder(base, SECRET).buildUrl(call, dict(params))


def test_join_url_equals_the_oracle_join_url():
    base = "https://bbb.example.org/bigbluebutton/api/"
    extra = OrderedDict(role="MODERATOR", userID="7", redirect="true")
    oracle = BigBlueButton(base, SECRET).get_join_meeting_url(
        "Ada T", "room-1", "unused", dict(extra)
    )
    ours = BBBClient(base, SECRET, algorithm="sha1").join_url(
        [*extra.items(), ("fullName", "Ada T"), ("meetingID", "room-1"), ("password", "unused")]
    )
    assert ours == oracle


@pytest.mark.parametrize(
    "algorithm,length", [("sha1", 40), ("sha256", 64), ("sha384", 96), ("sha512", 128)]
)
def test_every_algorithm_is_accepted_by_a_default_server(sim, algorithm, length):
    client = BBBClient(sim.api_url, sim.secret, algorithm=algorithm)
    assert client.get_meetings() == []
    assert len(sim.calls("getMeetings")[-1].params["checksum"]) == length


def test_default_algorithm_is_sha256(sim):
    BBBClient(sim.api_url, sim.secret).get_meetings()
    request = sim.calls("getMeetings")[-1]
    assert (
        request.params["checksum"]
        == hashlib.sha256(("getMeetings" + sim.secret).encode()).hexdigest()
    )


def test_server_restricted_to_sha512_refuses_sha256(sim):
    sim.supported = ("sha512",)
    with pytest.raises(BBBError) as info:
        BBBClient(sim.api_url, sim.secret).get_meetings()
    assert info.value.message_key == "checksumError"
    assert BBBClient(sim.api_url, sim.secret, algorithm="sha512").get_meetings() == []


def test_wrong_secret_is_a_typed_checksum_error(sim):
    with pytest.raises(BBBError) as info:
        BBBClient(sim.api_url, "not-the-secret").get_meetings()
    assert info.value.message_key == "checksumError"
    assert info.value.code == "bbb_checksumError"
    assert not info.value.retryable


def test_create_is_idempotent_duplicate_warning_is_success(sim):
    client = BBBClient(sim.api_url, sim.secret)
    first = client.create({"meetingID": "m-1", "name": "Class"})
    again = client.create({"meetingID": "m-1", "name": "Class"})
    assert again.findtext("messageKey") == "duplicateWarning"
    assert again.findtext("createTime") == first.findtext("createTime")
    assert sim.create_count == 1


def test_failed_create_carries_the_message_key(sim):
    client = BBBClient(sim.api_url, sim.secret)
    client.create({"meetingID": "m-1", "name": "Class"})
    with pytest.raises(BBBError) as info:
        client.create({"meetingID": "m-1", "name": "Another name"})
    assert info.value.message_key == "idNotUnique"


def test_unreachable_server_is_unavailable():
    port = free_port()  # nobody listens on it
    with pytest.raises(BBBUnavailable) as info:
        BBBClient(f"http://127.0.0.1:{port}/bigbluebutton/api/", "x" * 10, timeout=1).get_meetings()
    assert info.value.code == "bbb_unreachable"


def test_stalled_server_times_out_once_the_budget_is_spent(sim):
    sim.stall_seconds = 3
    client = BBBClient(sim.api_url, sim.secret, timeout=0.5, retries=1)
    with pytest.raises(BBBUnavailable) as info:
        client.get_meetings()
    assert info.value.code == "bbb_timeout"
    assert (
        len(sim.calls("getMeetings")) == 1
    )  # the wait used the whole budget: no time left to retry


def test_only_idempotent_calls_are_retried(sim):
    sim.http_status = 503
    client = BBBClient(sim.api_url, sim.secret, retries=2)
    with pytest.raises(BBBUnavailable):
        client.call("sendChatMessage", {"meetingID": "m", "message": "hi"})
    assert len(sim.calls("sendChatMessage")) == 1
    with pytest.raises(BBBUnavailable) as info:
        client.get_meeting_info("m")
    assert info.value.code == "bbb_http_error"
    assert len(sim.calls("getMeetingInfo")) == 3


def test_garbage_answer_is_not_bbb(sim):
    sim.garbage = True
    with pytest.raises(BBBUnavailable) as info:
        BBBClient(sim.api_url, sim.secret).version()
    assert info.value.code == "bbb_not_bbb"


def test_post_create_checksum_covers_only_the_query_string(sim):
    client = BBBClient(sim.api_url, sim.secret)
    body = (
        b'<?xml version="1.0"?><modules><module name="presentation">'
        b'<document url="https://files.example.org/a.pdf" filename="a.pdf"/></module></modules>'
    )
    client.create({"meetingID": "m-2", "name": "Class"}, body)
    request = sim.calls("create")[-1]
    assert request.method == "POST" and request.body == body
    assert sim.meetings["m-2"].presentations == [
        {"url": "https://files.example.org/a.pdf", "filename": "a.pdf"}
    ]


def test_get_recordings_follows_paging(sim):
    from bbb_simulator import SimRecording

    for i in range(7):
        sim.recordings[f"r{i}"] = SimRecording(
            f"r{i}", "m", f"r{i}", "Class", 1000 + i, 2000 + i, {}, state="published"
        )
    recordings = BBBClient(sim.api_url, sim.secret).get_recordings(meeting_ids=["m"], page_size=3)
    assert [r.record_id for r in recordings] == [f"r{i}" for i in range(7)]
    assert [c.params["offset"] for c in sim.calls("getRecordings")] == ["0", "3", "6"]


@pytest.mark.parametrize(
    "given,expected",
    [
        ("https://bbb.example.org/bigbluebutton/", "https://bbb.example.org/bigbluebutton/api/"),
        ("https://bbb.example.org/bigbluebutton/api", "https://bbb.example.org/bigbluebutton/api/"),
        ("https://sl.example.org/bigbluebutton/api/", "https://sl.example.org/bigbluebutton/api/"),
        ("https://bbb.example.org", "https://bbb.example.org/bigbluebutton/api/"),
    ],
)
def test_api_base_accepts_what_admins_paste(given, expected):
    assert api_base(given) == expected


def test_meeting_info_running_and_recording_metadata(sim):
    from bbb_simulator import SimAttendee, SimRecording

    client = BBBClient(sim.api_url, sim.secret)
    created = client.create({"meetingID": "m-3", "name": "Class", "meta_portal-class-id": 9})
    assert client.is_meeting_running("m-3") is False  # created, nobody in yet
    sim.meetings["m-3"].attendees.append(SimAttendee("12", "Ada", "MODERATOR"))
    assert client.is_meeting_running("m-3") is True
    info = client.get_meeting_info("m-3")
    assert info.create_time == created.findtext("createTime")
    assert info.attendees[0].user_id == "12" and info.attendees[0].role == "MODERATOR"
    assert not info.ended
    assert [m.meeting_id for m in client.get_meetings()] == ["m-3"]
    client.end("m-3")
    with pytest.raises(BBBError) as gone:
        client.get_meeting_info("m-3")
    assert gone.value.message_key == "notFound"

    sim.recordings["r1"] = SimRecording(
        "r1", "m-3", "r1", "Class", 1000, 61000, {"meetingName": "Class"}, state="published"
    )
    client.update_recordings(["r1"], {"portal-note": "exam review"})
    [rec] = client.get_recordings(record_ids=["r1"])
    assert rec.metadata["portal-note"] == "exam review"
    assert rec.formats[0].type == "presentation" and rec.formats[0].length_minutes == 1
