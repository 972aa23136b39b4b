"""fast_segment (CVAT's mask chain without Datumaro) and the Datumaro-free segmentation writers,
against the Datumaro path they replace.

The expectation always comes from the Datumaro path (``translate.TaskExtractor``, the rows'
tweaks, Datumaro's exporters, still installed), never from our own code: on the sample backup
and on seeded random tasks (tests/fast_writer_tasks.py: groups mixing boxes, polygons, masks and
ellipses, rotated boxes, shapes past the image edges, tracks, equal z_orders).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cvat_bridge.backup import load_task
from cvat_bridge.formats.fast_common import LabelTable
from cvat_bridge.formats.fast_segment import Segmenter, compile_masks
from cvat_bridge.formats.registry import FormatSpec
from cvat_bridge.model import AttributeSpec, Label, Shape, Tag, Task
from cvat_bridge.view import ExportView
from tests.conftest import ROOT, SAMPLE
from tests.fast_writer_tasks import make_stress_backup
from tests.label_tasks import box, cuboid, make_task
from tests.writer_checks import assert_scores_one, stress_video_task

CHAIN = ["ellipses_to_masks", "rotated_boxes_to_polygons", "polygons_to_masks", "boxes_to_masks",
         "merge_instance_segments"]
STRESS = [(1, (96, 64)), (2, (640, 480)), (3, (37, 23)), (4, (300, 200))]
NAMES = {1: "plain", 2: "numeric", 3: "folders", 4: "plain"}
COLOURS = {"apply_colormap": True}
# the rows these writers replaced (format_map.yaml keeps them in the notes)
DATUMARO_ROWS = {
    "PASCAL VOC 1.0": FormatSpec("PASCAL VOC 1.0", exporter="cvat_bridge.formats.voc:CvatVocExporter",
                                 options={"label_map": "source"}, tweaks=["ellipses_to_masks"], status="done"),
    "Segmentation Mask 1.0": FormatSpec(
        "Segmentation Mask 1.0", exporter="cvat_bridge.formats.mask_exporters:CvatVocSegmentationExporter",
        options=COLOURS, tweaks=[*CHAIN, "voc_colormap_label_map"], status="done"),
    "CamVid 1.0": FormatSpec("CamVid 1.0", exporter="camvid", options=COLOURS,
                             tweaks=[*CHAIN, "colormap_label_map"], status="done"),
    "Cityscapes 1.0": FormatSpec("Cityscapes 1.0", exporter="cvat_bridge.formats.cityscapes:CvatCityscapesExporter",
                                 options=COLOURS, tweaks=[*CHAIN, "colormap_label_map"], status="done"),
}


@pytest.fixture(scope="module")
def stress_tasks(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Any]:
    folder = tmp_path_factory.mktemp("segment")
    return {seed: load_task(make_stress_backup(folder / f"s{seed}.zip", seed=seed, frames=8, width=size[0],
                                               height=size[1], names=NAMES[seed]))
            for seed, size in STRESS}


def datumaro_items(view: ExportView, chain: list[str]) -> list[Any]:
    from datumaro.components.dataset import Dataset
    from datumaro.components.environment import Environment

    from cvat_bridge.formats.tweaks import TweakContext, run_tweak
    from cvat_bridge.translate import TaskExtractor

    dataset: Any = Dataset.from_extractors(TaskExtractor(view), env=Environment())
    context = TweakContext(task=view.task)
    for name in chain:
        dataset = run_tweak(name, dataset, context)
    return list(dataset)


def full_image(bitmap: Any, width: int, height: int) -> np.ndarray:
    canvas = np.zeros((height, width), dtype=np.uint8)
    h, w = bitmap.data.shape
    canvas[bitmap.y: bitmap.y + h, bitmap.x: bitmap.x + w] = bitmap.data
    return canvas


def check_chain(task: Any, chain: list[str], *, batched: bool = False, **options: Any) -> int:
    """Our segments against Datumaro's masks after ``chain``, frame by frame (``Segmenter.frame``, or
    ``Segmenter.frames`` when ``batched``); the number compared."""
    from datumaro.components.annotation import AnnotationType, CompiledMask

    view = ExportView(task)
    segmenter = Segmenter(LabelTable(task), **options)
    ours_per_frame = (segmenter.frames(view.frames()) if batched
                      else ((content, segmenter.frame(content)) for content in view.frames()))
    compared = 0
    for (content, ours), item in zip(ours_per_frame, datumaro_items(view, chain), strict=True):
        width, height = content.info.width, content.info.height
        masks = [a for a in item.annotations if a.type == AnnotationType.mask]
        assert len(ours.segments) == len(masks), item.id
        for segment, mask in zip(ours.segments, masks, strict=True):
            assert (segment.label, segment.z_order, segment.group) == (mask.label, mask.z_order, mask.group)
            assert segment.attributes == mask.attributes
            assert np.array_equal(full_image(segment.bitmap, width, height), mask.image), item.id
            assert segment.area == mask.get_area()
        others = [a for a in item.annotations if a.type not in (AnnotationType.mask, AnnotationType.label)]
        kinds = {"rectangle": "bbox", "skeleton": "points"}  # Datumaro's names; cuboids are dropped
        assert [kinds.get(o.shape.type, o.shape.type) for o in ours.others if o.shape.type != "cuboid"] == [
            a.type.name for a in others], item.id
        if masks:
            class_ids = [(3 * s.label) % 5 for s in ours.segments]  # some of class 0, which paints 0
            instance_ids = [None if i % 3 else 1000 + i for i in range(len(masks))]
            compiled = compile_masks(ours.segments, width, height, class_ids, instance_ids)
            expected = CompiledMask.from_instance_masks(masks, instance_ids=instance_ids, instance_labels=class_ids)
            for got, want in ((compiled.class_mask, expected.class_mask),
                              (compiled.instance_mask, expected.instance_mask)):
                assert got.dtype == want.dtype and np.array_equal(got, want), item.id
        compared += len(masks)
    return compared


@pytest.mark.parametrize("seed", [s for s, _ in STRESS])
def test_segments_match_the_datumaro_chain(seed: int, stress_tasks: dict[int, Any]) -> None:
    assert check_chain(stress_tasks[seed], CHAIN) > 20


@pytest.mark.parametrize("seed", [1, 3])
def test_segments_without_boxes_and_with_tracks_only(seed: int, stress_tasks: dict[int, Any]) -> None:
    without_boxes = [t for t in CHAIN if t != "boxes_to_masks"]
    assert check_chain(stress_tasks[seed], without_boxes, boxes_to_masks=False) > 10
    tracks_only = ["ellipses_to_masks", "keep_tracks", *CHAIN[1:]]
    assert check_chain(stress_tasks[seed], tracks_only, only_tracks=True) > 0


def test_segments_of_the_sample() -> None:
    assert check_chain(load_task(SAMPLE), CHAIN) > 0


@pytest.mark.parametrize("seed", [s for s, _ in STRESS])
def test_segments_of_frames_rasterised_together_match_the_datumaro_chain(
        seed: int, stress_tasks: dict[int, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """``Segmenter.frames`` batches the polygons of several frames: batches of 3 split the tasks."""
    from cvat_bridge.formats import fast_segment

    monkeypatch.setattr(fast_segment, "FRAMES_PER_BATCH", 3)
    assert check_chain(stress_tasks[seed], CHAIN, batched=True) > 20
    tracks_only = ["ellipses_to_masks", "keep_tracks", *CHAIN[1:]]
    check_chain(stress_tasks[seed], tracks_only, batched=True, only_tracks=True)


def test_frames_rasterised_together_split_at_a_new_image_size(stress_tasks: dict[int, Any],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Frames of two image sizes, interleaved: each batch keeps one size, the segments are ``frame``'s."""
    from cvat_bridge.formats import fast_segment

    first, second = (list(ExportView(stress_tasks[seed]).frames()) for seed in (1, 3))
    mixed = first[:3] + second[:2] + first[3:5] + second[2:]
    assert {(c.info.width, c.info.height) for c in mixed} == {(96, 64), (37, 23)}
    segmenter = Segmenter(LabelTable(stress_tasks[1]))
    monkeypatch.setattr(fast_segment, "FRAMES_PER_BATCH", 4)
    batched = list(segmenter.frames(mixed))
    assert [content for content, _ in batched] == mixed
    compared = 0
    for content, ours in batched:
        alone = segmenter.frame(content)
        assert [(s.label, s.z_order, s.group, s.area) for s in ours.segments] == [
            (s.label, s.z_order, s.group, s.area) for s in alone.segments]
        width, height = content.info.width, content.info.height
        for got, want in zip(ours.segments, alone.segments, strict=True):
            assert np.array_equal(full_image(got.bitmap, width, height), full_image(want.bitmap, width, height))
        assert ours.others == alone.others
        compared += len(ours.segments)
    assert compared > 20


def test_segments_of_big_images_are_decoded_in_batches(stress_tasks: dict[int, Any],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Images past ``SMALL_CANVAS`` get copied windows, decoded a few polygons at a time."""
    from cvat_bridge.formats import fast_segment

    monkeypatch.setattr(fast_segment, "SMALL_CANVAS", 0)
    monkeypatch.setattr(fast_segment, "DECODE_BUDGET", 2 * 96 * 64)  # two polygons per decode
    assert check_chain(stress_tasks[1], CHAIN) > 20


def test_box_bitmaps_are_what_pycocotools_rasterises() -> None:
    """Boxes are worked out on pycocotools' 5x grid, not rasterised: every edge case against it
    (coordinates on the grid's rounding points, past every edge, tiny, negative, reversed)."""
    from pycocotools import mask as mask_utils

    from cvat_bridge.formats.fast_segment import box_bitmap, box_polygon

    rng = np.random.default_rng(7)
    grid = [v / 10 for v in range(-30, 30)] + [0.3, 0.7, 1.1, 1.5, 1.9, 2.3, 12.5, 12.49, 12.51, -0.1, -0.09, -0.11]
    cases = 0
    for _ in range(4000):
        width, height = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        if rng.random() < 0.5:
            x1, y1 = float(rng.choice(grid)) + int(rng.integers(0, width)), float(rng.choice(grid))
            x2, y2 = x1 + float(rng.choice(grid)) + int(rng.integers(0, 8)), y1 + float(rng.choice(grid)) + 3
        else:
            x1, y1 = round(float(rng.uniform(-5, width + 5)), 3), round(float(rng.uniform(-5, height + 5)), 3)
            x2, y2 = round(x1 + float(rng.uniform(-1, width)), 3), round(y1 + float(rng.uniform(-1, height)), 3)
        points = [x1, y1, x2, y2]
        expected = mask_utils.decode(mask_utils.frPyObjects([box_polygon(points)], height, width)[0])
        worked = box_bitmap(points, width, height)
        if worked is None:
            continue
        cases += 1
        assert np.array_equal(full_image(worked[0], width, height), expected), (points, width, height)
        assert worked[1] == bool(expected.any())
    assert cases > 3000


def assert_same_export(task: Task, format_name: str, tmp_path: Path, **options: Any) -> dict[str, Any]:
    """Export through our writer and through the Datumaro row; the archives must score 1.000 (and
    the text files be the same bytes)."""
    return assert_scores_one(task, format_name, DATUMARO_ROWS[format_name], tmp_path,
                             same_bytes_suffixes=(".txt", ".xml"), **options)


@pytest.mark.parametrize("format_name", list(DATUMARO_ROWS))
@pytest.mark.parametrize("seed", [s for s, _ in STRESS])
def test_writer_matches_the_datumaro_path_on_random_tasks(format_name: str, seed: int, tmp_path: Path,
                                                          stress_tasks: dict[int, Task],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    report = assert_same_export(stress_tasks[seed], format_name, tmp_path, save_images=seed == 3)
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


@pytest.mark.parametrize("format_name", list(DATUMARO_ROWS))
def test_writer_matches_the_datumaro_path_on_a_video_task(format_name: str, tmp_path: Path, video_task: Task,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert_same_export(video_task, format_name, tmp_path, save_images=format_name == "Cityscapes 1.0")


def colour_task(labels: list[Label]) -> Task:
    """Frames whose masks of every label overlap in z_order, a box per label, a frame with a tag only
    and one with a cuboid only (items "without annotations" for the VOC lists)."""
    shapes = []
    for i, label in enumerate(labels):
        shapes.append(Shape("polygon", 0, [5.0 + 8 * i, 5.0, 40.0 + 8 * i, 5.0, 20.0 + 8 * i, 40.0],
                            label=label.name, z_order=i % 2))
        shapes.append(box(label.name, 1, 2 + 10 * i, 2, 30 + 10 * i, 30, attributes={}))
        shapes.append(Shape("mask", 1, [50.0, 30.0, 20.0, 4.0 * i, 9.0, 4.0 * i + 9.0, 9.0], label=label.name))
    shapes.append(cuboid(labels[0].name, 3))
    return make_task(labels, shapes=shapes, tags=[Tag(labels[-1].name, 2)], frames=5)


@pytest.mark.parametrize("format_name", list(DATUMARO_ROWS))
@pytest.mark.parametrize("labels", [
    [Label("car", color="#000000"), Label("Bus", color="#ff0000")],  # a black label: the background
    [Label("zebra", color="#000000"), Label("background", color="#00ff00"), Label("Car", color="#0000ff")],
    [Label("background", color="#00ff00"), Label("Ant", color="#123456")],  # a coloured background label
    [Label("Ant", color="#000000"), Label("Bee", color="#000000"), Label("cat", color="")],
], ids=["black-label", "black-and-background", "coloured-background", "two-black"])
def test_background_rules_match_the_datumaro_path(format_name: str, labels: list[Label], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert_same_export(colour_task(labels), format_name, tmp_path)


def test_voc_attributes_and_text_match_the_datumaro_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The attributes VOC reads by name (typed every way), text that needs escaping, item ids with
    and without ``_`` and with spaces (quoted in the Layout list), an item with nothing at all."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    attributes = [AttributeSpec("truncated", "text"), AttributeSpec("difficult", "checkbox", default_value="false"),
                  AttributeSpec("pose", "select", default_value="Left", values=["Left", "a&b <c>"]),
                  AttributeSpec("occluded", "number", default_value="0"), AttributeSpec("note", "text")]
    label = Label("a&b <c>", color="#ff0000", attributes=attributes)
    values = [{"truncated": "1", "difficult": "true", "pose": "a&b <c>", "occluded": "3", "note": "x\r\ny & z"},
              {"truncated": "1.5", "difficult": "false", "pose": "Left", "occluded": "0", "note": ""},
              {"truncated": "abc", "note": "1_0"}, {"truncated": " 2 "}]
    shapes = [box(label.name, 0, 1.234, 2.005, 30.5, 40.125, attributes=v, occluded=i % 2 == 0, z_order=i)
              for i, v in enumerate(values)]
    shapes += [Shape("ellipse", 0, [30.0, 30.0, 45.0, 20.0], label=label.name, rotation=30.0),
               box(label.name, 1, 5, 5, 20, 20, rotation=45.0)]
    task = make_task([label, Label("other", color="#00ff00")], shapes=shapes,
                     tags=[Tag("other", 1), Tag(label.name, 1), Tag("other", 0)], frames=4)
    task.frames[0].name = "my frame 0.png"
    task.frames[1].name = "frame1.jpeg"
    task.frames[3].name = "dir/x y_z.png"
    assert_same_export(task, "PASCAL VOC 1.0", tmp_path)


def test_these_formats_do_not_import_datumaro(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from cvat_bridge.export import export\n"
        f"for name in {tuple(DATUMARO_ROWS)!r}:\n"
        f"    export({str(SAMPLE)!r}, name, {str(tmp_path)!r} + '/' + name[:6] + '.zip')\n"
        "print(sorted(m for m in ('datumaro', 'cv2', 'PIL', 'scipy', 'shapely') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    # OpenCV and Pillow are CVAT's own PNG encoders (Cityscapes' int32 instance ids go through Pillow)
    assert result.stdout.strip().splitlines()[-1] in ("[]", "['cv2']", "['PIL', 'cv2']"), result.stderr


@pytest.mark.parametrize("format_name", ["Segmentation Mask 1.0", "CamVid 1.0"])
def test_masks_without_the_colour_map_match_the_datumaro_path(format_name: str, tmp_path: Path,
                                                              stress_tasks: dict[int, Task],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert_same_export(stress_tasks[1], format_name, tmp_path, options={"apply_colormap": False})
