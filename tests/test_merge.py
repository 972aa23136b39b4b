"""Job selection and CVAT's task-level merge, on small synthetic jobs and on the overlap32
reference (32 jobs overlapping by 5 frames, merged by CVAT 2.15 into 498 tracks)."""

from __future__ import annotations

import functools
import os
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cvat_bridge.merge import job_annotations, merge_job, merged_job_indices, shape_similarity, task_annotations
from cvat_bridge.model import Annotations, Job, Shape, Tag, Task, Track


def _reference_root() -> Path | None:
    candidates = [os.environ.get("CVAT_REFERENCE", "")]
    candidates.append(str(Path(__file__).resolve().parents[2] / "shared" / "cvat-reference"))
    candidates.append("/work/shared/cvat-reference")
    return next((Path(c) for c in candidates if c and Path(c, "overlap32", "backup.zip").is_file()), None)


REFERENCE = _reference_root()
needs_reference = pytest.mark.skipif(REFERENCE is None, reason="shared/cvat-reference (CVAT's exports) is not present")


def rect(frame: int, x: float, *, label: str = "car", w: float = 10, outside: bool = False, **kw) -> Shape:
    return Shape(type="rectangle", frame=frame, points=[x, 0.0, x + w, 10.0], label=label, outside=outside, **kw)


def track(*shapes: Shape, label: str = "car", **kw) -> Track:
    keyframes = [Shape(type=s.type, frame=s.frame, points=s.points, outside=s.outside) for s in shapes]
    return Track(label=label, frame=min(s.frame for s in shapes), shapes=keyframes, **kw)


def merged(*jobs: tuple[int, Annotations], overlap: int) -> Annotations:
    result = Annotations()
    for start, job in jobs:
        merge_job(result, job, start, overlap)
    return result


def keyframes(t: Track) -> list[tuple[int, float, bool]]:
    return [(s.frame, s.points[0], s.outside) for s in t.shapes]


# --- tags and shapes ----------------------------------------------------------------------


def test_tags_on_overlap_frames_match_by_label():
    first = Annotations(tags=[Tag("car", 3), Tag("person", 4), Tag("car", 1)])
    second = Annotations(tags=[Tag("car", 6), Tag("car", 3, source="auto"), Tag("bike", 3), Tag("person", 4)])
    result = merged((0, first), (3, second), overlap=2)  # overlap frames 3, 4
    # earlier tags kept; the job's later tag first, then its unmatched overlap tags
    assert [(t.label, t.frame, t.source) for t in result.tags] == [
        ("car", 3, "manual"), ("person", 4, "manual"), ("car", 1, "manual"),
        ("car", 6, "manual"), ("bike", 3, "manual")]


def test_shapes_match_by_iou_of_same_label_and_type():
    first = Annotations(shapes=[rect(3, 0), rect(3, 50), rect(3, 100, label="person"),
                                Shape(type="points", frame=3, points=[1.0, 1.0], label="car")])
    second = Annotations(shapes=[
        rect(3, 1, source="auto"),  # IoU 9/11 >= 0.75: the first job's box stays
        rect(3, 53),  # IoU 7/13 < 0.75: both kept
        rect(3, 100, label="car"),  # other label: kept
        Shape(type="points", frame=3, points=[1.0, 1.0], label="car"),  # points never match
    ])
    result = merged((0, first), (3, second), overlap=2)
    assert [(s.type, s.label, s.points[0], s.source) for s in result.shapes] == [
        ("rectangle", "car", 0, "manual"), ("rectangle", "car", 50, "manual"), ("rectangle", "person", 100, "manual"),
        ("points", "car", 1.0, "manual"),
        ("rectangle", "car", 53, "manual"), ("rectangle", "car", 100, "manual"), ("points", "car", 1.0, "manual")]


def test_job_objects_before_the_job_start_follow_cvat():
    # CVAT groups overlap objects by frame from the job start on: an object on an earlier
    # frame is dropped when there is something to match, and appended when there is not
    second = Annotations(shapes=[rect(5, 0), rect(2, 0)])
    result = merged((0, Annotations(shapes=[rect(2, 0), rect(3, 40)])), (3, second), overlap=2)
    assert [s.frame for s in result.shapes] == [2, 3, 5, 2]
    second = Annotations(shapes=[rect(5, 0), rect(2, 0), rect(3, 90)])
    result = merged((0, Annotations(shapes=[rect(3, 40)])), (3, second), overlap=2)
    assert [(s.frame, s.points[0]) for s in result.shapes] == [(3, 40), (5, 0), (3, 90)]


def test_shape_similarity_is_cvats_iou():
    a = [rect(0, 0), Shape(type="polygon", frame=0, points=[0, 0, 10, 0, 10, 10, 0, 10], label="car")]
    b = [rect(0, 5, rotation=45.0), Shape(type="polygon", frame=0, points=[5, 0, 15, 0, 15, 10], label="car"),
         Shape(type="polygon", frame=0, points=[0, 0, 10, 10, 10, 0, 0, 10], label="car")]  # self-intersecting
    sim = shape_similarity(a, b)
    assert sim[0, 0] == pytest.approx(50 / 150)  # rotation is ignored
    assert sim[1, 1] == pytest.approx(12.5 / (100 + 50 - 12.5))
    assert sim[0, 1] == 0 and sim[1, 0] == 0  # different types
    assert sim[1, 2] == 0  # invalid polygon
    assert shape_similarity([rect(0, 0, w=0)], [rect(0, 0, w=0)])[0, 0] == 0  # zero area


def test_shape_matching_uses_the_hungarian_assignment():
    # greedy would give new[0] its best partner old[1], leaving new[1] only old[0] (IoU < 0.75)
    old = [rect(3, 0), rect(3, 1)]
    new = [rect(3, 0.8), rect(3, 1.5)]
    sim = shape_similarity(new, old)
    assert sim[0, 1] > sim[0, 0] >= 0.75 and sim[1, 1] >= 0.75 > sim[1, 0]
    result = merged((0, Annotations(shapes=old)), (3, Annotations(shapes=new)), overlap=2)
    assert [s.points[0] for s in result.shapes] == [0, 1]


# --- tracks -------------------------------------------------------------------------------


def test_matched_tracks_are_joined_earlier_job_winning():
    first = Annotations(tracks=[track(rect(0, 0), rect(4, 4))])
    second = Annotations(tracks=[track(rect(3, 3.5), rect(4, 4.5), rect(7, 9))])
    result = merged((0, first), (3, second), overlap=2)
    assert len(result.tracks) == 1
    assert result.tracks[0].frame == 0
    assert keyframes(result.tracks[0]) == [(0, 0, False), (3, 3.5, False), (4, 4, False), (7, 9, False)]


def test_unmatched_visible_track_ends_after_the_overlap():
    first = Annotations(tracks=[
        track(rect(0, 0), rect(4, 0)),  # visible at the boundary, no partner
        track(rect(0, 50), rect(2, 50, outside=True)),  # ended before the overlap
        track(rect(1, 80), rect(4, 80, outside=True)),  # ends inside the overlap
    ])
    second = Annotations(tracks=[track(rect(3, 200), rect(6, 200)), track(rect(6, 300))])
    result = merged((0, first), (3, second), overlap=2)
    assert keyframes(result.tracks[0]) == [(0, 0, False), (4, 0, False), (5, 0, True)]
    assert keyframes(result.tracks[1]) == [(0, 50, False), (2, 50, True)]
    assert keyframes(result.tracks[2]) == [(1, 80, False), (4, 80, True)]
    # the job's track after the overlap comes before its unmatched overlap track
    assert [t.shapes[0].points[0] for t in result.tracks[3:]] == [300, 200]


def test_jobs_without_overlap_close_tracks_at_the_next_start():
    first = Annotations(tracks=[track(rect(0, 0)), track(rect(0, 50), rect(3, 50, outside=True))])
    second = Annotations(tracks=[track(rect(5, 1))])
    result = merged((0, first), (5, second), overlap=0)
    assert [keyframes(t) for t in result.tracks] == [
        [(0, 0, False), (5, 0, True)], [(0, 50, False), (3, 50, True)], [(5, 1, False)]]


def test_first_job_puts_overlap_tracks_after_later_ones():
    # CVAT appends a job's objects starting after [s, s+o) first, even for the first job
    job = Annotations(tracks=[track(rect(0, 0)), track(rect(7, 1)), track(rect(2, 2))])
    result = merged((0, job), overlap=5)
    assert [t.shapes[0].points[0] for t in result.tracks] == [1, 0, 2]


def test_track_similarity_is_the_mean_error_over_the_overlap():
    # IoU 1 on frame 3, the new track is absent on frame 4: error 1/2 -> similarity 0.5, joined
    first = Annotations(tracks=[track(rect(0, 0), rect(4, 0))])
    second = Annotations(tracks=[track(rect(3, 0), rect(4, 0, outside=True))])
    assert len(merged((0, first), (3, second), overlap=2).tracks) == 1
    # outside state differs on frame 4: errors 0 + 1 over 2 frames, still 0.5 -> joined
    # but with a 3-frame overlap the error is 2/3 -> not joined
    first = Annotations(tracks=[track(rect(0, 0), rect(5, 0))])
    second = Annotations(tracks=[track(rect(3, 0), rect(4, 0, outside=True))])
    assert len(merged((0, first), (3, second), overlap=3).tracks) == 2


def test_tracks_with_nothing_on_the_overlap_frames_count_as_a_match():
    # CVAT divides by "count or 1": no frame to compare gives similarity 1 (only reachable
    # with job tracks that start before their job)
    gap = [rect(1, 0), rect(2, 0, outside=True), rect(6, 0)]
    first = Annotations(tracks=[track(*gap)])
    second = Annotations(tracks=[track(rect(1, 0), rect(2, 0, outside=True), rect(7, 0))])
    result = merged((0, first), (3, second), overlap=2)
    assert [keyframes(t) for t in result.tracks] == [[(1, 0, False), (2, 0, True), (6, 0, False), (7, 0, False)]]


def test_track_of_another_label_is_not_joined():
    first = Annotations(tracks=[track(rect(0, 0), rect(4, 0))])
    second = Annotations(tracks=[track(rect(3, 0), rect(6, 0), label="person")])
    result = merged((0, first), (3, second), overlap=2)
    assert [t.label for t in result.tracks] == ["car", "person"]
    assert result.tracks[0].shapes[-1].outside and result.tracks[0].shapes[-1].frame == 5


def test_join_into_a_later_starting_track_keeps_the_old_one():
    # CVAT writes the union into the job's track when that starts first and then drops it
    first = Annotations(tracks=[track(rect(4, 0), rect(5, 0))])
    second = Annotations(tracks=[track(rect(3, 0), rect(4, 0), rect(8, 0))])
    result = merged((0, first), (3, second), overlap=2)
    assert [keyframes(t) for t in result.tracks] == [[(4, 0, False), (5, 0, False)]]


def test_skeleton_elements_get_outside_keyframes_too():
    element = Track(label="head", frame=0, shapes=[Shape(type="points", frame=0, points=[1.0, 1.0])])
    hidden = Track(label="hand", frame=0, shapes=[Shape(type="points", frame=0, points=[2.0, 2.0], outside=True)])
    skeleton = Track(label="pose", frame=0, shapes=[Shape(type="skeleton", frame=0, points=[])],
                     elements=[element, hidden])
    result = merged((0, Annotations(tracks=[skeleton])), (5, Annotations()), overlap=0)
    closed = result.tracks[0]
    assert [(s.frame, s.outside) for s in closed.shapes] == [(0, False), (5, True)]
    assert [(s.frame, s.outside) for s in closed.elements[0].shapes] == [(0, False), (5, True)]
    assert [(s.frame, s.outside) for s in closed.elements[1].shapes] == [(0, True)]
    assert len(skeleton.shapes) == 1  # the job's own track is not changed


# --- job selection ------------------------------------------------------------------------


def make_task(jobs: list[Job], annotations: list[Annotations], validation_mode: str | None = None) -> Task:
    return Task(name="t", labels=[], jobs=jobs, job_annotations=annotations, media_kind="images", frames=[],
                stop_frame=9, validation_mode=validation_mode)


def test_which_jobs_a_task_export_merges():
    jobs = [Job(0, 4), Job(5, 9), Job(0, 9, type="ground_truth", frames=[2, 7]), Job(0, 4, type="consensus_replica")]
    annotations = [Annotations(tags=[Tag("a", 1)]), Annotations(tags=[Tag("b", 6)]),
                   Annotations(tags=[Tag("gt", 7)]), Annotations(tags=[Tag("replica", 2)])]
    plain = make_task(jobs, annotations)
    assert merged_job_indices(plain) == [0, 1]
    assert [t.label for t in task_annotations(plain).tags] == ["a", "b"]
    pool = make_task(jobs, annotations, validation_mode="gt_pool")
    assert merged_job_indices(pool) == [0, 1, 2]
    assert [t.label for t in task_annotations(pool).tags] == ["a", "b", "gt"]


def test_job_annotations_are_the_jobs_own_and_the_task_is_not_changed():
    jobs = [Job(0, 4), Job(5, 9)]
    first = Annotations(tracks=[track(rect(0, 0))])
    task = make_task(jobs, [first, Annotations(tracks=[track(rect(5, 1))])])
    assert [len(t.shapes) for t in task_annotations(task).tracks] == [2, 1]
    assert [len(t.shapes) for t in job_annotations(task, 0).tracks] == [1]
    assert len(first.tracks[0].shapes) == 1
    with pytest.raises(IndexError):
        job_annotations(task, 2)


# --- CVAT's merge of overlap32 -------------------------------------------------------------


def _xml_keyframes(element: ET.Element) -> list[tuple]:
    rows = []
    for s in element:
        if s.get("keyframe") != "1":
            continue
        geometry = s.get("points") or ",".join(s.get(k, "") for k in ("xtl", "ytl", "xbr", "ybr"))
        rows.append((int(s.get("frame", -1)), s.tag, s.get("outside") == "1", s.get("occluded") == "1", geometry))
    return rows


def _our_keyframes(t: Track) -> list[tuple]:
    rows = []
    for s in sorted(t.shapes, key=lambda s: s.frame):
        p = s.points
        if s.type == "rectangle":
            tag, geometry = "box", ",".join(f"{v:.2f}" for v in p)
        else:
            tag, geometry = s.type, ";".join(f"{p[i]:.2f},{p[i + 1]:.2f}" for i in range(0, len(p), 2))
        rows.append((s.frame, tag, s.outside, s.occluded, geometry))
    return rows


@functools.cache
def overlap32() -> Task:
    from cvat_bridge.backup import load_task

    assert REFERENCE is not None
    return load_task(REFERENCE / "overlap32" / "backup.zip")


@needs_reference
def test_overlap32_merge_matches_cvat():
    task = overlap32()
    assert task.overlap == 5 and len(merged_job_indices(task)) == 32
    assert sum(len(a.tracks) for a in task.job_annotations) == 2335
    began = time.perf_counter()
    result = task_annotations(task)
    elapsed = time.perf_counter() - began
    with zipfile.ZipFile(REFERENCE / "overlap32" / "exports" / "CVAT_for_video_1.1" / "without_images.zip") as z:
        expected = ET.fromstring(z.read("annotations.xml")).findall("track")
    assert len(result.tracks) == len(expected) == 498
    assert sum(len(t.shapes) for t in result.tracks) == 45984
    for index, (ours, theirs) in enumerate(zip(result.tracks, expected, strict=True)):
        assert ours.label == theirs.get("label"), index
        assert _our_keyframes(ours) == _xml_keyframes(theirs), f"track {index}"
    assert elapsed < 15, f"merge took {elapsed:.1f} s (CVAT: 26.5 s)"


@needs_reference
def test_overlap32_costs_only_touch_overlap_objects(monkeypatch):
    """The number of exact IoU computations stays near the objects on the overlap frames."""
    import cvat_bridge.merge as merge_module

    task = overlap32()
    sizes: list[int] = []
    original = merge_module.shape_similarity

    def counting(new, old):
        sizes.append(len(new) * len(old))
        return original(new, old)

    monkeypatch.setattr(merge_module, "shape_similarity", counting)
    task_annotations(task)
    assert len(sizes) == 31 * 5  # one call per overlap frame
    assert max(sizes) < 150 * 150  # a frame's objects, not the task's 2,335 tracks
    assert np.mean(sizes) < 80 * 80
