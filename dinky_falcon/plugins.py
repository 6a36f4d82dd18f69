"""The plugin manager: built-ins, installed entry points and drop-in files, in that order."""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pluggy

from . import hookspecs
from .errors import ConfigError
from .settings import Settings

log = logging.getLogger(__name__)

# Built-in behaviour is ordinary plugins, registered through the same hooks as anyone's.
DEFAULT_PLUGINS = (
    "dinky_falcon.transports.file",
    "dinky_falcon.transports.memory",
    "dinky_falcon.transports.postfix",
    "dinky_falcon.transports.gmail",
)


@dataclass(frozen=True)
class TransportRegistration:
    name: str
    factory: Callable
    plugin: str


def make_plugin_manager(settings: Settings) -> pluggy.PluginManager:
    """Load every plugin; a broken or misspelled one stops the service at start."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for module_name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
    pm.load_setuptools_entrypoints(hookspecs.PROJECT)
    if settings.plugins_dir is not None:
        for path in sorted(settings.plugins_dir.glob("*.py")):
            pm.register(_load_file(path), name=str(path))
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise ConfigError(f"plugin {exc.plugin!r}: {exc}") from None
    return pm


def _load_file(path: Path):
    spec = importlib.util.spec_from_file_location(f"dinky_falcon_plugins.{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ConfigError(f"plugin file {path} failed to load: {exc!r}") from exc
    return module


def transport_registry(pm: pluggy.PluginManager) -> dict[str, TransportRegistration]:
    """Every registered transport by name; a name registered twice is a ConfigError."""
    registry: dict[str, TransportRegistration] = {}
    # Each implementation is called on its own so that every name is tied to its plugin.
    for impl in pm.hook.register_transports.get_hookimpls():

        def register(name: str, factory: Callable, plugin: str = impl.plugin_name) -> None:
            name = name.lower()
            if name in registry:
                raise ConfigError(
                    f"transport {name!r} is registered twice: by {registry[name].plugin} "
                    f"and by {plugin}"
                )
            registry[name] = TransportRegistration(name, factory, plugin)

        impl.function(register=register)
    return registry


def build_transports(settings: Settings, pm: pluggy.PluginManager) -> list[tuple[str, object]]:
    """The transports MAIL_TRANSPORT selects, in order, built by their factories."""
    registry = transport_registry(pm)
    chosen = []
    for name in settings.transport_names:
        if name not in registry:
            available = ", ".join(sorted(registry)) or "none"
            raise ConfigError(f"MAIL_TRANSPORT: no transport named {name!r} (available: {available})")
        chosen.append((name, registry[name].factory(settings)))
    return chosen
