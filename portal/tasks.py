"""Background work: Celery (worker + beat on Redis) in production, a thread in the demo.

Periodic jobs come from the core and from plugins (register_periodic_jobs). Both runners
execute the very same job functions inside an app context.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from flask import Flask

from portal.current import current_flask_app
from portal.plugins.types import PeriodicJob

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger(__name__)


NOTIFICATIONS_SCAN_JOB = "notifications-dispatch"
# Queues: the due-row scan has its own, so it is never stuck behind a burst of delivery tasks
# (and may get workers of its own); notification deliveries have theirs; the rest the default.
DEFAULT_QUEUE = "celery"
SCAN_QUEUE = "portal.scan"
DELIVER_QUEUE = "portal.deliver"
QUEUES = (DEFAULT_QUEUE, SCAN_QUEUE, DELIVER_QUEUE)


def route_task(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any):
    """Celery router: which queue a task goes to (beat's sends and the core's alike)."""
    if name == "portal.periodic" and args and args[0] == NOTIFICATIONS_SCAN_JOB:
        return {"queue": SCAN_QUEUE}
    if name.startswith("portal.notifications."):
        return {"queue": DELIVER_QUEUE}
    return None


def core_jobs(app: Flask | None = None) -> list[PeriodicJob]:
    from portal.core import auth_tokens, backends, notifications
    from portal.core.privacy import export, retention

    scan = int((app.config.get("NOTIFY_SCAN_SECONDS") if app else None) or 60)
    return [
        PeriodicJob("backend-health", 60, backends.check_all_health),
        PeriodicJob("purge-revoked-tokens", 3600, auth_tokens.purge_expired),
        # Claims due reminders and notices (on the scan queue); fans out delivery batches.
        PeriodicJob(NOTIFICATIONS_SCAN_JOB, scan, notifications.dispatch_due),
        # Deletes what the retention policy no longer keeps; one job for both schedulers.
        PeriodicJob(retention.JOB, 3600, retention.run),
        # Builds queued data exports (also woken at once when one is requested).
        PeriodicJob(export.JOB, 300, export.run_pending),
    ]


def all_jobs(app: Flask) -> dict[str, PeriodicJob]:
    jobs = {job.name: job for job in core_jobs(app)}
    jobs.update(app.extensions["portal.registry"].periodic_jobs)
    return jobs


def run_job(name: str) -> None:
    from portal.core import unit_of_work
    from portal.extensions import db

    job = all_jobs(current_flask_app())[name]
    try:
        job.func()
        unit_of_work.commit()
    except Exception:
        db.session.rollback()
        log.exception("periodic job %s failed", name)
        raise
    finally:
        db.session.remove()


def enqueue_job(name: str) -> None:
    """Run the job `name` soon, off the current request: on a Celery worker when there is
    a broker, else in a thread of this process (embedded mode and tests)."""
    app = current_flask_app()
    all_jobs(app)[name]  # an unknown name fails here, in the caller, not later in a worker
    if app.config.get("REDIS_URL"):
        celery_of(app).send_task("portal.periodic", args=(name,))
        return

    def run() -> None:
        with app.app_context(), contextlib.suppress(Exception):  # run_job logs failures
            run_job(name)

    threading.Thread(target=run, name=f"portal-job-{name}", daemon=True).start()


CELERY_KEY = "celery"
_celery_lock = threading.Lock()


def celery_of(app: Flask) -> Celery:
    """The app's Celery app, built on first use. Importing Celery and kombu costs about a
    quarter of an app's start (bench/boot_cpu.py), and most processes never need them: a
    web worker only when it enqueues a job, the realtime server and most CLI commands never.
    A worker and beat (portal/celery_app.py) build it at once."""
    found = app.extensions.get(CELERY_KEY)
    if found is None:
        with _celery_lock:
            found = app.extensions.get(CELERY_KEY)
            if found is None:
                found = celery_init_app(app)
    return found


def celery_init_app(app: Flask) -> Celery:
    """Flask's documented Celery pattern: every task runs inside an app context."""
    from celery import Celery, Task
    from kombu import Exchange, Queue

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    broker = app.config["REDIS_URL"] or "memory://"
    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.conf.update(
        broker_url=broker,
        result_backend=app.config["REDIS_URL"] or "cache+memory://",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 3600},
        timezone="UTC",
        # A worker started without -Q consumes all three; `-Q portal.scan` etc. dedicates it.
        task_queues=[Queue(q, Exchange(q), routing_key=q) for q in QUEUES],
        task_default_queue=DEFAULT_QUEUE,
        task_routes=(route_task,),
        beat_schedule={
            f"periodic:{job.name}": {
                "task": "portal.periodic",
                "schedule": float(job.every_seconds),
                "args": (job.name,),
            }
            for job in all_jobs(app).values()
        },
    )
    celery_app.set_default()

    # shared=False: Celery's default adds every task to every Celery app created later in
    # the process, where its closure would run with this Flask app, not that one.
    @celery_app.task(name="portal.periodic", ignore_result=True, shared=False)
    def periodic(name: str) -> None:
        run_job(name)

    from portal import notification_tasks

    notification_tasks.register(celery_app)
    app.extensions[CELERY_KEY] = celery_app
    return celery_app


class InProcessScheduler(threading.Thread):
    """Runs the periodic jobs in a daemon thread when there is no Celery beat (make run)."""

    def __init__(self, app: Flask):
        super().__init__(name="portal-scheduler", daemon=True)
        self.app = app
        self.stop_event = threading.Event()

    def run(self) -> None:
        next_run: dict[str, float] = {}
        while not self.stop_event.is_set():
            with self.app.app_context():
                jobs = all_jobs(self.app)
                now = time.monotonic()
                for name, job in jobs.items():
                    if now >= next_run.get(name, 0):
                        next_run[name] = now + job.every_seconds
                        # A failure is already logged; the next tick tries again.
                        with contextlib.suppress(Exception):
                            run_job(name)
            self.stop_event.wait(1.0)

    def stop(self) -> None:
        self.stop_event.set()


def init_tasks(app: Flask) -> None:
    if app.config.get("RUN_SCHEDULER"):
        scheduler = InProcessScheduler(app)
        app.extensions["portal.scheduler"] = scheduler
        scheduler.start()
