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
frames are compared, and only pairs whose bounding boxes touch get an exact IoU.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from cvat_bridge.interpolate import window_shapes
from cvat_bridge.model import Annotations, Shape, Tag, Task, Track

if TYPE_CHECKING:  # numpy, scipy and shapely load only when jobs overlap (they cost ~0.7 s of start-up)
    import numpy as np
    import shapely

__all__ = ["job_annotations", "merge_job", "merged_job_indices", "shape_similarity", "task_annotations"]

TAG_THRESHOLD = 0.25
SHAPE_THRESHOLD = 0.25
TRACK_THRESHOLD = 0.5
IOU_TYPES = frozenset({"rectangle", "polygon"})

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
    for index in merged_job_indices(task):
        merge_job(result, task.job_annotations[index], task.jobs[index].start_frame, overlap)
    return result


def merge_job(into: Annotations, job: Annotations, start: int, overlap: int) -> None:
    """Merge one job's annotations (segment start ``start``) into ``into``, in place.

    ``job`` itself is not changed.
    """
    _merge_objects(into.tags, job.tags, start, overlap, _tag_costs, TAG_THRESHOLD)
    _merge_objects(into.shapes, job.shapes, start, overlap, _shape_costs, SHAPE_THRESHOLD)
    _merge_tracks(into.tracks, [_clone(t) for t in job.tracks], start, overlap)


def _clone(track: Track) -> Track:
    """A copy whose keyframe list (and elements) the merge may change; shapes are shared."""
    return replace(track, shapes=list(track.shapes), elements=[_clone(e) for e in track.elements])


# --- assignment -----------------------------------------------------------------------------


def _assign(cost: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """The (row, column) pairs of CVAT's Hungarian assignment on ``cost`` whose cost is <= threshold.

    When every row and every column has at most one entry below 1 (the usual case on big
    images), each such pair is in every optimal assignment (swapping it in lowers the total),
    so the result is known without the solver. Otherwise scipy's solver decides, as in CVAT.
    """
    import numpy as np

    candidates = cost < 1
    if not (candidates.sum(axis=0) > 1).any() and not (candidates.sum(axis=1) > 1).any():
        rows, cols = np.nonzero(candidates)
    else:
        rows, cols = _linear_sum_assignment()(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if cost[r, c] <= threshold]


@functools.cache
def _linear_sum_assignment() -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """scipy's ``linear_sum_assignment``, loaded from its compiled module alone when possible:
    ``import scipy.optimize`` costs about half a second of imports for this one C function."""
    import importlib.machinery
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("scipy")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = Path(folder) / "optimize" / f"_lsap{suffix}"
            if not path.is_file():
                continue
            try:
                ext = importlib.util.spec_from_file_location("scipy.optimize._lsap", path)
                if ext is None or ext.loader is None:
                    continue
                module = importlib.util.module_from_spec(ext)
                ext.loader.exec_module(module)
                return module.linear_sum_assignment
            except (ImportError, AttributeError, OSError):
                continue
    from scipy.optimize import linear_sum_assignment

    return linear_sum_assignment


# --- tags and shapes: per-frame matching ------------------------------------------------


def _merge_objects(
    existing: list[Obj],
    incoming: Sequence[Obj],
    start: int,
    overlap: int,
    costs: Callable[[Sequence[Obj], Sequence[Obj]], np.ndarray],
    threshold: float,
) -> None:
    end = start + overlap
    fresh = [o for o in incoming if o.frame >= end]
    early = [o for o in incoming if o.frame < end]
    early_by_frame = _by_frame(early, start)
    old_by_frame = _by_frame(existing, start)
    existing.extend(fresh)
    if not old_by_frame or not early_by_frame:
        existing.extend(early)
        return
    for frame, objects in early_by_frame.items():
        old = old_by_frame.get(frame)
        if not old:
            existing.extend(objects)
            continue
        matched = {r for r, _ in _assign(costs(objects, old), threshold)}
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


# --- exact IoU ----------------------------------------------------------------------------


def _geometry(shape: Shape) -> shapely.Geometry | None:
    """The shapely geometry CVAT compares (None where CVAT's would fail to build)."""
    import shapely

    p = shape.points
    if shape.type == "rectangle":
        return shapely.box(p[0], p[1], p[2], p[3]) if len(p) >= 4 else None
    try:
        return shapely.Polygon([(p[i], p[i + 1]) for i in range(0, len(p) - 1, 2)])
    except (ValueError, shapely.errors.GEOSException):
        return None


def _bounds(shape: Shape) -> tuple[float, float, float, float]:
    xs, ys = shape.points[0::2], shape.points[1::2]
    if not xs or not ys:
        return (math.inf, math.inf, -math.inf, -math.inf)
    return (min(xs), min(ys), max(xs), max(ys))


def shape_similarity(new: Sequence[Shape], old: Sequence[Shape]) -> np.ndarray:
    """CVAT's shape similarity matrix (len(new) x len(old)), values in [0, 1].

    IoU for pairs of the same label and type that are both rectangles or both polygons;
    invalid or zero-area geometry gives 0, as in CVAT.
    """
    import numpy as np

    sim = np.zeros((len(new), len(old)), dtype=float)
    a_idx = np.array([i for i, s in enumerate(new) if s.type in IOU_TYPES], dtype=np.intp)
    b_idx = np.array([j for j, s in enumerate(old) if s.type in IOU_TYPES], dtype=np.intp)
    if not len(a_idx) or not len(b_idx):
        return sim
    ab = np.array([_bounds(new[i]) for i in a_idx])
    bb = np.array([_bounds(old[j]) for j in b_idx])
    kinds: dict[tuple[str, str], int] = {}
    ka = np.array([kinds.setdefault((new[i].type, new[i].label), len(kinds)) for i in a_idx])
    kb = np.array([kinds.setdefault((old[j].type, old[j].label), len(kinds)) for j in b_idx])
    candidates = (
        (ka[:, None] == kb[None, :])
        & (ab[:, None, 0] <= bb[None, :, 2]) & (bb[None, :, 0] <= ab[:, None, 2])
        & (ab[:, None, 1] <= bb[None, :, 3]) & (bb[None, :, 1] <= ab[:, None, 3])
    )
    boxes = candidates & np.array([_plain_box(new[i]) for i in a_idx])[:, None] \
        & np.array([_plain_box(old[j]) for j in b_idx])[None, :]
    if boxes.any():
        x, y = np.nonzero(boxes)
        sim[a_idx[x], b_idx[y]] = _box_iou(ab[x], bb[y])
    x, y = np.nonzero(candidates & ~boxes)
    if len(x):
        pairs = list(zip(a_idx[x].tolist(), b_idx[y].tolist(), strict=True))
        rows, cols, iou = _shapely_iou(new, old, pairs)
        sim[rows, cols] = iou
    return sim


def _plain_box(shape: Shape) -> bool:
    """A rectangle with x1 < x2 and y1 < y2: its IoU needs no geometry library."""
    p = shape.points
    return shape.type == "rectangle" and len(p) == 4 and p[0] < p[2] and p[1] < p[3]


def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of plain boxes (rows x1, y1, x2, y2), bit for bit what shapely gives.

    GEOS computes a rectangle's area with the shoelace formula, which for an axis-aligned
    ring reduces exactly to (x2 - x1) * (y2 - y1); the intersection of two such boxes is the
    box of the inner coordinates (checked against shapely on millions of random pairs).
    """
    import numpy as np

    width = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    height = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.where((width > 0) & (height > 0), width * height, 0.0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    ok = (area_a != 0) & (area_b != 0)
    iou = np.zeros(len(a))
    iou[ok] = inter[ok] / (area_a[ok] + area_b[ok] - inter[ok])
    return iou


def _shapely_iou(new: Sequence[Shape], old: Sequence[Shape],
                 pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, columns, IoU) of ``pairs`` computed with shapely (polygons, unusual boxes)."""
    import numpy as np
    import shapely

    geoms: dict[tuple[int, int], shapely.Geometry | None] = {}
    for i, j in pairs:
        if (0, i) not in geoms:
            geoms[(0, i)] = _geometry(new[i])
        if (1, j) not in geoms:
            geoms[(1, j)] = _geometry(old[j])
    pairs = [(i, j) for i, j in pairs if geoms[(0, i)] is not None and geoms[(1, j)] is not None]
    rows = np.array([i for i, _ in pairs], dtype=np.intp)
    cols = np.array([j for _, j in pairs], dtype=np.intp)
    if not pairs:
        return rows, cols, np.zeros(0)
    ga = np.array([geoms[(0, i)] for i, _ in pairs], dtype=object)
    gb = np.array([geoms[(1, j)] for _, j in pairs], dtype=object)
    valid = shapely.is_valid(ga) & shapely.is_valid(gb)
    area_a, area_b = shapely.area(ga), shapely.area(gb)
    inter = np.zeros(len(pairs))
    inter[valid] = shapely.area(shapely.intersection(ga[valid], gb[valid]))
    ok = valid & (area_a != 0) & (area_b != 0)
    iou = np.zeros(len(pairs))
    iou[ok] = inter[ok] / (area_a[ok] + area_b[ok] - inter[ok])
    return rows, cols, iou


# --- tracks -------------------------------------------------------------------------------


def _is_open(track: Track, start: int) -> bool:
    """CVAT's candidate test: the last stored keyframe is on/after ``start`` or not outside."""
    if not track.shapes:
        return False
    last = track.shapes[-1]
    return last.frame >= start or not last.outside


def _merge_tracks(existing: list[Track], incoming: list[Track], start: int, overlap: int) -> None:
    end = start + overlap
    fresh = [t for t in incoming if t.frame >= end]
    early = [t for t in incoming if t.frame < end]
    early_open = [t for t in early if _is_open(t, start)]
    old_open = [t for t in existing if _is_open(t, start)]
    existing.extend(fresh)
    if not old_open or not early_open:
        for track in old_open:
            _close(track, end)
        existing.extend(early)
        return
    joined_new: set[int] = set()
    joined_old: set[int] = set()
    for r, c in _assign(_track_costs(early_open, old_open, start, end), TRACK_THRESHOLD):
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
    track.shapes.append(replace(last, frame=end, outside=True))
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
