"""Checks shared by the tests of the Datumaro-free writers.

Each compares the archive of our writer's row with the archive of the Datumaro row it replaced,
exported from the same task with the same options: the expectation never comes from our writer.
"""

from __future__ import annotations

import importlib.util
import json
import zipfile
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from cvat_bridge.backup import load_task
from cvat_bridge.export import export_task
from cvat_bridge.formats.registry import FormatSpec, find_format
from cvat_bridge.model import Task
from tests.conftest import ROOT, export_diff
from tests.fast_writer_tasks import LABELS, make_stress_backup


def members(archive: Path) -> dict[str, bytes]:
    """Every member of a zip archive, by name."""
    with zipfile.ZipFile(archive) as z:
        return {name: z.read(name) for name in z.namelist()}


def export_both(task: Task, format_name: str, datumaro_row: FormatSpec, tmp_path: Path,
                **options: Any) -> tuple[Path, Path]:
    """(ours, expected): ``task`` exported through our row of ``format_name`` and through ``datumaro_row``."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    ours = export_task(task, find_format(format_name), tmp_path / "ours.zip", overwrite=True, **options)
    expected = export_task(task, datumaro_row, tmp_path / "dm.zip", overwrite=True, **options)
    return ours, expected


def assert_same_bytes(task: Task, format_name: str, datumaro_row: FormatSpec, tmp_path: Path,
                      **options: Any) -> dict[str, bytes]:
    """Both rows write the same member names with the same bytes; gives our members."""
    ours, expected = (members(path) for path in export_both(task, format_name, datumaro_row, tmp_path, **options))
    assert sorted(ours) == sorted(expected)
    for name, data in expected.items():
        assert ours[name] == data, name
    return ours


def assert_scores_one(task: Task, format_name: str, datumaro_row: FormatSpec, tmp_path: Path, *,
                      same_bytes_suffixes: tuple[str, ...] = (), **options: Any) -> dict[str, Any]:
    """Both rows' archives score 1.000 in the shared export_diff (images as pixels and mode), and
    members ending in ``same_bytes_suffixes`` hold the same bytes; gives the export_diff report."""
    ours, expected = export_both(task, format_name, datumaro_row, tmp_path, **options)
    report = export_diff().run_compare(str(ours), str(expected), opts=export_diff().Options())
    problems = [f"{row['path']}: {row['status']} {row['diffs'][:2]}" for row in report["files"]
                if row["status"] != "equal"]
    assert report["score"] == 1.0, "\n".join(problems[:10])
    if same_bytes_suffixes:
        with zipfile.ZipFile(ours) as a, zipfile.ZipFile(expected) as b:
            for name in b.namelist():
                if name.endswith(same_bytes_suffixes):
                    assert a.read(name) == b.read(name), name
    return report


@cache
def make_video_module() -> ModuleType:
    """fixtures/make_video.py as a module (making its videos needs PyAV)."""
    spec = importlib.util.spec_from_file_location("make_video", ROOT / "fixtures" / "make_video.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stress_video_task(folder: Path) -> Task:
    """A video task (every 2nd frame of a 15-frame clip, relative frame 3 deleted) annotated with
    the random objects of a stress task of the same size (tests/fast_writer_tasks.py)."""
    stress = make_stress_backup(folder / "s.zip", seed=6, frames=8, width=64, height=48)
    with zipfile.ZipFile(stress) as z:
        annotations = json.loads(z.read("annotations.json"))[0]
    make_video = make_video_module()
    meta = make_video.task_meta(8, step=2, deleted=[3])
    meta["labels"] = LABELS
    return load_task(make_video.make_video_backup(folder / "video.zip", count=15, width=64, height=48, task=meta,
                                                  annotations=annotations))
