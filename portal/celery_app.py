"""Entry point for `celery -A portal.celery_app worker|beat` (what `portal worker` runs)."""

from portal import create_app, tasks

flask_app = create_app()
celery = tasks.celery_of(flask_app)
