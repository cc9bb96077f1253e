"""Architecture plugins from the `hardener.architectures` entry-point group, loaded lazily.

A plugin that fails to import is recorded in `failures()` and skipped, so one broken third-party
package never takes the built-ins down with it.
"""
from __future__ import annotations

from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

from hardener.errors import UnknownArchitectureError

if TYPE_CHECKING:
    from hardener.arch import ArchitecturePlugin, FaceModel

GROUP = "hardener.architectures"
_loaded: dict[str, "ArchitecturePlugin"] = {}
_failed: dict[str, str] = {}


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def names() -> list[str]:
    """Registered architecture names, without importing any plugin."""
    return sorted(_entry_points())


def _load(name: str) -> "ArchitecturePlugin | None":
    if name in _loaded:
        return _loaded[name]
    if name in _failed:
        return None
    try:
        plugin = _entry_points()[name].load()
        if not getattr(plugin, "name", None) or not callable(getattr(plugin, "build", None)):
            raise TypeError("the entry point does not name an ArchitecturePlugin instance")
    except Exception as exc:  # a broken plugin must not break the others
        _failed[name] = f"{type(exc).__name__}: {exc}"
        return None
    _loaded[name] = plugin
    return plugin


def get(name: str) -> "ArchitecturePlugin":
    """The plugin called `name`; one clear error if it is unknown or failed to load."""
    key = name.strip().lower().replace("-", "_")
    if key not in _entry_points():
        raise UnknownArchitectureError(f"unknown architecture {name!r}",
                                       fix=f"use --arch with one of: {', '.join(names())} (see `hardener plugins`)")
    plugin = _load(key)
    if plugin is None:
        raise UnknownArchitectureError(f"the plugin {key!r} failed to load ({_failed[key]})",
                                       fix="reinstall the package that provides it")
    return plugin


def all_plugins() -> list["ArchitecturePlugin"]:
    """Every plugin that loads; see `failures()` for the rest."""
    return [p for p in (_load(n) for n in names()) if p is not None]


def failures() -> dict[str, str]:
    """Plugins that failed to import, with the reason, after `all_plugins()` or `get()` tried them."""
    return dict(_failed)


def build_model(arch: str, variant: str | None = None, num_classes: int = 10,
                image_size: int | None = None) -> "FaceModel":
    """Create an untrained model by architecture name, as timm's `create_model` does."""
    plugin = get(arch)
    return plugin.build(plugin.check_variant(variant), num_classes, image_size)
