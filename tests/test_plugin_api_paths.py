"""Plugins describe their own HTTP routes in /api/openapi.json (register_api_paths)."""

from __future__ import annotations

import pytest

from portal.plugins import PluginConfigurationError, PluginRegistry, hookimpl, make_plugin_manager

ITEM = {"get": {"summary": "A webhook's status", "responses": {"200": {"description": "OK"}}}}


def _registry(*plugins):
    return PluginRegistry.collect(
        make_plugin_manager(load_entrypoints=False, extra_plugins=plugins)
    )


class Describes:
    def __init__(self, name: str, path: str, item: dict) -> None:
        self.__name__ = name
        self.path, self.item = path, item

    @hookimpl
    def register_api_paths(self, register) -> None:
        register(self.path, self.item)


def test_a_plugins_paths_are_collected():
    registry = _registry(Describes("hooks", "/plugins/hooks/status", ITEM))
    assert registry.api_paths == {"/plugins/hooks/status": ITEM}


def test_two_plugins_cannot_describe_one_path():
    with pytest.raises(PluginConfigurationError, match="two plugins describe"):
        _registry(Describes("one", "/plugins/x", ITEM), Describes("two", "/plugins/x", ITEM))


def test_a_path_item_must_be_an_openapi_path_item():
    with pytest.raises(PluginConfigurationError, match="not OpenAPI Path Item fields"):
        _registry(Describes("typo", "/plugins/x", {"gett": {}}))
    with pytest.raises(PluginConfigurationError, match="absolute path"):
        _registry(Describes("relative", "plugins/x", ITEM))


def test_the_sfu_routes_are_in_the_portals_document(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert {"post", "options"} <= set(paths["/sfu/rooms/{room}/whip"])
    assert {"delete", "patch"} <= set(paths["/sfu/rooms/{room}/sessions/{session_id}"])
