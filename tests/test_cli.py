"""The command line: formats, inspect, export; errors are one line with exit code 2."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from cvat_bridge.cli import main
from cvat_bridge.formats.registry import find_format, load_formats
from tests.conftest import ROOT, SAMPLE


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


# --- argparse front end: usage errors, help, start-up cost ------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    (["export"], "missing options --task/-t, --format/-f, --output/-o"),
    (["export", "-t", "b.zip", "-f", "coco"], "missing option --output/-o"),
    (["export", "-t", "b.zip", "-f", "coco", "-o", "o.zip", "--job", "0"], "0 is not a job number"),
    (["export", "-t", "b.zip", "-f", "coco", "-o", "o.zip", "-j", "two"], "'two' is not a whole number"),
    (["export", "-t", "b.zip", "-f", "coco", "-o", "o.zip", "--image-format", "gif"], "invalid choice: 'gif'"),
    (["export", "-t", "b.zip", "-f", "coco", "-o", "o.zip", "--over"], "No such option: --over"),  # no prefixes
    (["export", "-t", "b.zip", "-f", "coco", "-o", "o.zip", "stray"], "unexpected argument(s): stray"),
    (["inspect"], "required: task"),
    (["bogus"], "invalid choice: 'bogus'"),
])
def test_usage_errors_are_one_error_line_pointing_to_help(args: list[str], message: str,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(args, monkeypatch, capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert "--help" in err


def test_no_arguments_show_the_help_and_exit_2(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([], monkeypatch, capsys)
    assert code == 2
    assert "export" in out and "formats" in out and "inspect" in out and "--format" in out  # the example


def test_version(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import cvat_bridge

    code, out, _ = run(["--version"], monkeypatch, capsys)
    assert code == 0 and out.strip() == f"cvat-bridge {cvat_bridge.__version__}"


def test_export_help_lists_every_option_and_the_examples(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["export", "--help"], monkeypatch, capsys)
    assert code == 0
    for flag in ("-t TASK, --task", "-f FORMAT, --format", "-o OUTPUT, --output", "-j N, --job N", "--save-images",
                 "--image-format {png,jpg}", "--only-annotated", "--overwrite", "--lenient", "--server-url URL",
                 "-q, --quiet"):
        assert flag in out, flag
    assert 'cvat-bridge export --task backup.zip --format "COCO 1.0" -o coco.zip' in out
    assert "--image-format jpg" in out


class FakeExport:
    """Stands in for ``export_task``: records its keyword arguments, then does ``then``."""

    def __init__(self, then: Callable[[], None] = lambda: None) -> None:
        self.calls: list[dict[str, object]] = []
        self.then = then

    def __call__(self, task: object, spec: object, output: object, **options: object) -> Path:
        self.calls.append(options)
        self.then()
        return Path(str(output))


@pytest.fixture
def fake_export(monkeypatch: pytest.MonkeyPatch) -> FakeExport:
    import importlib

    fake = FakeExport()  # the submodule: the package attribute ``cvat_bridge.export`` is the function
    monkeypatch.setattr(importlib.import_module("cvat_bridge.export"), "export_task", fake)
    return fake


def test_options_reach_the_export(fake_export: FakeExport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(["export", "-t", str(SAMPLE), "-f", "COCO", "-o", str(tmp_path / "o.zip"), "-j", "2",
                      "--save-images", "--image-format", "JPG", "--only-annotated", "--overwrite",
                      "--server-url", "http://cvat", "-q"], monkeypatch, capsys)
    assert code == 0
    assert fake_export.calls == [dict(job=2, save_images=True, overwrite=True, server_url="http://cvat",
                                      image_format="jpg", only_annotated=True)]


@pytest.mark.parametrize(("terminal", "quiet", "bar"), [(True, False, True), (True, True, False),
                                                          (False, False, False)])
def test_progress_bar_only_on_a_terminal_and_without_quiet(terminal: bool, quiet: bool, bar: bool,
                                                           fake_export: FakeExport, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    monkeypatch.setenv("NO_COLOR", "1")
    args = ["export", "-t", str(SAMPLE), "-f", "COCO", "-o", str(tmp_path / "o.zip")] + (["-q"] if quiet else [])
    code, _, err = run(args, monkeypatch, capsys)
    assert code == 0
    assert ("progress" in fake_export.calls[0]) == bar
    assert ("wrote" in err) == (not quiet)


def test_library_warnings_are_one_warning_line_each(fake_export: FakeExport, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    fake_export.then = lambda: logging.getLogger("cvat_bridge.formats.x").warning("generated %d ids", 3)
    for _ in range(2):  # a second run in the same process does not double the lines
        code, _, err = run(["export", "-t", str(SAMPLE), "-f", "COCO", "-o", str(tmp_path / "o.zip"), "-q"],
                           monkeypatch, capsys)
        assert code == 0 and err == "warning: generated 3 ids\n"


@pytest.mark.parametrize(("raised", "code", "line"), [(KeyboardInterrupt, 130, "interrupted"),
                                                      (ValueError, 1, "internal error: ValueError")])
def test_interrupts_and_crashes_have_their_exit_codes(raised: type[BaseException], code: int, line: str,
                                                      fake_export: FakeExport, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    def crash() -> None:
        raise raised

    fake_export.then = crash
    got, _, err = run(["export", "-t", str(SAMPLE), "-f", "COCO", "-o", str(tmp_path / "o.zip"), "-q"],
                      monkeypatch, capsys)
    assert got == code and err.startswith(line) and "Traceback" not in err


HEAVY = ("typer", "click", "pydantic", "rich", "datumaro", "numpy", "yaml", "cv2", "PIL")

IMPORTS_AFTER = """
import sys
sys.argv = ["cvat-bridge", *sys.argv[1:]]
try:
    from cvat_bridge.cli import main
    main()
except SystemExit:
    pass
print("imported:", *sorted(name for name in sys.modules if name.split(".")[0] in {heavy!r}))
"""


def _heavy_imports(*args: str) -> set[str]:
    """The heavy top-level packages a fresh process has imported after ``cvat-bridge ARGS``."""
    result = subprocess.run([sys.executable, "-c", IMPORTS_AFTER.format(heavy=set(HEAVY)), *args],
                            capture_output=True, text=True, check=True, cwd=ROOT)
    return {name.split(".")[0] for name in result.stdout.rsplit("imported:", 1)[1].split()}


def test_importing_the_package_is_cheap() -> None:
    result = subprocess.run([sys.executable, "-c", "import sys, cvat_bridge; "
                             "print(' '.join(sorted(m for m in sys.modules if m.startswith(('cvat_bridge', "
                             + ", ".join(repr(h) for h in HEAVY) + ")))))"],
                            capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.split() == ["cvat_bridge"]


def test_help_and_a_quiet_export_import_no_cli_framework(tmp_path: Path) -> None:
    assert _heavy_imports("--help") == set()
    assert _heavy_imports("export", "--task", str(tmp_path / "missing.zip"), "-f", "COCO", "-o", "x.zip") == set()
    used = _heavy_imports("export", "--task", str(SAMPLE), "-f", "CVAT for images 1.1", "-o",
                          str(tmp_path / "o.zip"), "-q")
    assert (tmp_path / "o.zip").is_file()
    assert not used & {"typer", "click", "pydantic", "rich"}, used


def test_the_progress_bar_follows_a_datumaro_export_split_by_subset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Datumaro's VOC exporter splits its progress reporter (one part per subset): the bar, shown
    whenever stderr is a terminal, used to crash every such export with NotImplementedError."""
    from cvat_bridge.backup import load_task
    from cvat_bridge.export import export_task

    # the Datumaro row PASCAL VOC had before its own writer (the plugin stays for Datumaro users)
    spec = dataclasses.replace(find_format("PASCAL VOC 1.0"), writer=None, tweaks=["ellipses_to_masks"],
                               exporter="cvat_bridge.formats.voc:CvatVocExporter")
    reports: list[tuple[int, int]] = []
    export_task(load_task(SAMPLE), spec, tmp_path / "voc.zip",
                progress=lambda done, total: reports.append((done, total)))
    assert reports and reports[-1][0] == reports[-1][1] > 0
    assert all(done <= total for done, total in reports)
    datumaro_row = next(f for f in load_formats() if f.exporter and not f.writer)  # the Ultralytics family
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, _, err = run(["export", "-t", str(SAMPLE), "-f", datumaro_row.name, "-o", str(tmp_path / "cli.zip")],
                       monkeypatch, capsys)
    assert code == 0 and "internal error" not in err and zipfile.is_zipfile(tmp_path / "cli.zip")
