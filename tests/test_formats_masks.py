"""The mask and segmentation formats: what upstream Datumaro reads back, and the tweaks behind them.

A hand-made task whose expected instances follow from its construction (nothing overlaps) is
exported in each format and re-imported with the matching upstream Datumaro 1.13 importer.
Cityscapes and LabelMe archives as CVAT writes them are not readable by upstream (DELTAS.md
item 9): the tests assert that on CVAT's own archive and ours, and read ours with a small
reader. Byte/pixel parity with CVAT is tests/test_conformance.py's job.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import pytest
from datumaro.components.annotation import AnnotationType, Bbox, Polygon
from datumaro.components.dataset import Dataset
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.errors import DatasetImportError
from datumaro.components.media import Image
from PIL import Image as PILImage

from cvat_bridge.backup import load_task
from cvat_bridge.export import export_task
from cvat_bridge.formats.masks import (
    KeepTracks,
    RotatedBoxesToPolygons,
    move_background_first,
    rotated_box_corners,
    task_colormap,
)
from cvat_bridge.formats.registry import find_format
from cvat_bridge.formats.tweaks import TweakContext, run_tweak
from cvat_bridge.model import AttributeSpec, Label, Shape, Task, Track
from cvat_bridge.translate import to_datumaro
from tests.conftest import SAMPLE, reference_or_skip
from tests.label_tasks import box, make_task

CAR, PERSON = "#2080c0", "#c06060"


@pytest.fixture(autouse=True)
def _quiet_datumaro() -> Iterator[None]:
    """Upstream's importers warn on the root logger about missing images; keep the output short."""
    loggers = [logging.getLogger("datumaro"), logging.getLogger()]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def labels(*attributes: AttributeSpec) -> list[Label]:
    return [Label("car", color=CAR, attributes=list(attributes)), Label("person", color=PERSON)]


def mask_task(*attributes: AttributeSpec) -> Task:
    """Three frames (100×50); the objects never overlap, so every one survives rasterisation.

    frame 0: car box, person polygon, car box rotated by 30°, car points (not an area);
    frame 1: a person polygon and box in one group (one instance), a car ellipse, a person polyline;
    frame 2: nothing. A car track (a box) is visible on frames 0 and 1, outside on 2.
    """
    shapes = [
        box("car", 0, 5, 5, 25, 20),
        Shape("polygon", 0, [35.0, 5.0, 55.0, 5.0, 55.0, 20.0, 35.0, 20.0], label="person"),
        box("car", 0, 70, 10, 90, 25, rotation=30.0),
        Shape("points", 0, [60.0, 40.0], label="car"),
        Shape("polygon", 1, [35.0, 5.0, 50.0, 5.0, 50.0, 20.0, 35.0, 20.0], label="person", group=3),
        box("person", 1, 48, 10, 60, 25, group=3),
        Shape("ellipse", 1, [80.0, 30.0, 88.0, 24.0], label="car"),
        Shape("polyline", 1, [1.0, 48.0, 30.0, 48.0], label="person"),
    ]
    track = Track("car", 0, [box("car", 0, 5, 30, 25, 45), box("car", 2, 5, 30, 25, 45, outside=True)])
    return make_task(labels(*attributes), shapes=shapes, tracks=[track])


def export_dir(task: Task, format_name: str, tmp_path: Path) -> Path:
    out = tmp_path / format_name.replace(" ", "_")
    export_task(task, find_format(format_name), out)
    return out


def instances(dataset: Dataset, kind: AnnotationType | None = None) -> dict[str, Counter[str]]:
    """Item id → how many annotations of each label (of type ``kind``, or any)."""
    names = dataset.categories()[AnnotationType.label]
    return {item.id: Counter(names[a.label].name for a in item.annotations
                             if a.label is not None and (kind is None or a.type == kind))
            for item in dataset}


def unpack_reference(format_dir: str, tmp_path: Path) -> Path:
    import zipfile

    archive = reference_or_skip("small", "exports", format_dir, "without_images.zip")
    target = tmp_path / "cvat"
    with zipfile.ZipFile(archive) as z:
        z.extractall(target)
    return target


# --- re-import with upstream Datumaro -------------------------------------------------------------

def test_segmentation_mask_instances(tmp_path: Path) -> None:
    out = export_dir(mask_task(), "Segmentation Mask 1.0", tmp_path)
    assert (out / "labelmap.txt").read_text().splitlines()[1:] == [
        "background:0,0,0::", "car:32,128,192::", "person:192,96,96::"]
    got = instances(Dataset.import_from(str(out), "voc_segmentation"))
    assert got == {"img_0": Counter(car=3, person=1), "img_1": Counter(car=2, person=1), "img_2": Counter()}


def test_camvid_classes(tmp_path: Path) -> None:
    out = export_dir(mask_task(), "CamVid 1.0", tmp_path)
    assert (out / "label_colors.txt").read_text().splitlines() == ["32 128 192 car", "192 96 96 person"]
    got = instances(Dataset.import_from(str(out), "camvid"))
    assert got == {"img_0": Counter(car=1, person=1), "img_1": Counter(car=1, person=1), "img_2": Counter()}


def test_kitti_masks_and_detections(tmp_path: Path) -> None:
    """KITTI keeps axis-aligned boxes as detections (no boxes → masks in CVAT's chain)."""
    out = export_dir(mask_task(), "KITTI 1.0", tmp_path)
    segmentation = instances(Dataset.import_from(str(out), "kitti_segmentation"))
    assert segmentation["img_0"] == Counter(background=1, car=1, person=1)  # rotated car, person polygon
    assert segmentation["img_1"] == Counter(background=1, car=1, person=1)  # ellipse, person polygon
    detection = instances(Dataset.import_from(str(out), "kitti_detection"), AnnotationType.bbox)
    assert detection == {"img_0": Counter(car=2), "img_1": Counter(car=1, person=1)}


def test_mots_only_tracks(tmp_path: Path) -> None:
    dataset = Dataset.import_from(str(export_dir(mask_task(), "MOTS PNG 1.0", tmp_path)), "mots")
    assert instances(dataset) == {"img_0": Counter(car=1), "img_1": Counter(car=1)}
    assert {a.attributes["track_id"] for item in dataset for a in item.annotations} == {0}


def test_open_images_boxes_and_masks(tmp_path: Path) -> None:
    dataset = Dataset.import_from(str(export_dir(mask_task(), "Open Images 1.0", tmp_path)), "open_images")
    assert instances(dataset, AnnotationType.bbox) == {
        "img_0": Counter(car=2), "img_1": Counter(car=1, person=1), "img_2": Counter()}
    assert instances(dataset, AnnotationType.mask) == {
        "img_0": Counter(car=1, person=1), "img_1": Counter(car=1, person=1), "img_2": Counter()}


def test_icdar_segmentation_generates_missing_attributes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """DELTAS.md item 4: CVAT fails without index/color/center; we write generated ones and warn."""
    caplog.set_level(logging.WARNING, logger="cvat_bridge")
    out = export_dir(mask_task(AttributeSpec("color", "radio", values=["blue", "red"])), "ICDAR Segmentation 1.0",
                     tmp_path)
    assert len([r for r in caplog.records if "ICDAR" in r.getMessage()]) == 1
    dataset = Dataset.import_from(str(out), "icdar_text_segmentation")
    masks = {item.id: [a.attributes for a in item.annotations] for item in dataset}
    assert [len(masks[i]) for i in ("img_0", "img_1")] == [4, 3]
    for found in masks.values():
        assert sorted(a["index"] for a in found) == list(range(len(found)))
        assert len({a["color"] for a in found}) == len(found)  # "blue" is no colour: generated ones
        assert all(len(a["center"].split()) == 2 and a["center"] != "- -" for a in found)
    assert (out / "default" / "img_2_GT.txt").read_text() == ""


def test_icdar_segmentation_keeps_given_attributes(tmp_path: Path) -> None:
    given = {"index": "0", "color": "10 20 30", "center": "7 8", "text": "word"}
    task = make_task([Label("icdar", attributes=[AttributeSpec(n, "text") for n in given])],
                     shapes=[box("icdar", 0, 10, 10, 30, 20, attributes=given)])
    out = export_dir(task, "ICDAR Segmentation 1.0", tmp_path)
    # the box's mask covers columns 10..29 and rows 10..19: its box is [10, 10, 30, 20)
    assert (out / "default" / "img_0_GT.txt").read_text() == '10 20 30 7 8 10.0 10.0 30.0 20.0 "word"\n'


@pytest.mark.parametrize(("format_name", "folder", "importer"), [
    ("Segmentation Mask 1.0", "Segmentation_mask_1.1", "voc_segmentation"),
    ("CamVid 1.0", "CamVid_1.0", "camvid"),
    ("KITTI 1.0", "KITTI_1.0", "kitti_segmentation"),
    ("KITTI 1.0", "KITTI_1.0", "kitti_detection"),
    ("MOTS PNG 1.0", "MOTS_PNG_1.0", "mots"),
    ("Open Images 1.0", "Open_Images_V6_1.0", "open_images"),
])
def test_reads_back_like_cvats_archive(format_name: str, folder: str, importer: str, tmp_path: Path) -> None:
    """On CVAT's reference task, upstream reads the same instances per item from ours as from CVAT's."""
    cvat = instances(Dataset.import_from(str(unpack_reference(folder, tmp_path)), importer))
    task = load_task(reference_or_skip("small", "backup.zip"))
    ours = instances(Dataset.import_from(str(export_dir(task, format_name, tmp_path)), importer))
    assert ours == cvat
    assert sum(sum(c.values()) for c in ours.values()) > 0


@pytest.mark.parametrize(("format_name", "importer"), [
    ("Segmentation Mask 1.0", "voc_segmentation"), ("CamVid 1.0", "camvid"), ("Open Images 1.0", "open_images"),
    ("ICDAR Segmentation 1.0", "icdar_text_segmentation"),
])
def test_sample_backup_reads_back(format_name: str, importer: str, tmp_path: Path) -> None:
    """The project's own sample: images in sub-folders (item ids with a '/'), a deleted frame."""
    task = load_task(SAMPLE)
    relative = [r for r in range(task.size) if r not in task.deleted_frames]
    expected = {task.frames[task.start_frame + r * task.step].name.rsplit(".", 1)[0] for r in relative}
    got = Dataset.import_from(str(export_dir(task, format_name, tmp_path)), importer)
    assert {item.id for item in got} == expected and len(expected) == 7
    assert sum(len(item.annotations) for item in got) > len(expected)


# --- Cityscapes and LabelMe: upstream cannot read CVAT's layout (DELTAS.md item 9) ---------------

def test_cityscapes_layout_is_not_upstream_readable(tmp_path: Path) -> None:
    with pytest.raises(DatasetImportError):
        Dataset.import_from(str(export_dir(mask_task(), "Cityscapes 1.0", tmp_path)), "cityscapes")
    with pytest.raises(DatasetImportError):
        Dataset.import_from(str(unpack_reference("Cityscapes_1.0", tmp_path)), "cityscapes")


def read_cityscapes(root: Path) -> dict[str, Counter[str]]:
    """Instances per item from gtFine/*_instanceIds.png (label id * 1000 + n) and label_colors.txt."""
    names = [line.split()[-1] for line in (root / "label_colors.txt").read_text().splitlines()]
    found = {}
    for path in sorted((root / "gtFine" / "default").glob("*_gtFine_instanceIds.png")):
        values = np.unique(np.asarray(PILImage.open(path)))
        found[path.name.split("_gtFine")[0]] = Counter(names[v // 1000] for v in values if v)
    return found


def test_cityscapes_instances_and_colours(tmp_path: Path) -> None:
    out = export_dir(mask_task(), "Cityscapes 1.0", tmp_path)
    assert (out / "label_colors.txt").read_text().splitlines() == [
        "0 0 0 background", "32 128 192 car", "192 96 96 person"]
    assert read_cityscapes(out) == {"img_0": Counter(car=3, person=1), "img_1": Counter(car=2, person=1)}
    color = np.asarray(PILImage.open(out / "gtFine" / "default" / "img_0_gtFine_color.png").convert("RGB"))
    assert tuple(color[10, 10]) == (32, 128, 192) and tuple(color[10, 45]) == (192, 96, 96)
    assert tuple(color[0, 0]) == (0, 0, 0)


def test_labelme_layout_is_not_upstream_readable(tmp_path: Path) -> None:
    with pytest.raises(DatasetImportError):
        Dataset.import_from(str(export_dir(mask_task(), "LabelMe 3.0", tmp_path)), "label_me")
    with pytest.raises(DatasetImportError):
        Dataset.import_from(str(unpack_reference("LabelMe_3.0", tmp_path)), "label_me")


def read_labelme(root: Path) -> dict[str, Counter[tuple[str, str]]]:
    found = {}
    for path in sorted((root / "default").glob("*.xml")):
        objects = ElementTree.parse(path).getroot().findall("object")
        kinds = [("mask" if o.find("segm") is not None else o.findtext("type") or "polygon", o.findtext("name"))
                 for o in objects]
        found[path.stem] = Counter(kinds)
    return found


def test_labelme_objects_and_layout(tmp_path: Path) -> None:
    out = export_dir(mask_task(), "LabelMe 3.0", tmp_path)
    assert read_labelme(out) == {
        "img_0": Counter({("bounding_box", "car"): 3, ("polygon", "person"): 1}),  # rotation stays an attribute
        "img_1": Counter({("polygon", "person"): 1, ("bounding_box", "person"): 1, ("mask", "car"): 1,
                          ("bounding_box", "car"): 1}),
        "img_2": Counter(),
    }
    root = ElementTree.parse(out / "default" / "img_1.xml").getroot()
    assert (root.findtext("filename"), root.findtext("folder")) == ("img_1.jpg", "")
    [segm] = root.iter("segm")
    assert (out / "default" / "Masks" / segm.findtext("mask")).is_file()
    # the ellipse at (80, 30) with radii 8, 6 covers columns 72..88, rows 24..36
    assert [segm.findtext(f"box/{k}") for k in ("xmin", "ymin", "xmax", "ymax")] == [
        "72.00", "24.00", "88.00", "36.00"]


@pytest.mark.parametrize(("format_name", "folder", "reader"), [
    ("Cityscapes 1.0", "Cityscapes_1.0", read_cityscapes),
    ("LabelMe 3.0", "LabelMe_3.0", read_labelme),
])
def test_small_readers_agree_with_cvats_archive(format_name: str, folder: str, reader: Any, tmp_path: Path) -> None:
    cvat = reader(unpack_reference(folder, tmp_path))
    ours = reader(export_dir(load_task(reference_or_skip("small", "backup.zip")), format_name, tmp_path))
    assert ours == cvat and len(ours) >= 9


def label_before_background() -> Task:
    """``Car`` sorts before ``background`` (capitals first): the fork still paints empty pixels as
    background, where upstream would paint them as the first label."""
    square = Shape("polygon", 0, [10.0, 10.0, 30.0, 10.0, 30.0, 30.0, 10.0, 30.0], label="Car")
    return make_task([Label("Car", color=CAR), Label("person", color=PERSON)], shapes=[square], frames=1)


def rgb(path: Path) -> np.ndarray:
    return np.asarray(PILImage.open(path).convert("RGB"))


def test_empty_pixels_are_background_when_a_label_sorts_first(tmp_path: Path) -> None:
    task = label_before_background()
    voc = export_dir(task, "Segmentation Mask 1.0", tmp_path)
    assert [line.split(":")[0] for line in (voc / "labelmap.txt").read_text().splitlines()[1:]] == [
        "Car", "background", "person"]  # the fork's order: sorted, background in place
    classes = rgb(voc / "SegmentationClass" / "img_0.png")
    assert (tuple(classes[40, 50]), tuple(classes[20, 20])) == ((0, 0, 0), (32, 128, 192))
    kitti = export_dir(task, "KITTI 1.0", tmp_path)
    assert (kitti / "label_colors.txt").read_text().splitlines()[0] == "0 0 0 background"
    semantic = np.asarray(PILImage.open(kitti / "default" / "semantic" / "img_0.png"))
    assert (semantic[40, 50], semantic[20, 20]) == (0, 1)
    assert tuple(rgb(kitti / "default" / "semantic_rgb" / "img_0.png")[40, 50]) == (0, 0, 0)
    cityscapes = export_dir(task, "Cityscapes 1.0", tmp_path)
    label_ids = np.asarray(PILImage.open(cityscapes / "gtFine" / "default" / "img_0_gtFine_labelIds.png"))
    assert (label_ids[40, 50], label_ids[20, 20]) == (0, 1)
    camvid = export_dir(task, "CamVid 1.0", tmp_path)
    assert tuple(rgb(camvid / "defaultannot" / "img_0.png")[40, 50]) == (0, 0, 0)


# --- the tweaks -----------------------------------------------------------------------------------

def test_rotated_box_corners() -> None:
    corners = rotated_box_corners([0.0, 0.0, 4.0, 2.0], 90.0)  # centre (2, 1); clockwise on screen
    assert corners == pytest.approx([3.0, -1.0, 3.0, 3.0, 1.0, 3.0, 1.0, -1.0])


def one_item(*annotations: Any) -> Dataset:
    item = DatasetItem("a", media=Image.from_numpy(np.zeros((50, 100, 3), dtype=np.uint8)),
                       annotations=list(annotations))
    return Dataset.from_iterable([item], categories=["car"])


def test_rotated_boxes_become_polygons_at_the_end() -> None:
    plain = Bbox(1, 1, 10, 10, label=0, attributes={"rotation": 0.0})
    rotated = Bbox(20, 10, 20, 10, label=0, attributes={"rotation": 30.0, "color": "red"}, z_order=2)
    other = Polygon([0, 0, 5, 0, 5, 5], label=0)
    [item] = one_item(rotated, plain, other).transform(RotatedBoxesToPolygons)
    first, second, polygon = item.annotations
    assert (first, second) == (plain, other)
    assert polygon.type == AnnotationType.polygon
    assert (polygon.attributes, polygon.z_order) == ({"rotation": 30.0, "color": "red"}, 2)
    assert polygon.points == pytest.approx(rotated_box_corners([20, 10, 40, 20], 30.0), abs=0.005)


def test_keep_tracks() -> None:
    tracked = Bbox(1, 1, 2, 2, label=0, attributes={"track_id": 4})
    [item] = one_item(Bbox(5, 5, 2, 2, label=0), tracked).transform(KeepTracks)
    assert item.annotations == [tracked]


def test_coordinates_keep_cvat_precision() -> None:
    """Upstream Datumaro stores coordinates as float32 (11.9 → 11.8999996); CVAT's fork as
    float64 rounded to 2 digits. On this polygon of CVAT's reference task the difference moves
    pixels: CVAT's Segmentation mask export has (x=27, y=31) inside."""
    points = [11.9, 21.5, 35.2, 21.9, 33.6, 31.9, 12.4, 30.47]
    task = make_task([Label("car", color=CAR)], shapes=[Shape("polygon", 0, points, label="car")], frames=1)
    [item] = run_tweak("polygons_to_masks", to_datumaro(task), TweakContext(task))
    [polygon] = to_datumaro(task).get("img_0").annotations
    assert polygon.points == points
    [mask] = item.annotations
    assert mask.image[31, 27] and mask.image[31, 28]


def test_task_colormap_puts_background_first() -> None:
    task = make_task([Label("pose", color="#40c040", type="skeleton",
                            sublabels=[Label("head", color="#d12345", parent="pose")]), Label("car", color=CAR)])
    assert list(task_colormap(task).items()) == [
        ("background", (0, 0, 0)), ("pose", (64, 192, 64)), ("head", (209, 35, 69)), ("car", (32, 128, 192))]
    own = make_task([Label("car", color=CAR), Label("background", color="#102030")])
    assert task_colormap(own) == {"car": (32, 128, 192), "background": (16, 32, 48)}


def test_colormap_tweaks_fill_label_map_unless_given() -> None:
    task = make_task(labels())
    context = TweakContext(task)
    run_tweak("colormap_label_map", None, context)
    assert context.options["label_map"]["person"] == (192, 96, 96)
    voc = TweakContext(task)
    run_tweak("voc_colormap_label_map", None, voc)
    assert voc.options["label_map"]["background"] == [(0, 0, 0), [], []]
    given = TweakContext(task, {"label_map": {"car": (1, 2, 3)}})
    run_tweak("colormap_label_map", None, given)
    assert given.options["label_map"] == {"car": (1, 2, 3)}


@pytest.mark.parametrize(("label_map", "expected"), [
    ({"a": (1, 1, 1), "dark": (0, 0, 0), "background": (5, 5, 5)}, ["dark", "a", "background"]),
    ({"a": (1, 1, 1), "background": (5, 5, 5)}, ["background", "a"]),
    ({"a": (1, 1, 1)}, ["background", "a"]),
])
def test_cityscapes_background_rule(label_map: dict[str, Any], expected: list[str]) -> None:
    from collections import OrderedDict

    ordered = OrderedDict(label_map)
    move_background_first(ordered)
    assert list(ordered) == expected
    assert ordered["background"] in ((0, 0, 0), (5, 5, 5))


def test_mots_instance_values_above_uint8(tmp_path: Path) -> None:
    """1000 * (label + 1) + track id: person (label 1) on track 0 is 2000, beyond a uint8 mask."""
    track = Track("person", 0, [box("person", 0, 10, 10, 20, 20), box("person", 1, 10, 10, 20, 20, outside=True)])
    task = make_task(labels(), tracks=[track], frames=2)
    out = export_dir(task, "MOTS PNG 1.0", tmp_path)
    values = np.asarray(PILImage.open(out / "default" / "instances" / "img_0.png"))
    assert sorted(np.unique(values).tolist()) == [0, 2000]

