"""The text pieces of the CVAT XML writers: escaping, coordinates, and the fast paths that must
write what the general ones write (a frame or track written again with escaped values, standalone
skeletons in "CVAT for video")."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pytest

from cvat_bridge.export import export_task
from cvat_bridge.formats.cvat_video import VideoBody, shape_as_track
from cvat_bridge.formats.cvat_xml_text import (
    CUBOID_KEYS,
    escape_text,
    first_geometry_text,
    geometry_text,
    quote_attr,
)
from cvat_bridge.formats.registry import find_format
from cvat_bridge.model import AttributeSpec, Shape, Tag
from cvat_bridge.view import ExportView
from tests.label_tasks import make_task, plain_label, skeleton, skeleton_label


def test_escaping_is_saxutils_escaping() -> None:
    rng = random.Random(3)
    for _ in range(20000):
        text = "".join(rng.choice("ab &<>\"'\n\r\t;#") for _ in range(rng.randint(0, 8)))
        assert escape_text(text) == escape(text)
        assert quote_attr(text) == quoteattr(text)


def plain_geometry(shape: Shape) -> str:
    """The coordinates as the format describes them, value by value (the reference)."""
    p = shape.points
    if shape.type in ("rectangle", "ellipse"):
        values = p[:4] if shape.type == "rectangle" else [p[0], p[1], p[2] - p[0], p[1] - p[3]]
        keys = ("xtl", "ytl", "xbr", "ybr") if shape.type == "rectangle" else ("cx", "cy", "rx", "ry")
        pairs = [(k, f"{v:.2f}") for k, v in zip(keys, values, strict=True)]
        if shape.rotation:
            pairs.append(("rotation", f"{shape.rotation:.2f}"))
    elif shape.type == "cuboid":
        pairs = [(k, f"{v:.2f}") for k, v in zip(CUBOID_KEYS, p, strict=False)]
    elif shape.type == "mask":
        left, top, right, bottom = (int(v) for v in p[-4:])
        pairs = [("rle", ", ".join(str(int(v)) for v in p[:-4])), ("left", str(left)), ("top", str(top)),
                 ("width", str(right - left + 1)), ("height", str(bottom - top + 1))]
    else:
        pairs = [("points", ";".join(f"{p[i]:.2f},{p[i + 1]:.2f}" for i in range(0, len(p) - 1, 2)))]
    return "".join(f' {k}="{v}"' for k, v in pairs)


def random_shape(rng: random.Random) -> Shape:
    kind = rng.choice(["rectangle", "ellipse", "cuboid", "mask", "polygon", "polyline", "points"])
    coordinate = lambda: rng.choice([rng.uniform(-50, 500), round(rng.uniform(0, 99), 3), -0.001, 0.0, 12.125])  # noqa: E731
    if kind == "mask":
        points = [float(rng.randint(0, 30)) for _ in range(rng.randint(0, 12))] + [3.0, 4.0, 20.0, 9.0]
    elif kind == "cuboid":
        points = [coordinate() for _ in range(rng.choice([16, 16, 12, 0]))]
    elif kind in ("rectangle", "ellipse"):
        points = [coordinate() for _ in range(4)]
    else:
        points = [coordinate() for _ in range(rng.randint(0, 11))]
    return Shape(kind, 0, points, rotation=rng.choice([0.0, 0.0, rng.uniform(0, 360)]))


def test_geometry_matches_value_by_value_formatting() -> None:
    rng = random.Random(5)
    for _ in range(5000):
        shape = random_shape(rng)
        expected = plain_geometry(shape)
        assert geometry_text(shape) == expected, shape
        first = expected[: expected.find('"', expected.find('"') + 1) + 1] if expected else ""
        assert first_geometry_text(shape) == first


def test_standalone_skeleton_fast_path_writes_what_the_general_path_writes() -> None:
    label = skeleton_label("pose")
    label.sublabels[0].attributes = [AttributeSpec("look", "select", mutable=True, default_value="a", values=["a"])]
    shapes = []
    for frame in range(4):
        shape = skeleton(frame, [(1.5, 2.25), (3, 4), (5, 6)], occluded=("neck",), outside=("tail",) * (frame % 2),
                         group=frame % 3)
        shape.attributes = {"complete": "true" if frame % 2 else "false"}
        shape.elements[0].attributes = {"look": "a"}
        shape.z_order = frame - 1
        shapes.append(shape)
    task = make_task([label], shapes=shapes, frames=4)
    view = ExportView(task)
    fast: list[str] = []
    general: list[str] = []
    VideoBody(view, fast).standalone(7, shapes, [])
    body = VideoBody(view, general)
    for track_id, shape in enumerate(shapes, 7):
        body.track(track_id, *shape_as_track(shape, view), [])
    assert "".join(fast) == "".join(general)
    assert "".join(fast).count("<skeleton ") == 6  # outside copies only before the last frame (3): 0, 1


@pytest.mark.parametrize("fmt", ["CVAT for images 1.1", "CVAT for video 1.1"])
def test_values_that_need_escaping_anywhere_round_trip(fmt: str, tmp_path: Path) -> None:
    """A value needing escaping in a skeleton point, a standalone skeleton or a tag: the whole frame
    (track, batch of shapes) is written again escaped, and reads back the same."""
    value = 'x < y & "z"\n'
    label = skeleton_label("pose")
    label.sublabels[0].attributes = [AttributeSpec("look", "text", mutable=True)]
    car = plain_label("car", AttributeSpec("note", "text", mutable=True))
    shapes = []
    for frame in range(3):
        shape = skeleton(frame, [(1, 2), (3, 4), (5, 6)])
        shape.elements[0].attributes = {"look": value if frame == 1 else "plain"}
        shapes.append(shape)
        shapes.append(Shape("rectangle", frame, [1, 2, 3, 4], label="car", attributes={"note": f"n{frame}"}))
    tags = [Tag("car", 2, attributes={"note": value})]
    out = export_task(make_task([label, car], shapes=shapes, tags=tags, frames=3), find_format(fmt), tmp_path / "o")
    root = ET.parse(out / "annotations.xml").getroot()
    looks = [a.text for a in root.iter("attribute") if a.get("name") == "look"]
    notes = [a.text for a in root.iter("attribute") if a.get("name") == "note"]
    assert value in looks and "plain" in looks
    assert {"n0", "n1", "n2"} <= set(notes)
    if fmt == "CVAT for images 1.1":
        assert notes.count(value) == 1  # the tag
