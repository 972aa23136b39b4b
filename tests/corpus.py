"""Malformed and hostile task backups, each made from fixtures/sample_backup.zip by one mutation.

Every ``Case`` (``all_cases()``; hostile archives live in ``tests/corpus_archives.py``) is named
after what it breaks and says which fragments the error message must
contain, and whether ``--lenient`` can skip the bad object (exit 0) or must still stop (exit 2).
The sample's objects (fixtures/make_sample.py): job 1 shapes #1 rectangle 'car' (frame 0),
#2 rotated rectangle, #3 polygon, #4 polyline, #5 points, #6 ellipse, #7 mask (frame 1),
#8 cuboid, #9 skeleton 'fish'; tracks #1 'car' (keyframes 0, 4), #2 'person'; job 2 shapes
#1 rectangle 'car' (frame 3), #2 rectangle 'person', #3 skeleton 'fish', track #1 'car'.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

SAMPLE = Path(__file__).resolve().parent.parent / "fixtures" / "sample_backup.zip"
ZIP_DATE = (2024, 1, 1, 0, 0, 0)
Json = Any
Members = dict[str, bytes]


@cache
def _sample_members() -> tuple[tuple[str, bytes], ...]:
    with zipfile.ZipFile(SAMPLE) as archive:
        return tuple((info.filename, archive.read(info)) for info in archive.infolist())


def sample_members() -> Members:
    """The sample backup's files, name → bytes (a fresh copy)."""
    return dict(_sample_members())


def sample_json() -> tuple[Json, Json]:
    """(task.json, annotations.json) of the sample, parsed (fresh copies)."""
    members = sample_members()
    return json.loads(members["task.json"]), json.loads(members["annotations.json"])


def write_zip(path: Path, members: Members, *, method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = method
            archive.writestr(info, data)
    return path


def backup_with(task: Json = None, annotations: Json = None, files: dict[str, bytes | None] | None = None) -> Members:
    """The sample's members with task.json / annotations.json (dumped) and other files replaced
    (``None`` removes a file)."""
    members = sample_members()
    if task is not None:
        members["task.json"] = json.dumps(task).encode()
    if annotations is not None:
        members["annotations.json"] = json.dumps(annotations).encode()
    for name, data in (files or {}).items():
        if data is None:
            members.pop(name, None)
        else:
            members[name] = data
    return members


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], Path]  # folder to write into → the backup (zip or folder)
    expect: tuple[str, ...]  # fragments the error message must contain
    skippable: bool = False  # --lenient leaves the bad object out and exports the rest
    limits: dict[str, Any] = field(default_factory=dict)  # "module.NAME" → value, patched for the case

    def __str__(self) -> str:
        return self.name


CASES: list[Case] = []


def _zip_case(name: str, members: Callable[[], Members], *expect: str, skippable: bool = False,
              limits: dict[str, Any] | None = None) -> None:
    CASES.append(Case(name, lambda folder: write_zip(folder / f"{name}.zip", members()), expect, skippable,
                      limits or {}))


def annotation_case(name: str, mutate: Callable[[Json], None], *expect: str) -> None:
    """A bad object in annotations.json: stops by default, skipped with --lenient."""

    def members() -> Members:
        _, annotations = sample_json()
        mutate(annotations)
        return backup_with(annotations=annotations)

    _zip_case(name, members, "annotations.json", *expect, skippable=True)


def task_case(name: str, mutate: Callable[[Json], None], *expect: str) -> None:
    """A bad task.json: always stops."""

    def members() -> Members:
        task, _ = sample_json()
        mutate(task)
        return backup_with(task=task)

    _zip_case(name, members, "task.json", *expect)


def _set(path: str, value: Any) -> Callable[[Json], None]:
    """A mutation that sets one value, addressed like ``0.shapes.3.points`` (ints index lists)."""

    def mutate(doc: Json) -> None:
        *parents, last = path.split(".")
        for key in parents:
            doc = doc[int(key)] if isinstance(doc, list) else doc[key]
        doc[int(last) if isinstance(doc, list) else last] = value

    return mutate


def _edit(path: str, change: Callable[[Json], None]) -> Callable[[Json], None]:
    def mutate(doc: Json) -> None:
        for key in path.split("."):
            doc = doc[int(key)] if isinstance(doc, list) else doc[key]
        change(doc)

    return mutate


# --- annotations.json: one bad object each (skippable) ------------------------------------------

SHAPE1 = "job 1, frame 0, shape #1 (rectangle"
annotation_case("shape_unknown_label", _set("0.shapes.0.label", "ghost"), SHAPE1, "unknown label 'ghost'")
annotation_case("tag_unknown_label", _set("0.tags.0.label", "ghost"), "job 1, frame 0, tag #1", "unknown label")
annotation_case("track_unknown_label", _set("0.tracks.0.label", "ghost"), "track #1 ('ghost')", "unknown label")
annotation_case("shape_label_is_a_skeleton_point", _set("0.shapes.4.label", "nose"), "shape #5",
                "point of skeleton 'fish'")
annotation_case("shape_label_not_a_string", _set("0.shapes.0.label", 7), SHAPE1, "not a label name")
annotation_case("shape_label_with_rich_markup", _set("0.shapes.0.label", "[/bold][red]x"), SHAPE1,
                "unknown label '[/bold][red]x'")
annotation_case("shape_unknown_attribute", _edit("0.shapes.0.attributes", lambda a: a.append(
    {"name": "colour", "value": "red"})), SHAPE1, "no attribute 'colour'")
annotation_case("track_unknown_immutable_attribute", _set("0.tracks.0.attributes.0.name", "brand"),
                "track #1 ('car')", "no attribute 'brand'")
annotation_case("keyframe_unknown_attribute", _set("0.tracks.0.shapes.1.attributes.0.name", "stopped"),
                "frame 4, track #1 ('car'), keyframe on frame 4", "no attribute 'stopped'")
annotation_case("select_value_not_in_values", _set("0.shapes.0.attributes.0.value", "tesla"), SHAPE1,
                "'tesla'", "not one of 'bmw', 'mazda'")
annotation_case("checkbox_value_not_boolean", _set("0.shapes.0.attributes.1.value", "maybe"), SHAPE1,
                "not true or false")
annotation_case("number_value_not_a_number", _set("0.shapes.0.attributes.2.value", "fast"), SHAPE1,
                "'fast', not a number")
annotation_case("number_value_nan", _set("0.shapes.0.attributes.2.value", "nan"), SHAPE1, "not a finite number")
annotation_case("attribute_value_is_an_object", _set("0.shapes.0.attributes.3.value", {"x": 1}), SHAPE1,
                "attribute 'plate' has value {'x': 1}")
annotation_case("attribute_value_null", _set("0.shapes.0.attributes.3.value", None), SHAPE1,
                "attribute 'plate' has value None")
annotation_case("attribute_without_name", _edit("0.shapes.0.attributes", lambda a: a.append({"value": "x"})),
                SHAPE1, "has no name")
annotation_case("attribute_value_control_character", _set("0.shapes.0.attributes.3.value", "AB\x001"), SHAPE1,
                "no export can hold")
annotation_case("attribute_value_lone_surrogate", _set("0.shapes.0.attributes.3.value", "AB\ud800"), SHAPE1,
                "no export can hold")
annotation_case("attribute_value_escape_character", _set("0.shapes.0.attributes.3.value", "\x1b[2J"), SHAPE1,
                "no export can hold")
annotation_case("rectangle_with_three_numbers", _set("0.shapes.0.points", [1.0, 2.0, 3.0]), SHAPE1,
                "3 numbers; a rectangle needs 4")
annotation_case("rectangle_with_six_numbers", _set("0.shapes.0.points", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
                SHAPE1, "6 numbers")
annotation_case("polygon_odd_points", _set("0.shapes.2.points", [30.0, 5.0, 50.0, 8.0, 40.0]),
                "shape #3 (polygon 'person')", "5 numbers")
annotation_case("polygon_of_two_points", _set("0.shapes.2.points", [30.0, 5.0, 50.0, 8.0]), "shape #3",
                "at least 6 numbers")
annotation_case("polyline_of_one_point", _set("0.shapes.3.points", [2.0, 40.0]), "shape #4 (polyline",
                "at least 4")
annotation_case("points_empty", _set("0.shapes.4.points", []), "shape #5 (points", "0 numbers")
annotation_case("ellipse_wrong_length", _set("0.shapes.5.points", [30.0, 24.0, 40.0]), "shape #6 (ellipse",
                "3 numbers")
annotation_case("ellipse_negative_radius", _set("0.shapes.5.points", [30.0, 0.0, 40.0, 18.0]),
                "shape #6 (ellipse", "negative radius")
annotation_case("cuboid_wrong_length", _set("0.shapes.7.points", [1.0] * 14), "shape #8 (cuboid", "14 numbers")
annotation_case("points_not_a_list", _set("0.shapes.0.points", "4,4,20,16"), SHAPE1, "not a list of numbers")
annotation_case("points_hold_a_string", _set("0.shapes.0.points", [4.0, "4", 20.0, 16.0]), SHAPE1,
                "'4', not a number")
annotation_case("points_hold_null", _set("0.shapes.0.points", [4.0, None, 20.0, 16.0]), SHAPE1, "None, not a number")
annotation_case("points_hold_boolean", _set("0.shapes.0.points", [4.0, True, 20.0, 16.0]), SHAPE1, "True")
annotation_case("coordinate_nan", _set("0.shapes.0.points", [4.0, float("nan"), 20.0, 16.0]), SHAPE1,
                "nan, not a finite number")
annotation_case("coordinate_infinity", _set("0.shapes.0.points", [4.0, 4.0, float("inf"), 16.0]), SHAPE1,
                "inf, not a finite number")
annotation_case("coordinate_absurd", _set("0.shapes.0.points", [4.0, 4.0, 1e300, 16.0]), SHAPE1,
                "1e+300, beyond any image")
annotation_case("rotation_nan", _set("0.shapes.1.rotation", float("nan")), "shape #2", "'rotation'")
annotation_case("z_order_not_an_integer", _set("0.shapes.0.z_order", "top"), SHAPE1, "'z_order' is 'top'")
annotation_case("group_not_an_integer", _set("0.shapes.0.group", [1]), SHAPE1, "'group' is [1]")
annotation_case("score_not_a_number", _set("0.shapes.0.score", "high"), SHAPE1, "'score' is 'high'")
annotation_case("shape_frame_negative", _set("0.shapes.0.frame", -1), "frame -1, shape #1",
                "outside the task (frames 0-7)")
annotation_case("shape_frame_beyond_task", _set("0.shapes.0.frame", 8), "frame 8, shape #1", "outside the task")
annotation_case("shape_frame_not_an_integer", _set("0.shapes.0.frame", "two"), "frame 'two', shape #1",
                "not a frame number")
annotation_case("shape_frame_float", _set("0.shapes.0.frame", 1.5), "frame 1.5", "not a frame number")
annotation_case("tag_frame_beyond_task", _set("1.tags.0.frame", 99), "job 2, frame 99, tag #1", "outside")
annotation_case("track_keyframe_beyond_task", _set("1.tracks.0.shapes.2.frame", 12),
                "job 2, frame 12, track #1 ('car'), keyframe on frame 12", "outside the task")
annotation_case("unknown_shape_type", _set("0.shapes.0.type", "hexagon"), "shape #1 (hexagon 'car')",
                "unknown shape type 'hexagon'")
annotation_case("shape_type_missing", _edit("0.shapes.0", lambda s: s.pop("type")), "shape #1 ('car')",
                "unknown shape type None")
annotation_case("shape_not_an_object", _set("0.shapes.0", "rectangle"), "shape #1", "is not an object")
annotation_case("rectangle_with_elements", _set("0.shapes.0.elements", [{"type": "points"}]), SHAPE1,
                "cannot have elements")
annotation_case("conflicting_keyframes", _edit("0.tracks.0.shapes", lambda s: s.append(
    {**s[0], "points": [1.0, 1.0, 9.0, 9.0]})), "frame 0, track #1 ('car')",
                "two different keyframes on frame 0")
annotation_case("track_keyframes_of_two_types", _set("0.tracks.0.shapes.1.type", "points"), "track #1",
                "points, rectangle cannot be interpolated")
annotation_case("track_shapes_not_a_list", _set("0.tracks.0.shapes", {"frame": 0}), "track #1",
                "not a list of keyframes")
annotation_case("mask_rle_longer_than_box", _edit("0.shapes.6.points", lambda p: p.insert(0, 5.0)),
                "frame 1, shape #7 (mask 'person')", "covers 21 pixels", "has 16")
annotation_case("mask_rle_shorter_than_box", _edit("0.shapes.6.points", lambda p: p.pop(0)), "shape #7 (mask",
                "covers 13 pixels")
annotation_case("mask_box_inverted", _set("0.shapes.6.points", [3.0, 2.0, 2.0, 2.0, 2.0, 2.0, 3.0, 30.0, 20.0,
                                                                 20.0, 23.0]), "shape #7", "empty or negative")
annotation_case("mask_box_beyond_image", _set("0.shapes.6.points", [0.0, 32.0, 60.0, 40.0, 67.0, 43.0]),
                "shape #7", "(60, 40, 67, 43) goes beyond the 64x48 image")
annotation_case("mask_negative_run", _set("0.shapes.6.points", [-3.0, 19.0, 20.0, 30.0, 23.0, 33.0]),
                "shape #7", "negative")
annotation_case("mask_fractional_run", _set("0.shapes.6.points", [2.5, 13.5, 20.0, 30.0, 23.0, 33.0]),
                "shape #7", "whole numbers")
annotation_case("skeleton_unknown_element", _set("0.shapes.8.elements.0.label", "fin"),
                "shape #9 (skeleton 'fish'), element 'fin'", "'fin' is not a sublabel of skeleton 'fish'")
annotation_case("skeleton_element_twice", _set("0.shapes.8.elements.1.label", "nose"), "shape #9",
                "element 'nose' appears twice")
annotation_case("skeleton_element_not_points", _set("0.shapes.8.elements.0.type", "rectangle"), "shape #9",
                "is a rectangle, not points")
annotation_case("skeleton_element_two_points", _set("0.shapes.8.elements.0.points", [1.0, 2.0, 3.0, 4.0]),
                "element 'nose'", "4 numbers, not 2")
annotation_case("skeleton_element_on_another_frame", _set("0.shapes.8.elements.0.frame", 2), "element 'nose'",
                "is on frame 2, the skeleton on frame 0")
annotation_case("skeleton_without_elements", _set("0.shapes.8.elements", []), "shape #9 (skeleton 'fish')",
                "skeleton has [] as elements")
annotation_case("skeleton_shape_with_plain_label", _set("0.shapes.8.label", "car"), "shape #9 (skeleton 'car')",
                "label 'car' is not a skeleton")
annotation_case("rectangle_with_skeleton_label", _set("0.shapes.0.label", "fish"), "shape #1 (rectangle 'fish')",
                "is a skeleton")
annotation_case("skeleton_track_element_unknown", _edit("0.tracks", lambda tracks: tracks.append({
    "frame": 2, "label": "fish", "group": 0, "source": "manual", "attributes": [],
    "shapes": [{"type": "skeleton", "frame": 2, "points": [], "outside": False, "occluded": False,
                "z_order": 0, "rotation": 0.0, "attributes": []}],
    "elements": [{"frame": 2, "label": "gill", "group": 0, "source": "manual", "attributes": [], "shapes": []}],
})), "frame 2, track #3 ('fish')", "'gill' is not a sublabel of skeleton 'fish'")


# --- task.json: structure that cannot be skipped ----------------------------------------------

task_case("labels_not_a_list", _set("labels", {"car": {}}), "'labels' is {'car': {}}, not list")
task_case("label_without_name", _edit("labels.1", lambda label: label.pop("name")), "label #2 has no name")
task_case("label_defined_twice", _set("labels.1.name", "car"), "label 'car' is defined twice")
task_case("sublabel_defined_twice", _set("labels.2.sublabels.1.name", "nose"),
          "sublabel 'nose' of skeleton 'fish' is defined twice")
task_case("label_name_with_path_traversal", _set("labels.1.name", "../../../../escaped"),
          "label name '../../../../escaped' contains '..'")
task_case("label_name_absolute_path", _set("labels.1.name", "/tmp/escaped"), "is an absolute path")
task_case("subset_with_a_folder", _set("subset", "train/a"), "the subset 'train/a' is not a single file name")
task_case("subset_with_path_traversal", _set("subset", "../../../../escaped"), "the subset", "contains '..'")
task_case("attribute_unknown_input_type", _set("labels.0.attributes.0.input_type", "slider"),
          "label 'car': attribute 'model' has input_type 'slider'")
task_case("attribute_values_not_a_list", _set("labels.0.attributes.0.values", {"a": 1}), "'values'")
task_case("attribute_defined_twice", _set("labels.0.attributes.1.name", "model"), "attribute 'model' is defined twice")
task_case("nested_sublabels", _set("labels.2.sublabels.0.sublabels", [{"name": "tip"}]),
          "skeletons are one level deep")
task_case("svg_names_an_unknown_point", _edit("labels.2", lambda label: label.update(
    svg=label["svg"].replace('data-label-name="tail"', 'data-label-name="fin"'))),
          "skeleton 'fish': the svg names points that are not its sublabels: 'fin'")
task_case("svg_too_large", _set("labels.2.svg", "<circle " * 200_000), "longer than")
task_case("data_not_an_object", _set("data", ["start_frame", 0]), "'data'")
task_case("start_frame_not_an_integer", _set("data.start_frame", "0"), "data.start_frame is '0'")
task_case("deleted_frames_not_integers", _set("data.deleted_frames", ["6"]), "data.deleted_frames")
task_case("job_not_an_object", _set("jobs.1", "job"), "job 2 is 'job', not an object")
task_case("job_beyond_the_task", _set("jobs.1.stop_frame", 12), "job 2 covers frames 3-12",
          "the task has frames 0-7")
task_case("job_starts_after_it_stops", _set("jobs.0.start_frame", 5), "job 1 starts at frame 5, after its stop frame 4")
task_case("job_frame_number_negative", _set("jobs.0.start_frame", -2), "job 1: start_frame is -2")
task_case("job_specific_frames_outside", _set("jobs.1.frames", [3, 40]), "job 2 lists frame 40")
task_case("task_name_control_character", _set("name", "sample\x07"), "the task name")


def _files_case(name: str, files: Callable[[], dict[str, bytes | None]], *expect: str,
                limits: dict[str, Any] | None = None) -> None:
    """Files of the sample replaced (or removed, ``None``): the whole backup stops."""
    _zip_case(name, lambda: backup_with(files=files()), *expect, limits=limits)


def _annotations_json(mutate: Callable[[Json], Json]) -> Callable[[], dict[str, bytes | None]]:
    return lambda: {"annotations.json": json.dumps(mutate(sample_json()[1])).encode()}


def _raw_file(name: str, data: Callable[[], bytes | None]) -> Callable[[], dict[str, bytes | None]]:
    return lambda: {name: data()}


def _dumped(index: int) -> bytes:
    return json.dumps(sample_json()[index]).encode()


_files_case("annotations_not_a_list", _annotations_json(lambda a: {"jobs": a}),
            "annotations.json is not a JSON array")
_files_case("annotations_entry_not_an_object", _annotations_json(lambda a: [a[0], 5]),
            "annotations.json: the entry of job 2 is 5")
_files_case("annotations_more_entries_than_jobs", _annotations_json(lambda a: [*a, a[1]]),
            "annotations.json has 3 entries, but task.json lists 2 jobs")
_files_case("annotations_shapes_not_a_list", _annotations_json(lambda a: [{**a[0], "shapes": 5}, a[1]]),
            "annotations.json: job 1: 'shapes' is 5, not a list")
_files_case("annotations_truncated", _raw_file("annotations.json", lambda: _dumped(1)[:300]),
            "annotations.json is not valid JSON")
_files_case("annotations_deeply_nested", _raw_file("annotations.json", lambda: b"[" * 100_000 + b"]" * 100_000),
            "annotations.json is not valid JSON")
_files_case("annotations_too_large", _raw_file("annotations.json", lambda: _dumped(1) + b" " * 5000),
            "annotations.json is larger than the limit", limits={"backup.MAX_JSON_BYTES": 4096})
_files_case("task_json_truncated", _raw_file("task.json", lambda: _dumped(0)[:200]), "task.json is not valid JSON")
_files_case("task_json_not_an_object", _raw_file("task.json", lambda: b"[1, 2]"), "task.json is not a JSON object")
_files_case("task_json_too_large", _raw_file("task.json", lambda: b" " * 5000 + _dumped(0)),
            "task.json is larger than the limit", limits={"validate.MAX_TASK_JSON_BYTES": 4096})


# --- media ------------------------------------------------------------------------------------


def _manifest(*lines: Json) -> bytes:
    return "\n".join(json.dumps(line) for line in [{"version": "1.1"}, {"type": "images"}, *lines]).encode()


def _frames(**first: Any) -> list[Json]:
    """Manifest lines of the sample's images, the first one changed by ``first``."""
    names = sorted(n for n in sample_members() if n.startswith("data/"))
    lines = [{"name": n[5:-4], "extension": ".png", "width": 64, "height": 48} for n in names]
    lines[0].update(first)
    return lines


def _with_second_skeleton() -> Json:
    """A valid CVAT task that upstream Datumaro cannot hold: two skeletons share point names."""
    task, _ = sample_json()
    task["labels"].append({**json.loads(json.dumps(task["labels"][2])), "name": "shark"})
    return task


def _with_manifest(data: Callable[[], bytes]) -> Callable[[], dict[str, bytes | None]]:
    return lambda: {"data/manifest.jsonl": data()}


_files_case("manifest_image_name_escapes", _with_manifest(lambda: _manifest(*_frames(name="../../../../escaped"))),
            "data/manifest.jsonl line 3", "contains '..'")
_files_case("manifest_image_name_absolute", _with_manifest(lambda: _manifest(*_frames(name="/etc/escaped"))),
            "data/manifest.jsonl line 3", "is an absolute path")
_files_case("manifest_line_not_an_object", _with_manifest(lambda: _manifest(*_frames(), [1, 2])),
            "data/manifest.jsonl line 11", "is not a JSON object")
_files_case("manifest_line_not_json", _with_manifest(lambda: _manifest(*_frames()) + b"\n{oops"),
            "data/manifest.jsonl line 11 is not JSON")
_files_case("manifest_width_absurd", _with_manifest(lambda: _manifest(*_frames(width=10**9))),
            "image width 1000000000")
_files_case("manifest_video_length_absurd", _with_manifest(lambda: "\n".join(json.dumps(line) for line in [
    {"version": "1.1"}, {"type": "video"},
    {"properties": {"name": "v.mp4", "resolution": [64, 48], "length": 10**12}}]).encode()),
    "video length 1000000000000")
_files_case("image_not_decodable", _raw_file("data/left/img_00.png", lambda: b"\x89PNG not really"),
            "data/left/img_00.png is not a readable image")
_files_case("task_json_missing", _raw_file("task.json", lambda: None), "not a CVAT task backup (no task.json)")
_files_case("annotations_json_missing", _raw_file("annotations.json", lambda: None), "annotations.json is missing")
_zip_case("no_media", lambda: {k: v for k, v in sample_members().items() if not k.startswith("data/")},
          "data/ holds no images, video or manifest.jsonl")
_zip_case("sublabel_name_shared_by_two_skeletons", lambda: backup_with(task=_with_second_skeleton()),
          "the label name 'nose' is used twice (skeleton 'fish' and skeleton 'shark')")
_zip_case("project_backup", lambda: {"project.json": b"{}", "task_1/task.json": b"{}", "task_2/task.json": b"{}"},
          "this is a project backup")


def all_cases() -> list[Case]:
    """This module's cases and the hostile archives of ``tests/corpus_archives.py``."""
    from tests.corpus_archives import CASES as ARCHIVE_CASES

    return [*CASES, *ARCHIVE_CASES]
