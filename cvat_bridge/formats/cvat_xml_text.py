"""Text pieces of the CVAT XML body, built fast: what the two CVAT writers call once per object.

Large exports write tens of thousands of shapes, so the body is written as text, not element by
element: the markup that repeats (a label's ``label="..." source="..."``, an ``<attribute
name="...">``) is escaped once and kept; coordinates go through one ``%`` format per shape;
attribute values are written as they are and checked once per frame or track, whose text is
written again with escaped values in the rare case one needs it (``needs_escape``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from operator import add
from typing import Any

from cvat_bridge.model import Shape

CUBOID_KEYS = ("xtl1", "ytl1", "xbl1", "ybl1", "xtr1", "ytr1", "xbr1", "ybr1",
               "xtl2", "ytl2", "xbl2", "ybl2", "xtr2", "ytr2", "xbr2", "ybr2")
SHAPE_TAGS = {"rectangle": "box"}
ATTRIBUTE_END = "</attribute>"

_NEEDS_ESCAPE = re.compile(r"[&<>\"'\n\r\t]")
_BOX = ' xtl="%.2f" ytl="%.2f" xbr="%.2f" ybr="%.2f"'
_ELLIPSE = ' cx="%.2f" cy="%.2f" rx="%.2f" ry="%.2f"'
_ROTATION = ' rotation="%.2f"'
_CUBOID = "".join([f' {key}="%.2f"' for key in CUBOID_KEYS])


def needs_escape(text: str) -> bool:
    return _NEEDS_ESCAPE.search(text) is not None


def escape_text(value: str) -> str:
    """Element text escaped as ``xml.sax.saxutils.escape`` does (that module imports urllib.request,
    ~25 ms): ``&``, ``<`` and ``>`` only."""
    if not _NEEDS_ESCAPE.search(value):
        return value
    return value.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")


def quote_attr(value: str) -> str:
    """An attribute value quoted exactly as ``xml.sax.saxutils.quoteattr`` does: escaped text with
    line breaks and tabs as character references, in double quotes unless the value holds double
    quotes and no single ones (then single quotes; with both, ``&quot;`` in double quotes)."""
    if not _NEEDS_ESCAPE.search(value):
        return f'"{value}"'
    value = escape_text(value).replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")
    if '"' not in value:
        return f'"{value}"'
    if "'" not in value:
        return f"'{value}'"
    return '"' + value.replace('"', "&quot;") + '"'


class Fragments(dict[Any, str]):
    """``key → make(key)``, made once per distinct key (a subscript is a plain dict look-up after that)."""

    def __init__(self, make: Callable[[Any], str]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, key: Any) -> str:
        value = self[key] = self.make(key)
        return value


def attribute_opens(depth: int) -> Fragments:
    """Attribute name → ``<attribute name="...">`` on its own line at ``depth``."""
    indent = "\n" + "  " * depth
    return Fragments(lambda name: f"{indent}<attribute name={quote_attr(name)}>")


def attribute_text(attributes: dict[str, str], opens: Fragments) -> str:
    """``<attribute name="...">value</attribute>`` for each item, values as they are (the caller
    escapes them when ``needs_escape``); all in C loops: this runs for most shapes."""
    if not attributes:
        return ""
    return ATTRIBUTE_END.join(map(add, map(opens.__getitem__, attributes), attributes.values())) + ATTRIBUTE_END


def escaped_values(attributes: dict[str, str]) -> dict[str, str]:
    return {name: escape_text(value) for name, value in attributes.items()}


def group_text(group: int) -> str:
    return f' group_id="{group}"' if group else ""


_POINT_FORMATS: dict[int, str] = {}


def _points_format(pairs: int) -> str:
    fmt = _POINT_FORMATS[pairs] = ' points="' + ";".join(["%.2f,%.2f"] * pairs) + '"'
    return fmt


_RLE_FORMATS: dict[int, str] = {}


def _rle_format(runs: int) -> str:
    fmt = _RLE_FORMATS[runs] = ", ".join(["%d"] * runs)
    return fmt


def geometry_text(shape: Shape) -> str:
    """A shape's coordinates as XML attributes (two decimals; masks as CVAT's RLE and box)."""
    kind, p = shape.type, shape.points
    if kind == "rectangle":
        text = _BOX % (p[0], p[1], p[2], p[3])
        return text + _ROTATION % shape.rotation if shape.rotation else text
    if kind == "ellipse":
        text = _ELLIPSE % (p[0], p[1], p[2] - p[0], p[1] - p[3])
        return text + _ROTATION % shape.rotation if shape.rotation else text
    if kind == "cuboid":
        if len(p) >= 16:
            return _CUBOID % tuple(p[:16])
        return "".join([f' {key}="{value:.2f}"' for key, value in zip(CUBOID_KEYS, p, strict=False)])
    if kind == "mask":
        left, top, right, bottom = map(int, p[-4:])
        runs = len(p) - 4
        rle = (_RLE_FORMATS.get(runs) or _rle_format(runs)) % tuple(p[:-4])  # "%d" is int() then str()
        return f' rle="{rle}" left="{left}" top="{top}" width="{right - left + 1}" height="{bottom - top + 1}"'
    pairs = len(p) // 2
    fmt = _POINT_FORMATS.get(pairs) or _points_format(pairs)
    return fmt % tuple(p if len(p) == 2 * pairs else p[: 2 * pairs])


def first_geometry_text(shape: Shape) -> str:
    """Only the first attribute of ``geometry_text`` (what a skeleton's elements carry on images)."""
    text = geometry_text(shape)
    end = text.find('"', text.find('"') + 1)
    return text[: end + 1]
