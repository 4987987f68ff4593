from __future__ import annotations

from portal.api import api
from portal.api.framework import current_actor, endpoint
from portal.api.schemas import (
    BackendConfigIn,
    BackendConfigOut,
    BackendConfigUpdateIn,
    BackendTypeOut,
    BlockIn,
    BlockOut,
    HealthOut,
    PluginOut,
)
from portal.core import access, backends, blocking
from portal.core.registry import plugin_manager, plugins
from portal.plugins.manager import describe_plugins


def _config_out(config) -> BackendConfigOut:
    return BackendConfigOut(
        id=config.id,
        name=config.name,
        backend=config.backend,
        enabled=config.enabled,
        is_default=config.is_default,
        settings=backends.public_settings(config),
        health_ok=config.health_ok,
        health_message=config.health_message,
        health_checked_at=config.health_checked_at,
    )


@endpoint(
    api,
    "/admin/backend-types",
    summary="Installed meeting backend plugins and their settings",
    response=list[BackendTypeOut],
    tags=["admin"],
)
def backend_types():
    access.require_admin(current_actor())
    return [
        BackendTypeOut(
            name=b.name,
            label=b.label,
            capabilities=b.capabilities.as_dict(),
            settings_schema=dict(b.settings_schema),
        )
        for b in plugins().backends.values()
    ]


@endpoint(
    api,
    "/admin/backends",
    summary="Configured meeting backends",
    response=list[BackendConfigOut],
    tags=["admin"],
)
def list_backends():
    return [_config_out(c) for c in backends.list_configs(current_actor())]


@endpoint(
    api,
    "/admin/backends",
    "POST",
    summary="Configure a meeting backend",
    body=BackendConfigIn,
    response=BackendConfigOut,
    status=201,
    tags=["admin"],
    errors=[409],
)
def create_backend(body: BackendConfigIn):
    return _config_out(backends.create_config(current_actor(), **body.model_dump()))


@endpoint(
    api,
    "/admin/backends/<int:config_id>",
    summary="One backend configuration",
    response=BackendConfigOut,
    tags=["admin"],
)
def get_backend(config_id: int):
    return _config_out(backends.get_config(current_actor(), config_id))


@endpoint(
    api,
    "/admin/backends/<int:config_id>",
    "PATCH",
    summary="Change a backend configuration",
    body=BackendConfigUpdateIn,
    response=BackendConfigOut,
    tags=["admin"],
    errors=[409],
)
def update_backend(config_id: int, body: BackendConfigUpdateIn):
    return _config_out(
        backends.update_config(current_actor(), config_id, **body.model_dump(exclude_unset=True))
    )


@endpoint(
    api,
    "/admin/backends/<int:config_id>",
    "DELETE",
    summary="Remove an unused backend configuration",
    tags=["admin"],
    errors=[409],
)
def delete_backend(config_id: int):
    backends.delete_config(current_actor(), config_id)


@endpoint(
    api,
    "/admin/backends/<int:config_id>/test",
    "POST",
    summary="Test the connection to a backend",
    response=HealthOut,
    tags=["admin"],
)
def test_backend(config_id: int):
    config = backends.get_config(current_actor(), config_id)
    result = backends.check_health(config)
    return HealthOut(
        ok=result.ok, message=result.message, version=result.version, latency_ms=result.latency_ms
    )


@endpoint(
    api,
    "/admin/plugins",
    summary="Loaded plugins with version and hooks",
    response=list[PluginOut],
    tags=["admin"],
)
def list_plugins():
    access.require_admin(current_actor())
    return [PluginOut(**row) for row in describe_plugins(plugin_manager())]


@endpoint(
    api, "/blocks", summary="Active blocks you manage", response=list[BlockOut], tags=["blocks"]
)
def list_blocks():
    return [BlockOut.model_validate(b) for b in blocking.list_blocks(current_actor())]


@endpoint(
    api,
    "/blocks",
    "POST",
    summary="Block a user site-wide (admins) or from a class (its teacher)",
    body=BlockIn,
    response=BlockOut,
    status=201,
    tags=["blocks"],
    errors=[409],
)
def create_block(body: BlockIn):
    return BlockOut.model_validate(blocking.block_user(current_actor(), **body.model_dump()))


@endpoint(api, "/blocks/<int:block_id>", "DELETE", summary="Lift a block", tags=["blocks"])
def lift_block(block_id: int):
    blocking.unblock(current_actor(), block_id)
