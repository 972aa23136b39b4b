"""Parity with CVAT's own exports: every implemented format against every reference archive.

Walks ../shared/cvat-reference (skipped when absent): for each format marked done in
format_map.yaml, the tasks `small` (Datumaro: `small_noskeleton`), `formats/<format>` and
`large`, as task exports and as `--job 1/2` exports where CVAT made one. Each pair must
score 1.000 with the shared export_diff.py.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from cvat_bridge.backup import load_task
from cvat_bridge.export import export_task
from cvat_bridge.formats.registry import FormatSpec, load_formats
from cvat_bridge.model import Task
from tests.conftest import REFERENCE, export_diff
from tests.deltas import undo_deliberate_deltas

TASKS = ["small", "small_noskeleton", "formats", "large", "overlap32"]
ARCHIVES = ("without_images.zip", "with_images.zip")
ULTRALYTICS_IGNORE = r"^[^/]*\.(yaml|txt)$"  # DELTAS.md item 8


def _folder(spec: FormatSpec) -> str:
    return spec.display_name.replace(" ", "_")


def _cases() -> list[tuple[str, str, str, str]]:
    """(format name, task folder, exports folder, archive name) for every reference that exists."""
    cases = []
    if not REFERENCE.exists():
        return [("-", "-", "-", "-")]
    for spec in load_formats():
        if not spec.implemented:
            continue
        folder = _folder(spec)
        tasks = [f"formats/{folder}"] + [t for t in TASKS if t != "formats"]
        for task in tasks:
            for exports in ("exports", "exports_job1", "exports_job2"):
                for archive in ARCHIVES:
                    if (REFERENCE / task / exports / folder / archive).exists():
                        cases.append((spec.name, task, exports, archive))
    return cases


@cache
def _task(task: str) -> Task:
    return load_task(REFERENCE / task / "backup.zip")


@pytest.mark.parametrize(("format_name", "task", "exports", "archive"), _cases())
def test_export_matches_cvat(format_name: str, task: str, exports: str, archive: str, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    if task == "-":
        pytest.skip(f"CVAT reference data not available ({REFERENCE} is absent)")
    diff = export_diff()
    spec = next(s for s in load_formats() if s.name == format_name)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    job = None if exports == "exports" else int(exports[-1])
    out = tmp_path / "ours.zip"
    export_task(_task(task), spec, out, job=job, save_images=archive == "with_images.zip")
    out = undo_deliberate_deltas(format_name, out)  # DELTAS.md items we keep on purpose
    ignore = ULTRALYTICS_IGNORE if format_name.startswith("Ultralytics") else None
    report = diff.run_compare(str(out), str(REFERENCE / task / exports / _folder(spec) / archive),
                              opts=diff.Options(ignore=ignore))
    problems = [f"{row['path']}: {row['status']} {row['diffs'][:2]}" for row in report["files"]
                if row["status"] != "equal"]
    assert report["score"] == 1.0, "\n".join(problems[:20])
