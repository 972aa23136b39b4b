"""Polygon and polyline interpolation helpers: CVAT's arc-length matching (``interpolate_position``).

Split from ``interpolate.py``: two keyframes' vertices are matched by their normalised arc-length
offsets, and the moved point list is thinned the way CVAT does it. Float operations follow CVAT's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["Point", "match_vertices", "offsets", "pairs", "reduce_points"]

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
    length = _length(points)
    result = [0.0]
    run = 0.0
    for i in range(1, len(points)):
        run += _dist(points[i], points[i - 1])
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


def _thin(points: list[Point], base_length: float, count: int, first: int, last: int) -> list[Point]:
    """Drop interpolated points closer than base_length / (2 * count) to the last kept one."""
    threshold = base_length / (2 * count)
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


def reduce_points(
    points: list[Point], matching: list[list[int]], left: list[Point], right: list[Point]
) -> list[Point]:
    """CVAT's reduction of the matched point list (runs of left vertices sharing one right
    vertex are thinned along the left curve, fans of one left vertex along the right one)."""
    index: list[list[int]] = []
    n = 0
    for m in matching:
        index.append(list(range(n, n + len(m))))
        n += len(m)
    out: list[Point] = []

    def left_run(start: int, stop: int) -> None:
        a, b = index[start][0], index[stop][0]
        if a == b:
            out.append(points[a])
        else:
            out.extend(_thin(points, _length(left[start:stop + 1]), stop - start + 1, a, b))

    def fan(i: int) -> None:
        lo, hi = matching[i][0], matching[i][-1]
        out.extend(_thin(points, _length(right[lo:hi + 1]), hi - lo + 1, index[i][0], index[i][-1]))

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
    return out
