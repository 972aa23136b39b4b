"""Polygon and polyline interpolation helpers: CVAT's arc-length matching (``interpolate_position``).

Split from ``interpolate.py``: two keyframes' vertices are matched by their normalised arc-length
offsets, and the moved point list is thinned the way CVAT does it. Float operations follow CVAT's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["Plan", "Point", "apply_plan", "match_vertices", "offsets", "pairs", "reduce_points", "reduction_plan"]

Point = tuple[float, float]


def pairs(flat: Sequence[float]) -> list[Point]:
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat) - 1, 2)]


def _dist(a: Point, b: Point) -> float:
    dx = a[0] - b[0]
    dy = a[1] - b[1]
    return math.sqrt(dx * dx + dy * dy)


def _length(points: Sequence[Point]) -> float:
    total = 0.0
    for i in range(1, len(points)):
        total += _dist(points[i], points[i - 1])
    return total


def offsets(points: Sequence[Point]) -> list[float]:
    """Normalised arc length at each vertex (NaN for a curve of zero length, as in CVAT)."""
    steps = [_dist(points[i], points[i - 1]) for i in range(1, len(points))]
    length = 0.0
    for step in steps:  # _length's sum, in the same order
        length += step
    result = [0.0]
    run = 0.0
    for step in steps:
        run += step
        result.append(run / length if length else math.nan)
    return result


def _nearest(value: float, curve: Sequence[float]) -> int:
    """Index of the first entry of ``curve`` closest to ``value`` (NaN never wins)."""
    best, best_dist = 0, abs(value - curve[0])
    for i in range(1, len(curve)):
        d = abs(value - curve[i])
        if d < best_dist:
            best, best_dist = i, d
    return best


def match_vertices(left: Sequence[float], right: Sequence[float]) -> list[list[int]]:
    """For each left vertex the sorted right vertices it moves to.

    Every left vertex takes its nearest right vertex; right vertices nobody took are
    then given to their nearest left vertex.
    """
    matching = [[_nearest(v, right)] for v in left]
    taken = {m[0] for m in matching}
    for j, v in enumerate(right):
        if j not in taken:
            matching[_nearest(v, left)].append(j)
    return [sorted(m) for m in matching]


def _thin(points: list[Point], threshold: float, first: int, last: int) -> list[Point]:
    """Drop interpolated points closer than ``threshold`` to the last kept one."""
    kept = [points[first]]
    anchor = first
    for i in range(first + 1, last):
        if _dist(points[anchor], points[i]) >= threshold:
            kept.append(points[i])
            anchor = i
    kept.append(points[last])
    if len(kept) == 2 and _dist(points[first], points[last]) < threshold:
        return [((kept[0][0] + kept[1][0]) / 2, (kept[0][1] + kept[1][1]) / 2)]
    return kept


Plan = list[tuple[int, int, float]]


def reduction_plan(matching: list[list[int]], left: list[Point], right: list[Point]) -> Plan:
    """CVAT's reduction of the matched point list, as steps that do not depend on the frame: runs of
    left vertices sharing one right vertex are thinned along the left curve, fans of one left
    vertex along the right one. A step ``(first, last, threshold)`` keeps point ``first`` alone when
    ``first == last``, else thins ``first..last`` with ``threshold`` (base length / (2 * count))."""
    index: list[list[int]] = []
    n = 0
    for m in matching:
        index.append(list(range(n, n + len(m))))
        n += len(m)
    plan: Plan = []

    def left_run(start: int, stop: int) -> None:
        a, b = index[start][0], index[stop][0]
        if a == b:
            plan.append((a, a, 0.0))
        else:
            plan.append((a, b, _length(left[start:stop + 1]) / (2 * (stop - start + 1))))

    def fan(i: int) -> None:
        lo, hi = matching[i][0], matching[i][-1]
        plan.append((index[i][0], index[i][-1], _length(right[lo:hi + 1]) / (2 * (hi - lo + 1))))

    opened: int | None = None
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
            fan(i)
    if opened is not None:
        left_run(opened, len(left) - 1)
    return plan


def apply_plan(points: list[Point], plan: Plan) -> list[Point]:
    """The matched points of one frame reduced by ``reduction_plan``'s steps."""
    out: list[Point] = []
    for first, last, threshold in plan:
        if first == last:
            out.append(points[first])
        else:
            out.extend(_thin(points, threshold, first, last))
    return out


def reduce_points(
    points: list[Point], matching: list[list[int]], left: list[Point], right: list[Point]
) -> list[Point]:
    """CVAT's reduction of the matched point list (``reduction_plan`` applied to ``points``)."""
    return apply_plan(points, reduction_plan(matching, left, right))
