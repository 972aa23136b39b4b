"""Bad input never crashes, never writes anything, and ends in one sentence that names the problem.

Every case of tests/corpus.py (malformed and hostile backups made from the sample, one mutation
each) runs through the command line in-process: exit code 2 and one ``error:`` line naming the
problem, nothing written anywhere; with ``--lenient`` the cases whose bad object can be skipped
export the rest (exit 0, one skipped object reported), the others still stop with exit code 2.
A hypothesis test mutates valid backups at random and checks the same promises.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cvat_bridge import validate
from cvat_bridge.backup import load_task
from cvat_bridge.cli import main
from cvat_bridge.errors import BackupError
from cvat_bridge.export import export
from cvat_bridge.formats.registry import load_formats
from tests.builders import json_paths
from tests.conftest import REFERENCE, SAMPLE
from tests.corpus import Case, all_cases, backup_with, sample_json, write_zip

CASES = all_cases()
FORMAT = "YOLO 1.0"  # a Datumaro exporter that writes item ids (frame names) as paths


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``cvat-bridge ARGS`` in this process: (exit code, stdout + stderr)."""
    monkeypatch.setattr(sys, "argv", ["cvat-bridge", *args])
    previous = signal.getsignal(signal.SIGTERM)
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def tree(root: Path) -> dict[str, int]:
    """Every path below ``root`` (files with their size, folders and links as -1)."""
    return {p.relative_to(root).as_posix(): (p.stat().st_size if p.is_file() and not p.is_symlink() else -1)
            for p in sorted(root.rglob("*"))}


def assert_one_clear_error(text: str, *fragments: str) -> None:
    assert "Traceback" not in text and "internal error" not in text, text
    lines = text.strip().split("\n")
    assert len(lines) == 1 and lines[0].startswith("error: "), text
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(input folder, output path): the output sits deep enough that a path escaping the output
    by a few ``..`` would still land inside ``tmp_path``, where ``tree`` sees it."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    out_parent = tmp_path / "a" / "b" / "c" / "d" / "out"
    out_parent.mkdir(parents=True)
    yield inputs, out_parent / "export.zip"


def _apply_limits(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in case.limits.items():
        module, name = key.split(".")
        monkeypatch.setattr(f"cvat_bridge.{module}.{name}", value)


def test_the_corpus_is_large_and_covers_every_kind_of_problem() -> None:
    assert len(CASES) >= 60
    assert sum(case.skippable for case in CASES) >= 30
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_backup_stops_cleanly_and_lenient_skips_only_what_it_can(
        case: Case, sandbox: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    inputs, target = sandbox
    _apply_limits(case, monkeypatch)
    backup = case.build(inputs)
    before = tree(tmp_path)
    args = ["export", "--task", str(backup), "--format", FORMAT, "--output", str(target)]

    code, text = run_cli(args, monkeypatch, capsys)
    assert code == 2, text
    assert_one_clear_error(text, *case.expect)
    assert tree(tmp_path) == before, "a failed export wrote something"

    code, text = run_cli([*args, "--lenient"], monkeypatch, capsys)
    assert "Traceback" not in text and "internal error" not in text, text
    if not case.skippable:
        assert code == 2, text
        assert_one_clear_error(text, *case.expect)
        assert tree(tmp_path) == before
        return
    assert code == 0, text
    assert re.search(r"warning: skipped 1 object \(1 [\w ]+\)", text), text
    assert case.expect[-1] in text  # the skipped object is listed with its problem
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None and archive.namelist()
    written = set(tree(tmp_path)) - set(before)
    assert written == {target.relative_to(tmp_path).as_posix()}, written


def test_lenient_leaves_out_exactly_the_bad_object(tmp_path: Path) -> None:
    _, annotations = sample_json()
    annotations[0]["shapes"][0]["label"] = "ghost"  # the box on frame 0
    annotations[1]["tracks"][0]["shapes"][1]["points"] = [25.0, float("nan"), 35.0, 20.0]
    backup = write_zip(tmp_path / "b.zip", backup_with(annotations=annotations))
    message = r"shape #1 \(rectangle 'ghost'\): unknown label 'ghost' \(and 1 more bad object\); --lenient"
    with pytest.raises(BackupError, match=message):
        load_task(backup)
    task = load_task(backup, lenient=True)
    assert [(p.job, p.obj, p.kind) for p in task.skipped] == [
        (1, "shape #1 (rectangle 'ghost')", "unknown label"),
        (2, "track #1 ('car'), keyframe on frame 5", "bad coordinates")]
    assert validate.summarize(task.skipped) == "2 objects (1 bad coordinates, 1 unknown label)"
    good = load_task(SAMPLE)
    assert len(task.job_annotations[0].shapes) == len(good.job_annotations[0].shapes) - 1
    assert task.job_annotations[0].shapes == good.job_annotations[0].shapes[1:]
    assert task.job_annotations[1].tracks == [] and len(good.job_annotations[1].tracks) == 1
    assert task.job_annotations[0].tracks == good.job_annotations[0].tracks

    out = export(backup, "CVAT for images 1.1", tmp_path / "lenient.zip", lenient=True)
    with zipfile.ZipFile(out) as archive:
        xml = archive.read("annotations.xml").decode()
    assert 'label="ghost"' not in xml and "<box" in xml


def test_text_that_no_export_can_hold() -> None:
    """Lone surrogates (orjson already refuses them while parsing) and XML-illegal characters."""
    for bad in ("\ud800", "a\x00", "\x0b", "\ufffe"):
        assert validate.text_problem(bad)
    for good in ("", "plain", "tab\tnew\nline\r", "émoji 🐟", "\x7f"):
        assert validate.text_problem(good) is None


def test_every_real_reference_backup_passes_validation() -> None:
    """The checks must accept what CVAT writes: every backup of the reference set loads."""
    backups = sorted(REFERENCE.glob("**/backup.zip")) if REFERENCE.exists() else []
    if not backups:
        pytest.skip(f"CVAT reference data not available ({REFERENCE} is absent)")
    for backup in backups:
        if backup.parent.name in ("large", "overlap32"):
            continue  # large tasks: the conformance tests load them
        assert load_task(backup).skipped == []


# --- random mutations (hypothesis) -----------------------------------------------------------------

HOSTILE_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.sampled_from([-1, 0, 1, 7, 8, 10**12]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["", "x", "../../../../x", "[/]", "\x00", "nan"]),
    st.text(max_size=8), st.just([]), st.just({}), st.lists(st.integers(-5, 70), max_size=7),
    st.lists(st.floats(allow_nan=True), max_size=5), st.just({"name": "x", "value": "y"}),
)


def _mutate(doc: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "duplicate" and isinstance(parent, list):
        parent.insert(last, json.loads(json.dumps(parent[last])))
    else:
        parent[last] = value
    return doc


@st.composite
def mutated_backups(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    task, annotations = sample_json()
    which = draw(st.sampled_from(["task.json", "annotations.json", "annotations.json"]))
    doc = task if which == "task.json" else annotations
    paths = json_paths(doc)
    path = draw(st.sampled_from(paths))
    action = draw(st.sampled_from(["replace", "replace", "delete", "duplicate"]))
    value = draw(HOSTILE_VALUES)
    doc = _mutate(doc, path, action, value)
    description = f"{which} {action} {'.'.join(map(str, path))} {value!r}"[:200]
    return description, {"task.json": doc if which == "task.json" else task,
                         "annotations.json": doc if which == "annotations.json" else annotations}


def _dump(doc: Any) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


FUZZ_EXAMPLES = int(os.environ.get("CVAT_BRIDGE_FUZZ_EXAMPLES", "0"))  # > 0: a longer, random search
DONE_FORMATS = sorted(spec.name for spec in load_formats() if spec.implemented)


@settings(max_examples=FUZZ_EXAMPLES or 60, deadline=None, derandomize=not FUZZ_EXAMPLES,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutation=mutated_backups(), lenient=st.booleans(), format_name=st.sampled_from(DONE_FORMATS))
def test_random_mutations_end_in_exit_0_or_2_and_leave_nothing_behind(
        mutation: tuple[str, dict[str, Any]], lenient: bool, format_name: str, tmp_path_factory: pytest.TempPathFactory,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    description, docs = mutation
    root = tmp_path_factory.mktemp("mutation")
    backup = write_zip(root / "b.zip", backup_with(files={name: _dump(doc) for name, doc in docs.items()}))
    out_parent = root / "a" / "b" / "c" / "out"
    out_parent.mkdir(parents=True)
    target = out_parent / "export.zip"
    before = tree(root)
    code, text = run_cli(["export", "--task", str(backup), "--format", format_name, "-o", str(target)]
                         + (["--lenient"] if lenient else []), monkeypatch, capsys)
    assert code in (0, 2), f"{description}: {text}"
    assert "Traceback" not in text and "internal error" not in text, f"{description}: {text}"
    written = set(tree(root)) - set(before)
    if code == 2:  # one error line, last (after the list of skipped objects with --lenient)
        lines = text.strip().split("\n")
        errors = [line for line in lines if line.startswith("error: ")]
        assert len(errors) == 1 and lines[-1] == errors[0], f"{description}: {text}"
        assert written == set(), f"{description}: {written}"
    else:
        assert written == {target.relative_to(root).as_posix()}, f"{description}: {written}"
        with zipfile.ZipFile(target) as archive:
            assert archive.testzip() is None


def test_skeleton_svg_is_read_without_entities_and_in_linear_time() -> None:
    from cvat_bridge.model import Label
    from cvat_bridge.translate import skeleton_layout

    sublabels = [Label("a", parent="s"), Label("b", parent="s")]
    hostile = ('<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd"><!ENTITY y "&x;&x;">]>'
               '<circle data-node-id="1" data-label-name="&y;"></circle>'
               '<circle data-node-id="2" data-label-name="b"></circle><line data-node-from="1" data-node-to="2">')
    assert skeleton_layout(Label("s", type="skeleton", svg=hostile, sublabels=sublabels)) == (["&y;", "b"], [(1, 2)])
    for svg in ("<circle " * 100_000, "<circle " + "a" * 300_000 + ">", '<line a="' * 100_000):
        started = time.perf_counter()
        skeleton_layout(Label("s", type="skeleton", svg=svg, sublabels=sublabels))
        assert time.perf_counter() - started < 1.0


@settings(max_examples=FUZZ_EXAMPLES or 40, deadline=None, derandomize=not FUZZ_EXAMPLES,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=6),
       cut=st.one_of(st.none(), st.floats(0, 1)))
def test_random_byte_damage_to_the_archive_ends_in_exit_0_or_2(
        flips: list[tuple[float, int]], cut: float | None, tmp_path_factory: pytest.TempPathFactory,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    data = bytearray(SAMPLE.read_bytes())
    for where, mask in flips:
        data[int(where * len(data))] ^= mask
    if cut is not None:
        del data[int(cut * len(data)):]
    root = tmp_path_factory.mktemp("damage")
    (root / "b.zip").write_bytes(bytes(data))
    before = tree(root)
    code, text = run_cli(["export", "--task", str(root / "b.zip"), "--format", "CVAT for images 1.1",
                          "-o", str(root / "out.zip")], monkeypatch, capsys)
    assert code in (0, 2), text
    assert "Traceback" not in text and "internal error" not in text, text
    if code == 2:
        assert_one_clear_error(text)
        assert tree(root) == before
