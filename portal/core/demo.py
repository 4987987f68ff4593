"""The demo school `make run` seeds into an empty database."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from portal.core import classes, users
from portal.core.models import BackendConfig, User
from portal.core.registry import plugins
from portal.core.settings import site_timezone
from portal.extensions import db
from portal.i18n import _

DEMO_PASSWORD = "demo-password-1"
STUDENT_NAMES = [
    "Ada Lovelace",
    "Alan Turing",
    "Grace Hopper",
    "Katherine Johnson",
    "Linus Torvalds",
    "Margaret Hamilton",
    "Dennis Ritchie",
    "Barbara Liskov",
    "Ken Thompson",
    "Frances Allen",
    "Donald Knuth",
    "Radia Perlman",
]


def _email(name: str) -> str:
    return name.lower().replace(" ", ".") + "@demo.school"


def seed_if_empty() -> bool:
    """Create the demo school unless any user exists. Returns True when it seeded."""
    if db.session.execute(db.select(User.id).limit(1)).first():
        return False
    admin = users.create_user(
        None, email="admin@demo.school", name="Ada Admin", role="admin", password=DEMO_PASSWORD
    )
    teachers = [
        users.create_user(
            None,
            email="teacher@demo.school",
            name="Tom Teacher",
            role="teacher",
            password=DEMO_PASSWORD,
        ),
        users.create_user(
            None,
            email="teacher2@demo.school",
            name="Tess Teacher",
            role="teacher",
            password=DEMO_PASSWORD,
        ),
    ]
    students = [
        users.create_user(
            None, email=_email(name), name=name, role="student", password=DEMO_PASSWORD
        )
        for name in STUDENT_NAMES
    ]
    _enable_settingless_backends()
    zone = ZoneInfo(site_timezone())
    today = datetime.now(zone).date()
    monday = today - timedelta(days=today.weekday())
    now = datetime.now(zone)
    soon = (now + timedelta(minutes=5)).replace(second=0, microsecond=0)
    plan = [
        (
            teachers[0],
            "Mathematics 101",
            datetime.combine(monday, time(9, 0), zone),
            60,
            "FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=24",
            students[:8],
        ),
        (teachers[0], "Physics lab (starts in 5 minutes)", soon, 45, None, students[:6]),
        (
            teachers[1],
            "History of computing",
            datetime.combine(monday + timedelta(days=1), time(14, 0), zone),
            90,
            "FREQ=WEEKLY;BYDAY=TU,TH;COUNT=16",
            students[4:],
        ),
    ]
    for teacher, title, starts_at, minutes, rule, enrolled in plan:
        klass = classes.create_class(
            teacher,
            classes.ClassInput(
                title=title,
                starts_at=starts_at,
                duration_minutes=minutes,
                rrule=rule,
                timezone=str(zone),
                description=f"Demo class taught by {teacher.name}.",
            ),
            allow_past_start=True,  # the week's calendar shows this week's earlier lessons too
        )
        classes.enrol(teacher, klass.id, [s.id for s in enrolled])
    del admin
    db.session.flush()
    return True


def _enable_settingless_backends() -> None:
    """Backends that need no settings (the bundled SFU) work out of the box in the demo."""
    for backend in plugins().backends.values():
        if backend.settings_schema.get("required"):
            continue
        exists = db.session.execute(
            db.select(BackendConfig.id).filter_by(backend=backend.name)
        ).first()
        if not exists:
            db.session.add(
                BackendConfig(
                    name=backend.label,
                    backend=backend.name,
                    enabled=True,
                    is_default=True,
                    settings={},
                )
            )


def describe_logins(created: bool) -> str:
    """The `portal demo` summary, in the current language (the CLI speaks the school's)."""
    if created:
        head = _("Demo school created.")
    else:
        head = _("Database already has users; demo not re-seeded.")
    logins = _("Demo logins (password %(password)s):", password=repr(DEMO_PASSWORD))
    return (
        f"{head}\n{logins}\n"
        f"  {_('administrator')}    admin@demo.school\n"
        f"  {_('teacher')}  teacher@demo.school, teacher2@demo.school\n"
        f"  {_('student')}  {_email(STUDENT_NAMES[0])} ... {_email(STUDENT_NAMES[-1])}\n"
    )
