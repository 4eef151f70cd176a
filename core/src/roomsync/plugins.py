"""Finding plugins: connectors by name (stevedore) and extension plugins (pluggy).

stevedore answers "which connector drives this environment"; pluggy carries the hooks every
extension plugin may implement. Both read entry points of installed distributions, so a plugin
is installed with pip and needs no registration in the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points

import pluggy
from stevedore import DriverManager, ExtensionManager
from stevedore.exception import NoMatches

from roomsync import hookspecs
from roomsync.config import EnvironmentConfig
from roomsync.connector.base import Connector
from roomsync.connector.host import ConnectorHost
from roomsync.errors import ConfigError, PluginNotInstalled

CONNECTORS = "roomsync.connectors"
EXTENSIONS = "roomsync.plugins"


@dataclass(frozen=True)
class InstalledPlugin:
    name: str
    kind: str  # "connector" or "extension"
    distribution: str
    version: str
    target: str


def installed_plugins() -> list[InstalledPlugin]:
    found = []
    for group, kind in ((CONNECTORS, "connector"), (EXTENSIONS, "extension")):
        for ep in entry_points(group=group):
            dist = ep.dist
            found.append(
                InstalledPlugin(
                    name=ep.name,
                    kind=kind,
                    distribution=dist.name if dist else "?",
                    version=dist.version if dist else "?",
                    target=ep.value,
                )
            )
    return sorted(found, key=lambda p: (p.kind, p.name))


def connector_names() -> list[str]:
    return sorted(ExtensionManager(CONNECTORS, invoke_on_load=False).names())


def connector_class(plugin: str, environment: str) -> type[Connector]:
    # Asked first so that a name not installed is reported once, with the remedy, and not also
    # logged by stevedore as a warning.
    installed = sorted({ep.name for ep in entry_points(group=CONNECTORS)})
    if plugin not in installed:
        raise PluginNotInstalled(plugin, environment, installed)
    try:
        manager: DriverManager[type[Connector]] = DriverManager(CONNECTORS, plugin, invoke_on_load=False)
    except NoMatches:
        raise PluginNotInstalled(plugin, environment, connector_names()) from None
    cls = manager.driver
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise ConfigError(
            f"plugin {plugin!r} does not provide a roomsync Connector class",
            key=f"environments.{environment}.plugin",
        )
    return cls


def extension_manager() -> pluggy.PluginManager:
    """The manager of extension hooks, with every installed extension plugin loaded once."""
    return _extension_manager()


@lru_cache(maxsize=1)
def _extension_manager() -> pluggy.PluginManager:
    pm = plugin_manager()
    load_extensions(pm)
    return pm


def plugin_manager(*plugins: object) -> pluggy.PluginManager:
    """A manager of roomsync's hooks with just ``plugins`` (no installed extension loaded)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for plugin in plugins:
        pm.register(plugin)
    return pm


def load_extensions(pm: pluggy.PluginManager) -> None:
    """Register the installed extension plugins in the order of their entry-point names.

    pluggy's own loader follows the order of distributions on ``sys.path``; the chained hooks
    need an order an administrator can read off ``roomsync plugins``. A name taken already (by
    an earlier distribution or by code) is skipped, as pluggy does, and so is a plugin registered
    already under another name.
    """
    for ep in sorted(entry_points(group=EXTENSIONS), key=lambda ep: ep.name):
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        plugin = ep.load()
        if not pm.is_registered(plugin):
            pm.register(plugin, name=ep.name)


def open_connector(
    environment: str,
    config: EnvironmentConfig,
    source: str | None = None,
    pm: pluggy.PluginManager | None = None,
) -> ConnectorHost:
    """Load, configure and host the connector of one environment."""
    cls = connector_class(config.plugin, environment)
    connector = cls.from_config(environment, config.options, source)
    return ConnectorHost(environment, connector, (pm or extension_manager()).list_name_plugin())
