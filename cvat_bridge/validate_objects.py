"""The checks of one annotations.json object (tag, shape, track), run on the raw JSON.

``validate.check_annotations`` runs them over every job; the first problem of an object
raises ``ObjectProblem``, which names what is wrong (and, for keyframes and skeleton
elements, which part).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from cvat_bridge.model import Label
from cvat_bridge.validate import (
    MAX_COORDINATE,
    MAX_MASK_PIXELS,
    POINT_RULES,
    SHAPE_TYPES,
    FrameSize,
    frame_of,
    is_int,
    is_number,
    is_scalar,
    number_problem,
    quoted,
    short_repr,
    text_problem,
)


class ObjectProblem(Exception):
    """Raised inside ``ObjectChecker`` at the first problem of an object."""

    def __init__(self, kind: str, detail: str, *, frame: Any = None, part: str = "") -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.frame = frame
        self.part = part  # e.g. ", keyframe on frame 4" or ", element 'nose'"


class ObjectChecker:
    """The checks of one tag, shape or track of annotations.json (raw JSON, before parsing)."""

    def __init__(self, labels: list[Label], size: int, frame_size: FrameSize, deleted: set[int]) -> None:
        self.labels = {label.name: label for label in labels}
        self.sublabel_of = {s.name: label.name for label in labels for s in label.sublabels}
        self.size = size
        self.frame_size = frame_size
        self.deleted = deleted
        # (label, name, type, value) of attribute values already found good: real tasks repeat a
        # few values over and over, and checking each one again was a third of the validation
        self._good_attributes: set[tuple[int, str, type, Any]] = set()

    def describe(self, key: str, index: int, raw: Any) -> str:
        kind = key[:-1]
        if not isinstance(raw, dict):
            return f"{kind} #{index}"
        label = quoted(raw.get("label"))
        if key == "shapes":
            return f"{kind} #{index} ({raw.get('type')} {label})" if isinstance(raw.get("type"), str) \
                else f"{kind} #{index} ({label})"
        return f"{kind} #{index} ({label})"

    # --- fields

    def label(self, raw: dict[str, Any], skeleton: Label | None = None) -> Label:
        name = raw.get("label")
        if not isinstance(name, str):
            raise ObjectProblem("bad label", f"'label' is {short_repr(name)}, not a label name")
        if skeleton is not None:
            for sublabel in skeleton.sublabels:
                if sublabel.name == name:
                    return sublabel
            raise ObjectProblem("bad skeleton", f"{quoted(name)} is not a sublabel of skeleton {quoted(skeleton.name)}")
        label = self.labels.get(name)
        if label is None:
            parent = self.sublabel_of.get(name)
            where = f" (it is a point of skeleton {quoted(parent)}, not a label of its own)" if parent else ""
            raise ObjectProblem("unknown label", f"unknown label {quoted(name)}{where}")
        return label

    def frame(self, value: Any) -> int:
        if type(value) is int and 0 <= value < self.size:  # the fast path of the checks below
            return value
        if not is_int(value):
            raise ObjectProblem("bad frame", f"frame {short_repr(value)} is not a frame number")
        if not 0 <= value < self.size:
            raise ObjectProblem("frame outside the task",
                                f"frame {value} is outside the task (frames 0-{self.size - 1})", frame=value)
        return value

    def common(self, raw: dict[str, Any]) -> None:
        for key in ("group", "z_order"):
            value = raw.get(key)
            if value is not None and type(value) is not int and not is_int(value):
                raise ObjectProblem("bad field", f"{quoted(key)} is {short_repr(value)}, not an integer")
        for key in ("rotation", "score"):
            value = raw.get(key)
            if value is None or (type(value) is float or type(value) is int) and math.isfinite(value):
                continue
            if not is_number(value) or not math.isfinite(value):
                raise ObjectProblem("bad field", f"{quoted(key)} is {short_repr(value)}, not a finite number")
        source = raw.get("source")
        if source is not None and not isinstance(source, str):
            raise ObjectProblem("bad field", f"'source' is {short_repr(source)}, not a string")

    def attributes(self, raw: Any, label: Label) -> None:
        if raw is None:
            return
        if not isinstance(raw, list):
            raise ObjectProblem("bad attribute", f"'attributes' is {short_repr(raw)}, not a list")
        good = self._good_attributes
        for item in raw:
            key = None
            if type(item) is dict:
                name, value = item.get("name"), item.get("value", "")
                if type(name) is str and type(value) in _SCALAR_TYPES:
                    key = (id(label), name, type(value), value)
                    if key in good:
                        continue
            self.attribute(item, label)
            if key is not None and len(good) < _MAX_REMEMBERED:
                good.add(key)

    def attribute(self, item: Any, label: Label) -> None:
        """The checks of one item of an object's 'attributes'."""
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ObjectProblem("bad attribute", f"attribute {short_repr(item)} has no name")
        name = item["name"]
        spec = label.attribute(name)
        if spec is None:
            raise ObjectProblem("unknown attribute", f"label {quoted(label.name)} has no attribute {quoted(name)}")
        value = item.get("value", "")
        if not is_scalar(value):
            raise ObjectProblem("bad attribute value", f"attribute {quoted(name)} has value {short_repr(value)}")
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        problem = value_problem(spec.input_type, spec.values, text)
        if problem:
            raise ObjectProblem("bad attribute value",
                                f"attribute {quoted(name)} has value {short_repr(text)}, {problem}")

    def points(self, raw: dict[str, Any], kind: str) -> list[float]:
        points = raw.get("points")
        if points is None:
            points = []
        if not isinstance(points, list):
            raise ObjectProblem("bad points", f"'points' is {short_repr(points)}, not a list of numbers")
        limit = MAX_COORDINATE if kind != "mask" else math.inf
        if not _plain_numbers(points, limit):
            for value in points:
                problem = number_problem(value, limit)
                if problem:
                    raise ObjectProblem("bad coordinates", f"'points' holds {problem}")
        low, high, needs = POINT_RULES[kind]
        n = len(points)
        if n < low or (high is not None and n > high) or (kind != "mask" and n % 2):
            raise ObjectProblem("bad points", f"'points' has {n} numbers; a {kind} needs {needs}")
        return points

    def mask(self, points: list[float], frame: int) -> None:
        if any(not float(v).is_integer() for v in points):
            raise ObjectProblem("bad mask", "a mask's runs and box must be whole numbers")
        *runs, left, top, right, bottom = (int(v) for v in points)
        if left < 0 or top < 0 or left > right or top > bottom:
            raise ObjectProblem("bad mask", f"mask box ({left}, {top}, {right}, {bottom}) is empty or negative")
        width, height = self.frame_size(frame)
        if width and height and (right >= width or bottom >= height):
            raise ObjectProblem("bad mask", f"mask box ({left}, {top}, {right}, {bottom}) "
                                            f"goes beyond the {width}x{height} image")
        area = (right - left + 1) * (bottom - top + 1)
        if area > MAX_MASK_PIXELS:
            raise ObjectProblem("bad mask", f"mask box of {area} pixels is larger than any image")
        if any(run < 0 for run in runs):
            raise ObjectProblem("bad mask", "a mask run is negative")
        if sum(runs) != area:
            raise ObjectProblem("bad mask", f"mask RLE covers {sum(runs)} pixels, "
                                            f"but its box ({left}, {top}, {right}, {bottom}) has {area}")

    # --- objects

    def _labelled(self, raw: Any) -> Label:
        """The checks a tag and a track share: an object with a known label, frame, common fields
        and attributes that fit the label; gives the label."""
        if not isinstance(raw, dict):
            raise ObjectProblem("bad object", f"{short_repr(raw)} is not an object")
        label = self.label(raw)
        self.frame(raw.get("frame"))
        self.common(raw)
        self.attributes(raw.get("attributes"), label)
        return label

    def tag(self, raw: Any) -> None:
        self._labelled(raw)

    def shape(self, raw: Any, *, label: Label | None = None, skeleton: Label | None = None,
              keyframe: bool = False) -> str:
        """Check one shape; ``label`` is given for a track's keyframes, ``skeleton`` for elements."""
        if not isinstance(raw, dict):
            raise ObjectProblem("bad object", f"{short_repr(raw)} is not an object")
        kind = raw.get("type")
        if kind not in SHAPE_TYPES:
            raise ObjectProblem("unknown shape type", f"unknown shape type {short_repr(kind)}")
        frame = self.frame(raw.get("frame"))
        if label is None:
            label = self.label(raw, skeleton)
        if skeleton is not None and kind != "points":
            raise ObjectProblem("bad skeleton", f"skeleton element {quoted(label.name)} is a {kind}, not points")
        if skeleton is None and (kind == "skeleton") != (label.type == "skeleton"):
            what = "is not a skeleton" if kind == "skeleton" else "is a skeleton; only skeleton shapes can use it"
            raise ObjectProblem("label does not fit the shape", f"label {quoted(label.name)} {what}")
        points = self.points(raw, kind)
        if skeleton is not None and len(points) != 2:
            raise ObjectProblem("bad skeleton",
                                f"skeleton element {quoted(label.name)} has {len(points)} numbers, not 2")
        if kind == "mask":
            self.mask(points, frame)
        if kind == "ellipse" and (points[2] < points[0] or points[3] > points[1]):
            raise ObjectProblem("bad points", f"ellipse {points} has a negative radius "
                                              "(the right x is left of the centre or the top y below it)")
        self.common(raw)
        self.attributes(raw.get("attributes"), label)
        elements = raw.get("elements") or []
        if kind == "skeleton" and not keyframe:
            self.elements(elements, label, frame)
        elif elements and not keyframe:
            raise ObjectProblem("bad object", f"a {kind} cannot have elements")
        return kind

    def elements(self, elements: Any, skeleton: Label, frame: int) -> None:
        if not isinstance(elements, list) or not elements:
            raise ObjectProblem("bad skeleton", f"skeleton has {short_repr(elements)} as elements")
        seen: set[str] = set()
        for element in elements:
            name = element.get("label") if isinstance(element, dict) else None
            try:
                self.shape(element, skeleton=skeleton)
            except ObjectProblem as bad:
                bad.part = f", element {quoted(name)}"
                raise
            if name in seen:
                raise ObjectProblem("bad skeleton", f"element {quoted(name)} appears twice")
            seen.add(str(name))
            if element["frame"] != frame:
                raise ObjectProblem("bad skeleton", f"element {quoted(name)} is on frame {element['frame']}, "
                                                    f"the skeleton on frame {frame}")

    def track(self, raw: Any) -> None:
        label = self._labelled(raw)
        kinds = self.keyframes(raw, label, None)
        if kinds and (("skeleton" in kinds) != (label.type == "skeleton")):
            what = "is not a skeleton" if "skeleton" in kinds else "is a skeleton; only skeleton tracks can use it"
            raise ObjectProblem("label does not fit the shape", f"label {quoted(label.name)} {what}")
        elements = raw.get("elements") or []
        if label.type != "skeleton":
            if elements:
                raise ObjectProblem("bad object", f"a track of label {quoted(label.name)} cannot have elements")
            return
        if not isinstance(elements, list):
            raise ObjectProblem("bad skeleton", f"'elements' is {short_repr(elements)}, not a list")
        seen: set[str] = set()
        for element in elements:
            if not isinstance(element, dict):
                raise ObjectProblem("bad skeleton", f"element {short_repr(element)} is not an object")
            sublabel = self.label(element, label)
            part = f", element {quoted(sublabel.name)}"
            if sublabel.name in seen:
                raise ObjectProblem("bad skeleton", f"element {quoted(sublabel.name)} appears twice")
            seen.add(sublabel.name)
            try:
                self.common(element)
                self.attributes(element.get("attributes"), sublabel)
                self.keyframes(element, sublabel, label)
            except ObjectProblem as bad:
                bad.part = part + bad.part
                raise

    def keyframes(self, raw: dict[str, Any], label: Label, skeleton: Label | None) -> set[str]:
        """Check the keyframes of a track (or of a skeleton element track); their shape types."""
        shapes = raw.get("shapes")
        if shapes is None:
            shapes = []
        if not isinstance(shapes, list):
            raise ObjectProblem("bad track", f"'shapes' is {short_repr(shapes)}, not a list of keyframes")
        kinds: set[str] = set()
        for shape in shapes:
            try:
                kinds.add(self.shape(shape, label=label, keyframe=True))
            except ObjectProblem as bad:
                bad.part = f", keyframe on frame {short_repr(frame_of(shape))}"
                bad.frame = frame_of(shape)
                raise
        if skeleton is not None and kinds - {"points"}:
            raise ObjectProblem("bad skeleton", f"skeleton element {quoted(label.name)} has {sorted(kinds)} keyframes")
        if len(kinds) > 1:
            raise ObjectProblem("mixed keyframe types", f"keyframes of types {', '.join(sorted(kinds))} "
                                                        "cannot be interpolated into each other")
        if skeleton is not None:
            for shape in shapes:
                if len(shape.get("points") or []) != 2:
                    raise ObjectProblem("bad skeleton", f"skeleton element {quoted(label.name)} has a keyframe "
                                                        f"with {len(shape.get('points') or [])} numbers, not 2")
        self.conflicts(raw)
        return kinds

    def conflicts(self, raw: dict[str, Any]) -> None:
        """Two different keyframes on one frame: the interpolation's own test, on those frames only."""
        frames = sorted(shape["frame"] for shape in raw.get("shapes") or [])
        repeated = sorted({a for a, b in zip(frames, frames[1:], strict=False) if a == b} - self.deleted)
        if not repeated:
            return
        from cvat_bridge.backup import parse_annotations
        from cvat_bridge.interpolate import ConflictingKeyframesError, keyframes

        track = parse_annotations({"tracks": [{**raw, "elements": []}]}).tracks[0]
        for frame in repeated:
            try:
                keyframes(replace(track, shapes=[s for s in track.shapes if s.frame == frame]))
            except ConflictingKeyframesError:
                raise ObjectProblem("conflicting keyframes", f"two different keyframes on frame {frame}",
                                    frame=frame) from None


_SCALAR_TYPES = frozenset({str, int, float, bool})
_MAX_REMEMBERED = 100_000
_PLAIN_NUMBER_TYPES = frozenset({int, float})


def _plain_numbers(values: list[Any], limit: float) -> bool:
    """The fast path of the coordinate check: ints and floats, all finite and within ``limit``."""
    if not _PLAIN_NUMBER_TYPES.issuperset(map(type, values)):
        return False
    return math.isfinite(sum(map(abs, values))) and max(map(abs, values), default=0.0) <= limit


def value_problem(input_type: str, values: list[str], text: str) -> str | None:
    """Why ``text`` is not a value of an attribute of this type and values, or None."""
    problem = text_problem(text)
    if problem:
        return problem
    if input_type == "number":
        try:
            number = float(text)
        except ValueError:
            return "not a number"
        return None if math.isfinite(number) else "not a finite number"
    if input_type == "checkbox" and text.lower() not in ("true", "false"):
        return "not true or false"
    if input_type in ("select", "radio") and text not in values:
        shown = ", ".join(f"{quoted(v)}" for v in values[:8]) + (", ..." if len(values) > 8 else "")
        return f"not one of {shown}"
    return None
