"""The speed-ups of the core (issues 7 and 8) give the results of the plain computations they replace:
job-by-job reading of annotations.json, the streamed per-frame view, the exact box IoU, the
assignment shortcut and the directly loaded solver."""

from __future__ import annotations

import io
import json
import random
import zipfile
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from cvat_bridge import annotations_json, matching
from cvat_bridge.backup import load_task
from cvat_bridge.interpolate import _derived, interpolate_track
from cvat_bridge.model import Annotations, FrameInfo, Job, Label, Shape, Tag, Task, Track
from cvat_bridge.view import ExportView
from tests.builders import frames, task_json, write_backup

# --- annotations.json, job by job ------------------------------------------------------------


def _job(frame: int, value: str) -> dict:
    return {"version": 0, "tags": [], "tracks": [], "shapes": [
        {"type": "rectangle", "frame": frame, "points": [1, 1, 3, 3], "label": "car", "occluded": False,
         "attributes": [{"name": "note", "value": value}]}]}


@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": "), (",\n  ", ": ")])
@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
def test_entries_are_read_one_job_at_a_time(monkeypatch, separators, chunk):
    entries = [_job(i, f"job {i}") for i in range(5)]
    text = json.dumps(entries, separators=separators).encode()
    monkeypatch.setattr(annotations_json, "_CHUNK_BYTES", chunk)
    pieces = []
    for entry in annotations_json.iter_entries(io.BytesIO(b"\n " + text + b"\n")):
        pieces.append(entry)
    assert pieces == entries


@pytest.mark.parametrize("text", [
    b'{"version": 0}',  # not an array
    b'[{"version": 0, "tags": []}, {"version": 1, "tags": ["},{\\"version\\":"]}]',  # a separator inside a string
    b'[{"version": 0, "tags": [{"frame": 1}, {"version": 3}]}]',  # a nested object that looks like an entry
    b'[{"version": 0}, {"version": NaN}]',  # orjson cannot read it: the standard library must
    b'[{"version": 0}',  # not closed
])
def test_what_cannot_be_split_is_left_to_the_whole_file_parser(text):
    try:
        entries = list(annotations_json.iter_entries(io.BytesIO(text)))
    except annotations_json.NotSplittable:
        return
    assert entries == json.loads(text)  # a split, when made, must be exact


def _labels() -> list[dict]:
    return [{"name": "car", "color": "#ff0000", "attributes": [
        {"name": "note", "mutable": True, "input_type": "text", "default_value": "", "values": []}]}]


def test_a_backup_reads_the_same_split_or_whole(tmp_path: Path):
    jobs = [{"start_frame": 0, "stop_frame": 1}, {"start_frame": 2, "stop_frame": 3}]
    tricky = '},{"version": 0, "shapes": []}'  # separator-like text in a value: the file is read whole
    tasks = []
    for index, second in enumerate(["plain", tricky]):
        path = write_backup(tmp_path / f"b{index}.zip", task_json(_labels(), jobs), [_job(0, "a"), _job(2, second)],
                            frames(4))
        tasks.append(load_task(path))
    for task, note in zip(tasks, ["plain", tricky], strict=True):
        assert [a.shapes[0].attributes for a in task.job_annotations] == [{"note": "a"}, {"note": note}]
        assert [a.shapes[0].frame for a in task.job_annotations] == [0, 2]


def test_more_entries_than_jobs_are_counted_when_streamed(tmp_path: Path):
    path = write_backup(tmp_path / "b.zip", task_json(_labels()), [_job(0, "a"), _job(1, "b"), _job(2, "c")],
                        frames(4))
    with pytest.raises(Exception, match="annotations.json has 3 entries, but task.json lists 1 jobs"):
        load_task(path)


def test_loaded_objects_share_equal_values_and_the_view_copies_them(tmp_path: Path):
    path = write_backup(tmp_path / "b.zip", task_json(_labels()), [{"version": 0, "tags": [], "tracks": [], "shapes": [
        {"type": "rectangle", "frame": f, "points": [1, 1, 3, 3], "label": "car",
         "attributes": [{"name": "note", "value": "same"}]} for f in range(3)]}], frames(4))
    task = load_task(path)
    shapes = task.job_annotations[0].shapes
    assert shapes[0].attributes is shapes[1].attributes and shapes[0].label is shapes[2].label
    view_shapes = [s for content in ExportView(task).frames() for s in content.shapes]
    view_shapes[0].attributes["note"] = "changed by a writer"
    assert shapes[1].attributes == {"note": "same"} and view_shapes[1].attributes == {"note": "same"}


# --- the streamed view -------------------------------------------------------------------------


def _kf(frame: int, points: list[float], kind: str = "rectangle", **kw) -> Shape:
    return Shape(type=kind, frame=frame, points=points, **kw)


def _job_objects(rng: random.Random, first: int, last: int, *, skeleton: bool) -> Annotations:
    tracks = []
    for index in range(12):
        start = rng.randrange(first, last - 5)
        kind = "polygon" if index % 3 == 0 else "rectangle"
        keys = []
        for frame in sorted(rng.sample(range(start, last + 1), 4)):
            x = rng.uniform(0, 50)
            points = [x, 1, x + 5, 1, x + 2, 6] if kind == "polygon" else [x, 1, x + 5, 6]
            keys.append(_kf(frame, points, kind, outside=rng.random() < 0.3, z_order=rng.randrange(3),
                            attributes={"note": str(frame)}))
        tracks.append(Track(label="car", frame=start, shapes=keys, attributes={"id": str(index)}))
    if skeleton:
        tracks.insert(4, Track(label="pose", frame=5, shapes=[
            _kf(5, [], "skeleton"), _kf(9, [], "skeleton"), _kf(16, [], "skeleton", outside=True)],
            elements=[Track(label="head", frame=5, shapes=[_kf(5, [0.0, 0.0], "points"),
                                                           _kf(12, [2.0, 2.0], "points", outside=True)])]))
    shapes = [_kf(rng.randrange(first, last + 1), [1, 1, 2, 2], label="car", z_order=rng.randrange(3))
              for _ in range(15)]
    tags = [Tag("car", rng.randrange(first, last + 1)) for _ in range(5)]
    return Annotations(tags=tags, shapes=shapes, tracks=tracks)


def _view_task() -> Task:
    rng = random.Random(8)
    labels = [Label("car"), Label("pose", type="skeleton", sublabels=[Label("head", type="points", parent="pose")])]
    return Task(name="t", labels=labels, jobs=[Job(0, 19), Job(20, 39)],
                job_annotations=[_job_objects(rng, 0, 19, skeleton=True), _job_objects(rng, 20, 39, skeleton=False)],
                media_kind="images", frames=[FrameInfo(f"{i}.png", 64, 48) for i in range(40)],
                stop_frame=39, deleted_frames={7, 8, 25})


def _materialised_frames(view: ExportView) -> list[tuple]:
    """What the view yields, computed the plain way: every frame of every track at once."""
    included = view.included
    by_frame: dict[int, list] = {}
    for shape in view.annotations.shapes:
        if shape.frame in included:
            by_frame.setdefault(shape.frame, []).append((shape.z_order, None, shape.frame, shape.points))
    for track_id, track in enumerate(view.annotations.tracks):
        for shape in interpolate_track(track, view.end_frame, deleted_frames=view.task.deleted_frames,
                                       included_frames=included):
            if shape.outside or (shape.type == "skeleton" and not shape.elements):
                continue
            by_frame.setdefault(shape.frame, []).append((shape.z_order, track_id, shape.frame, shape.points))
    return [(frame, sorted(by_frame.get(frame, []), key=lambda s: s[0])) for frame in view.selection.frames]


@pytest.mark.parametrize("job", [None, 0, 1])
def test_the_streamed_view_yields_what_materialising_every_track_gives(job):
    view = ExportView(_view_task(), job)
    streamed = [(content.frame, [(s.shape.z_order, s.track_id, s.shape.frame, s.shape.points)
                                 for s in content.shapes]) for content in view.frames()]
    assert streamed == _materialised_frames(view)
    assert sum(len(shapes) for _, shapes in streamed) > (60 if job is None else 30)


def test_derived_shapes_set_every_field():
    """``_derived`` builds a Shape field by field: a field added to Shape must be added there too."""
    assert {f.name for f in fields(Shape)} == {
        "type", "frame", "points", "label", "occluded", "outside", "z_order", "rotation", "group", "source",
        "attributes", "elements", "score", "keyframe"}
    key = Shape("rectangle", 3, [1.0, 2.0, 3.0, 4.0], occluded=True, z_order=2, score=0.5)
    track = Track(label="car", frame=0, shapes=[key], group=4, source="auto")
    made = _derived(key, 5, [0.0] * 4, 30.0, track, {"a": "b"}, False)
    assert (made.frame, made.label, made.group, made.source, made.occluded, made.z_order, made.score,
            made.rotation, made.keyframe, made.attributes) == (5, "car", 4, "auto", True, 2, 0.5, 30.0, False,
                                                               {"a": "b"})


# --- merge: IoU and assignment ------------------------------------------------------------------


def test_box_iou_is_bit_for_bit_shapelys():
    shapely = pytest.importorskip("shapely")
    rng = np.random.default_rng(3)
    a = np.round(rng.uniform(0, 500, (20000, 2)), 2)
    a = np.hstack([a, a + np.round(rng.uniform(0.01, 80, (20000, 2)), 2)])
    b = np.round(a + rng.normal(0, 10, a.shape), 2)
    b[:, 2:] = np.maximum(b[:, 2:], b[:, :2] + 0.01)
    b[::7, 0] = a[::7, 0]  # shared edges
    ga, gb = shapely.box(*a.T), shapely.box(*b.T)
    inter = shapely.area(shapely.intersection(ga, gb))
    expected = inter / (shapely.area(ga) + shapely.area(gb) - inter)
    assert np.array_equal(matching.box_iou(a, b), expected)


def test_shape_similarity_of_boxes_equals_the_shapely_path():
    rng = random.Random(5)
    new = [Shape("rectangle", 0, [x, y, x + rng.uniform(1, 30), y + rng.uniform(1, 30)], label=rng.choice("ab"))
           for x, y in ((rng.uniform(0, 60), rng.uniform(0, 60)) for _ in range(40))]
    old = [Shape("rectangle", 0, [p + rng.gauss(0, 3) for p in s.points], label=s.label) for s in new[::-1]]
    fast = matching.shape_similarity(new, old)
    rows, cols, iou = matching.shapely_iou(new, old, [(i, j) for i in range(40) for j in range(40)
                                                    if new[i].label == old[j].label])
    slow = np.zeros_like(fast)
    slow[rows, cols] = iou
    assert np.array_equal(fast, slow) and (fast > 0).sum() > 20


def test_assignment_shortcut_and_loaded_solver_agree_with_scipy():
    from scipy.optimize import linear_sum_assignment

    solver = matching.linear_sum_assignment_solver()
    rng = np.random.default_rng(11)
    for _ in range(300):
        n, m = rng.integers(1, 9, 2)
        cost = np.ones((n, m))
        mask = rng.random((n, m)) < rng.choice([0.1, 0.3, 0.7])
        cost[mask] = np.round(rng.random(mask.sum()), 1)
        rows, cols = linear_sum_assignment(cost)
        expected = [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if cost[r, c] <= 0.5]
        assert matching.assign(cost, 0.5) == expected
        assert [a.tolist() for a in solver(cost)] == [rows.tolist(), cols.tolist()]


def test_reference_backup_is_read_job_by_job():
    """The shared references are split into their jobs (not read whole)."""
    from tests.conftest import reference_or_skip

    path = reference_or_skip("overlap32", "backup.zip")
    with zipfile.ZipFile(path) as archive, archive.open("annotations.json") as stream:
        assert sum(1 for _ in annotations_json.iter_entries(stream)) == 32


# --- CVAT XML: the fast paths still escape what needs it -----------------------------------------


@pytest.mark.parametrize("fmt", ["CVAT for images 1.1", "CVAT for video 1.1"])
def test_cvat_xml_escapes_names_and_values(tmp_path: Path, fmt):
    import xml.etree.ElementTree as ET

    from cvat_bridge.export import export_task
    from cvat_bridge.formats.registry import find_format
    from cvat_bridge.model import AttributeSpec
    from tests.label_tasks import box, make_task

    name, value = 'a&b "c" <d>', "it's\n<ok> & \"fine\""
    label = Label(name, attributes=[AttributeSpec("note", "text", mutable=True)])
    shape = box(name, 1, 1.005, 2, 30, 40.5, attributes={"note": value}, source="auto & co")
    track = Track(label=name, frame=0, shapes=[Shape("polygon", 0, [1, 1, 9, 1, 5, 8], attributes={"note": value}),
                                               Shape("polygon", 2, [2, 2, 9, 2, 5, 9], attributes={"note": value})])
    out = export_task(make_task([label], shapes=[shape], tracks=[track]), find_format(fmt), tmp_path / "out")
    root = ET.parse(out / "annotations.xml").getroot()
    elements = [e for e in root.iter() if e.tag in ("box", "polygon")]
    assert len(elements) >= 3
    labels = {e.get("label") for e in root.iter() if e.get("label") is not None and e.tag != "attribute"}
    assert labels == {name}
    notes = [a.text for a in root.iter("attribute") if a.get("name") == "note"]
    assert len(notes) >= 3 and set(notes) == {value}
    assert "auto & co" in {e.get("source") for e in root.iter() if e.tag in ("box", "track")}
