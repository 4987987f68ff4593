"""Admin-configured meeting backends: settings (secrets encrypted), choice per class, health."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

from portal.core import access, audit
from portal.core.errors import Conflict, NotFound, PortalError, ServiceUnavailable, ValidationFailed
from portal.core.models import BackendConfig, Class, User
from portal.core.registry import plugins
from portal.core.security import decrypt_secret, encrypt_secret, mask_secret
from portal.core.types import utcnow
from portal.extensions import db
from portal.i18n import gettext, lazy_gettext, ngettext
from portal.plugins.types import BackendError, BackendUnavailable, HealthResult, MeetingBackend


def backend_plugin(name: str) -> MeetingBackend:
    backend = plugins().backends.get(name)
    if backend is None:
        raise ServiceUnavailable(
            gettext("the meeting backend '%(name)s' is not installed on this portal", name=name),
            code="backend_not_installed",
        )
    return backend


def secret_fields(backend: MeetingBackend) -> set[str]:
    props = backend.settings_schema.get("properties", {})
    return {key for key, spec in props.items() if spec.get("writeOnly")}


def effective_settings(config: BackendConfig) -> dict[str, Any]:
    """The settings a backend plugin receives: defaults applied, secrets decrypted."""
    backend = backend_plugin(config.backend)
    props = backend.settings_schema.get("properties", {})
    settings = {k: spec["default"] for k, spec in props.items() if "default" in spec}
    settings.update(config.settings or {})
    for key in secret_fields(backend):
        if isinstance(settings.get(key), str):
            settings[key] = decrypt_secret(settings[key])
    return settings


def public_settings(config: BackendConfig) -> dict[str, Any]:
    """Settings as the API shows them: secrets masked."""
    backend = plugins().backends.get(config.backend)
    hidden = secret_fields(backend) if backend else set()
    return {
        key: (mask_secret(value) if key in hidden else value)
        for key, value in (config.settings or {}).items()
    }


def _validated_settings(
    backend: MeetingBackend, settings: Mapping[str, Any], previous: Mapping[str, Any]
) -> dict[str, Any]:
    hidden = secret_fields(backend)
    merged = dict(settings)
    for key in hidden:
        # An omitted or still-masked secret keeps the stored one, so editing other fields
        # never requires retyping the secret.
        value = merged.get(key)
        if (
            value is None or (isinstance(value, str) and value.startswith("••••"))
        ) and key in previous:
            merged[key] = decrypt_secret(previous[key])
    # Imported here: only a backend's settings need it, and it costs ~0.1 s CPU at every
    # app start otherwise.
    import jsonschema

    try:
        jsonschema.validate(merged, dict(backend.settings_schema))
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "settings"
        raise ValidationFailed(
            gettext("%(field)s: %(problem)s", field=where, problem=exc.message),
            code="invalid_settings",
        ) from exc
    for key in hidden:
        if isinstance(merged.get(key), str):
            merged[key] = encrypt_secret(merged[key])
    return merged


def create_config(
    actor: User,
    *,
    name: str,
    backend: str,
    settings: Mapping[str, Any],
    enabled: bool = True,
    is_default: bool = False,
) -> BackendConfig:
    access.require_admin(actor)
    plugin = plugins().backends.get(backend)
    if plugin is None:
        raise ValidationFailed(
            gettext("no installed meeting backend is called '%(name)s'", name=backend),
            code="unknown_backend",
        )
    if not name.strip():
        raise ValidationFailed("name must not be empty")
    if db.session.execute(db.select(BackendConfig.id).filter_by(name=name.strip())).first():
        raise Conflict(
            gettext("a backend configuration named %(name)s exists", name=repr(name)),
            code="name_taken",
        )
    config = BackendConfig(
        name=name.strip(),
        backend=backend,
        enabled=enabled,
        is_default=False,
        settings=_validated_settings(plugin, settings, {}),
    )
    db.session.add(config)
    db.session.flush()
    if is_default:
        _make_default(config)
    audit.record(actor, "backend.create", "backend_config", config.id, backend=backend)
    return config


def update_config(
    actor: User,
    config_id: int,
    *,
    name: str | None = None,
    settings: Mapping[str, Any] | None = None,
    enabled: bool | None = None,
    is_default: bool | None = None,
) -> BackendConfig:
    access.require_admin(actor)
    config = get_config(actor, config_id)
    if name is not None and name.strip() != config.name:
        if db.session.execute(db.select(BackendConfig.id).filter_by(name=name.strip())).first():
            raise Conflict(
                gettext("a backend configuration named %(name)s exists", name=repr(name)),
                code="name_taken",
            )
        config.name = name.strip()
    if settings is not None:
        config.settings = _validated_settings(
            backend_plugin(config.backend), settings, config.settings or {}
        )
    if enabled is not None:
        config.enabled = enabled
        if not enabled:
            config.is_default = False
    if is_default:
        _make_default(config)
    elif is_default is False:
        config.is_default = False
    audit.record(actor, "backend.update", "backend_config", config.id)
    return config


def delete_config(actor: User, config_id: int) -> None:
    access.require_admin(actor)
    config = get_config(actor, config_id)
    in_use = db.session.execute(
        db.select(db.func.count(Class.id)).filter_by(backend_config_id=config.id)
    ).scalar_one()
    if in_use:
        raise Conflict(
            ngettext(
                "%(num)d class uses this backend; move it or disable the backend instead",
                "%(num)d classes use this backend; move them or disable the backend instead",
                in_use,
            ),
            code="backend_in_use",
        )
    audit.record(actor, "backend.delete", "backend_config", config.id)
    db.session.delete(config)


def _make_default(config: BackendConfig) -> None:
    if not config.enabled:
        raise ValidationFailed("a disabled backend cannot be the default")
    db.session.execute(
        db.update(BackendConfig).where(BackendConfig.id != config.id).values(is_default=False)
    )
    config.is_default = True


def get_config(actor: User, config_id: int) -> BackendConfig:
    access.require_admin(actor)
    config = db.session.get(BackendConfig, config_id)
    if config is None:
        raise NotFound("no such backend configuration")
    return config


def list_configs(actor: User) -> list[BackendConfig]:
    access.require_admin(actor)
    return list(db.session.execute(db.select(BackendConfig).order_by(BackendConfig.id)).scalars())


def enabled_configs() -> list[BackendConfig]:
    """What teachers may choose from: enabled configs whose plugin is installed."""
    installed = set(plugins().backends)
    return [
        c
        for c in db.session.execute(
            db.select(BackendConfig).filter_by(enabled=True).order_by(BackendConfig.id)
        ).scalars()
        if c.backend in installed
    ]


def is_offered(config: BackendConfig) -> bool:
    """Teachers are offered a backend only once its last connection test passed."""
    return config.health_ok is True


def not_offered_reason(config: BackendConfig) -> str | None:
    """Why teachers are not offered this (enabled) backend, in words for administrators."""
    if config.health_ok is True:
        return None
    if config.health_ok is None:
        return "never tested: run its connection test on the Meeting systems page"
    return f"its last connection test failed: {config.health_message or 'no answer'}"


def offered_configs() -> list[BackendConfig]:
    """The backends a teacher may choose for a class: enabled, installed, tested and passing."""
    return [c for c in enabled_configs() if is_offered(c)]


def require_passing(config: BackendConfig) -> BackendConfig:
    """A class on a backend whose last connection test failed starts only if the test passes
    when it is run again now (a meeting server that came back must not wait for the next
    periodic test); otherwise a clear 409 instead of a late, obscure failure."""
    if config.health_ok is False and not check_health(config).ok:
        raise Conflict(
            gettext(
                "the meeting system %(name)s failed its last connection test (%(why)s); the "
                "class cannot start until an administrator fixes it or chooses another "
                "meeting system",
                name=repr(config.name),
                why=config.health_message or gettext("no answer"),
            ),
            code="backend_failing",
        )
    return config


def config_for_class(klass: Class) -> BackendConfig:
    """The class's chosen backend, else the default, else the only enabled one."""
    if klass.backend_config is not None:
        if not klass.backend_config.enabled:
            raise Conflict(
                gettext(
                    "this class's meeting backend %(name)s is disabled; choose another in the "
                    "class settings",
                    name=repr(klass.backend_config.name),
                ),
                code="backend_disabled",
            )
        return require_passing(klass.backend_config)
    candidates = enabled_configs()
    defaults = [c for c in candidates if c.is_default]
    if defaults:
        return require_passing(defaults[0])
    if len(candidates) == 1:
        return require_passing(candidates[0])
    if not candidates:
        raise Conflict(
            "no meeting backend is enabled; an administrator must enable one", code="no_backend"
        )
    raise Conflict(
        "several meeting backends are enabled and none is the default; choose one for this class",
        code="backend_ambiguous",
    )


T = TypeVar("T")
# What the server refused, one whole sentence per operation of call_backend (other languages
# do not put "refused to <operation>" together the way English does).
REFUSALS = {
    "start the class": lazy_gettext(
        "the meeting server (%(server)s) refused to start the class: %(reason)s"
    ),
    "let you join": lazy_gettext(
        "the meeting server (%(server)s) refused to let you join: %(reason)s"
    ),
    "end the meeting": lazy_gettext(
        "the meeting server (%(server)s) refused to end the meeting: %(reason)s"
    ),
    "say who is in the meeting": lazy_gettext(
        "the meeting server (%(server)s) refused to say who is in the meeting: %(reason)s"
    ),
    "publish the recording": lazy_gettext(
        "the meeting server (%(server)s) refused to publish the recording: %(reason)s"
    ),
    "delete the recording": lazy_gettext(
        "the meeting server (%(server)s) refused to delete the recording: %(reason)s"
    ),
    "prepare the recording again": lazy_gettext(
        "the meeting server (%(server)s) refused to prepare the recording again: %(reason)s"
    ),
    "answer a health check": lazy_gettext(
        "the meeting server (%(server)s) refused to answer a health check: %(reason)s"
    ),
}
Failure = Literal["unreachable", "refused", "garbled"]


class BackendCallFailed(ServiceUnavailable):
    """A backend operation failed; a 503 whose message says which server and why.

    `failure` tells callers that treat the kinds differently (ending a class goes on when the
    server merely refuses) apart; `reason` is the backend's own words, without the portal's frame.
    """

    def __init__(self, message: str, *, code: str, failure: Failure, reason: str):
        super().__init__(message, code=code)
        self.failure = failure
        self.reason = reason


def _refusal(operation: str, server: str, reason: str) -> str:
    sentence = REFUSALS.get(operation)
    if sentence is None:  # an operation without its own sentence still says which server
        return gettext(
            "the meeting server (%(server)s) refused: %(reason)s", server=server, reason=reason
        )
    return str(sentence) % {"server": server, "reason": reason}


def call_backend(
    config: BackendConfig,
    operation: str,
    call: Callable[[MeetingBackend, dict[str, Any]], T],
    *,
    backend: str | None = None,
) -> T:
    """Run one operation on a configured meeting backend: the one place its errors become 503s.

    `call` gets the plugin and the configuration's effective settings. `operation` says what
    was asked, e.g. "start the class": a key of REFUSALS, whose sentence a refusal gets. A
    plugin's unexpected exception (a parse error on garbage XML/JSON, a bug) is logged and
    answered as a clear 503, never a 500.
    """
    plugin = backend_plugin(backend or config.backend)  # 503 when the plugin was uninstalled
    try:
        return call(plugin, effective_settings(config))
    except BackendUnavailable as exc:
        raise BackendCallFailed(
            gettext(
                "the meeting server (%(server)s) is not reachable right now: %(reason)s",
                server=config.name,
                reason=exc.user_message,
            ),
            code=exc.code,
            failure="unreachable",
            reason=exc.user_message,
        ) from exc
    except BackendError as exc:
        raise BackendCallFailed(
            _refusal(operation, config.name, exc.user_message),
            code=exc.code,
            failure="refused",
            reason=exc.user_message,
        ) from exc
    except PortalError:
        raise
    except Exception as exc:
        logging.getLogger(__name__).exception("backend %s failed to %s", config.backend, operation)
        raise BackendCallFailed(
            gettext(
                "the meeting server (%(server)s) gave an answer the portal could not "
                "understand; try again later or ask an administrator to check it",
                server=config.name,
            ),
            code="backend_error",
            failure="garbled",
            reason=gettext(
                "the backend's answer could not be understood (%(error)s)",
                error=type(exc).__name__,
            ),
        ) from exc


def check_health(config: BackendConfig) -> HealthResult:
    """Run the backend's health check and remember the outcome for /readyz and the admin page."""
    started = time.perf_counter()
    try:
        result = call_backend(
            config, "answer a health check", lambda plugin, settings: plugin.check_health(settings)
        )
    except BackendCallFailed as exc:
        result = HealthResult(ok=False, message=exc.reason)
    except ServiceUnavailable as exc:
        result = HealthResult(ok=False, message=exc.message)
    if result.latency_ms is None:
        result = HealthResult(
            result.ok,
            result.message,
            result.version,
            round((time.perf_counter() - started) * 1000, 1),
        )
    config.health_ok = result.ok
    config.health_message = result.message[:500]
    config.health_checked_at = utcnow()
    return result


def check_all_health() -> None:
    """Periodic job: refresh the health of every enabled backend (run_job commits)."""
    for config in enabled_configs():
        check_health(config)
