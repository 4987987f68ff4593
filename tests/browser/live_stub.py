"""A test-only stand-in for the live panel and class content APIs (issues 6 and 7), with
the same URLs and JSON shapes, so the pages' browser code is driven end to end even where
those APIs are absent. Where the real API is present its routes win (registered first),
so the same tests then exercise the real thing; hence they assert what users see and the
database, not this stub's memory. It checks the JWT (and so the CSRF header) like the API."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime

from flask import Blueprint, abort, jsonify, request
from flask_jwt_extended import get_current_user, verify_jwt_in_request

from portal.core import access, classes
from portal.core.models import Feedback, Recording, Schedule, User
from portal.extensions import db
from portal.plugins import hookimpl


class LiveStub:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.messages: list[dict] = []
        self.polls: dict[int, dict] = {}
        self.votes: dict[int, dict[int, list[int]]] = {}
        self.slides: list[dict] = []

    def _class_actor(self, class_id: int):
        verify_jwt_in_request()
        user = get_current_user()
        if user is None:
            abort(401)
        klass = access.get_class_for(user, class_id)
        return user, access.can_manage_class(user, klass)

    def _actor(self, schedule_id: int):
        verify_jwt_in_request()
        user = get_current_user()
        if user is None:
            abort(401)
        schedule = classes.get_schedule_for(user, schedule_id)
        return user, access.can_manage_class(user, schedule.klass)

    def _poll_out(self, poll: dict, user_id: int, manager: bool) -> dict:
        votes = self.votes.get(poll["id"], {})
        counts = {o["id"]: 0 for o in poll["options"]}
        for chosen in votes.values():
            for option in chosen:
                counts[option] += 1
        out = {**poll, "my_vote": votes.get(user_id, [])}
        if manager or poll["results_published"]:
            out["results"] = {"poll_id": poll["id"], "voters": len(votes),
                              "options": [{"option_id": o["id"], "text": o["text"], "votes": counts[o["id"]]}
                                          for o in poll["options"]]}
        return out

    @hookimpl
    def register_blueprints(self, app):
        bp = Blueprint("live_stub", __name__)
        stub = self

        @bp.get("/api/schedules/<int:schedule_id>/chat")
        def messages(schedule_id):
            stub._actor(schedule_id)
            rows = [m for m in stub.messages if m["schedule_id"] == schedule_id][-50:]
            return jsonify({"messages": rows, "has_more": False})

        @bp.post("/api/schedules/<int:schedule_id>/chat")
        def send(schedule_id):
            user, _ = stub._actor(schedule_id)
            with stub.lock:
                message = {"id": next(stub.ids), "schedule_id": schedule_id,
                           "user": {"id": user.id, "name": user.name, "role": user.role},
                           "body": request.get_json()["body"], "created_at": datetime.now(UTC).isoformat()}
                stub.messages.append(message)
            return jsonify(message), 201

        @bp.get("/api/schedules/<int:schedule_id>/polls")
        def polls(schedule_id):
            user, manager = stub._actor(schedule_id)
            return jsonify([stub._poll_out(p, user.id, manager) for p in stub.polls.values()
                            if p["schedule_id"] == schedule_id and (manager or p["status"] != "draft")])

        @bp.post("/api/schedules/<int:schedule_id>/polls")
        def create_poll(schedule_id):
            user, manager = stub._actor(schedule_id)
            if not manager:
                abort(403)
            body = request.get_json()
            with stub.lock:
                poll = {"id": next(stub.ids), "schedule_id": schedule_id, "question": body["question"],
                        "multiple_choice": body["multiple_choice"], "status": "draft", "results_published": False,
                        "options": [{"id": next(stub.ids), "text": t} for t in body["options"]]}
                stub.polls[poll["id"]] = poll
            return jsonify(stub._poll_out(poll, user.id, manager)), 201

        def open_close(poll_id, action):
            poll = stub.polls[poll_id]
            user, manager = stub._actor(poll["schedule_id"])
            if not manager:
                abort(403)
            if action == "publish":
                poll["results_published"] = bool(request.get_json()["published"])
            else:
                poll["status"] = "open" if action == "open" else "closed"
            return jsonify(stub._poll_out(poll, user.id, manager))

        for verb in ("open", "close", "publish"):
            bp.add_url_rule(f"/api/polls/<int:poll_id>/{verb}", f"poll_{verb}", open_close,
                            methods=["POST"], defaults={"action": verb})

        @bp.post("/api/polls/<int:poll_id>/vote")
        def vote(poll_id):
            poll = stub.polls[poll_id]
            user, _ = stub._actor(poll["schedule_id"])
            if poll["status"] != "open":
                return jsonify({"error": {"code": "poll_closed", "message": "this poll is closed"}}), 409
            stub.votes.setdefault(poll_id, {})[user.id] = request.get_json()["option_ids"]
            return jsonify({"poll_id": poll_id, "my_vote": stub.votes[poll_id][user.id]})

        @bp.put("/api/schedules/<int:schedule_id>/feedback")
        def feedback(schedule_id):
            user, _ = stub._actor(schedule_id)
            body = request.get_json()
            row = db.session.execute(db.select(Feedback).filter_by(user_id=user.id, schedule_id=schedule_id)).scalar_one_or_none()
            if row is None:
                row = Feedback(user_id=user.id, class_id=db.session.get(Schedule, schedule_id).class_id, schedule_id=schedule_id)
                db.session.add(row)
            row.rating, row.comment = int(body["rating"]), body.get("comment", "")
            db.session.commit()
            return jsonify({"rating": row.rating, "comment": row.comment}), 200

        @bp.get("/api/schedules/<int:schedule_id>/feedback/mine")
        def my_feedback(schedule_id):
            user, _ = stub._actor(schedule_id)
            row = db.session.execute(db.select(Feedback).filter_by(user_id=user.id, schedule_id=schedule_id)).scalar_one_or_none()
            if row is None:
                return jsonify({"error": {"code": "not_found", "message": "no feedback yet"}}), 404
            return jsonify({"rating": row.rating, "comment": row.comment})

        @bp.get("/api/classes/<int:class_id>/slides")
        def slides(class_id):
            stub._class_actor(class_id)
            return jsonify([s for s in stub.slides if s["class_id"] == class_id])

        @bp.post("/api/classes/<int:class_id>/slides")
        def upload_slides(class_id):
            _, manager = stub._class_actor(class_id)
            if not manager:
                abort(403)
            upload = request.files["file"]
            data = upload.read()
            if not data.startswith(b"%PDF"):
                return jsonify({"error": {"code": "not_pdf", "message": "this file is not a PDF"}}), 400
            slide = {"id": next(stub.ids), "class_id": class_id, "filename": upload.filename,
                     "size_bytes": len(data), "page_count": 1}
            stub.slides.append(slide)
            return jsonify(slide), 201

        @bp.delete("/api/slides/<int:slide_id>")
        def delete_slide(slide_id):
            slide = next(s for s in stub.slides if s["id"] == slide_id)
            stub._class_actor(slide["class_id"])
            stub.slides.remove(slide)
            return "", 204

        @bp.get("/api/slides/<int:slide_id>/download")
        def download_slide(slide_id):
            slide = next(s for s in stub.slides if s["id"] == slide_id)
            stub._class_actor(slide["class_id"])
            return jsonify({"url": f"/stub-files/{slide['filename']}", "expires_at": datetime.now(UTC).isoformat(),
                            "filename": slide["filename"]})

        @bp.get("/api/classes/<int:class_id>/recordings")
        def recordings(class_id):
            _, manager = stub._class_actor(class_id)
            rows = db.session.execute(db.select(Recording).filter_by(class_id=class_id)).scalars()
            return jsonify([{"id": r.id, "class_id": r.class_id, "title": r.title, "published": r.published,
                             "recorded_at": r.recorded_at.isoformat() if r.recorded_at else None,
                             "duration_seconds": r.duration_seconds, "playback_url": r.playback_url,
                             "has_file": bool(r.storage_key)} for r in rows if manager or r.published])

        @bp.post("/api/recordings/<int:recording_id>/publish")
        def publish(recording_id):
            recording = db.session.get(Recording, recording_id)
            _, manager = stub._class_actor(recording.class_id)
            if not manager:
                abort(403)
            recording.published = bool(request.get_json()["published"])
            db.session.commit()
            return jsonify({"id": recording.id, "published": recording.published})

        @bp.get("/api/classes/<int:class_id>/feedback/summary")
        def feedback_summary(class_id):
            stub._class_actor(class_id)
            rows = list(db.session.execute(db.select(Feedback).filter_by(class_id=class_id)).scalars())
            ratings = [f.rating for f in rows]
            return jsonify({"count": len(ratings), "average": sum(ratings) / len(ratings) if ratings else None,
                            "distribution": {str(n): ratings.count(n) for n in range(1, 6)},
                            "items": [{"user_name": db.session.get(User, f.user_id).name, "rating": f.rating,
                                       "comment": f.comment} for f in rows]})

        app.register_blueprint(bp)
