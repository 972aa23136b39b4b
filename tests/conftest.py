"""Shared test helpers: where the CVAT reference set is, and the project's own sample backup."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
REFERENCE = SHARED / "cvat-reference"
SAMPLE = ROOT / "fixtures" / "sample_backup.zip"


def reference_or_skip(*parts: str) -> Path:
    """A path under ../shared/cvat-reference, or skip: a fresh clone has no shared folder."""
    path = REFERENCE.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"CVAT reference data not available ({path} is absent; it lives beside the checkout)")
    return path


def export_diff() -> ModuleType:
    """The shared parity checker (../shared/tools/export_diff.py) as a module."""
    script = SHARED / "tools" / "export_diff.py"
    if not script.exists():
        pytest.skip(f"{script} is absent: parity checks need the shared folder beside the checkout")
    if "export_diff" not in sys.modules:
        spec = importlib.util.spec_from_file_location("export_diff", script)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["export_diff"] = module
        spec.loader.exec_module(module)
    return sys.modules["export_diff"]


@pytest.fixture
def sample_backup() -> Path:
    return SAMPLE
