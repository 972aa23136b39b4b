"""The Datumaro-free writers of ImageNet, LFW, Market-1501, VGGFace2, WIDER Face and ICDAR
Recognition/Localization against the Datumaro path they replace.

The expectation is always computed by the Datumaro path (``translate.TaskExtractor``, the
row's former tweaks and exporter, still installed), never by our writers: on the sample
backup and on seeded random tasks (tests/label_writer_tasks.py) with tags of many labels, the
attributes each format reads, skeletons, cuboids, tracks, sub-folders, names with spaces and
colons, a frame step, deleted frames, a subset, job exports, with and without images, and a
ranged video task. Parity with CVAT's own archives is tests/test_conformance.py's job.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cvat_bridge.backup import load_task
from cvat_bridge.errors import FormatError
from cvat_bridge.export import export_task
from cvat_bridge.formats.registry import FormatSpec, find_format
from cvat_bridge.model import Tag, Task
from tests.conftest import ROOT, SAMPLE
from tests.label_tasks import box, make_task, plain_label
from tests.label_writer_tasks import make_label_backup, make_label_video_backup
from tests.writer_checks import assert_same_bytes, make_video_module

# the rows these writers replaced (format_map.yaml keeps them in the notes)
DATUMARO_ROWS = {
    "ImageNet 1.0": FormatSpec("ImageNet 1.0", exporter="cvat_bridge.formats.label_exporters:CvatImagenetExporter",
                               status="done"),
    "LFW 1.0": FormatSpec("LFW 1.0", exporter="lfw", tweaks=["drop_skeletons"], status="done"),
    "Market-1501 1.0": FormatSpec("Market-1501 1.0", exporter="market1501", tweaks=["market1501_attributes"],
                                  status="done"),
    "VGGFace2 1.0": FormatSpec("VGGFace2 1.0", exporter="cvat_bridge.formats.label_exporters:CvatVggFace2Exporter",
                               options={"keep_first_box": False}, tweaks=["drop_skeletons"], status="done"),
    "WIDER Face 1.0": FormatSpec("WIDER Face 1.0", exporter="wider_face", status="done"),
    "ICDAR Recognition 1.0": FormatSpec("ICDAR Recognition 1.0", exporter="icdar_word_recognition",
                                        tweaks=["text_to_captions"], status="done"),
    "ICDAR Detection 1.0": FormatSpec("ICDAR Detection 1.0", exporter="icdar_text_localization", status="done"),
}
VARIANTS = {  # make_label_backup keyword arguments
    "plain": {"seed": 1, "names": "plain", "deleted": (4,)},
    "folders-step": {"seed": 2, "names": "folders", "step": 2, "subset": "Validation"},
    "people": {"seed": 3, "names": "people"},
    "spaces-colons": {"seed": 4, "names": "spaces"},
}


@pytest.fixture(autouse=True)
def _fixed_dates_and_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    logging.getLogger("datumaro").setLevel(logging.ERROR)


def compare(task: Task, format_name: str, tmp_path: Path, **kwargs: Any) -> dict[str, bytes]:
    """Export with our writer and with the former Datumaro row; the same files, byte for byte."""
    return assert_same_bytes(task, format_name, DATUMARO_ROWS[format_name], tmp_path, **kwargs)


@pytest.fixture(scope="module")
def label_backups(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("labels")
    backups = {name: make_label_backup(folder / f"{name}.zip", **options) for name, options in VARIANTS.items()}
    backups["faces"] = make_label_backup(folder / "faces.zip", seed=6, names="folders", faces=True)
    return backups


@pytest.mark.parametrize("format_name", [f for f in DATUMARO_ROWS if f != "VGGFace2 1.0"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_writer_matches_the_datumaro_path_on_random_tasks(format_name: str, variant: str, tmp_path: Path,
                                                          label_backups: dict[str, Path]) -> None:
    task = load_task(label_backups[variant])
    files = compare(task, format_name, tmp_path)
    assert any(data.strip() for data in files.values())
    compare(task, format_name, tmp_path, job=2)
    compare(task, format_name, tmp_path, save_images=True)


@pytest.mark.parametrize("variant", ["faces", *VARIANTS])
def test_vggface2_matches_the_datumaro_path(variant: str, tmp_path: Path, label_backups: dict[str, Path]) -> None:
    """One face per frame as it is; more only with keep_first_box (the random tasks have more)."""
    task = load_task(label_backups[variant])
    options = {} if variant == "faces" else {"options": {"keep_first_box": True}}
    compare(task, "VGGFace2 1.0", tmp_path, **options)
    compare(task, "VGGFace2 1.0", tmp_path, job=1, **options)
    compare(task, "VGGFace2 1.0", tmp_path, save_images=True, **options)


def test_vggface2_refuses_the_frames_the_datumaro_path_refused(tmp_path: Path,
                                                               label_backups: dict[str, Path]) -> None:
    task = load_task(label_backups["plain"])
    messages = []
    for spec in (find_format("VGGFace2 1.0"), DATUMARO_ROWS["VGGFace2 1.0"]):
        with pytest.raises(FormatError) as refused:
            export_task(task, spec, tmp_path / "out.zip")
        messages.append(str(refused.value))
        assert not (tmp_path / "out.zip").exists()
    assert messages[0] == messages[1]
    assert "keep_first_box" in messages[0] and "more" in messages[0]


@pytest.mark.parametrize("format_name", list(DATUMARO_ROWS))
@pytest.mark.parametrize("job", [None, 2])
def test_writer_matches_the_datumaro_path_on_the_sample(format_name: str, job: int | None, tmp_path: Path) -> None:
    task = load_task(SAMPLE)
    options = {"options": {"keep_first_box": True}} if format_name == "VGGFace2 1.0" else {}
    compare(task, format_name, tmp_path, job=job, **options)
    compare(task, format_name, tmp_path, job=job, save_images=True, **options)


@pytest.mark.parametrize("format_name", list(DATUMARO_ROWS))
def test_empty_exports_match_the_datumaro_path(format_name: str, tmp_path: Path) -> None:
    """No frame left (``only_annotated`` on a task without annotations): what Datumaro wrote for
    a dataset without items differs by format (some files, or nothing)."""
    compare(make_task([plain_label("car")]), format_name, tmp_path, only_annotated=True)


@pytest.fixture(scope="module")
def video_task(tmp_path_factory: pytest.TempPathFactory) -> Task:
    pytest.importorskip("av", reason="PyAV (the 'video' extra) is needed to make and read video backups")
    return load_task(make_label_video_backup(tmp_path_factory.mktemp("video") / "video.zip", make_video_module()))


@pytest.mark.parametrize("format_name", list(DATUMARO_ROWS))
def test_writer_matches_the_datumaro_path_on_a_ranged_video(format_name: str, tmp_path: Path,
                                                            video_task: Task) -> None:
    options = {"options": {"keep_first_box": True}} if format_name == "VGGFace2 1.0" else {}
    files = compare(video_task, format_name, tmp_path, save_images=True, **options)
    assert any(name.endswith("frame_000003.PNG") for name in files)  # absolute frame names, step 2
    compare(video_task, format_name, tmp_path, **options)


def test_lfw_names_that_start_with_the_label_but_no_number_are_refused(tmp_path: Path) -> None:
    """Datumaro crashed (``int('_0')``); we stop with a message naming the frame (exit code 2)."""
    task = make_task([plain_label("im")], tags=[Tag("im", 0)])  # item img_0 starts with "im"
    with pytest.raises(ValueError):
        export_task(task, DATUMARO_ROWS["LFW 1.0"], tmp_path / "dm.zip")
    with pytest.raises(FormatError, match=r"LFW 1.0: frame 0 \(img_0\)"):
        export_task(task, find_format("LFW 1.0"), tmp_path / "ours.zip")


def test_market1501_query_that_is_no_boolean_is_refused(tmp_path: Path) -> None:
    from cvat_bridge.model import AttributeSpec

    label = plain_label("market-1501", AttributeSpec("query", "text", default_value="maybe"))
    task = make_task([label], tags=[Tag("market-1501", 1)])
    with pytest.raises(ValueError):
        export_task(task, DATUMARO_ROWS["Market-1501 1.0"], tmp_path / "dm.zip")
    with pytest.raises(FormatError, match=r"frame 1 \(img_1\).*'query' is 'maybe'"):
        export_task(task, find_format("Market-1501 1.0"), tmp_path / "ours.zip")


def test_wider_face_types_the_attributes_it_writes(tmp_path: Path) -> None:
    """Numbers as floats, checkboxes as booleans, ``occluded`` from the shape even when the label
    defines an attribute of that name; a label called ``face`` is not written."""
    from cvat_bridge.model import AttributeSpec

    face = plain_label("face", AttributeSpec("blur", "number", default_value="2"),
                       AttributeSpec("invalid", "checkbox", default_value="TRUE"),
                       AttributeSpec("occluded", "checkbox", default_value="true"))
    task = make_task([face, plain_label("car")],
                     shapes=[box("face", 0, 1.005, 2, 11.333, 22), box("car", 0, 1, 1, 3, 3)])
    files = compare(task, "WIDER Face 1.0", tmp_path)
    text = files["wider_face_split/wider_face_default_bbx_gt.txt"].decode()
    assert "2.0 - - False - True \n" in text and "- - - False - - car\n" in text


def test_these_formats_do_not_import_datumaro(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from cvat_bridge.export import export\n"
        f"for name in {list(DATUMARO_ROWS)!r}:\n"
        f"    export({str(SAMPLE)!r}, name, {str(tmp_path)!r} + '/' + name[:8] + '.zip',\n"
        "           options={'keep_first_box': True} if name.startswith('VGG') else None)\n"
        "print('datumaro' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "False", result.stderr
