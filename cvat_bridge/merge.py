"""Job selection and CVAT's task-level merge of job annotations (spec §2.1, §2.3).

A task export sees the annotations of its jobs merged one job at a time
(``AnnotationManager.merge``). Objects of a job that start on the overlap frames
``[s, s + o)`` are matched against the objects already in the task with the Hungarian
algorithm; matched ones are not added again (matched tracks are joined), and tracks of
earlier jobs that stay visible past the overlap and found no partner end with an outside
keyframe at ``s + o``.

Order of the result, as in CVAT: the objects already there, then the job's objects that
start after the overlap, then its unmatched overlap objects (grouped by frame).

Similarities are CVAT's: tags match by label; shapes by IoU computed with shapely
(rectangles as axis-aligned boxes, rotation ignored; polygons), other types never match;
tracks by 1 - mean per-frame error on the overlap frames. Only objects on the overlap
frames are compared, and only pairs whose bounding boxes touch get an exact IoU (matching.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from cvat_bridge.interpolate import window_shapes
from cvat_bridge.matching import assign, shape_similarity
from cvat_bridge.model import Annotations, Shape, Tag, Task, Track, replace_shape

if TYPE_CHECKING:  # numpy loads only when jobs overlap (matching.py)
    import numpy as np

__all__ = ["job_annotations", "merge_job", "merged_job_indices", "shape_similarity", "task_annotations"]

TAG_THRESHOLD = 0.25
SHAPE_THRESHOLD = 0.25
TRACK_THRESHOLD = 0.5

Obj = TypeVar("Obj", Tag, Shape)


def merged_job_indices(task: Task) -> list[int]:
    """Jobs a task export merges: annotation jobs in task.json order, plus the ground-truth
    job when the task validates with a GT pool; consensus replicas never."""
    return [
        i for i, job in enumerate(task.jobs)
        if job.type == "annotation" or (job.type == "ground_truth" and task.validation_mode == "gt_pool")
    ]


def job_annotations(task: Task, job_index: int) -> Annotations:
    """The job's own annotations (0-based index into ``task.jobs``), unmerged."""
    if not 0 <= job_index < len(task.jobs):
        raise IndexError(f"the task has {len(task.jobs)} jobs; there is no job {job_index}")
    own = task.job_annotations[job_index]
    return Annotations(tags=list(own.tags), shapes=list(own.shapes), tracks=[_clone(t) for t in own.tracks])


def task_annotations(task: Task) -> Annotations:
    """The task's annotations as CVAT's task export sees them (merged, in CVAT's order)."""
    result = Annotations()
    overlap = task.overlap
    # The result's objects a later job can still be matched with, in result order. An object before
    # a job's start (a track closed before it) stays out of reach for every later start, so each job
    # looks at these only: looking at the whole result made big tasks quadratic.
    reach = Annotations()
    previous = None
    for index in merged_job_indices(task):
        start = task.jobs[index].start_frame
        if previous is not None and start < previous:  # jobs out of order: everything is in reach again
            reach = Annotations(tags=list(result.tags), shapes=list(result.shapes), tracks=list(result.tracks))
        previous = start
        tags, shapes, tracks = len(result.tags), len(result.shapes), len(result.tracks)
        _merge_job(result, task.job_annotations[index], start, overlap, reach)
        # without overlap frames no tag or shape is ever matched: then only tracks (closed at a job's
        # start) are in reach
        reach = Annotations(
            tags=[t for t in [*reach.tags, *result.tags[tags:]] if t.frame >= start] if overlap else [],
            shapes=[s for s in [*reach.shapes, *result.shapes[shapes:]] if s.frame >= start] if overlap else [],
            tracks=[t for t in [*reach.tracks, *result.tracks[tracks:]] if _is_open(t, start)],
        )
    return result


def merge_job(into: Annotations, job: Annotations, start: int, overlap: int) -> None:
    """Merge one job's annotations (segment start ``start``) into ``into``, in place.

    ``job`` itself is not changed.
    """
    _merge_job(into, job, start, overlap, None)


def _merge_job(into: Annotations, job: Annotations, start: int, overlap: int, reach: Annotations | None) -> None:
    """``merge_job``; ``reach``: the objects of ``into`` (in its order) the job may match, when known."""
    _merge_objects(into.tags, job.tags, start, overlap, _tag_costs, TAG_THRESHOLD, reach.tags if reach else None)
    _merge_objects(into.shapes, job.shapes, start, overlap, _shape_costs, SHAPE_THRESHOLD,
                   reach.shapes if reach else None)
    _merge_tracks(into.tracks, [_clone(t) for t in job.tracks], start, overlap, reach.tracks if reach else None)


def _clone(track: Track) -> Track:
    """A copy whose keyframe list (and elements) the merge may change; shapes are shared."""
    return Track(track.label, track.frame, list(track.shapes), track.group, track.source, track.attributes,
                 [_clone(e) for e in track.elements] if track.elements else [])


# --- tags and shapes: per-frame matching ------------------------------------------------


def _merge_objects(
    existing: list[Obj],
    incoming: Sequence[Obj],
    start: int,
    overlap: int,
    costs: Callable[[Sequence[Obj], Sequence[Obj]], np.ndarray],
    threshold: float,
    candidates: Sequence[Obj] | None = None,
) -> None:
    end = start + overlap
    early = [o for o in incoming if o.frame < end]
    if not early:  # the usual case: the job adds all of its objects, in their order
        existing.extend(incoming)
        return
    fresh = [o for o in incoming if o.frame >= end]
    early_by_frame = _by_frame(early, start)
    old_by_frame = _by_frame(existing if candidates is None else candidates, start) if early_by_frame else {}
    existing.extend(fresh)
    if not old_by_frame or not early_by_frame:
        existing.extend(early)
        return
    for frame, objects in early_by_frame.items():
        old = old_by_frame.get(frame)
        if not old:
            existing.extend(objects)
            continue
        matched = {r for r, _ in assign(costs(objects, old), threshold)}
        existing.extend(o for i, o in enumerate(objects) if i not in matched)


def _by_frame(objects: Sequence[Obj], start: int) -> dict[int, list[Obj]]:
    grouped: dict[int, list[Obj]] = {}
    for obj in objects:
        if obj.frame >= start:
            grouped.setdefault(obj.frame, []).append(obj)
    return grouped


def _tag_costs(new: Sequence[Tag], old: Sequence[Tag]) -> np.ndarray:
    import numpy as np

    return np.array([[0.0 if a.label == b.label else 1.0 for b in old] for a in new], dtype=float)


def _shape_costs(new: Sequence[Shape], old: Sequence[Shape]) -> np.ndarray:
    return 1 - shape_similarity(new, old)


# --- tracks -------------------------------------------------------------------------------


def _is_open(track: Track, start: int) -> bool:
    """CVAT's candidate test: the last stored keyframe is on/after ``start`` or not outside."""
    if not track.shapes:
        return False
    last = track.shapes[-1]
    return last.frame >= start or not last.outside


def _merge_tracks(existing: list[Track], incoming: list[Track], start: int, overlap: int,
                  candidates: list[Track] | None = None) -> None:
    """``candidates``: the tracks of ``existing`` (in its order) that may be open, when known."""
    end = start + overlap
    fresh = [t for t in incoming if t.frame >= end]
    early = [t for t in incoming if t.frame < end]
    early_open = [t for t in early if _is_open(t, start)]
    old_open = [t for t in (existing if candidates is None else candidates) if _is_open(t, start)]
    existing.extend(fresh)
    if not old_open or not early_open:
        for track in old_open:
            _close(track, end)
        existing.extend(early)
        return
    joined_new: set[int] = set()
    joined_old: set[int] = set()
    for r, c in assign(_track_costs(early_open, old_open, start, end), TRACK_THRESHOLD):
        _join(early_open[r], old_open[c])
        joined_new.add(r)
        joined_old.add(c)
    existing.extend(t for i, t in enumerate(early_open) if i not in joined_new)
    for j, track in enumerate(old_open):
        if j not in joined_old:
            _close(track, end)


def _join(new: Track, old: Track) -> None:
    """CVAT's track union: keyframes by frame, the earlier job's keyframe wins.

    CVAT writes the union into whichever track starts first; when that is the new job's
    track, the task keeps the old track unchanged (CVAT's behaviour, reproduced).
    """
    target = new if new.frame < old.frame else old
    by_frame = {s.frame: s for s in new.shapes}
    for shape in old.shapes:
        by_frame[shape.frame] = shape
    target.frame = min(new.frame, old.frame)
    target.shapes = [by_frame[frame] for frame in sorted(by_frame)]


def _close(track: Track, end: int) -> None:
    """End a still visible track with an outside keyframe at ``end`` (elements too)."""
    if not track.shapes:
        return
    last = track.shapes[-1]
    if last.outside:
        return
    track.shapes.append(replace_shape(last, frame=end, outside=True))
    for element in track.elements:
        _close(element, end)


def _has_keyframe_before(track: Track, end: int) -> bool:
    return any(track.frame <= s.frame < end for s in track.shapes)


def _track_costs(new: list[Track], old: list[Track], start: int, end: int) -> np.ndarray:
    """1 - CVAT's track similarity for every (new, old) pair, computed on ``[start, end)``.

    Per frame: 1 where only one of the two tracks has a shape, 1 where one is outside and the
    other not, else 1 - IoU; the error is summed in frame order (CVAT's float operations).
    """
    import numpy as np

    new_w = [{s.frame: s for s in window_shapes(t, start, end)} for t in new]
    old_w = [{s.frame: s for s in window_shapes(t, start, end)} for t in old]
    labels: dict[str, int] = {}
    same_label = (np.array([labels.setdefault(t.label, len(labels)) for t in new])[:, None]
                  == np.array([labels.setdefault(t.label, len(labels)) for t in old])[None, :])
    live_new = np.array([_has_keyframe_before(t, end) for t in new], dtype=bool)
    live_old = np.array([_has_keyframe_before(t, end) for t in old], dtype=bool)
    error = np.zeros((len(new), len(old)))
    count = np.zeros((len(new), len(old)), dtype=np.int64)
    for f in range(start, end):
        a_ids = [i for i, w in enumerate(new_w) if f in w]
        b_ids = [j for j, w in enumerate(old_w) if f in w]
        present_a = np.zeros(len(new), dtype=bool)
        present_b = np.zeros(len(old), dtype=bool)
        present_a[a_ids] = True
        present_b[b_ids] = True
        either = present_a[:, None] | present_b[None, :]
        count += either
        term = either.astype(float)
        if a_ids and b_ids:
            a_shapes = [new_w[i][f] for i in a_ids]
            b_shapes = [old_w[j][f] for j in b_ids]
            # interpolated shapes carry their track's label, so only same-label tracks pair up
            sim = shape_similarity(a_shapes, b_shapes)
            flips = (np.array([s.outside for s in a_shapes])[:, None]
                     != np.array([s.outside for s in b_shapes])[None, :])
            term[np.ix_(a_ids, b_ids)] = np.where(flips, 1.0, 1 - sim)
        error += term
    usable = same_label & live_new[:, None] & live_old[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        similarity_cost = 1 - (1 - error / count)
    # CVAT: nothing to compare counts as a perfect match
    return np.where(usable, np.where(count == 0, 0.0, similarity_cost), 1.0)
