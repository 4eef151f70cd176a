"""Holding plugins to the hook contract of :mod:`roomsync.hookspecs`.

Two rules pluggy does not enforce by itself. A connector hook is answered by the environment's
connector alone: an extension plugin may only wrap it, and only where the hook page allows. The
mapping hooks chain: pluggy hands every implementation the caller's arguments and calls them
last-registered first, so the engine calls them itself, each with the previous one's result, in
the order the hook page promises: export in registration order, import in the reverse order.
"""

from __future__ import annotations

from typing import Any

import pluggy

from roomsync.errors import PluginContractError
from roomsync.hookspecs import CHAINED_HOOKS, CONNECTOR_HOOKS, UNWRAPPABLE_HOOKS


def _plugin_name(pm: pluggy.PluginManager, plugin: object) -> str:
    return pm.get_name(plugin) or repr(plugin)


def _wraps(impl: pluggy.HookImpl) -> bool:
    return impl.wrapper or impl.hookwrapper


def violations(pm: pluggy.PluginManager, plugin: object, *, connector: bool = False) -> list[str]:
    """What ``plugin``, registered in ``pm``, implements against the hook page; empty when nothing.

    ``connector`` says the plugin is the environment's connector, which answers connector hooks.
    """
    found = []
    name = _plugin_name(pm, plugin)
    for caller in pm.get_hookcallers(plugin) or []:
        for impl in caller.get_hookimpls():
            if impl.plugin is not plugin:
                continue
            if _wraps(impl) and caller.name in UNWRAPPABLE_HOOKS:
                found.append(f"plugin {name} wraps {caller.name}, which cannot be wrapped")
            elif not _wraps(impl) and caller.name in CONNECTOR_HOOKS and not connector:
                found.append(
                    f"extension plugin {name} answers the connector hook {caller.name}, which only the "
                    "connector of an environment answers; an extension may wrap it (wrapper=True)"
                )
    return found


def check(pm: pluggy.PluginManager, plugin: object, *, connector: bool = False) -> None:
    """Raise :class:`PluginContractError` naming every rule ``plugin`` breaks."""
    found = violations(pm, plugin, connector=connector)
    if found:
        raise PluginContractError("; ".join(found))


# Import undoes export, so its chain runs the other way round: the last exporter unwraps first.
_REVERSED = frozenset({"roomsync_map_import"})


def chain_order(pm: pluggy.PluginManager, hook_name: str) -> list[pluggy.HookImpl]:
    """The implementations of a chained hook in the order they run (see the hook page)."""
    assert hook_name in CHAINED_HOOKS, hook_name
    registered = {id(plugin): position for position, (_, plugin) in enumerate(pm.list_name_plugin())}
    impls = getattr(pm.hook, hook_name).get_hookimpls()
    for impl in impls:
        if _wraps(impl):
            raise PluginContractError(f"plugin {impl.plugin_name} wraps {hook_name}, which cannot be wrapped")

    def place(impl: pluggy.HookImpl) -> tuple[int, int]:
        group = 0 if impl.tryfirst else 2 if impl.trylast else 1
        return group, registered.get(id(impl.plugin), len(registered))

    return sorted(impls, key=place, reverse=hook_name in _REVERSED)


def chained(pm: pluggy.PluginManager, hook_name: str, value_name: str, value: Any, **kwargs: Any) -> Any:
    """Run a chained hook: each implementation gets the previous one's result as ``value_name``.

    An implementation answering ``None`` leaves the value as it was.
    """
    for impl in chain_order(pm, hook_name):
        arguments = {**kwargs, value_name: value}
        # As pluggy calls them: positionally, only the arguments the implementation declares.
        answer = impl.function(*(arguments[name] for name in impl.argnames))
        if answer is not None:
            value = answer
    return value
