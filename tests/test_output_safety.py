"""Output safety: a failed or killed export leaves no archive, outputs are only replaced with
--overwrite, nothing is written outside the output, and repeated exports are byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from cvat_bridge import archive
from cvat_bridge.errors import CvatBridgeError
from cvat_bridge.export import export
from cvat_bridge.formats.registry import load_formats
from tests.conftest import ROOT, SAMPLE
from tests.corpus import backup_with, sample_json, write_zip
from tests.test_bad_input import run_cli, tree

CLI = [sys.executable, "-m", "cvat_bridge.cli"]


def _big_backup(path: Path, frames: int) -> Path:
    """A manifest-only image task of ``frames`` frames with a box on each: slow enough to kill."""
    task, _ = sample_json()
    task["data"].update(start_frame=0, stop_frame=frames - 1, deleted_frames=[])
    task["jobs"] = [{"start_frame": 0, "stop_frame": frames - 1, "type": "annotation", "status": "annotation"}]
    lines = [{"version": "1.1"}, {"type": "images"}] + [
        {"name": f"f/{i:06d}", "extension": ".jpg", "width": 64, "height": 48} for i in range(frames)]
    shapes = [{"type": "rectangle", "frame": i, "label": "person", "points": [1.0, 2.0, 30.0, 40.0]}
              for i in range(frames)]
    return write_zip(path, {
        "task.json": json.dumps(task).encode(),
        "annotations.json": json.dumps([{"shapes": shapes}]).encode(),
        "data/manifest.jsonl": "\n".join(json.dumps(line) for line in lines).encode(),
    })


def _work_folders(parent: Path) -> list[Path]:
    return sorted(parent.glob(".*.tmp"))


def _midway(work: Path) -> bool:
    """Part of the output is written: label files in the work folder, or in its growing archive."""
    staged = work / "archive.zip"
    try:
        return staged.stat().st_size > 20_000 or sum(1 for _ in work.rglob("*.txt")) > 50
    except FileNotFoundError:
        return False


def _start_and_wait_until_midway(backup: Path, target: Path) -> subprocess.Popen[bytes]:
    """Start a real export and return once its work folder holds part of the output."""
    process = subprocess.Popen([*CLI, "export", "--task", str(backup), "--format", "YOLO 1.0", "-o", str(target)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        works = _work_folders(target.parent)
        if works and _midway(works[0]):
            return process
        if process.poll() is not None:
            break
        time.sleep(0.02)
    process.kill()
    pytest.fail(f"the export never got midway: {process.communicate()}")


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_an_interrupted_export_leaves_no_archive(how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    backup = _big_backup(tmp_path / "big.zip", 4000)
    out = tmp_path / "out"
    out.mkdir()
    target = out / "export.zip"
    process = _start_and_wait_until_midway(backup, target)
    process.send_signal(getattr(signal, how))
    _, stderr = process.communicate(timeout=60)
    assert not target.exists()
    if how == "SIGTERM":  # handled: the work folder is removed on the way out
        assert process.returncode == 143 and stderr.strip() == b"terminated"
        assert list(out.iterdir()) == []
        return
    assert process.returncode == -signal.SIGKILL
    stale = _work_folders(out)
    assert len(stale) == 1  # nothing can clean up after SIGKILL ...
    code, text = run_cli(["export", "--task", str(SAMPLE), "--format", "YOLO 1.0", "-o", str(target)],
                         monkeypatch, capsys)
    assert code == 0, text
    assert [p.name for p in out.iterdir()] == ["export.zip"]  # ... but the next export to it does


def test_a_failing_export_leaves_nothing_and_reports_a_bug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    def half_then_crash(source: Path, archive_file: zipfile.ZipFile, *args: object) -> None:
        archive_file.writestr("half.txt", b"half an archive")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(archive, "zip_directory", half_then_crash)
    target = tmp_path / "export.zip"
    code, text = run_cli(["export", "--task", str(SAMPLE), "--format", "COCO 1.0", "-o", str(target)],
                         monkeypatch, capsys)
    assert code == 1
    assert "internal error: RuntimeError: disk on fire" in text and "please report it" in text
    assert "Traceback" not in text
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_kept_unless_overwrite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    for target, make in ((tmp_path / "a.zip", lambda p: p.write_bytes(b"mine")),
                         (tmp_path / "folder", lambda p: (p.mkdir(), (p / "keep.txt").write_text("mine"))),
                         (tmp_path / "link.zip", lambda p: p.symlink_to(tmp_path / "nowhere"))):
        make(target)
        before = tree(tmp_path)
        args = ["export", "--task", str(SAMPLE), "--format", "YOLO 1.0", "-o", str(target)]
        code, text = run_cli(args, monkeypatch, capsys)
        assert code == 2 and "already exists (pass --overwrite to replace it)" in text
        assert tree(tmp_path) == before
        code, text = run_cli([*args, "--overwrite"], monkeypatch, capsys)
        assert code == 0, text
        if target.suffix == ".zip":
            assert not target.is_symlink() and zipfile.is_zipfile(target)
        else:
            assert (target / "obj.names").is_file() and not (target / "keep.txt").exists()
    assert not (tmp_path / "nowhere").exists()  # the symlink was replaced, not followed
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("where", ["backup itself", "inside the backup folder", "current folder", "parent folder"])
def test_outputs_that_would_destroy_the_backup_or_the_working_folder_are_refused(
        where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "backup"
    with zipfile.ZipFile(SAMPLE) as source:
        source.extractall(folder)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    backup, target = {
        "backup itself": (SAMPLE, SAMPLE),
        "inside the backup folder": (folder, folder / "export"),
        "current folder": (SAMPLE, Path(".")),
        "parent folder": (SAMPLE, Path("..")),
    }[where]
    before = tree(tmp_path)
    digest = hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    code, text = run_cli(["export", "--task", str(backup), "--format", "YOLO 1.0", "-o", str(target), "--overwrite"],
                         monkeypatch, capsys)
    assert code == 2, text
    assert text.startswith("error: ") and "output" in text
    assert tree(tmp_path) == before
    assert hashlib.sha256(SAMPLE.read_bytes()).hexdigest() == digest


def test_a_name_the_format_cannot_write_stops_with_exit_2_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A label name with '/' is valid in CVAT, but PASCAL VOC writes label names as file names."""
    task, annotations = sample_json()
    task["labels"][1]["name"] = "per/son"
    for job in annotations:
        for obj in [*job["tags"], *job["shapes"], *job["tracks"]]:
            obj["label"] = "per/son" if obj["label"] == "person" else obj["label"]
    backup = write_zip(tmp_path / "b.zip", backup_with(task=task, annotations=annotations))
    out = tmp_path / "out"
    out.mkdir()
    code, text = run_cli(["export", "--task", str(backup), "--format", "PASCAL VOC 1.0", "-o", str(out / "voc.zip")],
                         monkeypatch, capsys)
    assert code == 2, text
    assert text.startswith("error: PASCAL VOC 1.0: cannot write 'ImageSets/Main/per/son_train.txt'"), text
    assert list(out.iterdir()) == []
    code, text = run_cli(["export", "--task", str(backup), "--format", "COCO 1.0", "-o", str(out / "coco.zip")],
                         monkeypatch, capsys)
    assert code == 0, text


def test_stale_work_folders_of_dead_exports_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    stale = tmp_path / ".out.zip.abc.tmp"
    live = tmp_path / ".out.zip.def.tmp"
    foreign = tmp_path / ".out.zip.ghi.tmp"  # no owner file: not ours, never touched
    for folder, owner in ((stale, dead.stdout.strip()), (live, str(os.getppid())), (foreign, None)):
        folder.mkdir()
        if owner is not None:
            (folder / archive.OWNER_FILE).write_text(owner)
    with archive.atomic_output(tmp_path / "out.zip", overwrite=False, timestamp=1.7e9) as content:
        content.write_text("a.txt", "a")
        (content.folder / "b.txt").write_text("b")
    assert not stale.exists() and live.exists() and foreign.exists()
    assert (tmp_path / "out.zip").is_file()
    with zipfile.ZipFile(tmp_path / "out.zip") as written:
        assert written.namelist() == ["a.txt", "b.txt"]


def test_atomic_output_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(CvatBridgeError, match="the output folder does not exist"):
        with archive.atomic_output(tmp_path / "no" / "out.zip", overwrite=False, timestamp=0.0):
            pass


# --- determinism ---------------------------------------------------------------------------------

DETERMINISM_SCRIPT = """
import hashlib, json, sys
from pathlib import Path
from cvat_bridge.errors import CvatBridgeError
from cvat_bridge.export import export
from cvat_bridge.formats.registry import load_formats
out, backup = Path(sys.argv[1]), sys.argv[2]
digests = {}
for spec in load_formats():
    if not spec.implemented:
        continue
    for job in (None, 1):
        for save_images in (False, True):
            name = f"{spec.name}-{job}-{save_images}.zip".replace(" ", "_")
            try:
                export(backup, spec.name, out / name, job=job, save_images=save_images)
            except CvatBridgeError as exc:  # a format that cannot hold the sample (VGGFace2)
                digests[name] = f"refused: {exc}"
                continue
            digests[name] = hashlib.sha256((out / name).read_bytes()).hexdigest()
print(json.dumps(digests))
"""


def _export_all(out: Path, seed: str) -> dict[str, str]:
    out.mkdir()
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000", "PYTHONHASHSEED": seed}
    result = subprocess.run([sys.executable, "-c", DETERMINISM_SCRIPT, str(out), str(SAMPLE)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_implemented_format_gives_byte_identical_archives(tmp_path: Path) -> None:
    """Two processes with different hash seeds (set and dict orders) and the same
    SOURCE_DATE_EPOCH: every implemented format, task and job export, with and without images."""
    first = _export_all(tmp_path / "first", "1")
    second = _export_all(tmp_path / "second", "2")
    implemented = {spec.name for spec in load_formats() if spec.implemented}
    assert {name.rsplit("-", 2)[0].replace("_", " ") for name in first} == implemented
    different = sorted(name for name in first if first[name] != second[name])
    assert not different, f"not byte-identical: {different}"
    assert sum(not digest.startswith("refused") for digest in first.values()) >= len(first) - 4


def test_source_date_epoch_fixes_the_zip_dates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    export(SAMPLE, "COCO 1.0", tmp_path / "a.zip")
    with zipfile.ZipFile(tmp_path / "a.zip") as result:
        assert {info.date_time for info in result.infolist()} == {(2023, 11, 14, 22, 13, 20)}
