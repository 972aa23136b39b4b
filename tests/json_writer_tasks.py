"""Seeded random task backups for the Datumaro 1.0 and COCO Keypoints writers.

On top of tests/fast_writer_tasks.py's shapes (boxes, rotated boxes, polygons, polylines,
points, ellipses at the edges, masks, groups mixing them) every frame gets skeletons (two
skeleton labels, one with ``score``/``is_crowd`` attributes, points with three decimals so
that float32 rounding shows, occluded and outside elements, a missing element), 2D cuboids,
tags with groups and attributes, and groups that pair a skeleton with boxes/polygons/masks/
ellipses, hold two skeletons, or a skeleton alone; skeleton tracks with outside keyframes.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from tests.builders import png, task_json, write_backup
from tests.fast_writer_tasks import LABELS, SHAPE_LABELS, _attr, _Maker

POSE_SVG = "".join(
    f'<circle r="1.5" cx="{i}" cy="{i}" data-type="element node" data-node-id="{i + 1}" '
    f'data-label-name="{name}"></circle>' for i, name in enumerate(["p1", "p2", "p3", "p4", "p5"])
) + "".join(
    f'<line x1="0" y1="0" x2="1" y2="1" data-type="edge" data-node-from="{a}" data-node-to="{b}"></line>'
    for a, b in [(5, 1), (1, 2), (4, 2), (2, 3), (3, 5), (1, 4)]
)
HAND_SVG = ('<circle r="1" cx="1" cy="1" data-type="element node" data-node-id="1" data-label-name="h1"></circle>'
            '<circle r="1" cx="2" cy="2" data-type="element node" data-node-id="2" data-label-name="h2"></circle>'
            '<line x1="1" y1="1" x2="2" y2="2" data-type="edge" data-node-from="2" data-node-to="1"></line>')
SKELETONS = {"body": ["p1", "p2", "p3", "p4", "p5"], "hand": ["h1", "h2"]}


def skeleton_labels(crowd: bool = True) -> list[dict[str, Any]]:
    labels = copy.deepcopy(LABELS)
    hand_attributes = [_attr("score", "number", "1", ["0", "10", "1"], mutable=True)]
    if crowd:
        hand_attributes.append(_attr("is_crowd", "checkbox", "false", ["false"], mutable=True))
    labels[2:2] = [  # skeletons between the plain labels: label indices differ from top-level positions
        {"name": "body", "color": "#111111", "type": "skeleton", "svg": POSE_SVG,
         "attributes": [_attr("complete", "checkbox", "false", ["false"])],
         "sublabels": [{"name": n, "color": "#222222", "type": "points", "attributes": []}
                       for n in SKELETONS["body"]]},
        {"name": "hand", "color": "#333333", "type": "skeleton", "svg": HAND_SVG, "attributes": hand_attributes,
         "sublabels": [{"name": n, "color": "#444444", "type": "points", "attributes": [
             _attr("finger", "select", "index", ["index", "thumb"], mutable=True)]} for n in SKELETONS["hand"]]},
    ]
    if not crowd:
        for label in labels:
            label["attributes"] = [a for a in label["attributes"] if a["name"] != "is_crowd"]
    return labels


class _SkeletonMaker(_Maker):
    def element(self, name: str, frame: int) -> dict[str, Any]:
        r = self.rng
        return {"type": "points", "occluded": r.random() < 0.25, "outside": r.random() < 0.2, "z_order": 0,
                "rotation": 0.0, "points": [self.coord(-3, self.width + 3), self.coord(-3, self.height + 3)],
                "frame": frame, "group": 0, "source": "manual", "label": name, "elements": [],
                "attributes": [{"name": "finger", "value": r.choice(["index", "thumb"])}] if name[0] == "h" else []}

    def skeleton(self, frame: int, group: int = 0) -> dict[str, Any]:
        r = self.rng
        label = r.choice(list(SKELETONS))
        names = [n for n in SKELETONS[label] if r.random() < 0.9] or SKELETONS[label][:1]  # maybe one missing
        attributes = ([{"name": "complete", "value": r.choice(["true", "false"])}] if label == "body" else
                      [{"name": "score", "value": str(r.randint(0, 10))}]
                      + ([{"name": "is_crowd", "value": r.choice(["true", "false"])}] if r.random() < 0.5 else []))
        return {"type": "skeleton", "occluded": r.random() < 0.2, "outside": False, "z_order": r.randint(-1, 1),
                "rotation": 0.0, "points": [], "frame": frame, "group": group, "source": "manual",
                "attributes": attributes, "label": label, "elements": [self.element(n, frame) for n in names]}

    def cuboid(self, frame: int) -> dict[str, Any]:
        shape = self.shape("rectangle", frame)
        x, y = self.coord(0, self.width), self.coord(0, self.height)
        shape.update(type="cuboid", rotation=0.0, points=[round(v + self.coord(0, 20), 3) for v in [x, y] * 8])
        return shape

    def frame_objects(self, frame: int, next_group: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
        r = self.rng
        shapes, next_group = self.frame_shapes(frame, next_group)
        shapes += [self.skeleton(frame) for _ in range(r.randint(0, 3))]
        shapes += [self.cuboid(frame) for _ in range(r.randint(0, 1))]
        for _ in range(r.randint(0, 3)):
            pattern = r.choice([("rectangle",), ("polygon", "mask"), ("ellipse",), ("mask",), (),
                                ("rectangle", "mask")])
            label = r.choice(SHAPE_LABELS)
            shapes += [self.shape(kind, frame, label, next_group) for kind in pattern]
            shapes += [self.skeleton(frame, next_group) for _ in range(r.choice([1, 1, 2]))]
            next_group += 1
        r.shuffle(shapes)
        tags = [{"frame": frame, "group": r.choice([0, 0, next_group - 1]), "source": "manual",
                 "label": r.choice(SHAPE_LABELS), "attributes": self.attributes("car")[:1]}
                for _ in range(r.randint(0, 2))]
        for tag in tags:
            if tag["label"] != "car":
                tag["attributes"] = []
        return shapes, tags, next_group

    def skeleton_track(self, start: int, stop: int) -> dict[str, Any]:
        label = self.rng.choice(list(SKELETONS))
        keyframes = sorted({start, stop, *self.rng.sample(range(start, stop + 1), k=min(2, stop - start + 1))})
        shapes = [{"type": "skeleton", "occluded": False, "outside": f == keyframes[-1] and self.rng.random() < 0.5,
                   "z_order": 0, "rotation": 0.0, "points": [], "frame": f, "attributes": []} for f in keyframes]
        elements = []
        for name in SKELETONS[label]:
            element_shapes = []
            for f in keyframes:
                e = self.element(name, f)
                element_shapes.append({k: v for k, v in e.items() if k not in ("label", "group", "source", "elements")})
            elements.append({"frame": keyframes[0], "group": 0, "source": "manual", "label": name,
                             "attributes": [], "shapes": element_shapes})
        attributes = [{"name": "complete", "value": "true"}] if label == "body" else []
        return {"frame": keyframes[0], "group": self.rng.choice([0, 0, 999]), "source": "manual", "label": label,
                "attributes": attributes, "elements": elements, "shapes": shapes}


def random_annotations(seed: int, frames: int, width: int, height: int, crowd: bool = True) -> dict[str, Any]:
    """One job's annotations.json element over relative frames ``0..frames-1``."""
    maker = _SkeletonMaker(seed, width, height)
    shapes: list[dict[str, Any]] = []
    tags: list[dict[str, Any]] = []
    group = 1
    for frame in range(frames):
        frame_shapes, frame_tags, group = maker.frame_objects(frame, group)
        shapes += frame_shapes
        tags += frame_tags
    tracks = [maker.track(kind, *sorted(maker.rng.sample(range(frames), 2))) for kind in ("rectangle", "ellipse")]
    tracks += [maker.skeleton_track(*sorted(maker.rng.sample(range(frames), 2))) for _ in range(3)]
    if not crowd:
        for shape in shapes + [s for t in tracks for s in t["shapes"]]:
            shape["attributes"] = [a for a in shape["attributes"] if a["name"] != "is_crowd"]
    return {"version": 0, "tags": tags, "shapes": shapes, "tracks": tracks}


def make_skeleton_backup(path: Path, *, seed: int = 1, frames: int = 10, width: int = 96, height: int = 64,
                         names: str = "plain", crowd: bool = True, **data: Any) -> Path:
    """An image task backup at ``path``; ``names`` = plain, numeric or folders (see
    fast_writer_tasks); ``data`` goes to task.json's ``data`` (e.g. ``deleted_frames``)."""
    file_names = {"plain": [f"img_{i:02d}.png" for i in range(frames)],
                  "numeric": [f"{i + 1:06d}.png" for i in range(frames)],
                  "folders": [f"{'a/b' if i % 2 else 'c'}/img_{i:02d}.png" for i in range(frames)]}[names]
    task = task_json(skeleton_labels(crowd), stop_frame=frames - 1, **data)
    annotations = [random_annotations(seed, frames, width, height, crowd)]
    return write_backup(path, task, annotations, {name: png(width, height) for name in file_names})
