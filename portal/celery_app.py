"""Entry point for `celery -A portal.celery_app worker|beat` (what `portal worker` runs)."""

from portal import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]
