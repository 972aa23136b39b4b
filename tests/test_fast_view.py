"""The fast paths of the export view (issue 7) give what the plain computations give: interpolation
checked frame by frame against a direct per-frame rule, polygon thinning against the step-by-step
reduction, the streamed view against every track materialised, the view limited to some shape types
against the full view filtered, and the task merge against merging job by job."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cvat_bridge import view as view_module
from cvat_bridge.frames import frame_info
from cvat_bridge.interpolate import (
    ConflictingKeyframesError,
    InterpolationError,
    angle_delta,
    frame_shapes,
    interpolate_track,
    iter_visible_shapes,
    video_track_shapes,
)
from cvat_bridge.merge import _clone, merge_job, merged_job_indices, task_annotations
from cvat_bridge.model import Annotations, FrameInfo, Job, Label, Shape, Tag, Task, Track
from cvat_bridge.poly_match import match_vertices, offsets, pairs, reduce_points
from cvat_bridge.view import ExportView, FrameContent

# --- interpolation: the fast loops against a direct per-frame rule ------------------------------

LINEAR = {"rectangle", "ellipse", "cuboid"}
POINT_COUNTS = {"rectangle": [4], "ellipse": [4], "cuboid": [16], "points": [2, 4], "mask": [8]}


def plain_track(track: Track, end: int, deleted: set[int], included: set[int] | None) -> list[Shape]:
    """CVAT's interpolation computed for each frame on its own: the last keyframe at or before the
    frame, moved linearly towards the next one (or copied), nothing after an outside keyframe."""
    keys = sorted((k for k in track.shapes if k.frame not in deleted), key=lambda k: k.frame)
    attributes: list[dict[str, str]] = []
    for k in keys:
        merged = dict(k.attributes)
        for name, value in (attributes[-1] if attributes else {}).items():
            merged.setdefault(name, value)
        attributes.append(merged)
    result = []
    for frame in range(track.frame, end):
        if frame in deleted or (included is not None and frame not in included):
            continue
        before = [i for i, k in enumerate(keys) if k.frame <= frame]
        if not before:
            continue
        index = before[-1]
        k0 = keys[index]
        common = dict(label=track.label, occluded=k0.occluded, outside=k0.outside, z_order=k0.z_order,
                      group=track.group, source=track.source, attributes=attributes[index], score=k0.score)
        if k0.frame == frame:
            result.append(Shape(k0.type, frame, k0.points, rotation=k0.rotation, keyframe=True, **common))
            continue
        if k0.outside:
            continue
        k1 = keys[index + 1] if index + 1 < len(keys) else None
        points, rotation = list(k0.points), k0.rotation
        if k1 is not None and (k0.type in LINEAR or (k0.type == "points" and len(k0.points) == len(k1.points) == 2)):
            t = (frame - k0.frame) / (k1.frame - k0.frame)
            points = [a + (b - a) * t for a, b in zip(k0.points, k1.points, strict=True)]
            rotation = (k0.rotation + angle_delta(k1.rotation, k0.rotation) * t + 360) % 360
        result.append(Shape(k0.type, frame, points, rotation=rotation, keyframe=False, **common))
    return result


coordinate = st.floats(-500, 500, allow_nan=False, allow_infinity=False)


@st.composite
def tracks(draw: st.DrawFn) -> Track:
    kind = draw(st.sampled_from(sorted(POINT_COUNTS)))
    frames = sorted(draw(st.lists(st.integers(0, 30), min_size=1, max_size=6, unique=True)))
    keys = []
    for frame in frames:
        count = draw(st.sampled_from(POINT_COUNTS[kind]))
        keys.append(Shape(
            kind, frame, draw(st.lists(coordinate, min_size=count, max_size=count)), outside=draw(st.booleans()),
            occluded=draw(st.booleans()), z_order=draw(st.integers(-2, 2)),
            rotation=draw(st.floats(0, 359.99)) if kind in ("rectangle", "ellipse") else 0.0,
            attributes=draw(st.dictionaries(st.sampled_from(["speed", "lane", "note"]), st.sampled_from(["0", "1"]))),
        ))
    return Track(label="car", frame=frames[0], shapes=keys, group=draw(st.integers(0, 2)),
                 source=draw(st.sampled_from(["manual", "auto"])), attributes={"model": "bmw"})


@settings(max_examples=150, deadline=None)
@given(tracks(), st.integers(0, 40), st.sets(st.integers(0, 40), max_size=8),
       st.one_of(st.none(), st.sets(st.integers(0, 40), min_size=10)))
def test_interpolation_equals_the_per_frame_rule(track, end, deleted, included):
    expected = plain_track(track, end, deleted, included)
    assert interpolate_track(track, end, deleted_frames=deleted, included_frames=included) == expected
    assert list(iter_visible_shapes(track, end, deleted_frames=deleted, included_frames=included)) == [
        s for s in expected if not s.outside]
    assert video_track_shapes(track, end, deleted_frames=deleted) == plain_track(track, end, deleted, None)


# --- polygon thinning: the precomputed plan against the step-by-step reduction ---------------------


def _dist(a: tuple[float, float], b: tuple[float, float]) -> float:
    return ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5


def _length(points: list[tuple[float, float]]) -> float:
    total = 0.0
    for i in range(1, len(points)):
        total += _dist(points[i], points[i - 1])
    return total


def stepwise_reduction(points, matching, left, right):
    """The reduction walked as CVAT does it, thresholds computed where they are used."""
    index, n = [], 0
    for m in matching:
        index.append(list(range(n, n + len(m))))
        n += len(m)

    def thin(base_length: float, count: int, first: int, last: int) -> list:
        threshold = base_length / (2 * count)
        kept, anchor = [points[first]], first
        for i in range(first + 1, last):
            if _dist(points[anchor], points[i]) >= threshold:
                kept.append(points[i])
                anchor = i
        kept.append(points[last])
        if len(kept) == 2 and _dist(points[first], points[last]) < threshold:
            return [((kept[0][0] + kept[1][0]) / 2, (kept[0][1] + kept[1][1]) / 2)]
        return kept

    out: list = []

    def left_run(start: int, stop: int) -> None:
        a, b = index[start][0], index[stop][0]
        out.extend([points[a]] if a == b else thin(_length(left[start:stop + 1]), stop - start + 1, a, b))

    opened = None
    for i, m in enumerate(matching):
        if len(m) == 1:
            if opened is None:
                opened = i
            elif m[0] != matching[opened][0]:
                left_run(opened, i - 1)
                opened = i
        else:
            if opened is not None:
                left_run(opened, i - 1)
                opened = None
            lo, hi = m[0], m[-1]
            out.extend(thin(_length(right[lo:hi + 1]), hi - lo + 1, index[i][0], index[i][-1]))
    if opened is not None:
        left_run(opened, len(left) - 1)
    return out


vertex = st.tuples(st.integers(0, 60).map(float), st.integers(0, 60).map(float))


@settings(max_examples=150, deadline=None)
@given(st.lists(vertex, min_size=2, max_size=9), st.lists(vertex, min_size=2, max_size=9), st.floats(0, 1))
def test_reduction_plan_equals_the_stepwise_reduction(left_vertices, right_vertices, t):
    left = pairs([c for v in left_vertices for c in v])
    right = pairs([c for v in right_vertices for c in v])
    matching = match_vertices(offsets(left), offsets(right))
    moved = [(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)
             for a, b in ((left[i], right[j]) for i, m in enumerate(matching) for j in m)]
    assert reduce_points(moved, matching, left, right) == stepwise_reduction(moved, matching, left, right)


# --- the streamed view against every track materialised --------------------------------------------


def _random_annotations(rng: random.Random, first: int, last: int) -> Annotations:
    kinds = {"rectangle": 4, "ellipse": 4, "polygon": 6, "polyline": 4, "points": 2, "cuboid": 16, "mask": 8}
    tracks = []
    for index in range(10):
        kind = rng.choice(sorted(kinds))
        keys = []
        for frame in sorted(rng.sample(range(first, last + 1), rng.randint(1, 5))):
            points = [float(rng.randint(0, 60)) for _ in range(kinds[kind] + (2 * rng.randint(0, 2) if kind in (
                "polygon", "polyline") else 0))]
            keys.append(Shape(kind, frame, points, outside=rng.random() < 0.3, z_order=rng.randrange(3),
                              attributes={"note": str(frame % 3)} if rng.random() < 0.5 else {}))
        tracks.append(Track("car", keys[0].frame, keys, group=index % 2, attributes={"id": str(index)}))
    start = rng.randint(first, last - 6)
    tracks.insert(3, Track("pose", start, [Shape("skeleton", start, []), Shape("skeleton", start + 3, []),
                                            Shape("skeleton", start + 6, [], outside=True)],
                           elements=[Track("head", start, [Shape("points", start, [0.0, 0.0], attributes={"x": "1"}),
                                                           Shape("points", start + 4, [2.0, 2.0], outside=True)]),
                                     Track("hand", start, [Shape("points", start, [5.0, 5.0])])]))
    shapes = [Shape(rng.choice(["rectangle", "polygon"]), rng.randint(first, last), [1.0, 1.0, 4.0, 4.0, 2.0, 6.0],
                    label="car", z_order=rng.randrange(3), attributes={"note": "s"}) for _ in range(25)]
    shapes.append(Shape("skeleton", rng.randint(first, last), [], label="pose", elements=[
        Shape("points", 0, [1.0, 1.0], label="head", attributes={"x": "2"})]))
    tags = [Tag("car", rng.randint(first, last), attributes={"t": "1"}) for _ in range(6)]
    return Annotations(tags=tags, shapes=shapes, tracks=tracks)


def _random_task(seed: int, *, in_frame_order: bool) -> Task:
    rng = random.Random(seed)
    jobs = [_random_annotations(rng, 0, 19), _random_annotations(rng, 20, 39)]
    for job in jobs:
        if in_frame_order:
            job.shapes.sort(key=lambda s: s.frame)
            job.tags.sort(key=lambda t: t.frame)
        else:
            rng.shuffle(job.shapes)
            rng.shuffle(job.tags)
    labels = [Label("car"), Label("pose", type="skeleton", sublabels=[
        Label("head", type="points", parent="pose"), Label("hand", type="points", parent="pose")])]
    return Task(name="t", labels=labels, jobs=[Job(0, 19), Job(20, 39)], job_annotations=jobs, media_kind="images",
                frames=[FrameInfo(f"{i}.png", 64, 48) for i in range(40)], stop_frame=39,
                deleted_frames=set(rng.sample(range(40), 4)))


def materialised_frames(view: ExportView) -> list[FrameContent]:
    """The view computed the plain way: each frame looks through every object and every frame of
    every track (``frame_shapes``), then sorts by z_order."""
    annotations, included = view.annotations, view.included
    per_track = [frame_shapes(t, view.end_frame, deleted_frames=view.task.deleted_frames, included_frames=included)
                 for t in annotations.tracks]
    result = []
    for frame in view.selection.frames:
        shapes = [view_module._standalone(s) for s in annotations.shapes if s.frame == frame]
        for track_id, track in enumerate(annotations.tracks):
            for shape in per_track[track_id]:
                if shape.frame == frame:
                    item = view_module._tracked(track, shape, track_id)
                    if shape.type != "skeleton" or item.elements:
                        shapes.append(item)
        shapes.sort(key=lambda s: s.shape.z_order)
        result.append(FrameContent(frame, frame_info(view.task, frame), shapes,
                                   [t for t in annotations.tags if t.frame == frame]))
    return result


@pytest.mark.parametrize("in_frame_order", [True, False])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("job", [None, 0, 1])
def test_streamed_view_equals_every_track_materialised(seed, in_frame_order, job):
    view = ExportView(_random_task(seed, in_frame_order=in_frame_order), job)
    streamed = list(view.frames())
    assert streamed == materialised_frames(view)
    assert sum(len(c.shapes) for c in streamed) > (40 if job is None else 20)
    assert any(s.track_id is not None for c in streamed for s in c.shapes)


@pytest.mark.parametrize("in_frame_order", [True, False])
def test_objects_are_taken_per_frame_in_or_out_of_frame_order(in_frame_order):
    rng = random.Random(3)
    shapes = [Shape(rng.choice(["rectangle", "polygon"]), rng.randint(0, 30), []) for _ in range(80)]
    if in_frame_order:
        shapes.sort(key=lambda s: s.frame)
    included = set(range(0, 31, 2)) - {10}
    for types in (None, {"polygon"}):
        per_frame = view_module._PerFrame(shapes, included, types)
        assert (per_frame.runs is not None) == in_frame_order  # both ways are exercised
        for frame in sorted(included):
            expected = [s for s in shapes if s.frame == frame and (types is None or s.type in types)]
            assert per_frame.take(frame) == expected


def test_writers_get_their_own_attributes_for_tracked_shapes():
    key = Shape("rectangle", 0, [0.0, 0.0, 2.0, 2.0], attributes={"speed": "1"})
    track = Track("car", 0, [key, Shape("rectangle", 3, [2.0, 2.0, 4.0, 4.0])], attributes={"model": "bmw"})
    task = Task(name="t", labels=[Label("car")], jobs=[Job(0, 4)], job_annotations=[Annotations(tracks=[track])],
                media_kind="images", frames=[FrameInfo(f"{i}.png", 8, 8) for i in range(5)], stop_frame=4)
    items = [s for content in ExportView(task).frames() for s in content.shapes]
    items[0].attributes["speed"] = "changed by a writer"
    assert [s.attributes for s in items[1:3]] == [{"speed": "1", "model": "bmw"}] * 2
    assert key.attributes == {"speed": "1"} and track.attributes == {"model": "bmw"}


# --- the view limited to some shape types ------------------------------------------------------------


@pytest.mark.parametrize("types", [{"rectangle"}, {"polygon", "skeleton"}, {"points", "mask", "cuboid"}, set()])
@pytest.mark.parametrize("seed", range(3))
def test_a_view_of_some_types_is_the_full_view_filtered(seed, types):
    view = ExportView(_random_task(seed, in_frame_order=seed % 2 == 0), None)
    full = list(view.frames())
    limited = list(view.frames(frozenset(types)))
    assert limited == [FrameContent(c.frame, c.info, [s for s in c.shapes if s.shape.type in types], c.tags)
                       for c in full]


def _one_track_task(track: Track) -> Task:
    return Task(name="t", labels=[Label("car")], jobs=[Job(0, 9)], job_annotations=[Annotations(tracks=[track])],
                media_kind="images", frames=[FrameInfo(f"{i}.png", 8, 8) for i in range(10)], stop_frame=9)


@pytest.mark.parametrize(("keys", "error"), [
    ([Shape("polygon", 0, [0.0, 0.0, 4.0, 0.0, 2.0, 3.0]), Shape("polyline", 4, [0.0, 0.0, 4.0, 0.0])],
     InterpolationError),
    ([Shape("polyline", 0, [0.0, 0.0, 4.0, 0.0]), Shape("polyline", 0, [1.0, 0.0, 4.0, 0.0])],
     ConflictingKeyframesError),
    ([Shape("ellipse", 0, [2.0, 2.0, 4.0, 0.0]), Shape("ellipse", 4, [2.0, 2.0])], InterpolationError),
    ([Shape("polygon", 0, []), Shape("polygon", 4, [])], InterpolationError),
])
def test_a_view_of_other_types_still_fails_on_a_track_that_cannot_be_interpolated(keys, error):
    view = ExportView(_one_track_task(Track("car", 0, keys)), None)
    with pytest.raises(error):
        list(view.frames())
    with pytest.raises(error):
        list(view.frames(frozenset({"rectangle"})))


def test_a_view_of_some_types_passes_over_a_track_without_keyframes():
    contents = list(ExportView(_one_track_task(Track("car", 0, [])), None).frames(frozenset({"rectangle"})))
    assert len(contents) == 10 and not any(c.shapes for c in contents)


# --- merge: the reach-limited task merge against merging job by job ---------------------------------


def _merge_task(seed: int, overlap: int) -> Task:
    rng = random.Random(seed)
    jobs, annotations = [], []
    for start in range(0, 40, 10):
        stop = min(start + 9 + overlap, 39)
        jobs.append(Job(start, stop))
        objects = _random_annotations(rng, start, stop)
        objects.tracks = [t for t in objects.tracks if t.label == "car" and t.shapes[0].type == "rectangle"]
        annotations.append(objects)
    return Task(name="t", labels=[Label("car")], jobs=jobs, job_annotations=annotations, media_kind="images",
                frames=[FrameInfo(f"{i}.png", 64, 48) for i in range(40)], stop_frame=39)


@pytest.mark.parametrize("overlap", [0, 3])
@pytest.mark.parametrize("seed", range(3))
def test_task_merge_equals_merging_job_by_job(seed, overlap):
    task = _merge_task(seed, overlap)
    assert task.overlap == overlap
    by_job = Annotations()
    for index in merged_job_indices(task):
        merge_job(by_job, task.job_annotations[index], task.jobs[index].start_frame, overlap)
    merged = task_annotations(task)
    assert merged == by_job
    assert any(t.shapes[-1].outside for t in merged.tracks)  # tracks were closed at a job start


def test_a_cloned_track_equals_its_original_and_owns_its_keyframe_list():
    element = Track("head", 2, [Shape("points", 2, [1.0, 1.0])], group=1, source="auto", attributes={"a": "b"})
    track = Track("pose", 2, [Shape("skeleton", 2, [])], group=3, source="auto", attributes={"c": "d"},
                  elements=[element])
    clone = _clone(track)
    assert clone == track
    assert clone.shapes is not track.shapes and clone.elements[0].shapes is not element.shapes
