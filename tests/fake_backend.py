"""A meeting backend for tests of the core flow. It lives in tests/ only, never in portal/."""

from __future__ import annotations

import threading
import time

from portal.plugins import (
    BackendError,
    BackendUnavailable,
    Capabilities,
    HealthResult,
    JoinTarget,
    MeetingHandle,
    MeetingStatus,
    RecordingInfo,
    hookimpl,
)


class FakeBackend:
    name = "fake"
    label = "Fake meetings"
    capabilities = Capabilities(recording=True, slides=True, end=True, attendance=True)
    settings_schema = {
        "type": "object",
        "properties": {
            "url": {"type": "string", "default": "https://fake.example"},
            "secret": {"type": "string", "writeOnly": True, "minLength": 4},
        },
        "additionalProperties": False,
    }

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.created: list = []
        self.ended: list[str] = []
        self.published: dict[str, bool] = {}
        self.deleted: list[str] = []
        self.fail_with: Exception | None = None
        self.join_fails_with: Exception | None = None
        self.create_delay = 0.0
        self.lock = threading.Lock()

    def create_meeting(self, settings, spec):
        if self.fail_with is not None:
            raise self.fail_with
        time.sleep(self.create_delay)
        with self.lock:
            self.created.append((dict(settings), spec))
        return MeetingHandle(
            backend=self.name, meeting_id=spec.meeting_key, data={"slides": len(spec.slides)}
        )

    def join(self, settings, handle, participant):
        if self.join_fails_with is not None:
            raise self.join_fails_with
        role = participant.role
        return JoinTarget(
            kind="redirect",
            url=f"{settings['url']}/join/{handle.meeting_id}?user={participant.user_id}&role={role}",
        )

    def end_meeting(self, settings, handle):
        if self.fail_with is not None:
            raise self.fail_with
        self.ended.append(handle.meeting_id)

    def status(self, settings, handle):
        return MeetingStatus(running=handle.meeting_id not in self.ended)

    def list_recordings(self, settings, handle):
        return [RecordingInfo(record_id=f"rec-{handle.meeting_id}", title="Recording")]

    def publish_recording(self, settings, record_id, published):
        self.published[record_id] = published

    def delete_recording(self, settings, record_id):
        self.deleted.append(record_id)

    def check_health(self, settings):
        if isinstance(self.fail_with, BackendUnavailable):
            return HealthResult(ok=False, message=self.fail_with.user_message)
        return HealthResult(ok=True, message="fake backend is fine", version="1.0")


FAKE = FakeBackend()


@hookimpl
def register_meeting_backends(register):
    register(FAKE)


__all__ = ["FAKE", "BackendError", "BackendUnavailable"]
