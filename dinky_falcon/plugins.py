"""The plugin manager: built-ins, installed entry points and drop-in files, in that order."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import reprlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pluggy

from . import __version__, hookspecs
from .config.settings import Settings
from .errors import ConfigError

log = logging.getLogger(__name__)
trace_log = logging.getLogger(__name__ + ".trace")

# Built-in behaviour is ordinary plugins, registered through the same hooks as anyone's.
DEFAULT_PLUGINS = (
    "dinky_falcon.transports.file",
    "dinky_falcon.transports.memory",
    "dinky_falcon.transports.postfix",
    "dinky_falcon.transports.gmail",
)

# Drop-in files are imported as modules of this (never imported) package, named by file stem.
FILE_PLUGIN_PACKAGE = "dinky_falcon_plugins"


@dataclass(frozen=True)
class TransportRegistration:
    name: str
    factory: Callable
    plugin: str


@dataclass(frozen=True)
class PluginInfo:
    """What ``dinky-mail plugins`` shows about one loaded plugin."""

    name: str
    source: str  # "built-in", "entry point of <distribution>", or the file's path
    version: str

    def __str__(self) -> str:
        return f"{self.name} ({self.source})"


def make_plugin_manager(settings: Settings) -> pluggy.PluginManager:
    """Load every plugin not disabled; a broken or misspelled one stops the service at start."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in settings.disabled_plugins:
        pm.set_blocked(name)
    file_plugins = sorted(settings.plugins_dir.glob("*.py")) if settings.plugins_dir else []
    try:
        for module_name in DEFAULT_PLUGINS:
            if not pm.is_blocked(module_name):
                pm.register(importlib.import_module(module_name), name=module_name)
        pm.load_setuptools_entrypoints(hookspecs.PROJECT)
        for path in file_plugins:
            if not pm.is_blocked(path.stem):
                _register_file(pm, path)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:  # an argument or hook name the contract lacks
        raise ConfigError(" ".join(str(exc).split())) from None
    _report_disabled(settings.disabled_plugins, [p.stem for p in file_plugins])
    if settings.trace_plugins:
        trace_log.setLevel(logging.INFO)  # TRACE_PLUGINS asks for these whatever LOG_LEVEL says
        pm.add_hookcall_monitoring(_trace_call, _trace_result)
    return pm


def _register_file(pm: pluggy.PluginManager, path: Path) -> None:
    if pm.has_plugin(path.stem):
        taken_by = describe_plugin(pm, pm.get_plugin(path.stem))
        raise ConfigError(f"plugin file {path}: the name {path.stem!r} is taken by {taken_by}")
    spec = importlib.util.spec_from_file_location(f"{FILE_PLUGIN_PACKAGE}.{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ConfigError(f"plugin file {path} failed to load: {exc!r}") from exc
    pm.register(module, name=path.stem)


def _report_disabled(disabled: tuple[str, ...], file_stems: list[str]) -> None:
    entry_points = importlib.metadata.entry_points(group=hookspecs.PROJECT)
    known = {*DEFAULT_PLUGINS, *(ep.name for ep in entry_points), *file_stems}
    for name in disabled:
        if name in known:
            log.info("plugin %s is disabled by DISABLED_PLUGINS", name)
        else:
            log.warning("DISABLED_PLUGINS names %r, but no plugin has that name", name)


def describe_plugin(pm: pluggy.PluginManager, plugin: object) -> PluginInfo:
    """Where a registered plugin came from and its version."""
    name = pm.get_name(plugin)
    if name in DEFAULT_PLUGINS:
        return PluginInfo(name, "built-in", __version__)
    for candidate, dist in pm.list_plugin_distinfo():
        if candidate is plugin:
            return PluginInfo(name, f"entry point of {dist.project_name}", dist.version)
    version = str(getattr(plugin, "__version__", "-"))
    if getattr(plugin, "__name__", "").startswith(FILE_PLUGIN_PACKAGE + "."):
        return PluginInfo(name, plugin.__file__, version)
    return PluginInfo(name, "registered at run time", version)


def transport_registry(pm: pluggy.PluginManager) -> dict[str, TransportRegistration]:
    """Every registered transport by name; a name registered twice is a ConfigError."""
    registry: dict[str, TransportRegistration] = {}

    def register(name: str, factory: Callable, *, plugin: object) -> None:
        name = name.lower()
        if name in registry:
            first = describe_plugin(pm, pm.get_plugin(registry[name].plugin))
            raise ConfigError(
                f"transport {name!r} is registered twice: by {first} "
                f"and by {describe_plugin(pm, plugin)}"
            )
        registry[name] = TransportRegistration(name, factory, pm.get_name(plugin))

    # Each plugin's implementation is called through its own hook caller, so that every
    # name is tied to its plugin while the call still goes through pluggy (and its tracing).
    for impl in pm.hook.register_transports.get_hookimpls():
        others = [p for p in pm.get_plugins() if p is not impl.plugin]
        only_this = pm.subset_hook_caller("register_transports", remove_plugins=others)
        only_this(register=partial(register, plugin=impl.plugin))
    return registry


def build_transports(
    settings: Settings, registry: dict[str, TransportRegistration]
) -> list[tuple[str, object]]:
    """The transports MAIL_TRANSPORT selects, in order, built by their factories."""
    chosen = []
    for name in settings.transport_names:
        if name not in registry:
            available = ", ".join(sorted(registry)) or "none"
            raise ConfigError(
                f"MAIL_TRANSPORT: no transport named {name!r} (available: {available})"
            )
        chosen.append((name, registry[name].factory(settings)))
    return chosen


def failing_plugin(pm: pluggy.PluginManager, hook_name: str, error: BaseException) -> str:
    """The plugin whose ``hook_name`` implementation raised ``error``, found in its traceback."""
    owners = {
        getattr(impl.function, "__code__", None): impl.plugin_name
        for impl in getattr(pm.hook, hook_name).get_hookimpls()
    }
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code in owners:
            return owners[frame.tb_frame.f_code]
        frame = frame.tb_next
    return "(unknown)"


_short = reprlib.Repr()
_short.maxstring = _short.maxother = 60


def _trace_call(hook_name, hook_impls, kwargs) -> None:
    arguments = ", ".join(f"{key}={_short.repr(value)}" for key, value in kwargs.items())
    # pluggy calls the implementations last-registered first.
    plugins = ", ".join(impl.plugin_name for impl in reversed(hook_impls)) or "no plugin"
    trace_log.info("%s(%s) -> %s", hook_name, arguments, plugins)


def _trace_result(outcome: pluggy.Result, hook_name, hook_impls, kwargs) -> None:
    if outcome.exception is not None:
        trace_log.info("%s raised %r", hook_name, outcome.exception)
    else:
        trace_log.info("%s returned %s", hook_name, _short.repr(outcome.get_result()))
