"""A module imported on first use, for what most of a Lambda cold start does not need yet: app.py
names every use case and the request models, but each request loads only its own.

The stand-in is a proxy, not the module: every attribute is read from the real module (imported
once, by the import system's own per-module lock, so two threads that both touch it first are
safe, unlike importlib's LazyLoader before Python 3.12), and a test that patches the real module
is seen through it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any


class LazyModule(ModuleType):
    def __getattr__(self, attribute: str) -> Any:  # only for what the proxy itself does not have
        return getattr(importlib.import_module(self.__name__), attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self.__name__!r}>"


def lazy_module(name: str) -> ModuleType:
    """`name` if it is imported already, else a proxy that imports it on the first attribute read."""
    return sys.modules.get(name) or LazyModule(name)


def lazy_exports(
    package: str, areas: Mapping[str, tuple[str, ...]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module `__getattr__` and `__dir__` (PEP 562) of a package whose names live in its
    submodules (`areas`: submodule -> the names it defines): a submodule is imported on the first
    read of one of its names (`package.Name` or `from package import Name`), so a request loads
    only its own area; dir() lists every name, loaded or not."""
    area_of = {name: area for area, names in areas.items() for name in names}

    def __getattr__(name: str) -> Any:
        area = area_of.get(name)
        if area is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{area}"), name)
        setattr(sys.modules[package], name, value)  # found directly from now on
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *area_of})

    return __getattr__, __dir__
