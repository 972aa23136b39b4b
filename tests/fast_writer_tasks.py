"""Seeded random task backups that exercise the corners of the COCO, MOT and YOLO writers.

Every frame gets boxes (some rotated, some past the image edge), polygons, ellipses (rotated,
clipped by the edges), masks, polylines and points, and groups that mix them (box + polygon +
mask of one label, a mask of another label than the group's largest part, polygons only);
labels carry the attribute names Datumaro's exporters read (``is_crowd``, ``score``,
``visibility``, ``ignored``, ``track_id``); a skeleton label comes first so that label
indices differ from positions among top-level labels; tracks of boxes, polygons and ellipses
with outside keyframes. Coordinates have three decimals so that rounding matters.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

from tests.builders import png, task_json, write_backup

SVG = ('<circle r="1.5" cx="10" cy="10" data-type="element node" data-node-id="1" data-label-name="a"></circle>'
       '<circle r="1.5" cx="20" cy="30" data-type="element node" data-node-id="2" data-label-name="b"></circle>')


def _attr(name: str, kind: str, default: str, values: list[str], mutable: bool = False) -> dict[str, Any]:
    return {"name": name, "mutable": mutable, "input_type": kind, "default_value": default, "values": values}


LABELS = [
    {"name": "pose", "color": "#101010", "type": "skeleton", "svg": SVG, "attributes": [], "sublabels": [
        {"name": "a", "color": "#202020", "type": "points", "attributes": []},
        {"name": "b", "color": "#303030", "type": "points", "attributes": []}]},
    {"name": "car", "color": "#ff0000", "type": "any", "attributes": [
        _attr("model", "select", "bmw", ["bmw", "audi"]),
        _attr("is_crowd", "checkbox", "false", ["false"], mutable=True),
        _attr("score", "number", "1", ["0", "10", "1"], mutable=True)]},
    {"name": "person", "color": "#00ff00", "type": "any", "attributes": []},
    {"name": "thing", "color": "#0000ff", "type": "any", "attributes": [
        _attr("visibility", "number", "1", ["0", "1", "0.25"], mutable=True),
        _attr("ignored", "checkbox", "false", ["false"], mutable=True),
        _attr("track_id", "number", "7", ["0", "100", "1"])]},
]
SHAPE_LABELS = ["car", "person", "thing"]


class _Maker:
    def __init__(self, seed: int, width: int, height: int) -> None:
        self.rng = random.Random(seed)
        self.width, self.height = width, height

    def coord(self, low: float, high: float) -> float:
        return round(self.rng.uniform(low, high), 3)

    def attributes(self, label: str) -> list[dict[str, str]]:
        r = self.rng
        if label == "car":
            return [{"name": "model", "value": r.choice(["bmw", "audi"])},
                    {"name": "is_crowd", "value": r.choice(["false", "false", "true"])},
                    {"name": "score", "value": str(r.randint(0, 10))}]
        if label == "thing":
            return [{"name": "visibility", "value": r.choice(["0.25", "0.5", "1"])},
                    {"name": "ignored", "value": r.choice(["false", "true"])}]
        return []

    def points(self, kind: str) -> list[float]:
        w, h, r = self.width, self.height, self.rng
        if kind == "rectangle":
            x, y = self.coord(-5, w - 2), self.coord(-5, h - 2)
            return [x, y, round(x + self.coord(1, w / 2), 3), round(y + self.coord(1, h / 2), 3)]
        if kind in ("polygon", "polyline", "points"):
            cx, cy, reach = self.coord(0, w), self.coord(0, h), self.coord(2, min(w, h) / 3)
            count = r.randint(3, 7) if kind != "points" else r.randint(1, 4)
            return [v for _ in range(count) for v in (round(cx + self.coord(-reach, reach), 3),
                                                       round(cy + self.coord(-reach, reach), 3))]
        if kind == "ellipse":
            cx, cy = self.coord(-3, w + 3), self.coord(-3, h + 3)
            return [cx, cy, round(cx + self.coord(0.5, w / 3), 3), round(cy - self.coord(0.5, h / 3), 3)]
        left, top = r.randint(0, w - 2), r.randint(0, h - 2)  # mask: runs over a box inside the image
        right, bottom = r.randint(left, min(w - 1, left + w // 3)), r.randint(top, min(h - 1, top + h // 3))
        area, runs = (right - left + 1) * (bottom - top + 1), []
        while area > 0:
            run = min(area, r.randint(0, 9))
            runs.append(float(run))
            area -= run
        return [*runs, float(left), float(top), float(right), float(bottom)]

    def shape(self, kind: str, frame: int, label: str | None = None, group: int = 0) -> dict[str, Any]:
        label = label or self.rng.choice(SHAPE_LABELS)
        rotation = self.rng.choice([0.0, 0.0, self.coord(0, 359)]) if kind in ("rectangle", "ellipse") else 0.0
        return {"type": kind, "occluded": self.rng.random() < 0.3, "outside": False,
                "z_order": self.rng.randint(-1, 2), "rotation": rotation, "points": self.points(kind),
                "frame": frame, "group": group, "source": "manual", "attributes": self.attributes(label),
                "elements": [], "label": label}

    def frame_shapes(self, frame: int, next_group: int) -> tuple[list[dict[str, Any]], int]:
        r = self.rng
        shapes = [self.shape(r.choice(["rectangle", "rectangle", "polygon", "ellipse", "mask", "polyline",
                                       "points"]), frame) for _ in range(r.randint(0, 7))]
        for _ in range(r.randint(0, 3)):
            label = r.choice(SHAPE_LABELS)
            pattern = r.choice([("rectangle", "polygon", "mask"), ("polygon", "polygon"), ("rectangle", "mask"),
                                ("ellipse", "polygon"), ("rectangle", "rectangle"), ("mask", "mask")])
            members = [self.shape(kind, frame, label, next_group) for kind in pattern]
            if r.random() < 0.3:  # a part of another label: a mask that may not match the leader's label
                members.append(self.shape("mask", frame, r.choice(SHAPE_LABELS), next_group))
            shapes += members
            next_group += 1
        r.shuffle(shapes)
        return shapes, next_group

    def track(self, kind: str, start: int, stop: int) -> dict[str, Any]:
        label = self.rng.choice(SHAPE_LABELS)
        keyframes = sorted({start, stop, *self.rng.sample(range(start, stop + 1), k=min(2, stop - start + 1))})
        shapes = []
        for frame in keyframes:
            shape = self.shape(kind, frame, label)
            shape["outside"] = frame != keyframes[-1] and self.rng.random() < 0.2
            shapes.append({k: v for k, v in shape.items() if k not in ("label", "group", "source", "elements")})
        return {"frame": keyframes[0], "group": 0, "source": "manual", "label": label, "attributes": [],
                "elements": [], "shapes": shapes}


def make_stress_backup(path: Path, *, seed: int = 1, frames: int = 12, width: int = 96, height: int = 64,
                       names: str = "plain", crowd: bool = True) -> Path:
    """A backup at ``path``; ``names`` = plain (img_00.png), numeric (000001.png) or folders;
    ``crowd=False`` leaves the ``is_crowd`` attribute out of the labels."""
    maker = _Maker(seed, width, height)
    shapes, group = [], 1
    for frame in range(frames):
        frame_shapes, group = maker.frame_shapes(frame, group)
        shapes += frame_shapes
    tracks = [maker.track(kind, *sorted(maker.rng.sample(range(frames), 2)))
              for kind in ("rectangle", "rectangle", "polygon", "ellipse")]
    file_names = {"plain": [f"img_{i:02d}.png" for i in range(frames)],
                  "numeric": [f"{i + 1:06d}.png" for i in range(frames)],
                  "folders": [f"{'a' if i % 2 else 'b'}/img_{i:02d}.png" for i in range(frames)]}[names]
    labels = copy.deepcopy(LABELS)
    if not crowd:
        for label in labels:
            label["attributes"] = [a for a in label["attributes"] if a["name"] != "is_crowd"]
        for shape in shapes + [s for t in tracks for s in t["shapes"]]:
            shape["attributes"] = [a for a in shape["attributes"] if a["name"] != "is_crowd"]
    task = task_json(labels, stop_frame=frames - 1)
    annotations = [{"version": 0, "tags": [], "shapes": shapes, "tracks": tracks}]
    return write_backup(path, task, annotations, {name: png(width, height) for name in file_names})
