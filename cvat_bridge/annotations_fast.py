"""One pass over an annotations.json object that checks and parses it, for the common case.

``validate_objects.ObjectChecker`` followed by ``annotations_json.AnnotationParser`` walks every
object twice, field by field, and was most of the load time of big tasks. ``FastObjects`` does
both in one pass with cheap exact-type tests, and gives up (returns ``None``) at anything it does
not recognise as plainly good: a wrong type, a value out of range, an unknown label, repeated or
unordered keyframes, skeleton tracks. The caller then runs the detailed checker, which alone
words the problem, and the parser. So an object this module accepts is one the checker accepts,
and the model object is the one the parser makes (tests/test_annotations_fast.py holds both).

Values come from a JSON parser: exact ``dict``/``list``/``str``/``int``/``float``/``bool``/None.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from operator import itemgetter
from typing import Any

import orjson

from cvat_bridge.annotations_json import AnnotationParser, as_bool
from cvat_bridge.model import AttributeSpec, Label, Shape, Tag, Track
from cvat_bridge.validate import MAX_COORDINATE, MAX_MASK_PIXELS
from cvat_bridge.validate_objects import ObjectChecker, value_problem

_NUMBERS = frozenset({int, float})
_FLOATS = frozenset({float})
# shape type → (fewest numbers, most numbers or None, count must be even)
POINT_COUNTS: dict[str, tuple[int, int | None, bool]] = {
    "rectangle": (4, 4, True), "ellipse": (4, 4, True), "cuboid": (16, 16, True), "polygon": (6, None, True),
    "polyline": (4, None, True), "points": (2, None, True), "skeleton": (0, None, True), "mask": (4, None, False),
}
COUNT_RANGES = {kind: (low, sys.maxsize if high is None else high, even)
                 for kind, (low, high, even) in POINT_COUNTS.items()}
# the keys CVAT writes, in the order the fast path reads them: a dict of exactly these is read at once
_SHAPE_KEYS = ("type", "label", "frame", "points", "attributes", "elements", "z_order", "group", "rotation", "source",
               "occluded", "outside")
_KEYFRAME_KEYS = ("type", "frame", "points", "attributes", "z_order", "rotation", "occluded", "outside")
_ELEMENT_KEYS = ("type", "label", "frame", "points", "attributes", "z_order", "group", "rotation", "source",
                 "occluded", "outside")
_SHAPE_FIELDS, _KEYFRAME_FIELDS, _ELEMENT_FIELDS = (itemgetter(*keys) for keys in (_SHAPE_KEYS, _KEYFRAME_KEYS,
                                                                                    _ELEMENT_KEYS))
_MAX_SIDE = 2.0**31  # box sides of masks: far beyond any image, small enough for exact float sums
_MAX_CACHED = 50_000  # attribute lists remembered per label: beyond, real tasks repeat nothing


class LabelRules:
    """What the fast path needs of one label: its name, whether it is a skeleton, its sublabels,
    and the attribute lists and (name, value) pairs already found good for it."""

    __slots__ = ("label", "name", "skeleton", "sublabels", "specs", "lists", "texts", "pairs")

    def __init__(self, label: Label, name: str, sublabels: dict[str, LabelRules]) -> None:
        self.label = label
        self.name = name
        self.skeleton = label.type == "skeleton"
        self.sublabels = sublabels
        self.specs: dict[str, AttributeSpec] = {}
        for spec in label.attributes:
            self.specs.setdefault(spec.name, spec)  # the first of a name, as Label.attribute finds it
        self.lists: dict[bytes, dict[str, str]] = {}  # orjson text of an 'attributes' list → parsed
        # (None and [] are added by FastObjects, with the parser's shared empty dict)
        self.texts: dict[bytes, dict[str, str]] = {}  # the same, by the list's text in the file (typed path)
        self.pairs: dict[tuple[str, str], tuple[str, str]] = {}  # good (name, value) → the shared strings


class FastObjects:
    """``tag``, ``shape`` and ``track`` give the model object of a raw object that passes every
    check of ``ObjectChecker``, or None: then the detailed checker and the parser must run."""

    def __init__(self, checker: ObjectChecker, parser: AnnotationParser) -> None:
        self.parser = parser
        self.size = checker.size
        self.frame_size = checker.frame_size
        self.strings = parser._strings  # noqa: SLF001 - the parser's shared strings and frame numbers
        self.numbers = parser._numbers  # noqa: SLF001
        self.empty = parser.attributes(None)  # the parser's shared empty attribute dict
        self.kinds = {kind: self.strings.setdefault(kind, kind) for kind in POINT_COUNTS}
        self.labels: dict[str, LabelRules] = {}
        for name, label in checker.labels.items():
            sublabels = {s.name: LabelRules(s, self.strings.setdefault(s.name, s.name), {}) for s in label.sublabels}
            self.labels[name] = LabelRules(label, self.strings.setdefault(name, name), sublabels)
        for rules in [*self.labels.values(), *(s for r in self.labels.values() for s in r.sublabels.values())]:
            rules.lists.update({b"null": self.empty, b"[]": self.empty})

    # --- objects

    def tag(self, raw: Any) -> Tag | None:
        if type(raw) is not dict:
            return None
        get = raw.get
        rules = self.labels.get(get("label"))
        frame, group, source = get("frame"), get("group"), get("source")
        if (rules is None or type(frame) is not int or not 0 <= frame < self.size
                or not _plain_fields(get("z_order"), group, get("rotation"), get("score"), source)):
            return None
        attributes = self.attributes(get("attributes"), rules)
        if attributes is None:
            return None
        return Tag(rules.name, frame, group or 0, self._source(source), attributes)

    def shape(self, raw: Any) -> Shape | None:
        """A shape of a job's 'shapes' (not a keyframe or a skeleton element). The hottest
        function of a load: its checks are written out, and CVAT's key layout is read at once."""
        if type(raw) is not dict:
            return None
        try:
            if len(raw) != len(_SHAPE_KEYS):
                raise KeyError
            kind, name, frame, points, attributes, elements, z_order, group, rotation, source, occluded, \
                outside = _SHAPE_FIELDS(raw)
            score = None
        except KeyError:
            get = raw.get
            kind, name, frame, points, attributes, elements, z_order, group, rotation, source, occluded, \
                outside = map(get, _SHAPE_KEYS)
            score = get("score")
        kind = self.kinds.get(kind)
        rules = self.labels.get(name)
        if (kind is None or rules is None or type(frame) is not int or not 0 <= frame < self.size
                or rules.skeleton != (kind == "skeleton")):
            return None
        if not ((type(z_order) is int or z_order is None) and (type(group) is int or group is None)
                and (type(source) is str or source is None) and (score is None or type(score) in _NUMBERS)
                and (type(rotation) in _NUMBERS or rotation is None)):
            return None
        if score is not None and not math.isfinite(score) or rotation and not math.isfinite(rotation):
            return None
        points = self._points(points, kind, frame)
        attributes = self.attributes(attributes, rules)
        if points is None or attributes is None:
            return None
        if kind == "skeleton":
            elements = self.elements(elements, rules, frame)
            if elements is None:
                return None
        elif elements:
            return None
        else:
            elements = []
        return Shape(kind, self.numbers.setdefault(frame, frame), points, rules.name,
                     occluded if occluded is True or occluded is False else as_bool(occluded),
                     outside if outside is True or outside is False else as_bool(outside),
                     z_order or 0, float(rotation or 0.0), group or 0,
                     "manual" if not source or source == "Ground truth" else self.strings.setdefault(source, source),
                     attributes, elements, 1.0 if score is None else float(score))

    def track(self, raw: Any) -> Track | None:
        """A track of a label that is not a skeleton (skeleton tracks take the detailed path)."""
        if type(raw) is not dict:
            return None
        get = raw.get
        rules = self.labels.get(get("label"))
        frame, group, source, raw_shapes = get("frame"), get("group"), get("source"), get("shapes")
        if (rules is None or rules.skeleton or type(frame) is not int or not 0 <= frame < self.size
                or get("elements") or not _plain_fields(get("z_order"), group, get("rotation"), get("score"), source)):
            return None
        attributes = self.attributes(get("attributes"), rules)
        if attributes is None:
            return None
        if raw_shapes is None:
            raw_shapes = []
        elif type(raw_shapes) is not list:
            return None
        shapes = []
        kind = None
        previous = -1
        for raw_shape in raw_shapes:
            shape = self._keyframe(raw_shape, rules)
            if shape is None or shape.frame <= previous or (kind is not None and shape.type != kind):
                return None  # repeated or unordered frames: the detailed path looks for conflicts
            kind, previous = shape.type, shape.frame
            shapes.append(shape)
        return Track(rules.name, frame, shapes, group or 0, self._source(source), attributes, [])

    def _keyframe(self, raw: Any, rules: LabelRules) -> Shape | None:
        """A keyframe of a track of label ``rules`` (its own 'label' is not checked, only kept)."""
        if type(raw) is not dict:
            return None
        try:
            if len(raw) != len(_KEYFRAME_KEYS):
                raise KeyError
            kind, frame, points, attributes, z_order, rotation, occluded, outside = _KEYFRAME_FIELDS(raw)
            label = ""
            group = source = score = elements = None
        except KeyError:
            get = raw.get
            kind, frame, points, attributes, z_order, rotation, occluded, outside = map(get, _KEYFRAME_KEYS)
            label, group, source, score, elements = get("label", ""), get("group"), get("source"), get("score"), \
                get("elements")
        kind = self.kinds.get(kind)
        if (kind is None or kind == "skeleton" or type(frame) is not int or not 0 <= frame < self.size
                or type(label) is not str or elements or not _plain_fields(z_order, group, rotation, score, source)):
            return None
        points = self._points(points, kind, frame)
        attributes = self.attributes(attributes, rules)
        if points is None or attributes is None:
            return None
        return Shape(kind, self.numbers.setdefault(frame, frame), points, self.strings.setdefault(label, label),
                     occluded if occluded is True or occluded is False else as_bool(occluded),
                     outside if outside is True or outside is False else as_bool(outside),
                     z_order or 0, float(rotation or 0.0), group or 0, self._text(source or "manual"), attributes, [],
                     1.0 if score is None else float(score), True)

    def elements(self, raw: Any, skeleton: LabelRules, frame: int) -> list[Shape] | None:
        """The points of a skeleton shape: each a sublabel once, on the skeleton's frame."""
        if type(raw) is not list or not raw:
            return None
        elements: list[Shape] = []
        seen = set()
        for element in raw:
            if type(element) is not dict:
                return None
            try:
                if len(element) != len(_ELEMENT_KEYS):
                    raise KeyError
                kind, name, element_frame, points, attributes, z_order, group, rotation, source, occluded, \
                    outside = _ELEMENT_FIELDS(element)
                score = nested = None
            except KeyError:
                get = element.get
                kind, name, element_frame, points, attributes, z_order, group, rotation, source, occluded, \
                    outside = map(get, _ELEMENT_KEYS)
                score, nested = get("score"), get("elements")
            rules = skeleton.sublabels.get(name)
            if (rules is None or name in seen or kind != "points" or type(element_frame) is not int
                    or element_frame != frame or nested or not _plain_fields(z_order, group, rotation, score, source)):
                return None
            seen.add(name)
            points = self._points(points, "points", frame)
            attributes = self.attributes(attributes, rules)
            if points is None or len(points) != 2 or attributes is None:
                return None
            elements.append(Shape(
                self.kinds["points"], self.numbers.setdefault(frame, frame), points, rules.name,
                occluded if occluded is True or occluded is False else as_bool(occluded),
                outside if outside is True or outside is False else as_bool(outside),
                z_order or 0, float(rotation or 0.0), group or 0, self._text(source or "manual"), attributes, [],
                1.0 if score is None else float(score), True))
        return elements

    # --- fields

    def _text(self, text: str) -> str:
        return self.strings.setdefault(text, text)

    def _source(self, source: str | None) -> str:
        """The 'source' of a tag, a shape or a track (not of their parts): "Ground truth" is "manual"."""
        return "manual" if not source or source == "Ground truth" else self.strings.setdefault(source, source)

    def _points(self, points: Any, kind: str, frame: int) -> list[float] | None:
        """The coordinates as floats, if their count fits ``kind`` and each is a plain finite number
        within the limits (and, for a mask, its runs and box are right)."""
        if type(points) is not list:
            if points is not None:
                return None
            points = []
        count = len(points)
        low, high, even = COUNT_RANGES[kind]
        if count < low or count > high or (even and count & 1):
            return None
        if not count:
            return points
        if _FLOATS.issuperset(map(type, points)):
            floats = points  # the parser's copy would be equal: keep the list JSON gave
        elif _NUMBERS.issuperset(map(type, points)):
            floats = list(map(float, points))
        else:
            return None
        if kind == "mask":
            return floats if self.mask_ok(floats, frame) else None
        # within the limit (NaN compares false); the sum spares max(), slow to call, in the common case
        if not sum(map(abs, floats)) <= MAX_COORDINATE and not (
                math.isfinite(sum(floats)) and max(map(abs, floats)) <= MAX_COORDINATE):
            return None
        if kind == "ellipse" and (floats[2] < floats[0] or floats[3] > floats[1]):
            return None
        return floats

    def mask_ok(self, points: list[float], frame: int) -> bool:
        """Whole-number runs, none negative, that cover exactly the box, and a box inside the image.

        The float sums are exact integers: the absolute values of whole numbers only add up, so a
        partial sum past 2**53 (where floats skip integers) never returns to the smaller box area;
        below that both sums are exact, and they are equal only when no run is negative."""
        if not all(map(float.is_integer, points)):  # also refuses NaN and infinities
            return False
        left, top, right, bottom = points[-4:]
        if left < 0 or top < 0 or left > right or top > bottom or right > _MAX_SIDE or bottom > _MAX_SIDE:
            return False
        width, height = self.frame_size(frame)
        if width and height and (right >= width or bottom >= height):
            return False
        area = (right - left + 1) * (bottom - top + 1)
        runs = points[:-4]
        return area <= MAX_MASK_PIXELS and sum(map(abs, runs)) == area == sum(runs)

    def attributes(self, raw: Any, rules: LabelRules) -> dict[str, str] | None:
        """The parsed 'attributes' of an object of label ``rules``, if every item is a known
        attribute with a good string value.

        Lists are remembered by their orjson text, and only once every name and value in them
        proved to be a string: a list with the same text then has the same names and values
        (a string never prints like a number, ``null`` or another string), so it needs no checks."""
        if raw is None:
            return self.empty
        if type(raw) is not list:
            return None
        if not raw:
            return self.empty
        try:
            key = orjson.dumps(raw)
        except TypeError:  # orjson.JSONEncodeError: a lone surrogate, an integer beyond 64 bits
            return None
        parsed = rules.lists.get(key)
        if parsed is None:
            parsed = self.attribute_items(raw, rules)
            if parsed is not None and len(rules.lists) < _MAX_CACHED:
                rules.lists[key] = parsed
        return parsed

    def attribute_items(self, raw: list[Any], rules: LabelRules) -> dict[str, str] | None:
        """``attributes`` of a list not seen before, item by item."""
        pairs = []
        for item in raw:
            if type(item) is not dict:
                return None
            pairs.append((item.get("name"), item.get("value", "")))
        return self.attribute_pairs(pairs, rules)

    def attribute_pairs(self, pairs: Iterable[tuple[Any, Any]], rules: LabelRules) -> dict[str, str] | None:
        """The attribute dict of (name, value) pairs: a pair not seen before is checked as
        ``ObjectChecker.attribute`` does (pairs found good are remembered as shared strings)."""
        parsed = {}
        good = rules.pairs
        for pair in pairs:
            shared = good.get(pair)
            if shared is None:
                name, value = pair
                if type(name) is not str or type(value) is not str:
                    return None
                spec = rules.specs.get(name)
                if spec is None or value_problem(spec.input_type, spec.values, value) is not None:
                    return None
                shared = self.strings.setdefault(name, name), self.strings.setdefault(value, value)
                if len(good) < _MAX_CACHED:
                    good[shared] = shared
            parsed[shared[0]] = shared[1]
        return parsed


def _plain_fields(z_order: Any, group: Any, rotation: Any, score: Any, source: Any) -> bool:
    """Whether the fields every object may have pass ``ObjectChecker.common``."""
    return ((type(z_order) is int or z_order is None) and (type(group) is int or group is None)
            and (type(source) is str or source is None)
            and (rotation is None or type(rotation) in _NUMBERS and math.isfinite(rotation))
            and (score is None or type(score) in _NUMBERS and math.isfinite(score)))
