"""A whole job entry of annotations.json decoded straight into typed records, for the common case.

The fastest path of a load (optional: it needs msgspec). msgspec decodes an entry's JSON text
into the structs below, refusing at C speed any field of the wrong type (a bool where a number
belongs, null coordinates, a frame written 3.0, ...), which leaves few checks to Python; and it
makes far fewer objects than a generic JSON tree (no dict and key per object), so both the
decoding and the freeing of what it made take half the time.

All or nothing: an entry whose every tag, shape and track passes the checks of
``ObjectChecker`` gives its ``Annotations``; any other gives None, and the caller reads the
entry again with orjson and the object-by-object path (``AnnotationsChecker.objects``), which
finds and words the problems. Skeleton tracks also take that path. What differs between msgspec
and orjson is refused here: text that is not UTF-8 (msgspec does not check skipped fields),
integers beyond 64 bits (orjson makes floats of them), nesting deeper than msgspec allows.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Annotated, Any

import msgspec
import orjson
from msgspec import Raw, Struct

from cvat_bridge.annotations_fast import COUNT_RANGES, FastObjects, LabelRules
from cvat_bridge.model import Annotations, Shape, Tag, Track
from cvat_bridge.validate import MAX_COORDINATE

_NULL = b"null"
_NOTHING = frozenset({_NULL, b"[]"})  # the only "no elements" texts taken here (the checks take any falsy value)
# orjson reads integers beyond 64 bits as floats, which the checks refuse: msgspec refuses them here
_Int64 = Annotated[int, msgspec.Meta(ge=-(1 << 63), le=(1 << 63) - 1)]
_MAX_CACHED = 50_000  # attribute texts remembered per label


class _Object(Struct, gc=False):
    """The optional fields every object may have: tags, shapes, tracks, keyframes, skeleton points."""

    z_order: _Int64 | None = None
    rotation: float | None = None
    group: _Int64 | None = None
    source: str | None = None
    score: float | None = None
    attributes: Raw = Raw(_NULL)


class _Tag(_Object, kw_only=True):
    frame: int
    label: str


class _Drawn(_Object, kw_only=True):
    """The fields of a shape, a keyframe and a point of a skeleton shape."""

    type: str
    frame: int
    points: list[float] = []
    occluded: bool = False
    outside: bool = False


class _Element(_Drawn, kw_only=True):
    """A point of a skeleton shape."""

    label: str
    elements: Raw = Raw(_NULL)


class _Shape(_Drawn, kw_only=True):
    label: str
    elements: list[_Element] | None = None


class _Keyframe(_Drawn):
    label: str = ""
    elements: Raw = Raw(_NULL)


class _Track(_Object, kw_only=True):
    frame: int
    label: str
    shapes: list[_Keyframe] = []
    elements: Raw = Raw(_NULL)


class _Attribute(Struct, gc=False):
    name: str
    value: str = ""


class _Entry(Struct, gc=False):
    tags: list[_Tag] | None = None
    shapes: list[_Shape] | None = None
    tracks: list[_Track] | None = None


_DECODER = msgspec.json.Decoder(_Entry)
_ATTRIBUTES = msgspec.json.Decoder(list[_Attribute])
_NAME_AND_VALUE = attrgetter("name", "value")


class TypedEntries:
    """``entry(text)``: the Annotations of one job entry's JSON text, or None (see the module)."""

    def __init__(self, fast: FastObjects) -> None:
        self.fast = fast
        self.size = fast.size
        self.kinds = fast.kinds
        self.labels = fast.labels
        self.numbers = fast.numbers
        self.strings = fast.strings

    def entry(self, text: bytes) -> Annotations | None:
        if not text.isascii():
            try:
                text.decode()  # orjson refuses what is not UTF-8, even in fields nobody reads
            except UnicodeDecodeError:
                return None
        try:
            raw = _DECODER.decode(text)
        except (msgspec.DecodeError, RecursionError):
            return None
        try:
            tags = self._tags(raw.tags or ())
            shapes = self._shapes(raw.shapes or ())
            tracks = self._tracks(raw.tracks or ())
        except Exception:  # noqa: BLE001 - a surprise: the object-by-object path decides
            return None
        if tags is None or shapes is None or tracks is None:
            return None
        return Annotations(tags=tags, shapes=shapes, tracks=tracks)

    # --- objects

    def _tags(self, raws: Any) -> list[Tag] | None:
        tags = []
        for raw in raws:
            rules = self.labels.get(raw.label)
            frame = raw.frame
            if rules is None or not 0 <= frame < self.size:
                return None
            attributes = self._attributes(raw.attributes, rules)
            if attributes is None:
                return None
            tags.append(Tag(rules.name, frame, raw.group or 0, self._source(raw.source), attributes))
        return tags

    def _shapes(self, raws: Any) -> list[Shape] | None:
        shapes = []
        append = shapes.append
        kinds, labels, size, numbers, strings = self.kinds, self.labels, self.size, self.numbers, self.strings
        for raw in raws:
            kind = kinds.get(raw.type)
            rules = labels.get(raw.label)
            frame, points = raw.frame, raw.points
            if kind is None or rules is None or not 0 <= frame < size or rules.skeleton != (kind == "skeleton"):
                return None
            count = len(points)
            low, high, even = COUNT_RANGES[kind]
            if count < low or count > high or (even and count & 1):
                return None
            if kind == "mask":
                if not self.fast.mask_ok(points, frame):
                    return None
            elif not sum(map(abs, points)) <= MAX_COORDINATE and max(map(abs, points)) > MAX_COORDINATE or (
                    kind == "ellipse" and (points[2] < points[0] or points[3] > points[1])):
                return None
            key = bytes(raw.attributes)  # the hits of _attributes, written out
            attributes = rules.texts.get(key)
            if attributes is None:
                attributes = self._new_attributes(key, rules)
                if attributes is None:
                    return None
            if kind == "skeleton":
                elements = self._elements(raw.elements, rules, frame)
                if elements is None:
                    return None
            elif raw.elements:
                return None
            else:
                elements = []
            source, rotation, score = raw.source, raw.rotation, raw.score
            append(Shape(kind, numbers.setdefault(frame, frame), points, rules.name, raw.occluded, raw.outside,
                         raw.z_order or 0, rotation or 0.0, raw.group or 0,
                         "manual" if not source or source == "Ground truth" else strings.setdefault(source, source),
                         attributes, elements, 1.0 if score is None else score))
        return shapes

    def _elements(self, raws: list[_Element] | None, skeleton: LabelRules, frame: int) -> list[Shape] | None:
        """The points of a skeleton shape: each a sublabel once, on the skeleton's frame."""
        if not raws:
            return None
        elements = []
        seen = set()
        sublabels, strings, frame = skeleton.sublabels, self.strings, self.numbers.setdefault(frame, frame)
        for raw in raws:
            name, points = raw.label, raw.points
            rules = sublabels.get(name)
            if (rules is None or name in seen or raw.type != "points" or raw.frame != frame or len(points) != 2
                    or bytes(raw.elements) not in _NOTHING
                    or not self._points_ok(points, "points", frame)):
                return None
            seen.add(name)
            key = bytes(raw.attributes)  # _attributes and _part, written out: this runs per skeleton point
            attributes = rules.texts.get(key)
            if attributes is None:
                attributes = self._new_attributes(key, rules)
                if attributes is None:
                    return None
            source, rotation, score = raw.source or "manual", raw.rotation, raw.score
            elements.append(Shape("points", frame, points, rules.name, raw.occluded, raw.outside, raw.z_order or 0,
                                  rotation or 0.0, raw.group or 0, strings.setdefault(source, source), attributes,
                                  [], 1.0 if score is None else score))
        return elements

    def _tracks(self, raws: Any) -> list[Track] | None:
        """Tracks of labels that are not skeletons, with keyframes on increasing frames."""
        tracks = []
        kinds, size = self.kinds, self.size
        for raw in raws:
            rules = self.labels.get(raw.label)
            frame = raw.frame
            if rules is None or rules.skeleton or not 0 <= frame < size or bytes(raw.elements) not in _NOTHING:
                return None
            attributes = self._attributes(raw.attributes, rules)
            if attributes is None:
                return None
            shapes = []
            kind = None
            previous = -1
            for key in raw.shapes:
                key_kind = kinds.get(key.type)
                key_frame = key.frame
                if (key_kind is None or key_kind == "skeleton" or (kind is not None and key_kind != kind)
                        or not previous < key_frame < size
                        or bytes(key.elements) not in _NOTHING or not self._points_ok(key.points, key_kind, key_frame)):
                    return None  # repeated or unordered frames too: the object path looks for conflicts
                key_attributes = self._attributes(key.attributes, rules)
                if key_attributes is None:
                    return None
                label = key.label
                shapes.append(self._part(key, key_kind, key_frame, key.points, self.strings.setdefault(label, label),
                                         key_attributes))
                kind, previous = key_kind, key_frame
            tracks.append(Track(rules.name, frame, shapes, raw.group or 0, self._source(raw.source), attributes, []))
        return tracks

    def _part(self, raw: _Element | _Keyframe, kind: str, frame: int, points: list[float], label: str,
              attributes: dict[str, str]) -> Shape:
        """The Shape of a keyframe (``_elements`` writes the same for skeleton points): 'source' kept as it is."""
        source, rotation, score = raw.source or "manual", raw.rotation, raw.score
        return Shape(kind, self.numbers.setdefault(frame, frame), points, label, raw.occluded, raw.outside,
                     raw.z_order or 0, rotation or 0.0, raw.group or 0, self.strings.setdefault(source, source),
                     attributes, [], 1.0 if score is None else score)

    # --- fields

    def _source(self, source: str | None) -> str:
        """The 'source' of a tag, a shape or a track: "Ground truth" is "manual"."""
        return "manual" if not source or source == "Ground truth" else self.strings.setdefault(source, source)

    def _points_ok(self, points: list[float], kind: str, frame: int) -> bool:
        """msgspec gave floats, finite ones: their count, limits, and the ellipse and mask rules."""
        count = len(points)
        low, high, even = COUNT_RANGES[kind]
        if count < low or count > high or (even and count & 1):
            return False
        if kind == "mask":
            return self.fast.mask_ok(points, frame)
        if not sum(map(abs, points)) <= MAX_COORDINATE and max(map(abs, points)) > MAX_COORDINATE:
            return False
        return kind != "ellipse" or points[2] >= points[0] and points[3] <= points[1]

    def _attributes(self, text: Raw, rules: LabelRules) -> dict[str, str] | None:
        """The parsed 'attributes' of an object of label ``rules``, by their JSON text: the same
        text is the same JSON value, so a text once found good needs no checks again."""
        key = bytes(text)
        parsed = rules.texts.get(key)
        return parsed if parsed is not None else self._new_attributes(key, rules)

    def _new_attributes(self, key: bytes, rules: LabelRules) -> dict[str, str] | None:
        """``_attributes`` of a text not seen before: items of string names and values are read
        by msgspec; anything else goes through orjson and ``FastObjects.attributes``."""
        fast = self.fast
        try:
            items = _ATTRIBUTES.decode(key)
        except msgspec.DecodeError:
            try:
                value = orjson.loads(key)
            except orjson.JSONDecodeError:
                return None
            parsed = fast.attributes(value, rules)
        else:
            parsed = fast.attribute_pairs(map(_NAME_AND_VALUE, items), rules) if items else fast.empty
        if parsed is not None and len(rules.texts) < _MAX_CACHED:
            rules.texts[key] = parsed
        return parsed
