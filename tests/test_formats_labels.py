"""Datumaro 1.0, COCO Keypoints and the label/face formats: what upstream Datumaro reads back.

Each export is re-imported with the matching upstream Datumaro 1.13 importer and checked item
by item (annotation counts, labels, the values that matter). Where upstream cannot read CVAT's
layout, the test asserts that known incompatibility (DELTAS.md item 9) and checks the content
with a small reader. Parity with CVAT's own archives is tests/test_conformance.py's job.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from datumaro.components.annotation import AnnotationType, Points
from datumaro.components.dataset import Dataset
from datumaro.components.environment import Environment

from cvat_bridge.backup import load_task
from cvat_bridge.errors import FormatError
from cvat_bridge.export import export_task
from cvat_bridge.formats.registry import find_format
from cvat_bridge.formats.tweaks import ellipses_to_masks
from cvat_bridge.model import AttributeSpec, Shape, Tag, Task
from cvat_bridge.translate import to_datumaro
from tests.conftest import SAMPLE
from tests.label_tasks import (
    POINT_NAMES,
    box,
    cuboid,
    make_task,
    plain_label,
    skeleton,
    skeleton_label,
)

V = Points.Visibility


@pytest.fixture(autouse=True)
def _quiet_datumaro() -> None:
    logging.getLogger("datumaro").setLevel(logging.ERROR)


def export_dir(task: Task, format_name: str, tmp_path: Path, **kwargs: Any) -> Path:
    out = tmp_path / "out"
    out.parent.mkdir(parents=True, exist_ok=True)
    export_task(task, find_format(format_name), out, **kwargs)
    return out


def reimport(path: Path, importer: str) -> Dataset:
    return Dataset.import_from(str(path), importer)


def label_names(dataset: Dataset, item: Any, kind: AnnotationType | None = None) -> list[str]:
    labels = dataset.categories()[AnnotationType.label]
    return sorted(labels[a.label].name for a in item.annotations
                  if a.label is not None and (kind is None or a.type == kind))


def by_id(dataset: Dataset) -> dict[str, Any]:
    return {item.id: item for item in dataset}


# --- Datumaro 1.0 -------------------------------------------------------------------------------

def test_datumaro_round_trip_of_the_sample_backup(tmp_path: Path) -> None:
    task = load_task(SAMPLE)
    out = export_dir(task, "Datumaro 1.0", tmp_path)
    assert Environment().detect_dataset(str(out)) == ["datumaro"]
    got = reimport(out, "datumaro")
    source = ellipses_to_masks(to_datumaro(task, keep_cuboids=True))
    assert len(got) == len(source) == 7  # 8 frames, one deleted
    for item in source:
        back = got.get(item.id, item.subset)
        assert back is not None, item.id
        assert back.annotations == item.annotations, item.id
        assert back.attributes == item.attributes
    source_labels = source.categories()[AnnotationType.label]
    got_labels = got.categories()[AnnotationType.label]
    assert [(c.name, c.parent) for c in got_labels] == [(c.name, c.parent) for c in source_labels]
    assert got_labels.attributes == source_labels.attributes
    assert got.categories()[AnnotationType.points] == source.categories()[AnnotationType.points]


def test_datumaro_writes_cvat_2_15_legacy_layout(tmp_path: Path) -> None:
    task = make_task([plain_label("car", AttributeSpec("color", "text"))], shapes=[box("car", 0, 1, 2, 11, 22)])
    out = export_dir(task, "Datumaro 1.0", tmp_path)
    content = json.loads((out / "annotations" / "default.json").read_text())
    assert list(content) == ["info", "categories", "items"]
    assert content["info"] == {}
    assert content["categories"] == {
        "label": {"labels": [{"name": "car", "parent": "", "attributes": []}], "attributes": ["color", "occluded"]},
        "points": {"items": []},
    }
    first = content["items"][0]
    assert first["point_cloud"] == {"path": ""} and "image" not in first
    assert first["attr"] == {"frame": 0}
    assert first["annotations"][0]["bbox"] == [1.0, 2.0, 10.0, 20.0]
    assert [item["id"] for item in content["items"]] == ["img_0", "img_1", "img_2"]
    assert not (out / "images").exists()


def test_datumaro_with_images_reads_back_the_pictures(tmp_path: Path) -> None:
    out = export_dir(load_task(SAMPLE), "Datumaro 1.0", tmp_path, save_images=True)
    first = json.loads((out / "annotations" / "train.json").read_text())["items"][0]
    assert first["image"] == {"path": "left/img_00.png", "size": [48, 64]} and "point_cloud" not in first
    got = reimport(out, "datumaro")
    assert len(got) == 7
    assert all(item.media.has_data and item.media.data.shape[:2] == (48, 64) for item in got)


def test_datumaro_skeletons_read_back_as_named_points(tmp_path: Path) -> None:
    """DELTAS.md item 1: CVAT 2.15 had no Datumaro export with skeletons; upstream must read ours."""
    task = make_task(
        [skeleton_label("pose"), plain_label("car")],
        shapes=[skeleton(0, [(10, 10), (20, 20), (30, 40)], occluded=("neck",), outside=("tail",)),
                box("car", 0, 1, 1, 5, 5)],
    )
    got = reimport(export_dir(task, "Datumaro 1.0", tmp_path), "datumaro")
    labels = got.categories()[AnnotationType.label]
    assert [(c.name, c.parent) for c in labels] == [("pose", ""), ("head", "pose"), ("neck", "pose"),
                                                     ("tail", "pose"), ("car", "")]
    layout = got.categories()[AnnotationType.points].items[0]
    assert layout.labels == POINT_NAMES
    assert layout.joints == {(1, 2), (2, 3)}
    [points] = [a for a in by_id(got)["img_0"].annotations if a.type == AnnotationType.points]
    assert labels[points.label].name == "pose"
    assert points.points == [10, 10, 20, 20, 30, 40]
    assert points.visibility == [V.visible, V.hidden, V.absent]
    assert points.attributes == {"complete": False, "occluded": False, "keyframe": False}


def test_datumaro_keeps_2d_cuboids(tmp_path: Path) -> None:
    """DELTAS.md item 2: CVAT drops 2D cuboids from Datumaro (issue 9007); we keep them."""
    shape = cuboid("car", 1)
    task = make_task([plain_label("car")], shapes=[shape])
    got = by_id(reimport(export_dir(task, "Datumaro 1.0", tmp_path), "datumaro"))
    [kept] = got["img_1"].annotations
    assert kept.type == AnnotationType.cuboid_2d
    assert [c for point in kept.points for c in point] == shape.points
    wider = by_id(reimport(export_dir(task, "WIDER Face 1.0", tmp_path / "w"), "wider_face"))
    assert not wider["img_1"].annotations  # other formats drop them, like CVAT


# --- COCO Keypoints 1.0 -------------------------------------------------------------------------

def keypoints_task() -> Task:
    """A skeleton label first, so the categories' ids skip its sublabels."""
    return make_task(
        [skeleton_label("pose"), plain_label("car")],
        shapes=[
            skeleton(0, [(10, 10), (20, 30), (90, 45)], outside=("tail",)),
            Shape("points", 0, [5.0, 5.0], label="car"),  # plain points: not a keypoint annotation
            skeleton(1, [(10, 10), (20, 20), (30, 30)], occluded=("head",), group=4),
            box("car", 1, 5, 5, 40, 45, group=4),
        ],
    )


def test_coco_keypoints_categories_and_instances(tmp_path: Path) -> None:
    out = export_dir(keypoints_task(), "COCO Keypoints 1.0", tmp_path)
    content = json.loads((out / "annotations" / "person_keypoints_default.json").read_text())
    pose, car = content["categories"]
    assert sorted(pose.pop("skeleton")) == [[1, 2], [2, 3]]  # Datumaro keeps joints as a set
    assert pose == {"id": 1, "name": "pose", "supercategory": "", "keypoints": POINT_NAMES}
    assert car == {"id": 5, "name": "car", "supercategory": "", "keypoints": [], "skeleton": []}
    first, second = content["annotations"]
    assert (first["image_id"], first["category_id"], first["num_keypoints"]) == (1, 1, 2)
    assert first["keypoints"] == [10, 10, 2, 20, 30, 2, 90, 45, 0]
    assert first["bbox"] == [10, 10, 10, 20]  # the extent of the points that are not absent
    assert (second["image_id"], second["category_id"]) == (2, 5)  # grouped: the box's instance
    assert second["bbox"] == [5, 5, 35, 40]
    assert second["keypoints"] == [10, 10, 1, 20, 20, 2, 30, 30, 2]
    assert first["attributes"] == {"complete": False, "occluded": False, "keyframe": False}


def test_coco_keypoints_read_back_by_upstream(tmp_path: Path) -> None:
    got = reimport(export_dir(keypoints_task(), "COCO Keypoints 1.0", tmp_path), "coco_person_keypoints")
    items = by_id(got)
    assert [label_names(got, items[i], AnnotationType.points) for i in ("img_0", "img_1", "img_2")] == [
        ["pose"], ["car"], []]
    [points] = [a for a in items["img_0"].annotations if a.type == AnnotationType.points]
    assert points.visibility == [V.visible, V.visible, V.absent]
    assert Counter(a.type for a in items["img_1"].annotations) == {AnnotationType.points: 1, AnnotationType.bbox: 1}


# --- ImageNet, ICDAR ----------------------------------------------------------------------------

def test_imagenet_labels_per_item(tmp_path: Path) -> None:
    task = make_task([plain_label("car"), plain_label("person")],
                     tags=[Tag("car", 0), Tag("person", 0), Tag("person", 1)],
                     shapes=[box("car", 2, 1, 1, 9, 9)])
    out = export_dir(task, "ImageNet 1.0", tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["default.txt", "synsets.txt"]
    got = reimport(out, "imagenet_txt")
    assert {item.id: label_names(got, item) for item in got} == {
        "img_0": ["car", "person"], "img_1": ["person"], "img_2": []}


def icdar_task() -> Task:
    text = AttributeSpec("text", "text", default_value="")
    return make_task(
        [plain_label("icdar", text)],
        tags=[Tag("icdar", 0, attributes={"text": "word_1"})],
        shapes=[box("icdar", 1, 10, 10, 30, 20, attributes={"text": "word_2"}),
                Shape("polygon", 2, [1.0, 1.0, 9.0, 1.0, 9.0, 9.0, 1.0, 9.0], label="icdar",
                      attributes={"text": "word_3"})],
    )


def test_icdar_recognition_captions(tmp_path: Path) -> None:
    got = reimport(export_dir(icdar_task(), "ICDAR Recognition 1.0", tmp_path), "icdar_word_recognition")
    captions = {item.id: [a.caption for a in item.annotations if a.type == AnnotationType.caption] for item in got}
    assert captions == {"img_0": ["word_1"], "img_1": ["word_2"], "img_2": ["word_3"]}


def test_icdar_detection_boxes_and_polygons(tmp_path: Path) -> None:
    got = by_id(reimport(export_dir(icdar_task(), "ICDAR Detection 1.0", tmp_path), "icdar_text_localization"))
    assert not got["img_0"].annotations  # tags are not text regions
    [region] = got["img_1"].annotations
    assert (region.type, region.get_bbox(), region.attributes["text"]) == (AnnotationType.bbox, [10, 10, 20, 10],
                                                                          "word_2")
    [polygon] = got["img_2"].annotations
    assert (polygon.type, polygon.attributes["text"]) == (AnnotationType.polygon, "word_3")
    assert polygon.points == [1, 1, 9, 1, 9, 9, 1, 9]


# --- LFW, WIDER Face, VGGFace2, Market-1501 -----------------------------------------------------

def faces_task(*, tags: bool = True) -> Task:
    """Two people, landmarks, a box per frame, and a skeleton that is not a set of landmarks."""
    return make_task(
        [plain_label("alice"), plain_label("bob"), skeleton_label("pose")],
        tags=[Tag("alice", 0), Tag("bob", 1)] if tags else [],
        shapes=[Shape("points", 0, [float(v) for v in range(1, 11)], label="alice"),
                skeleton(1, [(1, 1), (2, 2), (3, 3)], label="pose"),
                box("bob", 1, 1, 1, 20, 20), box("alice", 2, 2, 2, 30, 30)],
    )


def test_lfw_people_and_landmarks(tmp_path: Path) -> None:
    out = export_dir(faces_task(), "LFW 1.0", tmp_path)
    got = reimport(out, "lfw")
    items = by_id(got)
    assert {i: label_names(got, items[i], AnnotationType.label) for i in items} == {
        "img_0": ["alice"], "img_1": ["bob"], "img_2": []}
    [landmarks] = [a for a in items["img_0"].annotations if a.type == AnnotationType.points]
    assert landmarks.points == [float(v) for v in range(1, 11)]
    assert not [a for a in items["img_1"].annotations if a.type == AnnotationType.points]  # no skeleton
    lines = (out / "default" / "annotations" / "landmarks.txt").read_text().splitlines()
    assert len(lines) == 1


def test_wider_face_boxes_and_labels(tmp_path: Path) -> None:
    got = reimport(export_dir(faces_task(), "WIDER Face 1.0", tmp_path), "wider_face")
    items = by_id(got)
    assert {i: (label_names(got, items[i], AnnotationType.label), label_names(got, items[i], AnnotationType.bbox))
            for i in items} == {"img_0": (["alice"], []), "img_1": (["bob"], ["bob"]), "img_2": ([], ["alice"])}
    [face] = [a for a in items["img_1"].annotations if a.type == AnnotationType.bbox]
    assert face.get_bbox() == [1, 1, 19, 19]


def test_vggface2_one_face_per_frame_read_back(tmp_path: Path) -> None:
    got = reimport(export_dir(faces_task(tags=False), "VGGFace2 1.0", tmp_path), "vgg_face2")
    faces = {item.id: [(a.type, got.categories()[AnnotationType.label][a.label].name) for a in item.annotations]
             for item in got}
    assert faces == {"alice/img_0": [(AnnotationType.points, "alice")],
                     "bob/img_1": [(AnnotationType.bbox, "bob")],  # the skeleton is not landmarks
                     "alice/img_2": [(AnnotationType.bbox, "alice")]}


def test_vggface2_refuses_several_boxes_and_names_the_frames(tmp_path: Path) -> None:
    """DELTAS.md item 3: CVAT crashes; we stop before writing, naming every such frame."""
    task = make_task([plain_label("alice")], frames=4,
                     shapes=[box("alice", 1, 1, 1, 5, 5), box("alice", 1, 6, 6, 9, 9), box("alice", 2, 1, 1, 5, 5),
                             box("alice", 3, 1, 1, 5, 5), box("alice", 3, 2, 2, 6, 6)])
    with pytest.raises(FormatError, match=r"2 frame\(s\).*frames 1 \(img_1\), 3 \(img_3\).*keep_first_box"):
        export_dir(task, "VGGFace2 1.0", tmp_path)
    assert not (tmp_path / "out").exists()
    got = reimport(export_dir(task, "VGGFace2 1.0", tmp_path, options={"keep_first_box": True}), "vgg_face2")
    boxes = {item.id: [a.get_bbox() for a in item.annotations] for item in got}
    assert boxes == {"alice/img_1": [[1, 1, 4, 4]], "alice/img_2": [[1, 1, 4, 4]], "alice/img_3": [[1, 1, 4, 4]],
                     "no_label/img_0": []}


def test_vggface2_error_exits_2_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from cvat_bridge.cli import main

    out = tmp_path / "vgg.zip"
    monkeypatch.setattr("sys.argv", ["cvat-bridge", "export", "--task", str(SAMPLE), "--format", "VGGFace2",
                                     "-o", str(out), "--quiet"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    message = " ".join(capsys.readouterr().err.split())
    assert "frames 0 (left/img_00)" in message and "keep_first_box" in message
    assert not list(tmp_path.iterdir())


def market_task() -> Task:
    label = plain_label("market-1501",
                        AttributeSpec("query", "select", default_value="False", values=["True", "False"]),
                        AttributeSpec("camera_id", "number", default_value="0", values=["0", "5", "1"]),
                        AttributeSpec("person_id", "number", default_value="1", values=["1", "6", "1"]))
    return make_task([label], tags=[
        Tag("market-1501", 0, attributes={"query": "True", "camera_id": "2", "person_id": "3"}),
        Tag("market-1501", 1, attributes={"query": "False", "camera_id": "0", "person_id": "3"}),
    ])


def test_market1501_names_files_from_the_tag_attributes(tmp_path: Path) -> None:
    """CVAT moves the market-1501 tag's attributes to the image and names files from them; its
    number attributes are floats, so person ids come out as ``3.0`` (as in CVAT's archives)."""
    out = export_dir(market_task(), "Market-1501 1.0", tmp_path)
    lines = (out / "images_default.txt").read_text().splitlines()
    assert lines == ["query/3.0_c3s1_000000_00.jpg", "bounding_box_default/3.0_c1s1_000000_00.jpg",
                     "bounding_box_default/img_2.jpg"]
    got = by_id(reimport(out, "market1501"))
    # Known limit (DELTAS.md item 9): upstream's name pattern wants an integer person id, so it
    # reads "3.0_c3s1_..." as a plain name and finds no attributes; it still sees every image.
    assert sorted(got) == ["3.0_c1s1_000000_00", "3.0_c3s1_000000_00", "img_2"]
    assert all(not item.attributes.get("person_id") for item in got.values())
    assert all(not item.annotations for item in got.values())


def test_public_export_can_be_called_twice(tmp_path: Path) -> None:
    """Importing the submodule cvat_bridge.export must not replace the package's export()."""
    import cvat_bridge

    for name in ("first", "second"):
        cvat_bridge.export(SAMPLE, "ImageNet 1.0", tmp_path / name)
        assert (tmp_path / name / "train.txt").is_file()
    assert callable(cvat_bridge.export)
