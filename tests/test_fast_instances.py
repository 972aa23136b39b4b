"""The Datumaro-free writers of KITTI 1.0, MOTS PNG 1.0, ICDAR Segmentation 1.0, Open Images 1.0
and LabelMe 3.0 against the Datumaro path they replace.

The expectation always comes from the Datumaro path (``translate.TaskExtractor``, the rows'
former tweaks and exporters, still installed), never from our writers: on the sample backup, on
seeded random tasks (tests/fast_writer_tasks.py: groups mixing boxes, polygons, masks and
ellipses, rotated boxes, shapes past the edges, tracks, equal z_orders, attributes named like the
ones the exporters read), a video task with a frame step and a deleted frame, nested image
folders, and hand-made tasks for the corners (label colours for KITTI's background, ICDAR
attributes). Archives are compared with the shared export_diff (images as pixels and mode).
"""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cvat_bridge.backup import load_task
from cvat_bridge.errors import FormatError
from cvat_bridge.export import export_task
from cvat_bridge.formats.fast_icdar_seg import encode_bmp, mask_box, voc_colours
from cvat_bridge.formats.fast_kitti import colour_label_map
from cvat_bridge.formats.png import encode_png
from cvat_bridge.formats.registry import FormatSpec, find_format
from cvat_bridge.model import AttributeSpec, Label, Shape, Task, Track
from tests.conftest import ROOT, SAMPLE
from tests.fast_writer_tasks import make_stress_backup
from tests.label_tasks import box, make_task
from tests.writer_checks import assert_scores_one, stress_video_task

Image = pytest.importorskip("PIL.Image", reason="Pillow decodes the images")

CHAIN = ["ellipses_to_masks", "rotated_boxes_to_polygons", "polygons_to_masks", "boxes_to_masks",
         "merge_instance_segments"]
WITHOUT_BOXES = [t for t in CHAIN if t != "boxes_to_masks"]
# the rows these writers replaced (format_map.yaml keeps them in the notes)
DATUMARO_ROWS = {
    "KITTI 1.0": FormatSpec("KITTI 1.0", exporter="cvat_bridge.formats.mask_exporters:CvatKittiExporter",
                            options={"apply_colormap": True}, tweaks=[*WITHOUT_BOXES, "colormap_label_map"],
                            status="done"),
    "MOTS PNG 1.0": FormatSpec("MOTS PNG 1.0", exporter="cvat_bridge.formats.mask_exporters:CvatMotsPngExporter",
                               tweaks=["ellipses_to_masks", "keep_tracks", *CHAIN[1:]], status="done"),
    "ICDAR Segmentation 1.0": FormatSpec("ICDAR Segmentation 1.0", exporter="icdar_text_segmentation",
                                         tweaks=[*CHAIN, "icdar_segmentation_attributes"], status="done"),
    "Open Images 1.0": FormatSpec("Open Images 1.0", exporter="open_images", tweaks=WITHOUT_BOXES, status="done"),
    "LabelMe 3.0": FormatSpec("LabelMe 3.0", exporter="cvat_bridge.formats.mask_exporters:CvatLabelMeExporter",
                              tweaks=["ellipses_to_masks"], status="done"),
}
STRESS = [  # seed, image size, frame names
    (1, (96, 64), "plain"), (2, (640, 480), "numeric"), (3, (37, 23), "folders"), (4, (300, 200), "plain"),
]


def assert_same_export(task: Task, format_name: str, tmp_path: Path, **options: Any) -> dict[str, Any]:
    """Export through our writer and through the Datumaro row; the archives must score 1.000."""
    return assert_scores_one(task, format_name, DATUMARO_ROWS[format_name], tmp_path, **options)


def without_outer_ellipses(backup: Path, target: Path) -> Path:
    """The backup without ellipses centred outside the image and masks without pixels: LabelMe
    cannot write an empty mask (Datumaro's ``find_mask_bbox`` fails on one, and so does CVAT)."""
    with zipfile.ZipFile(backup) as src:
        files = {name: src.read(name) for name in src.namelist()}
    frame_size = Image.open(io.BytesIO(next(v for k, v in files.items() if k.startswith("data/")))).size
    width, height = frame_size
    annotations = json.loads(files["annotations.json"])

    def inside(shape: dict[str, Any]) -> bool:
        if shape["type"] == "mask":
            return any(shape["points"][:-4][1::2])  # runs alternate 0s and 1s, 0s first
        cx, cy = shape["points"][:2]
        return shape["type"] != "ellipse" or (2 <= cx <= width - 3 and 2 <= cy <= height - 3)

    for job in annotations:
        job["shapes"] = [s for s in job["shapes"] if inside(s)]
        for track in job["tracks"]:
            if not all(inside(s) for s in track["shapes"]):
                track["shapes"] = []
        job["tracks"] = [t for t in job["tracks"] if t["shapes"]]
    files["annotations.json"] = json.dumps(annotations).encode()
    with zipfile.ZipFile(target, "w") as dst:
        for name, data in files.items():
            dst.writestr(name, data)
    return target


@pytest.fixture(scope="module")
def stress_tasks(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, bool], Task]:
    """(seed, for LabelMe) → task; the LabelMe variant has no ellipse centred outside the image."""
    folder = tmp_path_factory.mktemp("instances")
    tasks = {}
    for seed, (width, height), names in STRESS:
        backup = make_stress_backup(folder / f"s{seed}.zip", seed=seed, frames=8, width=width, height=height,
                                    names=names)
        tasks[(seed, False)] = load_task(backup)
        tasks[(seed, True)] = load_task(without_outer_ellipses(backup, folder / f"s{seed}_lm.zip"))
    return tasks


@pytest.mark.parametrize("format_name", list(DATUMARO_ROWS))
@pytest.mark.parametrize("seed", [s for s, _, _ in STRESS])
def test_writer_matches_the_datumaro_path_on_random_tasks(format_name: str, seed: int, tmp_path: Path,
                                                          stress_tasks: dict[tuple[int, bool], Task],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    task = stress_tasks[(seed, format_name == "LabelMe 3.0")]
    report = assert_same_export(task, format_name, tmp_path, save_images=seed == 3)
    assert len(report["files"]) > 8


@pytest.mark.parametrize("format_name", list(DATUMARO_ROWS))
@pytest.mark.parametrize("job", [None, 2])
def test_writer_matches_the_datumaro_path_on_the_sample(format_name: str, job: int | None, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert_same_export(load_task(SAMPLE), format_name, tmp_path, job=job, save_images=job is None)


@pytest.fixture(scope="module")
def video_task(tmp_path_factory: pytest.TempPathFactory) -> Task:
    """A video task (every 2nd frame of a 15-frame clip, relative frame 3 deleted) annotated with
    the random objects of a stress task of the same size."""
    pytest.importorskip("av", reason="PyAV encodes the clip")
    return stress_video_task(tmp_path_factory.mktemp("video"))


@pytest.mark.parametrize("format_name", [f for f in DATUMARO_ROWS if f != "LabelMe 3.0"])
def test_writer_matches_the_datumaro_path_on_a_video_task(format_name: str, tmp_path: Path, video_task: Task,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert_same_export(video_task, format_name, tmp_path)


def test_labelme_matches_the_datumaro_path_on_a_video_task(tmp_path: Path, video_task: Task,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    task = dataclasses.replace(video_task)
    task.job_annotations = [dataclasses.replace(
        a, shapes=[s for s in a.shapes if s.type != "ellipse"],
        tracks=[t for t in a.tracks if t.shapes[0].type != "ellipse"]) for a in video_task.job_annotations]
    assert_same_export(task, "LabelMe 3.0", tmp_path)


def test_labelme_refuses_a_mask_without_pixels_like_datumaro(tmp_path: Path) -> None:
    """An ellipse wholly outside the image: Datumaro (and CVAT) fail with an IndexError; we say why."""
    task = make_task([Label("car", color="#ff0000")], shapes=[Shape("ellipse", 0, [-9.0, -9.0, -7.0, -11.0],
                                                                     label="car")], frames=1)
    with pytest.raises(IndexError):
        export_task(task, DATUMARO_ROWS["LabelMe 3.0"], tmp_path / "dm.zip")
    with pytest.raises(FormatError, match="without pixels"):
        export_task(task, find_format("LabelMe 3.0"), tmp_path / "ours.zip")


def test_labelme_text_escaping_matches_the_datumaro_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    text = AttributeSpec("note", "text")
    number_text = AttributeSpec("code", "text")
    task = make_task([Label("a&b <c>", color="#ff0000", attributes=[text, number_text])], shapes=[
        box("a&b <c>", 0, 1, 1, 20, 20, attributes={"note": 'x=1, "y" \\ z & <w>\r', "code": "12"}),
        box("a&b <c>", 0, 30, 1, 40, 20, attributes={"note": "plain", "code": "1.50"}, group=2),
        Shape("polygon", 0, [5.0, 25.0, 25.0, 25.0, 15.0, 45.0], label="a&b <c>", group=2,
              attributes={"note": "nan", "code": "1e3"}),
        Shape("mask", 0, [0.0, 12.0, 50.0, 30.0, 53.0, 32.0], label="a&b <c>", group=2,
              attributes={"note": "", "code": "7.0"}),
    ])
    assert_same_export(task, "LabelMe 3.0", tmp_path)


def colour_task(labels: list[Label]) -> Task:
    """Two frames whose masks of every label overlap in z_order, and a box per label."""
    shapes = []
    for i, label in enumerate(labels):
        shapes.append(Shape("polygon", 0, [5.0 + 8 * i, 5.0, 40.0 + 8 * i, 5.0, 20.0 + 8 * i, 40.0],
                            label=label.name, z_order=i % 2))
        shapes.append(box(label.name, 1, 2 + 10 * i, 2, 30 + 10 * i, 30, attributes={}))
    return make_task(labels, shapes=shapes, frames=2)


@pytest.mark.parametrize("labels", [
    [Label("car", color="#000000"), Label("Bus", color="#ff0000")],  # a black label: the background
    [Label("zebra", color="#000000"), Label("background", color="#00ff00"), Label("Car", color="#0000ff")],
    [Label("background", color="#00ff00"), Label("Ant", color="#123456")],  # a coloured background label
    [Label("Ant", color="#000000"), Label("Bee", color="#000000"), Label("cat", color="")],
], ids=["black-label", "black-and-background", "coloured-background", "two-black"])
def test_kitti_background_rules_match_the_datumaro_path(labels: list[Label], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert_same_export(colour_task(labels), "KITTI 1.0", tmp_path)


def test_colour_label_map_is_the_forks_rule() -> None:
    from collections import OrderedDict

    from cvat_bridge.formats.masks import move_background_first, task_colormap

    for labels in ([Label("car", color="#000000"), Label("Bus", color="#ff0000")],
                   [Label("background", color="#00ff00"), Label("Ant", color="#123456")],
                   [Label("b", color="bad"), Label("a", color="#010203")]):
        task = make_task(labels)
        expected = OrderedDict(sorted(task_colormap(task).items()))
        move_background_first(expected)
        assert list(colour_label_map(task).items()) == list(expected.items())


@pytest.mark.parametrize("format_name", list(DATUMARO_ROWS))
def test_many_labels_match_the_datumaro_path(format_name: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """300 labels: class ids past 255 (KITTI: Pillow saturates 16-bit samples, colours wrap) and
    MOTS values past 65535 (the uint16 cast wraps)."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    labels = [Label(f"l{i:03d}", color=f"#{i % 256:02x}{i * 7 % 256:02x}10") for i in range(300)]

    def triangle(i: int) -> list[float]:
        return [1.0 + i % 90, 1.0, 9.0 + i % 90, 1.0, 5.0 + i % 90, 40.0]

    shapes = [Shape("polygon", 0, triangle(i), label=f"l{i:03d}", z_order=i) for i in range(250, 300)]
    tracks = [Track(f"l{i:03d}", 0, [Shape("polygon", 0, triangle(i), z_order=i)]) for i in range(60, 75)]
    assert_same_export(make_task(labels, shapes=shapes, tracks=tracks, frames=1), format_name, tmp_path)


def icdar_task() -> Task:
    """ICDAR attributes in every state: usable, missing, malformed, repeated and negative indices,
    colours out of range, a single-space text, groups, and a track."""
    attributes = [AttributeSpec("text", "text"), AttributeSpec("index", "text"), AttributeSpec("color", "text"),
                  AttributeSpec("center", "text")]
    label = Label("icdar", color="#ff0000", attributes=attributes)

    def attrs(text: str, index: str, color: str = "", center: str = "") -> dict[str, str]:
        return {"text": text, "index": index, "color": color, "center": center}

    shapes = [
        box("icdar", 0, 2, 2, 30, 20, attributes=attrs("word", "1", "10 20 30", "5 5")),
        Shape("polygon", 0, [40.0, 2.0, 70.0, 2.0, 60.0, 25.0], label="icdar", attributes=attrs(" ", "0")),
        Shape("ellipse", 0, [80.0, 30.0, 90.0, 20.0], label="icdar", group=4, attributes=attrs("g1", "x", "1 2")),
        box("icdar", 0, 70, 25, 95, 45, group=4, attributes=attrs("g2", "3", "300 0 0", "- -")),
        box("icdar", 0, 10, 30, 40, 48, group=5, z_order=1, attributes=attrs("g3", "-1", "0 0 255")),
        box("icdar", 1, 1, 1, 50, 40, attributes=attrs("a", "2", "128 0 0")),
        box("icdar", 1, 20, 10, 60, 45, attributes=attrs("b", "2")),
        box("icdar", 1, 5, 5, 15, 15, attributes=attrs("c", "300")),
        Shape("mask", 1, [0.0, 30.0, 70.0, 10.0, 75.0, 12.0], label="icdar", attributes=attrs("m", "1.5")),
    ]
    track = Track("icdar", 0, [box("icdar", 0, 50, 30, 60, 40, attributes=attrs("t", "7", "", "1 1")),
                               box("icdar", 2, 50, 30, 60, 40, outside=True)])
    return make_task([label], shapes=shapes, tracks=[track])


def test_icdar_segmentation_matches_the_datumaro_path_on_icdar_attributes(tmp_path: Path, caplog: Any,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert_same_export(icdar_task(), "ICDAR Segmentation 1.0", tmp_path)
    ours = [r for r in caplog.records if "ICDAR" in r.getMessage() and "fast_icdar_seg" in r.name]
    assert len(ours) == 1  # one warning per export


def test_these_formats_do_not_import_datumaro(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from cvat_bridge.export import export\n"
        f"for name in {list(DATUMARO_ROWS)!r}:\n"
        f"    export({str(SAMPLE)!r}, name, {str(tmp_path)!r} + '/' + name[:4] + '.zip')\n"
        "print(sorted(m for m in ('datumaro', 'cv2', 'PIL', 'lxml') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    # Pillow is CVAT's encoder of int32 masks (KITTI's 16-bit PNGs): the bytes need it
    assert "datumaro" not in result.stdout, result.stdout + result.stderr


def test_rgba_png_round_trips() -> None:
    pixels = np.random.default_rng(3).integers(0, 256, size=(6, 5, 4), dtype=np.uint8)
    image = Image.open(io.BytesIO(encode_png(pixels)))
    assert image.mode == "RGBA"
    assert np.array_equal(np.asarray(image), pixels)


def test_bmp_decodes_as_the_same_rgb_pixels() -> None:
    for width in (1, 2, 3, 4, 7):
        pixels = np.random.default_rng(width).integers(0, 256, size=(5, width, 3), dtype=np.uint8)
        image = Image.open(io.BytesIO(encode_bmp(pixels)))
        assert image.mode == "RGB"
        assert np.array_equal(np.asarray(image), pixels)


def test_voc_colours_are_datumaros() -> None:
    from datumaro.util.mask_tools import generate_colormap

    expected = generate_colormap(300, include_background=False)
    assert voc_colours(300) == [tuple(int(c) for c in expected[i]) for i in range(300)]


def test_icdar_mask_boxes_match_a_scan_of_every_mask(stress_tasks: dict[tuple[int, bool], Task]) -> None:
    """``mask_box`` reads most boxes off the mask windows (and caches shared ellipse drawings): it
    must agree with scanning each mask (pycocotools' ``toBbox``), twice over for the cache."""
    from cvat_bridge.formats.fast_common import LabelTable
    from cvat_bridge.formats.fast_segment import Segmenter
    from cvat_bridge.view import ExportView

    checked = set()
    for task in [icdar_task(), *(t for (_, lm), t in stress_tasks.items() if not lm)]:
        segmenter = Segmenter(LabelTable(task), boxes_to_masks=True)
        for _ in range(2):
            for content in ExportView(task).frames():
                for segment in segmenter.frame(content).segments:
                    assert mask_box(segment) == segment.bitmap.bbox(), segment
                    checked.add((segment.shape.shape.type, bool(segment.group), segment.solid))
    assert {("ellipse", False, False), ("mask", False, False), ("polygon", True, False),
            ("rectangle", False, True)} <= checked
