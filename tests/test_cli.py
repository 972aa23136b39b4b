"""The command line: formats, inspect, export; errors are one line with exit code 2."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cvat_bridge.cli import main
from cvat_bridge.formats.registry import find_format, load_formats
from tests.conftest import SAMPLE


def run(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["cvat-bridge", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
        sys.exit(0)
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


def test_format_table_has_all_29_formats_with_their_cvat_names() -> None:
    formats = load_formats()
    assert len(formats) == 29
    assert len({f.name for f in formats}) == 29
    assert find_format("pascal voc 1.1").name == "PASCAL VOC 1.0"
    assert find_format("MOT 1.1").name == "MOT 1.0"
    assert find_format("mot").name == "MOT 1.0"
    assert find_format("Segmentation_mask_1.1").name == "Segmentation Mask 1.0"


def test_formats_command_lists_every_format(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["formats"], monkeypatch, capsys)
    assert code == 0
    for spec in load_formats():
        assert spec.name.split()[0] in out


def test_inspect_shows_jobs_and_counts(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["inspect", str(SAMPLE)], monkeypatch, capsys)
    assert code == 0
    assert "0-4" in out and "3-7" in out and "fish" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "no such format"], "unknown format"),
    (["--format", "COCO", "--job", "9"], "job 9 does not exist"),
])
def test_bad_usage_is_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.zip"
    code, _, err = run(["export", "--task", str(SAMPLE), "-o", str(out), *args], monkeypatch, capsys)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert not out.exists()


def test_missing_backup_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["export", "--task", str(tmp_path / "nope.zip"), "--format", "COCO 1.0",
                        "-o", str(tmp_path / "o.zip")], monkeypatch, capsys)
    assert code == 2 and "no such file" in err


def test_export_to_zip_and_to_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(["export", "--task", str(SAMPLE), "--format", "cvat for images", "-o",
                      str(tmp_path / "a.zip"), "-q"], monkeypatch, capsys)
    assert code == 0
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        assert archive.namelist() == ["annotations.xml"]
    code, _, _ = run(["export", "--task", str(SAMPLE), "--format", "YOLO 1.1", "-o", str(tmp_path / "yolo"),
                      "-q", "--job", "2"], monkeypatch, capsys)
    assert code == 0
    assert (tmp_path / "yolo" / "obj.names").is_file()
    assert not list(tmp_path.glob(".*tmp"))  # no work folders left beside the output


def test_existing_output_needs_overwrite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "a.zip"
    out.write_bytes(b"keep me")
    args = ["export", "--task", str(SAMPLE), "--format", "MOT 1.1", "-o", str(out), "-q"]
    code, _, err = run(args, monkeypatch, capsys)
    assert code == 2 and "--overwrite" in err and out.read_bytes() == b"keep me"
    code, _, _ = run([*args, "--overwrite"], monkeypatch, capsys)
    assert code == 0 and zipfile.is_zipfile(out)


def test_help_shows_examples() -> None:
    result = subprocess.run([sys.executable, "-m", "cvat_bridge.cli", "export", "--help"],
                            capture_output=True, text=True, check=True)
    assert "cvat-bridge export --task backup.zip" in result.stdout


def test_usage_errors_are_exit_2_without_traceback(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["export", "--bogus"], monkeypatch, capsys)
    assert code == 2
    assert "No such option" in err and "Traceback" not in err
