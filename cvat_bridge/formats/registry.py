"""Loads format_map.yaml, resolves format names, and runs one export: tweaks, then the exporter."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

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


def _yaml_rows(source: bytes) -> list[dict[str, Any]]:
    import yaml  # ~15 ms to import and ~10 ms to parse: only when the JSON twin is missing or stale

    return yaml.load(source, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["formats"]  # C: 5x faster


def _fingerprint(source: bytes) -> list[int]:
    """What the JSON twin records of the YAML it was made from (zlib is loaded anyway by zipfile)."""
    from zlib import crc32

    return [len(source), crc32(source)]


def _twin_rows(twin: Path, source: bytes) -> list[dict[str, Any]] | None:
    """The rows of the JSON twin of format_map.yaml when it was made from exactly ``source``."""
    import orjson

    try:
        data = orjson.loads(twin.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(data, dict) or data.get("yaml") != _fingerprint(source):
        return None
    return data.get("formats")


def twin_text(source: bytes) -> bytes:
    """The JSON twin of format_map.yaml's ``source``: the same rows, read without PyYAML."""
    import orjson

    return orjson.dumps({"yaml": _fingerprint(source), "formats": _yaml_rows(source)},
                        option=orjson.OPT_INDENT_2) + b"\n"


@cache
def load_formats() -> tuple[FormatSpec, ...]:
    """The rows of format_map.yaml; read from its JSON twin (format_map.json) when that is current."""
    path = _map_path()
    source = path.read_bytes()
    rows = _twin_rows(path.with_suffix(".json"), source)
    if rows is None:
        rows = _yaml_rows(source)
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


if __name__ == "__main__":  # python -m cvat_bridge.formats.registry: write format_map.json after editing the YAML
    _source = _map_path().read_bytes()
    _map_path().with_suffix(".json").write_bytes(twin_text(_source))
