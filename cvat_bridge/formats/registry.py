"""Loads format_map.yaml, resolves format names, and runs one export: tweaks, then the exporter."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from cvat_bridge.errors import FormatError

MAP_FILE = "format_map.yaml"


@dataclass
class FormatSpec:
    name: str
    aliases: list[str] = field(default_factory=list)
    writer: str | None = None
    exporter: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    tweaks: list[str] = field(default_factory=list)
    status: str = "planned"
    note: str = ""

    @property
    def display_name(self) -> str:
        """CVAT's server display name (the first alias), used for reference folder names."""
        return self.aliases[0] if self.aliases else self.name

    @property
    def implemented(self) -> bool:
        return self.status == "done"


def _map_path() -> Path:
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / MAP_FILE, here.parent / MAP_FILE):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{MAP_FILE} is not installed beside cvat_bridge")


@cache
def load_formats() -> tuple[FormatSpec, ...]:
    with open(_map_path(), encoding="utf-8") as f:
        rows = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["formats"]  # C: 5x faster
    return tuple(FormatSpec(**row) for row in rows)


def _key(name: str) -> str:
    return re.sub(r"[\s_]+", " ", name.strip().lower())


def _without_version(name: str) -> str:
    return re.sub(r"\s+\d+(\.\d+)*$", "", name)


def find_format(name: str) -> FormatSpec:
    """The row for a name or alias (case-insensitive; the version may be left out if unambiguous)."""
    wanted = _key(name)
    formats = load_formats()
    for spec in formats:
        if wanted in {_key(n) for n in [spec.name, *spec.aliases]}:
            return spec
    matches = [s for s in formats if wanted in {_without_version(_key(n)) for n in [s.name, *s.aliases]}]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        names = ", ".join(s.name for s in matches)
        raise FormatError(f"format '{name}' is ambiguous: {names}")
    raise FormatError(f"unknown format '{name}' (run 'cvat-bridge formats' for the list)")


def load_object(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def writer_of(spec: FormatSpec) -> Callable[..., None] | None:
    return load_object(spec.writer) if spec.writer else None
