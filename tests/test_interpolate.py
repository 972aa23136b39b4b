"""Track interpolation: CVAT's own expectations (TrackManagerTest, test_formats) in our words,
plus the reference exports of CVAT 2.15 in shared/cvat-reference."""

from __future__ import annotations

import functools
import os
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cvat_bridge.interpolate import (
    ConflictingKeyframesError,
    InterpolationError,
    angle_delta,
    frame_shapes,
    interpolate_track,
    video_track_shapes,
)
from cvat_bridge.model import Shape, Track


def _reference_root() -> Path | None:
    candidates = [os.environ.get("CVAT_REFERENCE", "")]
    candidates.append(str(Path(__file__).resolve().parents[2] / "shared" / "cvat-reference"))
    candidates.append("/work/shared/cvat-reference")
    return next((Path(c) for c in candidates if c and Path(c, "small", "backup.zip").is_file()), None)


REFERENCE = _reference_root()
needs_reference = pytest.mark.skipif(REFERENCE is None, reason="shared/cvat-reference (CVAT's exports) is not present")


def kf(frame: int, points: list[float], *, type: str = "rectangle", outside: bool = False, **kw) -> Shape:
    return Shape(type=type, frame=frame, points=points, outside=outside, **kw)


def track(*shapes: Shape, label: str = "car", **kw) -> Track:
    return Track(label=label, frame=min(s.frame for s in shapes), shapes=list(shapes), **kw)


def summary(shapes: list[Shape]) -> list[tuple[int, bool, bool]]:
    return [(s.frame, s.keyframe, s.outside) for s in shapes]


def box(base: float) -> list[float]:
    return [1 + base, 2 + base, 3 + base, 4 + base]


# --- TrackManagerTest ---------------------------------------------------------------------

KEYFRAME_PATTERN = [(0, True, False), (1, False, False), (2, True, True), (4, True, False),
                    (5, False, False), (6, False, False)]


@pytest.mark.parametrize(
    ("shape_type", "first", "second"),
    [
        ("rectangle", [1.0, 2.0, 3.0, 4.0], [3.0, 4.0, 5.0, 6.0]),
        ("polygon", [1.0, 2.0, 3.0, 4.0, 5.0, 2.0], [3.0, 4.0, 5.0, 6.0, 7.0, 6.0, 4.0, 5.0]),
        ("polyline", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [3.0, 4.0, 5.0, 6.0]),
        ("points", [1.0, 2.0], [3.0, 4.0, 5.0, 6.0]),
    ],
)
def test_outside_keyframe_stops_interpolation_until_the_next_keyframe(shape_type, first, second):
    t = track(kf(0, first, type=shape_type), kf(2, second, type=shape_type, outside=True),
              kf(4, second, type=shape_type))
    # frame 3 lies after an outside keyframe: not produced; 5 and 6 are propagated
    assert summary(interpolate_track(t, 7)) == KEYFRAME_PATTERN


def test_outside_keyframes_are_kept_interpolated_outside_frames_are_not():
    t = track(kf(0, box(0)), kf(2, box(2), outside=True), kf(4, box(4), outside=True))
    shapes = interpolate_track(t, 5)
    assert summary(shapes) == [(0, True, False), (1, False, False), (2, True, True), (4, True, True)]
    assert shapes[1].points == box(1)
    assert shapes[3].points == box(4)


def test_polygon_interpolates_linearly_into_an_outside_keyframe():
    t = track(kf(0, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], type="polygon"),
              kf(2, [3.0, 4.0, 5.0, 6.0, 7.0, 8.0], type="polygon", outside=True))
    shapes = interpolate_track(t, 3)
    assert summary(shapes) == [(0, True, False), (1, False, False), (2, True, True)]
    assert shapes[1].points == [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert shapes[1].type == "polygon"


def test_rotation_takes_the_shortest_arc():
    t = track(kf(0, box(0), rotation=90.0), kf(4, box(4), rotation=0.0, outside=True))
    shapes = interpolate_track(t, 6)
    assert [s.rotation for s in shapes] == [90.0, 67.5, 45.0, 22.5, 0.0]
    assert [s.points for s in shapes] == [box(b) for b in range(5)]
    across_zero = track(kf(0, box(0), rotation=350.0), kf(2, box(0), rotation=10.0))
    assert interpolate_track(across_zero, 3)[1].rotation == pytest.approx(0.0)


def test_half_turn_quirk_is_reproduced():
    # CVAT's fallback turns a difference of exactly 180 degrees into +1 degree
    assert angle_delta(180.0, 0.0) == 1
    assert angle_delta(10.0, 350.0) == pytest.approx(20.0)
    t = track(kf(0, box(0), rotation=0.0), kf(2, box(0), rotation=180.0))
    assert interpolate_track(t, 3)[1].rotation == 0.5


def test_identical_duplicate_keyframes_are_skipped():
    first = kf(0, [100, 100, 200, 200])
    last = kf(1, [100, 100, 200, 200], outside=True)
    shapes = interpolate_track(track(first, last, last), 2)
    assert summary(shapes) == [(0, True, False), (1, True, True)]


def test_different_keyframes_on_one_frame_are_an_error_naming_the_frame():
    t = track(kf(0, box(0)), kf(3, box(1)), kf(3, box(2)))
    with pytest.raises(ConflictingKeyframesError, match="frame 3"):
        interpolate_track(t, 5)
    assert issubclass(ConflictingKeyframesError, ValueError)


def test_keyframes_on_deleted_frames_are_ignored():
    t = track(kf(0, box(0)), kf(2, box(2)), kf(4, box(0)))
    shapes = interpolate_track(t, 5, deleted_frames=[2])
    assert [s.frame for s in shapes] == [0, 1, 3, 4]
    assert all(s.points == box(0) for s in shapes)


def test_keyframes_on_excluded_frames_still_shape_the_track():
    t = track(kf(0, box(0)), kf(2, box(2)), kf(4, box(6)))
    everything = interpolate_track(t, 5)
    assert [s.points for s in everything] == [box(0), box(1), box(2), box(4), box(6)]
    only = interpolate_track(t, 5, included_frames=[1, 3])
    assert [(s.frame, s.keyframe, s.points) for s in only] == [(1, False, box(1)), (3, False, box(4))]


def test_deleted_and_excluded_frames_together():
    t = track(kf(0, box(0)), kf(2, [0, 0, 1, 1], occluded=True), kf(4, box(8)))
    shapes = interpolate_track(t, 5, deleted_frames=[2], included_frames=[1, 3])
    assert [(s.frame, s.points, s.occluded, s.rotation) for s in shapes] == [
        (1, [3.0, 4.0, 5.0, 6.0], False, 0.0), (3, [7.0, 8.0, 9.0, 10.0], False, 0.0)]


# --- test_formats: outside and deleted frames in exports ----------------------------------


def test_visible_last_keyframe_propagates_to_the_end_and_not_before_the_track():
    # test_frames_outside_are_not_generated: a single keyframe on frame 6 of a 10-frame task
    t = track(kf(6, [1.0, 2.1, 100, 300.222]))
    shapes = interpolate_track(t, 10)
    assert [s.frame for s in shapes] == [6, 7, 8, 9]
    assert [s.keyframe for s in shapes] == [True, False, False, False]
    assert all(s.points == [1.0, 2.1, 100, 300.222] for s in shapes)


def test_per_frame_view_has_no_outside_shapes():
    # test_can_skip_outside / test_no_outside_shapes_in_per_frame_export
    t = track(kf(0, [1.0, 2.1, 100, 300.222]), kf(1, [2.0, 2.1, 100, 300.222], occluded=True, outside=True))
    assert [s.frame for s in interpolate_track(t, 3)] == [0, 1]
    assert [s.frame for s in frame_shapes(t, 3)] == [0]


def test_keyframe_on_a_deleted_frame_does_not_revive_the_track():
    # test_track_keyframes_on_deleted_frames_do_not_affect_later_frames
    t = track(kf(0, [1, 2, 3, 4]), kf(1, [5, 6, 7, 8], outside=True), kf(2, [9, 10, 11, 12]))
    assert [s.frame for s in frame_shapes(t, 4, deleted_frames={2})] == [0]
    assert [s.frame for s in frame_shapes(t, 4)] == [0, 2, 3]


# --- more of CVAT's rules -------------------------------------------------------------------


def test_mutable_attributes_are_inherited_and_copied():
    t = track(
        kf(0, box(0), attributes={"parked": "false", "speed": "0"}),
        kf(2, box(2), attributes={"speed": "20"}),
        kf(3, box(3), outside=True, attributes={"parked": "true", "speed": "20"}),
        attributes={"model": "bmw"},
    )
    shapes = interpolate_track(t, 5)
    assert [s.attributes for s in shapes] == [
        {"parked": "false", "speed": "0"},
        {"parked": "false", "speed": "0"},
        {"speed": "20", "parked": "false"},  # own first, inherited after (CVAT's order)
        {"parked": "true", "speed": "20"},
    ]
    assert all(s.label == "car" and s.source == "manual" for s in shapes)


def test_points_interpolate_only_single_points():
    single = track(kf(0, [0.0, 0.0], type="points"), kf(4, [4.0, 8.0], type="points"))
    assert interpolate_track(single, 5)[1].points == [1.0, 2.0]
    several = track(kf(0, [0.0, 0.0, 1.0, 1.0], type="points"), kf(4, [4.0, 8.0, 5.0, 9.0], type="points"))
    assert interpolate_track(several, 5)[1].points == [0.0, 0.0, 1.0, 1.0]


def test_masks_copy_the_left_keyframe():
    left = [1, 4, 1, 5, 10, 7, 11]
    t = track(kf(0, left, type="mask"), kf(3, [2, 2, 0, 0, 1, 1], type="mask"), kf(4, left, type="mask", outside=True))
    shapes = interpolate_track(t, 5)
    assert [s.points for s in shapes[1:3]] == [left, left]


def test_ellipse_and_cuboid_are_linear():
    ellipse = track(kf(0, [10, 10, 20, 5], type="ellipse", rotation=30), kf(2, [20, 20, 30, 15], type="ellipse"))
    middle = interpolate_track(ellipse, 3)[1]
    assert (middle.points, middle.rotation) == ([15, 15, 25, 10], 15)
    cuboid = track(kf(0, [0.0] * 16, type="cuboid"), kf(4, [4.0] * 16, type="cuboid"))
    assert interpolate_track(cuboid, 5)[2].points == [2.0] * 16


def test_keyframes_of_different_types_cannot_be_interpolated():
    t = track(kf(0, box(0)), kf(2, [0, 0, 1, 1, 2, 0], type="polygon"))
    with pytest.raises(InterpolationError):
        interpolate_track(t, 3)


def test_include_outside_returns_outside_frames_too():
    t = track(kf(0, box(0)), kf(2, box(2), outside=True), kf(4, box(4)))
    shapes = interpolate_track(t, 5, include_outside=True)
    assert summary(shapes) == [(0, True, False), (1, False, False), (2, True, True), (3, False, True), (4, True, False)]
    assert shapes[3].points == box(3)


def test_start_frame_only_limits_the_output():
    t = track(kf(0, box(0)), kf(4, box(8)), kf(6, box(8), outside=True))
    full = interpolate_track(t, 8)
    assert interpolate_track(t, 8, start_frame=3) == [s for s in full if s.frame >= 3]


def test_polyline_point_count_changes_with_cvat_matching():
    # 2 -> 3 points: both right end points go to the left vertex 0; close points merge
    t = track(kf(0, [0.0, 0.0, 10.0, 0.0], type="polyline"), kf(10, [0.0, 0.0, 5.0, 0.0, 10.0, 0.0], type="polyline"))
    shapes = {s.frame: s.points for s in interpolate_track(t, 11)}
    assert shapes[2] == [0.5, 0.0, 10.0, 0.0]
    assert shapes[5] == [0.0, 0.0, 2.5, 0.0, 10.0, 0.0]


def test_polyline_left_vertices_sharing_a_right_vertex_are_thinned_together():
    # 3 -> 2 points: left vertices 0 and 1 both move to right vertex 0 and merge when close
    t = track(kf(0, [0.0, 0.0, 5.0, 0.0, 10.0, 0.0], type="polyline"), kf(10, [0.0, 0.0, 10.0, 0.0], type="polyline"))
    shapes = {s.frame: s.points for s in interpolate_track(t, 11)}
    assert shapes[5] == [0.0, 0.0, 2.5, 0.0, 10.0, 0.0]
    assert shapes[8] == [0.5, 0.0, 10.0, 0.0]


def test_polyline_thinning_keeps_points_exactly_at_the_threshold():
    # the left start vertex fans out to three right vertices (length 4, threshold 4 / 6);
    # at t = 1/3 the first fan point lies exactly on the threshold and is kept
    t = track(kf(0, [0.0, 0.0, 12.0, 0.0], type="polyline"),
              kf(3, [0.0, 0.0, 2.0, 0.0, 4.0, 0.0, 12.0, 0.0], type="polyline"))
    assert interpolate_track(t, 4)[1].points == [0.0, 0.0, 2 / 3, 0.0, 4 / 3, 0.0, 12.0, 0.0]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), min_size=3, max_size=8, unique=True),
    st.integers(-20, 20), st.integers(-20, 20), st.sampled_from(["polygon", "polyline"]),
)
def test_translated_polyshapes_move_linearly(vertices, dx, dy, shape_type):
    points = [float(c) for v in vertices for c in v]
    moved = [c + (dx if i % 2 == 0 else dy) for i, c in enumerate(points)]
    t = track(kf(0, points, type=shape_type), kf(4, moved, type=shape_type))
    middle = interpolate_track(t, 5)[2]
    assert middle.points == pytest.approx([c + (dy if i % 2 else dx) / 2 for i, c in enumerate(points)])


# --- skeletons ----------------------------------------------------------------------------


def skeleton_track() -> Track:
    def element(label: str, *shapes: Shape) -> Track:
        return Track(label=label, frame=0, shapes=list(shapes))

    return Track(
        label="pose", frame=0,
        shapes=[kf(0, [], type="skeleton"), kf(2, [], type="skeleton"), kf(4, [], type="skeleton", outside=True)],
        elements=[
            element("head", kf(0, [0.0, 0.0], type="points", attributes={"looking": "side"}),
                    kf(2, [2.0, 2.0], type="points", outside=True)),
            element("hand", kf(0, [10.0, 10.0], type="points"), kf(1, [12.0, 12.0], type="points", outside=True),
                    kf(4, [14.0, 14.0], type="points")),
        ],
    )


def test_skeleton_frames_carry_their_elements():
    shapes = interpolate_track(skeleton_track(), 6, include_outside=True)
    assert [s.frame for s in shapes] == [0, 1, 2, 3, 4, 5]
    assert [[(e.label, e.outside) for e in s.elements] for s in shapes] == [
        [("head", False), ("hand", False)],
        [("head", False), ("hand", True)],
        [("head", True), ("hand", True)],
        [("head", True), ("hand", True)],
        [("head", True), ("hand", False)],
        [("head", True), ("hand", False)],
    ]
    assert shapes[1].elements[0].points == [1.0, 1.0]
    assert shapes[1].elements[0].attributes == {"looking": "side"}
    assert shapes[1].elements[0].keyframe is False and shapes[4].elements[1].keyframe is True


def test_per_frame_skeleton_with_all_elements_outside_is_dropped():
    # frames 2, 3: skeleton visible but every element outside -> dropped (CVAT's to_shapes);
    # frame 4: skeleton outside, one element visible -> kept there, but not drawn per frame
    assert [s.frame for s in interpolate_track(skeleton_track(), 6)] == [0, 1, 4]
    assert [s.frame for s in frame_shapes(skeleton_track(), 6)] == [0, 1]


def test_video_skeleton_is_written_where_element_shapes_exist():
    shapes = video_track_shapes(skeleton_track(), 6)
    # elements on their own: head 0, 1, 2 (outside kf); hand 0, 1 (outside kf), 4, 5;
    # the skeleton itself has shapes on 0-4 only
    assert [(s.frame, s.keyframe, [(e.label, e.keyframe, e.outside) for e in s.elements]) for s in shapes] == [
        (0, True, [("head", True, False), ("hand", True, False)]),
        (1, False, [("head", False, False), ("hand", True, True)]),
        (2, True, [("head", True, True)]),
        (4, True, [("hand", True, False)]),
    ]


# --- CVAT's reference exports ---------------------------------------------------------------


def _num(v: float) -> str:
    return f"{v:.2f}"


CUBOID_KEYS = "xtl1 ytl1 xbl1 ybl1 xtr1 ytr1 xbr1 ybr1 xtl2 ytl2 xbl2 ybl2 xtr2 ytr2 xbr2 ybr2".split()


def geometry_attrs(s: Shape) -> dict[str, str]:
    """The coordinate attributes CVAT's XML writes for a shape."""
    p = s.points
    if s.type in ("rectangle", "ellipse"):
        if s.type == "rectangle":
            d = dict(xtl=_num(p[0]), ytl=_num(p[1]), xbr=_num(p[2]), ybr=_num(p[3]))
        else:
            d = dict(cx=_num(p[0]), cy=_num(p[1]), rx=_num(p[2] - p[0]), ry=_num(p[1] - p[3]))
        if s.rotation:
            d["rotation"] = _num(s.rotation)
        return d
    if s.type == "cuboid":
        return {k: _num(v) for k, v in zip(CUBOID_KEYS, p, strict=True)}
    if s.type == "mask":
        left, top, right, bottom = (int(v) for v in p[-4:])
        return dict(rle=", ".join(str(int(v)) for v in p[:-4]), left=str(left), top=str(top),
                    width=str(right - left + 1), height=str(bottom - top + 1))
    if s.type == "skeleton":
        return {}
    return dict(points=";".join(f"{p[i]:.2f},{p[i + 1]:.2f}" for i in range(0, len(p), 2)))


def video_rows(t: Track, end: int, deleted: set[int]) -> list[tuple]:
    rows = []
    for s in video_track_shapes(t, end, deleted_frames=deleted):
        head = dict(frame=str(s.frame), keyframe=str(int(s.keyframe)), z_order=str(s.z_order))
        if s.type != "skeleton":
            head.update(outside=str(int(s.outside)), occluded=str(int(s.occluded)))
        head.update(geometry_attrs(s))
        immutable = {e.label: e.attributes for e in t.elements}
        elements = [
            (dict(label=e.label, keyframe=str(int(e.keyframe)), outside=str(int(e.outside)),
                  occluded=str(int(e.occluded)), **geometry_attrs(e)),
             [*e.attributes.items(), *immutable[e.label].items()])
            for e in s.elements
        ]
        rows.append((head, [*s.attributes.items(), *t.attributes.items()], elements))
    return rows


def xml_rows(track_element: ET.Element) -> list[tuple]:
    def attrs(e: ET.Element) -> list[tuple[str, str]]:
        return [(a.get("name", ""), a.text or "") for a in e.findall("attribute")]

    return [
        (dict(s.attrib), attrs(s), [(dict(p.attrib), attrs(p)) for p in s.findall("points")])
        for s in track_element
    ]


def reference_xml(task: str, flavour: str) -> ET.Element:
    assert REFERENCE is not None
    with zipfile.ZipFile(REFERENCE / task / "exports" / flavour / "without_images.zip") as z:
        return ET.fromstring(z.read("annotations.xml"))


@functools.cache
def load(task: str):
    from cvat_bridge.backup import load_task

    assert REFERENCE is not None
    return load_task(REFERENCE / task / "backup.zip")


@needs_reference
@pytest.mark.parametrize("name", ["small", "large"])
def test_every_track_matches_cvat_for_video(name):
    from cvat_bridge.merge import task_annotations

    task = load(name)
    tracks = task_annotations(task).tracks
    expected = reference_xml(name, "CVAT_for_video_1.1").findall("track")[: len(tracks)]
    assert len(tracks) == {"small": 5, "large": 200}[name]
    for index, (t, element) in enumerate(zip(tracks, expected, strict=True)):
        assert element.get("label") == t.label, index
        assert video_rows(t, task.size, task.deleted_frames) == xml_rows(element), f"track {index} ({t.label})"


@needs_reference
def test_rotated_box_and_skeleton_of_small():
    from cvat_bridge.merge import task_annotations

    task = load("small")
    person = task_annotations(task).tracks[1]
    middle = interpolate_track(person, task.size)[1]
    assert (middle.frame, middle.keyframe, _num(middle.rotation), middle.points) == (2, False, "27.50",
                                                                                     [62.5, 7.5, 92.5, 27.5])
    pose = task_annotations(task).tracks[2]
    assert [s.frame for s in video_track_shapes(pose, task.size)] == [1, 2, 3, 4]
    assert [s.frame for s in frame_shapes(pose, task.size)] == [1, 2, 3]


def _image_key(tag: str, label: str, attrs: dict[str, str], elements: tuple = ()) -> tuple:
    skip = {"label", "source", "occluded", "z_order", "group_id", "outside"}
    return tag, label, tuple(sorted((k, v) for k, v in attrs.items() if k not in skip)), elements


@needs_reference
@pytest.mark.parametrize("name", ["small", "large"])
def test_per_frame_objects_match_cvat_for_images(name):
    from cvat_bridge.merge import task_annotations

    task = load(name)
    merged = task_annotations(task)
    tag_of = {"rectangle": "box"}

    def element_key(e) -> tuple:
        return e.label, e.outside, e.occluded, tuple(sorted(geometry_attrs(e).items()))

    ours: dict[int, Counter] = {}
    visible = [s for s in merged.shapes if s.frame not in task.deleted_frames]
    for t in merged.tracks:
        visible.extend(frame_shapes(t, task.size, deleted_frames=task.deleted_frames))
    for s in visible:
        elements = tuple(sorted(element_key(e) for e in s.elements))
        key = _image_key(tag_of.get(s.type, s.type), s.label, geometry_attrs(s), elements)
        ours.setdefault(s.frame, Counter())[key] += 1
    theirs: dict[int, Counter] = {}
    for image in reference_xml(name, "CVAT_for_images_1.1").findall("image"):
        for e in image:
            if e.tag == "tag":
                continue
            elements = tuple(sorted(
                (p.get("label"), p.get("outside") == "1", p.get("occluded") == "1",
                 _image_key("", "", dict(p.attrib))[2]) for p in e.findall("points")))
            key = _image_key(e.tag, e.get("label", ""), dict(e.attrib), elements)
            theirs.setdefault(int(image.get("id", -1)), Counter())[key] += 1
    assert ours == theirs
