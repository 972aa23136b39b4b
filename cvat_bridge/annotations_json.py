"""annotations.json of a task backup: read one job entry at a time, parsed into model objects.

Reading job by job keeps memory near the size of the parsed task: the whole JSON tree of a
big task takes about ten times the memory of the objects made from it (10x ``large``: 1.1 GB
against 0.1 GB, traced). The entries are cut at the text between two jobs (``},{"version":``) and each
piece is parsed on its own; when the pieces do not all parse, the file is read whole, as before.
That is exact: pieces that each parse as JSON, joined by commas inside brackets, form an array
whose elements are exactly those values, and a JSON text has one parse.

The parser shares repeated strings (types, labels, sources, attribute values), frame numbers and
equal attribute dicts between objects, which halves the memory of big tasks: treat ``attributes``
of loaded objects as read-only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import IO, Any

from cvat_bridge.model import Annotations, Shape, Tag, Track

# the text between two job entries, before an entry's first key "version" (found with bytes.find:
# a regular expression over the whole file was a tenth of the load time); ``\Z`` is the key's start
_VERSION_KEY = b'"version"'
_SEPARATOR_BEFORE_KEY = re.compile(rb'\}\s{0,64},\s{0,64}\{\s{0,64}\Z')
_COLON_AFTER_KEY = re.compile(rb'\s{0,64}:')
_BLANK = re.compile(rb"\s*")  # bytes.strip() strips the same six characters
_CHUNK_BYTES = 1 << 24
_LONGEST_SEPARATOR = 512  # bytes: how far before the end of what was scanned a separator may begin


class NotSplittable(Exception):
    """annotations.json cannot be read entry by entry: read it whole instead."""


def loads_entry(text: bytes) -> Any:
    """One entry's text parsed (``NotSplittable`` when it is not JSON: the split was wrong)."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson comes with datumaro
        loads, errors = json.loads, (ValueError, RecursionError)
    else:
        loads, errors = orjson.loads, (orjson.JSONDecodeError, RecursionError)
    try:
        return loads(text)
    except errors:
        raise NotSplittable from None


def _separators(buffer: bytearray, start: int) -> list[tuple[int, int]]:
    """(begin, end) of each separator between entries found in ``buffer`` from ``start``: ``begin``
    at the closing brace of one entry, ``end`` at the opening brace of the next."""
    spans = []
    key = buffer.find(_VERSION_KEY, start)
    while key >= 0:
        before = _SEPARATOR_BEFORE_KEY.search(buffer, max(0, key - _LONGEST_SEPARATOR), key)
        if before is not None and _COLON_AFTER_KEY.match(buffer, key + len(_VERSION_KEY)):
            spans.append((before.start(), buffer.rindex(b"{", before.start(), key)))
        key = buffer.find(_VERSION_KEY, key + 1)
    return spans


def iter_entries(stream: IO[bytes]) -> Iterator[Any]:
    """The entries of the JSON array in ``stream``, parsed one by one (raises ``NotSplittable``)."""
    return map(loads_entry, iter_entry_texts(stream))


def iter_entry_texts(stream: IO[bytes]) -> Iterator[bytes]:
    """The text of each entry of the JSON array in ``stream``, cut at the separators; raises
    ``NotSplittable`` when the text around them is not an array. Whether the cut is right shows
    when the pieces are parsed: each must be JSON (``loads_entry``)."""
    buffer = bytearray()
    scanned = 0  # bytes at the start of ``buffer`` already searched for separators
    position = -1  # where the next entry starts in ``buffer``; -1: the opening bracket is not read yet
    while True:
        chunk = stream.read(_CHUNK_BYTES)
        buffer += chunk
        if position < 0:
            first = _BLANK.match(buffer).end()
            if first == len(buffer):
                if not chunk:
                    raise NotSplittable
                continue
            if buffer[first] != ord("["):
                raise NotSplittable
            position = first + 1
        for begin, end in _separators(buffer, max(position, scanned - _LONGEST_SEPARATOR)):
            with memoryview(buffer) as view:
                text = view[position: begin + 1].tobytes()  # one copy (a bytearray slice is two)
            yield text
            position = end
        del buffer[:position]
        position = 0
        scanned = len(buffer)
        if not chunk:
            break
    close = buffer.rfind(b"]")
    if close < 0 or not _BLANK.fullmatch(buffer, close + 1):
        raise NotSplittable
    if not _BLANK.fullmatch(buffer, 0, close):  # the last entry, unless the array is empty
        del buffer[close:]
        yield bytes(buffer)


def as_bool(value: Any) -> bool:
    if value is True or value is False:
        return value
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


def _normalise_source(source: str) -> str:
    return "manual" if source == "Ground truth" else source


class AnnotationParser:
    """Raw (validated) annotation objects → model objects, sharing repeated values."""

    def __init__(self) -> None:
        self._strings: dict[str, str] = {}
        self._attributes: dict[tuple[Any, ...], dict[str, str]] = {}
        self._numbers: dict[int, int] = {}  # frame numbers above 256 are an object each otherwise

    def text(self, value: Any) -> str:
        text = str(value)
        return self._strings.setdefault(text, text)

    def frame(self, value: Any) -> int:
        number = int(value)
        return self._numbers.setdefault(number, number)

    def attributes(self, raw: list[dict[str, Any]] | None) -> dict[str, str]:
        if not raw:
            key: tuple[Any, ...] = ()
        else:
            key = tuple([(a["name"], type(value), value) for a in raw for value in (a.get("value", ""),)])
        try:
            found = self._attributes.get(key)
        except TypeError:  # an unhashable value (not validated): nothing to share
            return {str(a["name"]): str(a.get("value", "")) for a in raw or []}
        if found is None:
            found = self._attributes[key] = {self.text(name): self.text(value) for name, _, value in key}
        return found

    def shape(self, raw: dict[str, Any], keyframe: bool = True) -> Shape:
        get = raw.get  # the hottest function of a load: one call per shape and keyframe
        text = self.text
        elements = get("elements")
        score = get("score")
        return Shape(  # positional: faster than keywords (model.py checks the field order)
            text(get("type", "")),
            self.frame(get("frame", 0)),
            list(map(float, get("points") or ())),
            text(get("label", "")),
            as_bool(get("occluded", False)),
            as_bool(get("outside", False)),
            int(get("z_order") or 0),
            float(get("rotation") or 0.0),
            int(get("group") or 0),
            text(get("source") or "manual"),
            self.attributes(get("attributes")),
            [self.shape(e) for e in elements] if elements else [],
            1.0 if score is None else float(score),
            keyframe,
        )

    def track(self, raw: dict[str, Any]) -> Track:
        return Track(
            label=self.text(raw.get("label", "")),
            frame=int(raw.get("frame", 0)),
            shapes=[self.shape(s) for s in raw.get("shapes") or []],
            group=int(raw.get("group") or 0),
            source=self.text(raw.get("source") or "manual"),
            attributes=self.attributes(raw.get("attributes")),
            elements=[self.track(e) for e in raw.get("elements") or []],
        )

    def tag(self, raw: dict[str, Any]) -> Tag:
        return Tag(
            label=self.text(raw.get("label", "")),
            frame=int(raw.get("frame", 0)),
            group=int(raw.get("group") or 0),
            source=_normalise_source(self.text(raw.get("source") or "manual")),
            attributes=self.attributes(raw.get("attributes")),
        )

    def annotations(self, raw: dict[str, Any]) -> Annotations:
        """One job's element of annotations.json."""
        tags = [self.tag(t) for t in raw.get("tags") or []]
        shapes = [self.shape(s) for s in raw.get("shapes") or []]
        tracks = [self.track(t) for t in raw.get("tracks") or []]
        for obj in [*shapes, *tracks]:
            if obj.source == "Ground truth":
                obj.source = "manual"
        return Annotations(tags=tags, shapes=shapes, tracks=tracks)


def parse_annotations(raw: dict[str, Any], parser: AnnotationParser | None = None) -> Annotations:
    """One job's element of annotations.json (already validated)."""
    return (parser or AnnotationParser()).annotations(raw)
