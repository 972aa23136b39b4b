"""What CVAT's task merge compares and how it pairs objects (spec §2.3), kept apart from the merge.

``shape_similarity`` is CVAT's IoU matrix (shapely for polygons; plain boxes computed with NumPy,
bit for bit what shapely gives); ``assign`` is CVAT's Hungarian assignment with its threshold.
NumPy, scipy and shapely load only when jobs overlap (they cost ~0.7 s of start-up).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from cvat_bridge.model import Shape

if TYPE_CHECKING:
    import numpy as np
    import shapely

__all__ = ["IOU_TYPES", "assign", "box_iou", "linear_sum_assignment_solver", "shape_similarity", "shapely_iou"]

IOU_TYPES = frozenset({"rectangle", "polygon"})


# --- assignment -----------------------------------------------------------------------------


def assign(cost: np.ndarray, threshold: float) -> list[tuple[int, int]]:
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
        rows, cols = linear_sum_assignment_solver()(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if cost[r, c] <= threshold]


@functools.cache
def linear_sum_assignment_solver() -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
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
    p = shape.points
    if len(p) == 4 and p[0] <= p[2] and p[1] <= p[3]:  # an ordered box: its own bounds
        return (p[0], p[1], p[2], p[3])
    xs, ys = p[0::2], p[1::2]
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
        sim[a_idx[x], b_idx[y]] = box_iou(ab[x], bb[y])
    x, y = np.nonzero(candidates & ~boxes)
    if len(x):
        pairs = list(zip(a_idx[x].tolist(), b_idx[y].tolist(), strict=True))
        rows, cols, iou = shapely_iou(new, old, pairs)
        sim[rows, cols] = iou
    return sim


def _plain_box(shape: Shape) -> bool:
    """A rectangle with x1 < x2 and y1 < y2: its IoU needs no geometry library."""
    p = shape.points
    return shape.type == "rectangle" and len(p) == 4 and p[0] < p[2] and p[1] < p[3]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
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


def shapely_iou(new: Sequence[Shape], old: Sequence[Shape],
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
