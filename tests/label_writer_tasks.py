"""Seeded random task backups for the ImageNet, LFW, Market-1501, VGGFace2, WIDER Face and ICDAR writers.

Frames get 0–3 tags of random labels (more than eight labels, so that the order of a Python set
of label indices — ImageNet writes it — depends on insertion), boxes (some rotated), points (ten
coordinates or not), polygons, polylines, ellipses, masks, 2D cuboids and skeletons; tracks of
boxes, points and polygons. Labels carry the attributes the formats read: ``text`` (text,
number and on a skeleton), WIDER's six box attributes, LFW's ``positive_pairs`` /
``negative_pairs``, Market-1501's ``query``/``person_id``/``camera_id``/``frame_id``/``bbox_id``,
and a label named ``face`` (WIDER leaves its name out). ``faces=True`` gives at most one box and
one set of points per frame (what VGGFace2 accepts).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from tests.builders import png, task_json, write_backup

SVG = ''.join(f'<circle r="1.5" cx="{i}" cy="{i}" data-type="element node" data-node-id="{i}" '
              f'data-label-name="{name}"></circle>' for i, name in enumerate(("nose", "eye", "ear"), start=1))


def _attr(name: str, kind: str, default: str, values: list[str], mutable: bool = False) -> dict[str, Any]:
    return {"name": name, "mutable": mutable, "input_type": kind, "default_value": default, "values": values}


def _label(name: str, *attributes: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "color": "#102030", "type": "any", "attributes": list(attributes)}


LABELS = [
    {"name": "pose", "color": "#101010", "type": "skeleton", "svg": SVG,
     "attributes": [_attr("text", "text", "skel", [])],
     "sublabels": [{"name": n, "color": "#202020", "type": "points", "attributes": []}
                   for n in ("nose", "eye", "ear")]},
    _label("face", _attr("blur", "select", "0", ["0", "1", "2"]), _attr("expression", "number", "0", ["0", "2", "1"]),
           _attr("illumination", "checkbox", "false", ["false"], mutable=True),
           _attr("occluded", "checkbox", "true", ["true"]), _attr("pose", "text", "front", []),
           _attr("invalid", "checkbox", "false", ["false"]), _attr("text", "text", "", [])),
    _label("alice", _attr("positive_pairs", "text", "", []), _attr("text", "number", "7", ["0", "100", "1"])),
    _label("bob", _attr("negative_pairs", "text", "", []), _attr("blur", "number", "1", ["0", "9", "1"])),
    _label("market-1501", _attr("query", "select", "False", ["True", "False"]),
           _attr("person_id", "number", "0", ["0", "99", "1"]), _attr("camera_id", "number", "1", ["0", "9", "1"]),
           _attr("frame_id", "number", "3", ["0", "999", "1"]), _attr("bbox_id", "text", "2", [])),
    _label("car", _attr("text", "select", "abc", ["abc", "d e", "x,y"])),
    _label("person"),
    _label("tree"),
]
TAG_LABELS = ["face", "alice", "bob", "market-1501", "car", "person", "market-1501"]  # not "tree": a folder
SHAPE_LABELS = ["face", "alice", "bob", "car", "person", "tree"]
SHAPE_TYPES = ["rectangle", "rectangle", "points", "polygon", "polyline", "ellipse", "mask", "cuboid", "skeleton"]
NAMES = {
    "plain": lambda i: f"img_{i:02d}.png",
    "folders": lambda i: f"{'sub/deeper' if i % 3 else 'tree'}/img_{i:02d}.png",
    "people": lambda i: f"alice_{i + 1:04d}.png" if i % 2 else f"bob_{i + 1:04d}.jpg",
    # ImageNet with images names "p0:x", "p2:x", ... all "x": the last frame's file is kept
    "spaces": lambda i: f"my img {i}.png" if i % 2 else f"p{i}:x.png",
}


class _Maker:
    def __init__(self, seed: int, width: int, height: int, faces: bool) -> None:
        self.rng = random.Random(seed)
        self.width, self.height, self.faces = width, height, faces

    def coord(self, low: float, high: float) -> float:
        return round(self.rng.uniform(low, high), 3)

    def attributes(self, label: str) -> list[dict[str, str]]:
        r = self.rng
        choices = {
            "face": {"blur": ["0", "1", "2"], "expression": ["0", "1.5", "2"], "illumination": ["true", "false"],
                     "occluded": ["true", "false"], "pose": ["front", "side"], "text": ["hello", "", "a b"]},
            "alice": {"positive_pairs": ["alice_0002", "bob/3", "", "al_12"], "text": ["3", "4.25"]},
            "bob": {"negative_pairs": ["alice/alice_0004", "carol_0001", "x/1", ""], "blur": ["2", "5"]},
            "market-1501": {"query": ["True", "False"], "person_id": ["0", "12", "7"], "camera_id": ["0", "3"],
                            "frame_id": ["5", "120"], "bbox_id": ["1", "4"]},
            "car": {"text": ["abc", "d e", "x,y"]},
        }.get(label, {})
        return [{"name": name, "value": r.choice(values)} for name, values in choices.items() if r.random() < 0.8]

    def points(self, kind: str) -> list[float]:
        w, h, r = self.width, self.height, self.rng
        if kind == "rectangle":
            x, y = self.coord(-3, w - 2), self.coord(-3, h - 2)
            return [x, y, round(x + self.coord(1, w / 2), 3), round(y + self.coord(1, h / 2), 3)]
        if kind == "ellipse":  # centre, right x, top y
            cx, cy = self.coord(0, w), self.coord(0, h)
            return [cx, cy, round(cx + self.coord(0.5, w / 3), 3), round(cy - self.coord(0.5, h / 3), 3)]
        if kind == "cuboid":
            return [self.coord(0, w) if i % 2 == 0 else self.coord(0, h) for i in range(16)]
        if kind == "mask":
            left, top = r.randint(0, w - 3), r.randint(0, h - 3)
            right, bottom = left + r.randint(0, 2), top + r.randint(0, 2)
            area = (right - left + 1) * (bottom - top + 1)
            return [0.0, float(area), float(left), float(top), float(right), float(bottom)]
        count = {"points": r.choice([5, 5, 5, 1, 3]), "polygon": r.randint(3, 6), "polyline": r.randint(2, 5)}[kind]
        return [self.coord(0, w) if i % 2 == 0 else self.coord(0, h) for i in range(2 * count)]

    def shape(self, kind: str, frame: int, label: str | None = None) -> dict[str, Any]:
        label = label or ("pose" if kind == "skeleton" else self.rng.choice(SHAPE_LABELS))
        rotation = self.rng.choice([0.0, 0.0, self.coord(1, 359)]) if kind in ("rectangle", "ellipse") else 0.0
        elements = []
        if kind == "skeleton":
            elements = [{"type": "points", "occluded": self.rng.random() < 0.3, "outside": self.rng.random() < 0.2,
                         "z_order": 0, "rotation": 0.0, "points": self.points("points")[:2], "frame": frame,
                         "group": 0, "source": "manual", "attributes": [], "label": name}
                        for name in ("nose", "eye", "ear")]
        return {"type": kind, "occluded": self.rng.random() < 0.3, "outside": False,
                "z_order": self.rng.randint(-1, 1), "rotation": rotation,
                "points": [] if kind == "skeleton" else self.points(kind), "frame": frame,
                "group": self.rng.choice([0, 0, 1, 2]), "source": "manual", "attributes": self.attributes(label),
                "elements": elements, "label": label}

    def frame_objects(self, frame: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        r = self.rng
        tags = [{"frame": frame, "group": 0, "source": "manual", "label": label, "attributes": self.attributes(label)}
                for label in r.sample(TAG_LABELS, r.choice([0, 0, 1, 1, 2, 3]))]
        kinds = [r.choice(SHAPE_TYPES) for _ in range(r.randint(0, 6))]
        if self.faces:  # at most one box and one set of points
            kinds = [k for k in kinds if k not in ("rectangle", "points")] + r.sample(["rectangle", "points"],
                                                                                        r.randint(0, 2))
        return tags, [self.shape(kind, frame) for kind in kinds]

    def track(self, kind: str, start: int, stop: int) -> dict[str, Any]:
        label = self.rng.choice(SHAPE_LABELS)
        keyframes = sorted({start, stop, self.rng.randint(start, stop)})
        shapes = []
        for frame in keyframes:
            shape = self.shape(kind, frame, label)
            shape["outside"] = frame != keyframes[0] and self.rng.random() < 0.3
            shapes.append({k: v for k, v in shape.items() if k not in ("label", "group", "source", "elements")})
        return {"frame": keyframes[0], "group": 0, "source": "manual", "label": label,
                "attributes": self.attributes(label), "elements": [], "shapes": shapes}


def make_label_backup(path: Path, *, seed: int = 1, frames: int = 10, names: str = "plain", faces: bool = False,
                      subset: str = "", step: int = 1, deleted: tuple[int, ...] = ()) -> Path:
    """A two-job image task backup at ``path`` (``step``/``deleted`` in absolute media frames)."""
    width, height = 60, 40
    maker = _Maker(seed, width, height, faces)
    media_count = (frames - 1) * step + 1
    jobs = [(0, frames // 2 - 1), (frames // 2, frames - 1)]
    annotations = []
    for first, last in jobs:
        tags: list[dict[str, Any]] = []
        shapes: list[dict[str, Any]] = []
        for frame in range(first, last + 1):
            frame_tags, frame_shapes = maker.frame_objects(frame)
            tags += frame_tags
            shapes += frame_shapes
        tracks = [] if faces else [maker.track(kind, first, last) for kind in ("rectangle", "points", "polygon")]
        annotations.append({"version": 0, "tags": tags, "shapes": shapes, "tracks": tracks})
    data: dict[str, Any] = {"stop_frame": media_count - 1, "deleted_frames": list(deleted)}
    if step > 1:
        data["frame_filter"] = f"step={step}"
    task = task_json(LABELS, jobs=[{"start_frame": a, "stop_frame": b} for a, b in jobs], **data)
    task["subset"] = subset
    media = {NAMES[names](i): png(width, height, i) for i in range(media_count)}
    return write_backup(path, task, annotations, media)


def make_label_video_backup(path: Path, make_video: Any, *, seed: int = 5) -> Path:
    """A video task (absolute frames 1..17, step 2, frame 5 deleted) with random label objects;
    ``make_video`` is fixtures/make_video.py as a module (it needs PyAV)."""
    width, height, count = 48, 32, 18
    maker = _Maker(seed, width, height, faces=False)
    task = make_video.task_meta(count, start=1, stop=17, step=2, deleted=[5])
    task["labels"] = LABELS
    size = task["jobs"][0]["stop_frame"] + 1
    tags: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    for frame in range(size):
        frame_tags, frame_shapes = maker.frame_objects(frame)
        tags += frame_tags
        shapes += frame_shapes
    tracks = [maker.track(kind, 1, size - 2) for kind in ("rectangle", "points")]
    annotations = {"version": 0, "tags": tags, "shapes": shapes, "tracks": tracks}
    return make_video.make_video_backup(path, count=count, width=width, height=height, task=task,
                                        annotations=annotations, codec="ffv1", container="matroska")
