"""Skeletons as the Datumaro path hands them to exporters, without importing Datumaro or NumPy.

Upstream Datumaro has no skeleton type, so ``translate.Converter`` makes a skeleton a ``Points``
annotation of the skeleton's label: one point per ``<circle>`` of the label's svg, in that
order, with per-point visibility (0 absent, 1 hidden, 2 visible) and CVAT's ``keyframe``
attribute; ``PointsCategories`` names the points and joints. Datumaro's ``Points`` stores its
coordinates through ``float32`` rounded to 2 digits (plain shapes get exact float64 values
assigned afterwards, skeletons keep the float32 ones), which ``round2_f32`` reproduces.
"""

from __future__ import annotations

from array import array
from typing import Any

from cvat_bridge.model import Label, Task
from cvat_bridge.validate import SVG_ATTR, SVG_CIRCLE, SVG_LINE

ABSENT, HIDDEN, VISIBLE = 0, 1, 2


def skeleton_layout(label: Label) -> tuple[list[str], list[tuple[int, int]]]:
    """Point names in ``<circle>`` order and 1-based joints, read from the label's svg.

    Parsed with regular expressions rather than an XML parser: the svg is a fragment, and
    this way no entity or external reference can ever be expanded; the patterns are validation's
    linear-time ones, so a hostile svg cannot make them backtrack.
    """
    names: list[str] = []
    node_ids: dict[str, int] = {}
    for match in SVG_CIRCLE.finditer(label.svg):
        attrs = dict(SVG_ATTR.findall(match.group(0)))
        name = attrs.get("data-label-name")
        if name is None:
            continue
        names.append(name)
        node_ids[attrs.get("data-node-id", str(len(names)))] = len(names)
    if not names:
        names = [s.name for s in label.sublabels]
    joints = []
    for match in SVG_LINE.finditer(label.svg):
        attrs = dict(SVG_ATTR.findall(match.group(0)))
        a, b = attrs.get("data-node-from"), attrs.get("data-node-to")
        if a in node_ids and b in node_ids:
            joints.append((node_ids[a], node_ids[b]))
    return names, joints


def joints_in_datumaro_order(joints: list[tuple[int, int]]) -> list[list[int]]:
    """The joints as Datumaro writes them: ``PointsCategories`` keeps them in a set (built from
    the list in order), and exporters list that set's iteration order."""
    return [list(joint) for joint in set(map(tuple, joints))]


def round2_f32(values: list[float]) -> list[float]:
    """``numpy.array(values, dtype=float32).round(2).tolist()`` (Datumaro's ``Shape`` converter).

    NumPy rounds a float32 array as multiply by 100, round half to even, divide by 100, each
    step in float32. Each step here is computed in float64 and stored back as float32, which
    gives the same result: the product of two float32 is exact in float64, and a quotient
    rounded to float64 and then to float32 equals the one rounded to float32 directly.
    """
    scaled = array("f", [v * 100.0 for v in array("f", values)])
    return list(array("f", [(r / 100.0 if (r := round(v)) else 0.0 * v) for v in scaled]))


class SkeletonPoints:
    """Skeleton shapes → the coordinates, visibility and attributes of Datumaro's ``Points``."""

    def __init__(self, task: Task) -> None:
        self.names: dict[str, list[str]] = {}
        self.positions: dict[str, dict[str, int]] = {}
        for label in task.labels:
            if label.type == "skeleton":
                names = skeleton_layout(label)[0]
                self.names[label.name] = names
                positions: dict[str, int] = {}
                for index, name in enumerate(names):
                    positions.setdefault(name, index)  # list.index: the first point of that name
                self.positions[label.name] = positions

    def points(self, item: Any) -> tuple[list[float], list[int]]:
        """(x1, y1, x2, y2, …) and visibility of a skeleton ``FrameShape`` (``Converter.skeleton``)."""
        count = len(self.names.get(item.label, ()))
        positions = self.positions.get(item.label, {})
        coords = [0.0, 0.0] * count
        visibility = [ABSENT] * count
        for element in item.elements:
            index = positions.get(element.label)
            if index is None:
                continue
            e = element.shape
            coords[2 * index: 2 * index + 2] = e.points[:2]
            visibility[index] = ABSENT if e.outside else HIDDEN if e.occluded else VISIBLE
        return round2_f32(coords), visibility

    @staticmethod
    def mark_keyframe(item: Any, attributes: dict[str, Any]) -> dict[str, Any]:
        """CVAT marks a tracked skeleton as a keyframe when any element is one; standalone never."""
        attributes["keyframe"] = item.track_id is not None and any(e.shape.keyframe for e in item.elements)
        return attributes


def points_bbox(coords: list[float], visibility: list[int]) -> list[float]:
    """Datumaro's ``Points.get_bbox``: the extent of the points that are not absent (zeros if none)."""
    xs = [x for x, v in zip(coords[0::2], visibility, strict=False) if v != ABSENT]
    ys = [y for y, v in zip(coords[1::2], visibility, strict=False) if v != ABSENT]
    x0, x1 = min(xs, default=0), max(xs, default=0)
    y0, y1 = min(ys, default=0), max(ys, default=0)
    return [x0, y0, x1 - x0, y1 - y0]
