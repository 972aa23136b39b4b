"""The Ultralytics YOLO family judged by the ``ultralytics`` package's own dataset loading.

Each format is exported with images from the project's sample backup; ``check_det_dataset`` /
``check_cls_dataset`` must accept it (from another working directory: DELTAS.md item 8) and
``YOLODataset`` / ``ClassificationDataset`` must read back, per image, exactly the objects of
the task: expected values are computed here from the task's per-frame shapes, not from our
writer. CPU only, no weights, no network. Skipped when ``ultralytics`` is not installed
(``pip install -e '.[ultralytics]'``).
"""

from __future__ import annotations

import math
import os
from itertools import cycle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from datumaro.components.annotation import AnnotationType

from cvat_bridge.backup import load_task
from cvat_bridge.export import export_task
from cvat_bridge.formats.registry import find_format
from cvat_bridge.formats.tweaks import get_tweak
from cvat_bridge.model import Task
from cvat_bridge.translate import TaskExtractor, skeleton_layout
from cvat_bridge.view import ExportView
from tests.conftest import SAMPLE

Row = tuple[Any, ...]  # (class, values...) rounded for comparison
TOLERANCE = 2e-6  # labels are written with 6 decimals


@pytest.fixture(scope="module")
def ul(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The ultralytics data API, with its settings kept in a temporary folder."""
    os.environ.setdefault("YOLO_CONFIG_DIR", str(tmp_path_factory.mktemp("ultralytics_settings")))
    pytest.importorskip("ultralytics", reason="the 'ultralytics' package is not installed (extra 'ultralytics')")
    import ultralytics.data.dataset as dataset
    import ultralytics.data.utils as utils

    return type("UL", (), {"utils": utils, "dataset": dataset})


@pytest.fixture(scope="module")
def task() -> Task:
    return load_task(SAMPLE)


def _export(task: Task, format_name: str, out: Path) -> Path:
    export_task(task, find_format(format_name), out, save_images=True)
    return out


def _load(ul: Any, out: Path, kind: str, elsewhere: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """data.yaml checked and labels read by ultralytics, from an unrelated working directory."""
    elsewhere.mkdir(exist_ok=True)
    cwd = os.getcwd()
    os.chdir(elsewhere)
    try:
        data = ul.utils.check_det_dataset(str(out / "data.yaml"), autodownload=False)
        loaded = ul.dataset.YOLODataset(img_path=data["train"], data=data, task=kind, augment=False, imgsz=64)
    finally:
        os.chdir(cwd)
    labels = {str(Path(lb["im_file"]).relative_to(out / "images" / "train")): lb for lb in loaded.labels}
    return data, labels


def _frames(task: Task) -> list[Any]:
    return list(ExportView(task).frames())


def _rows(values: np.ndarray | list[list[float]]) -> list[Row]:
    return sorted(tuple(round(float(v), 4) for v in row) for row in values)


def _pose_rows(label: dict[str, Any]) -> list[Row]:
    """class, box and keypoints of one image as ultralytics read them."""
    parts = zip(label["cls"].ravel(), label["bboxes"], label["keypoints"], strict=True)
    return _rows([[float(c), *box, *points.ravel()] for c, box, points in parts])


def _assert_rows(actual: list[Row], expected: list[Row], where: str) -> None:
    assert len(actual) == len(expected), f"{where}: {actual} != {expected}"
    for a, e in zip(actual, expected, strict=True):
        assert a[0] == e[0] and np.allclose(a[1:], e[1:], atol=1e-4), f"{where}: {actual} != {expected}"


def _normalise(points: list[float], width: int, height: int) -> list[float]:
    return [v / size for v, size in zip(points, cycle((width, height)))]


def _class_ids(task: Task) -> dict[str, int]:
    return {label.name: index for index, label in enumerate(task.labels)}


def _box(points: list[float], width: int, height: int) -> list[float]:
    x1, y1, x2, y2 = points
    return [(x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height]


def _expected_boxes(task: Task) -> dict[str, list[tuple[int, list[float], int | None]]]:
    """Axis-aligned rectangles per image: (class, cx cy w h, track id)."""
    ids = _class_ids(task)
    result: dict[str, list[tuple[int, list[float], int | None]]] = {}
    for content in _frames(task):
        w, h = content.info.width, content.info.height
        result[content.info.name] = [
            (ids[s.label], _box(s.shape.points, w, h), s.track_id)
            for s in content.shapes if s.shape.type == "rectangle" and s.shape.rotation % 360 == 0
        ]
    return result


def _corners(points: list[float], rotation: float) -> list[list[float]]:
    """A CVAT rectangle's corners, clockwise from top-left, rotated about its centre."""
    x1, y1, x2, y2 = points
    centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    angle = math.radians(rotation)
    turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]]) - centre
    return (corners @ turn.T + centre).tolist()


def test_detection_reads_back(ul: Any, task: Task, tmp_path: Path) -> None:
    out = _export(task, "Ultralytics YOLO Detection 1.0", tmp_path / "det")
    data, labels = _load(ul, out, "detect", tmp_path / "elsewhere")
    assert data["names"] == dict(enumerate(label.name for label in task.labels))
    expected = _expected_boxes(task)
    assert set(labels) == set(expected)
    assert sum(len(v) for v in expected.values()) >= 4, "the sample should exercise detection"
    for name, lb in labels.items():
        actual = _rows(np.hstack([lb["cls"], lb["bboxes"]]))
        _assert_rows(actual, _rows([[c, *box] for c, box, _ in expected[name]]), name)


def test_data_yaml_is_trainable_as_downloaded(task: Task, tmp_path: Path) -> None:
    out = _export(task, "Ultralytics YOLO Detection 1.0", tmp_path / "det")
    config = yaml.safe_load((out / "data.yaml").read_text(encoding="utf-8"))
    assert "path" not in config
    assert config["train"] == config["val"] == "images/train"  # the sample task has only 'train'
    lines = (out / "train.txt").read_text(encoding="utf-8").splitlines()
    assert lines == [f"images/train/{c.info.name}" for c in _frames(task)]
    assert all((out / line).is_file() for line in lines)


def test_detection_track_ids(ul: Any, task: Task, tmp_path: Path) -> None:
    """Track ids are CVAT's extra column; ultralytics reads 5-column box rows only, so it
    rejects files with tracked boxes (asserted, so that a change on either side shows). The
    boxes are read back by ultralytics once the id column is cut; the ids by a plain reader."""
    out = _export(task, "Ultralytics YOLO Detection Track 1.0", tmp_path / "track")
    expected = _expected_boxes(task)
    tracked = {name for name, boxes in expected.items() if any(t is not None for *_, t in boxes)}
    assert tracked, "the sample should have tracked boxes"
    _, labels = _load(ul, out, "detect", tmp_path / "elsewhere")
    assert set(labels) == set(expected) - tracked

    for name, boxes in expected.items():
        path = out / "labels" / "train" / Path(name).with_suffix(".txt")
        rows = [line.split() for line in path.read_text().splitlines()] if path.exists() else []
        ids = sorted((int(r[0]), int(r[5]) if len(r) == 6 else -1) for r in rows)
        assert ids == sorted((c, -1 if t is None else t) for c, _, t in boxes), name
        if rows:
            path.write_text("".join(" ".join(r[:5]) + "\n" for r in rows))
    for cache in (out / "labels").rglob("*.cache"):
        cache.unlink()
    _, labels = _load(ul, out, "detect", tmp_path / "elsewhere")
    assert set(labels) == set(expected)
    for name, lb in labels.items():
        actual = _rows(np.hstack([lb["cls"], lb["bboxes"]]))
        _assert_rows(actual, _rows([[c, *box] for c, box, _ in expected[name]]), name)


def test_oriented_boxes_read_back(ul: Any, task: Task, tmp_path: Path) -> None:
    out = _export(task, "Ultralytics YOLO Oriented Bounding Boxes 1.0", tmp_path / "obb")
    _, labels = _load(ul, out, "obb", tmp_path / "elsewhere")
    ids = _class_ids(task)
    rotated = 0
    for content in _frames(task):
        w, h = content.info.width, content.info.height
        expected = []
        for s in content.shapes:
            if s.shape.type == "rectangle":
                rotated += s.shape.rotation % 360 != 0
                corners = _normalise(list(np.ravel(_corners(s.shape.points, s.shape.rotation))), w, h)
                expected.append([ids[s.label], *corners])
        lb = labels[content.info.name]
        actual = [[float(c), *segment.ravel()] for c, segment in zip(lb["cls"].ravel(), lb["segments"], strict=True)]
        _assert_rows(_rows(actual), _rows(expected), content.info.name)
    assert rotated, "the sample should have rotated boxes"


def test_segmentation_reads_back(ul: Any, task: Task, tmp_path: Path) -> None:
    """Polygons as drawn in CVAT, plus the polygons of masks and ellipses as the row's Datumaro
    transforms make them (CVAT's own conversion, judged by the reference archives)."""
    spec = find_format("Ultralytics YOLO Segmentation 1.0")
    out = _export(task, spec.name, tmp_path / "seg")
    _, labels = _load(ul, out, "segment", tmp_path / "elsewhere")
    from datumaro.components.dataset import Dataset

    dataset: Any = Dataset.from_extractors(TaskExtractor(ExportView(task)))
    for name in spec.tweaks:
        dataset = get_tweak(name)(dataset)
    ids = _class_ids(task)
    label_names = [c.name for c in dataset.categories()[AnnotationType.label].items]
    drawn = 0
    for content, item in zip(_frames(task), dataset, strict=True):
        w, h = content.info.width, content.info.height
        expected = [[ids[label_names[a.label]], *_normalise(a.points, w, h)]
                    for a in item.annotations if a.type == AnnotationType.polygon]
        lb = labels[content.info.name]
        actual = [[float(c), *segment.ravel()] for c, segment in zip(lb["cls"].ravel(), lb["segments"], strict=True)]
        _assert_rows(_rows(actual), _rows(expected), content.info.name)
        for s in content.shapes:
            if s.shape.type == "polygon":
                drawn += 1
                row = _rows([[ids[s.label], *_normalise(s.shape.points, w, h)]])[0]
                assert row in _rows(actual), f"{content.info.name}: CVAT polygon {row} not read back"
    assert drawn, "the sample should have polygons"


def test_pose_reads_back(ul: Any, task: Task, tmp_path: Path) -> None:
    out = _export(task, "Ultralytics YOLO Pose 1.0", tmp_path / "pose")
    data, labels = _load(ul, out, "pose", tmp_path / "elsewhere")
    skeletons = [label for label in task.labels if label.type == "skeleton"]
    assert data["names"] == dict(enumerate(s.name for s in skeletons))
    assert data["kpt_shape"] == [max(len(skeleton_layout(s)[0]) for s in skeletons), 3]
    count = 0
    for content in _frames(task):
        w, h = content.info.width, content.info.height
        expected = []
        for s in content.shapes:
            if s.shape.type != "skeleton":
                continue
            names = skeleton_layout(next(k for k in skeletons if k.name == s.label))[0]
            points = [[0.0, 0.0, 0.0] for _ in range(data["kpt_shape"][0])]
            for element in s.elements:
                x, y = element.shape.points[:2]
                visibility = 0 if element.shape.outside else 1 if element.shape.occluded else 2
                points[names.index(element.label)] = [x / w, y / h, visibility]
            shown = [p for p in points if p[2]]
            xs, ys = [p[0] for p in shown], [p[1] for p in shown]
            box = [(min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(xs) - min(xs), max(ys) - min(ys)]
            expected.append([skeletons.index(next(k for k in skeletons if k.name == s.label)), *box,
                             *np.ravel(points)])
            count += 1
        _assert_rows(_pose_rows(labels[content.info.name]), _rows(expected), content.info.name)
    assert count, "the sample should have skeletons"


def test_classification_reads_back(ul: Any, task: Task, tmp_path: Path) -> None:
    out = _export(task, "Ultralytics YOLO Classification 1.0", tmp_path / "cls")
    data = ul.utils.check_cls_dataset(str(out))
    from ultralytics.cfg import get_cfg
    from ultralytics.utils import DEFAULT_CFG

    loaded = ul.dataset.ClassificationDataset(root=str(data["train"]), args=get_cfg(DEFAULT_CFG), augment=False)
    actual = sorted((data["names"][index], Path(path).name) for path, index, *_ in loaded.samples)
    expected = sorted(
        (label, Path(c.info.name).name)
        for c in _frames(task)
        for label in ([t.label for t in c.tags] or ["no_label"])
    )
    assert actual == expected
    assert any(label != "no_label" for label, _ in expected), "the sample should have tags"


def test_datumaro_user_registers_and_exports_pose(ul: Any, tmp_path: Path) -> None:
    """A plain Datumaro dataset: exporters registered in an Environment and called by name;
    a smaller skeleton is padded to the largest one (``0 0 0``); sub-labels are not classes."""
    from datumaro.components.annotation import LabelCategories, Points, PointsCategories
    from datumaro.components.dataset import Dataset
    from datumaro.components.dataset_base import DatasetItem
    from datumaro.components.environment import Environment
    from datumaro.components.media import Image

    from cvat_bridge.formats.ultralytics import register_exporters

    labels = LabelCategories()
    for name, parent in [("hand", ""), ("a", "hand"), ("b", "hand"), ("c", "hand"), ("dot", ""),
                         ("pair", ""), ("p", "pair"), ("q", "pair")]:
        labels.add(name, parent=parent)
    points = PointsCategories()
    points.add(0, ["a", "b", "c"], [])
    points.add(5, ["p", "q"], [])
    image = Image.from_numpy(np.zeros((40, 50, 3), dtype=np.uint8))
    item = DatasetItem("sub/one", subset="train", media=image, annotations=[
        Points([10, 10, 20, 30, 40, 20], [2, 1, 2], label=0),
        Points([5, 5, 25, 15], [2, 0], label=5),
        Points([1, 1], label=4),
    ])
    env = Environment()
    register_exporters(env)
    dataset = Dataset.from_iterable([item], categories={AnnotationType.label: labels,
                                                        AnnotationType.points: points}, env=env)
    out = tmp_path / "pose"
    dataset.export(str(out), "ultralytics_pose", save_media=True)
    data, read = _load(ul, out, "pose", tmp_path / "elsewhere")
    assert data["names"] == {0: "hand", 1: "pair"} and data["kpt_shape"] == [3, 3]
    actual = _pose_rows(read["sub/one.jpg"])
    expected = [[0, 25 / 50, 20 / 40, 30 / 50, 20 / 40, 10 / 50, 10 / 40, 2, 20 / 50, 30 / 40, 1, 40 / 50, 20 / 40, 2],
                [1, 5 / 50, 5 / 40, 0, 0, 5 / 50, 5 / 40, 2, 25 / 50, 15 / 40, 0, 0, 0, 0]]
    _assert_rows(actual, _rows(expected), "sub/one")
