"""format_map.json, the JSON twin of format_map.yaml that spares each run PyYAML (~25 ms)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml

from cvat_bridge.formats import registry


def test_twin_is_current_and_equal_to_the_yaml() -> None:
    path = registry._map_path()
    source = path.read_bytes()
    twin = path.with_suffix(".json")
    assert twin.is_file(), "format_map.json is missing: run python -m cvat_bridge.formats.registry"
    data = orjson.loads(twin.read_bytes())
    assert data["yaml"] == [len(source), registry._fingerprint(source)[1]], (
        "format_map.json is stale: run python -m cvat_bridge.formats.registry")
    assert data["formats"] == yaml.safe_load(source)["formats"]


def _map_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, yaml_text: str) -> Path:
    path = tmp_path / registry.MAP_FILE
    path.write_text(yaml_text, encoding="utf-8")
    monkeypatch.setattr(registry, "_map_path", lambda: path)
    registry.load_formats.cache_clear()
    return path


def test_a_stale_twin_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _map_in(tmp_path, monkeypatch, "formats:\n  - name: Old 1.0\n    status: done\n")
    path.with_suffix(".json").write_bytes(registry.twin_text(path.read_bytes()))
    path.write_text("formats:\n  - name: New 1.0\n    status: done\n", encoding="utf-8")
    try:
        assert [spec.name for spec in registry.load_formats()] == ["New 1.0"]
    finally:
        registry.load_formats.cache_clear()


def test_a_current_twin_is_read_instead_of_the_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _map_in(tmp_path, monkeypatch, "formats:\n  - name: Old 1.0\n    status: done\n")
    source = path.read_bytes()
    twin = orjson.loads(registry.twin_text(source))
    twin["formats"][0]["name"] = "From JSON 1.0"  # proves which file was read
    path.with_suffix(".json").write_bytes(orjson.dumps(twin))
    try:
        assert [spec.name for spec in registry.load_formats()] == ["From JSON 1.0"]
    finally:
        registry.load_formats.cache_clear()


def test_a_missing_or_broken_twin_falls_back_to_the_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _map_in(tmp_path, monkeypatch, "formats:\n  - name: Only 1.0\n    status: done\n")
    try:
        assert [spec.name for spec in registry.load_formats()] == ["Only 1.0"]
        registry.load_formats.cache_clear()
        path.with_suffix(".json").write_bytes(b"{not json")
        assert [spec.name for spec in registry.load_formats()] == ["Only 1.0"]
    finally:
        registry.load_formats.cache_clear()
