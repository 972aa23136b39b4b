"""Make a synthetic CVAT task backup N times the size of the reference task `large`.

`large` has 2,000 frames, 4 jobs of 500, 20,000 shapes, 200 tracks and 200 tags. Factor N
gives 2,000·N frames (manifest only: a "lightweight" backup, no pixels), 10 shapes a frame of
every 2D type, one tag per 10 frames, and 100·N box/polygon tracks that each live for 100-400
frames with a keyframe every 25 frames, so interpolation yields about 25,000·N boxes more.
Deterministic (seeded). Usage: python bench/make_task.py FACTOR OUT.zip
"""

from __future__ import annotations

import json
import random
import sys
import zipfile
from pathlib import Path
from typing import Any

WIDTH, HEIGHT = 640, 480
JOB_SIZE = 500


def _attrs(rng: random.Random) -> list[dict[str, str]]:
    return [{"name": "model", "value": rng.choice(["bmw", "mazda"])},
            {"name": "parked", "value": rng.choice(["true", "false"])},
            {"name": "speed", "value": str(rng.randrange(0, 100, 5))}]


def _shape(rng: random.Random, frame: int, index: int) -> dict[str, Any]:
    x, y = rng.uniform(0, WIDTH - 60), rng.uniform(0, HEIGHT - 60)
    w, h = rng.uniform(5, 50), rng.uniform(5, 50)
    kind = ["rectangle", "rectangle", "rectangle", "polygon", "polygon", "points", "polyline", "ellipse",
            "rectangle", "polygon"][index % 10]
    if kind == "rectangle":
        points = [x, y, x + w, y + h]
    elif kind == "ellipse":
        points = [x + w / 2, y + h / 2, x + w, y]
    elif kind == "points":
        points = [x, y, x + w, y + h]
    else:
        points = [x, y, x + w, y, x + w / 2, y + h, x, y + h / 2]
    label = "car" if index % 2 == 0 else "person"
    return {"type": kind, "occluded": rng.random() < 0.1, "outside": False, "z_order": index % 3,
            "rotation": 0.0, "points": [round(p, 2) for p in points], "frame": frame, "group": 0,
            "source": "manual", "attributes": _attrs(rng) if label == "car" else [], "elements": [], "label": label}


def _track(rng: random.Random, start: int, stop: int) -> dict[str, Any]:
    length = rng.randint(100, 400)
    end = min(stop, start + length)
    polygon = rng.random() < 0.2
    shapes = []
    x, y = rng.uniform(0, WIDTH - 100), rng.uniform(0, HEIGHT - 100)
    for frame in range(start, end, 25):
        x = min(max(0.0, x + rng.uniform(-10, 10)), WIDTH - 60)
        y = min(max(0.0, y + rng.uniform(-10, 10)), HEIGHT - 60)
        points = ([x, y, x + 40, y, x + 20, y + 40] if polygon else [x, y, x + 40, y + 30])
        shapes.append({"type": "polygon" if polygon else "rectangle", "occluded": False, "outside": False,
                       "z_order": 0, "rotation": 0.0, "points": [round(p, 2) for p in points], "frame": frame,
                       "attributes": [] if polygon else _attrs(rng)[1:]})
    if end < stop:
        shapes.append({**shapes[-1], "frame": end, "outside": True})
    label = "person" if polygon else "car"
    attributes = [] if polygon else [{"name": "model", "value": "bmw"}]
    return {"frame": start, "group": 0, "source": "manual", "shapes": shapes, "attributes": attributes,
            "elements": [], "label": label}


def make_task(factor: int, path: Path) -> Path:
    rng = random.Random(7712 + factor)
    frames = 2000 * factor
    task = {
        "name": f"synthetic x{factor}", "bug_tracker": "", "status": "annotation", "subset": "", "version": "1.0",
        "labels": [
            {"name": "car", "color": "#2080c0", "type": "any", "sublabels": [], "attributes": [
                {"name": "model", "mutable": False, "input_type": "select", "default_value": "bmw",
                 "values": ["bmw", "mazda"]},
                {"name": "parked", "mutable": True, "input_type": "checkbox", "default_value": "false",
                 "values": ["false"]},
                {"name": "speed", "mutable": True, "input_type": "number", "default_value": "0",
                 "values": ["0", "100", "5"]}]},
            {"name": "person", "color": "#c06060", "type": "any", "sublabels": [], "attributes": []},
        ],
        "data": {"chunk_size": 72, "image_quality": 70, "start_frame": 0, "stop_frame": frames - 1,
                 "storage_method": "cache", "storage": "cloud_storage", "sorting_method": "lexicographical",
                 "chunk_type": "imageset", "deleted_frames": []},
        "jobs": [{"start_frame": s, "stop_frame": min(s + JOB_SIZE, frames) - 1, "status": "annotation",
                  "type": "annotation"} for s in range(0, frames, JOB_SIZE)],
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("task.json", json.dumps(task))
        with archive.open("data/manifest.jsonl", "w") as manifest:
            manifest.write(b'{"version":"1.1"}\n{"type":"images"}\n')
            for i in range(frames):
                manifest.write(json.dumps({"name": f"frame_{i:06d}", "extension": ".jpg",
                                           "width": WIDTH, "height": HEIGHT}).encode() + b"\n")
        with archive.open("annotations.json", "w") as out:
            out.write(b"[")
            for index, job in enumerate(task["jobs"]):
                start, stop = job["start_frame"], job["stop_frame"] + 1
                shapes = [_shape(rng, f, i) for f in range(start, stop) for i in range(10)]
                tags = [{"frame": f, "group": 0, "source": "manual", "attributes": [], "label": "person"}
                        for f in range(start, stop, 10)]
                tracks = [_track(rng, rng.randrange(start, stop - 1), stop) for _ in range(100 * JOB_SIZE // 2000)]
                body = {"version": 0, "tags": tags, "shapes": shapes, "tracks": tracks}
                out.write((b"," if index else b"") + json.dumps(body).encode())
            out.write(b"]")
    return path


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(make_task(int(sys.argv[1]), Path(sys.argv[2])))
