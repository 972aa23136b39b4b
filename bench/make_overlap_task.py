"""Make a task like `overlap32` (CVAT issue 7712) at any scale: many jobs overlapping by 5 frames.

Objects live 40-250 frames and move by a random walk; every job gets one track per object alive
in it, with a keyframe on every frame (plus an outside keyframe when the object ends inside the
job) and small independent jitter per job, so the overlap frames need real IoU matching. Factor
1 gives 790 frames and 32 jobs of 30 frames; factor 10 gives 7,900 frames and 316 jobs.
Deterministic (seeded). Usage: python bench/make_overlap_task.py FACTOR OUT.zip
"""

from __future__ import annotations

import json
import random
import sys
import zipfile
from pathlib import Path
from typing import Any

WIDTH, HEIGHT = 64, 48
SEGMENT, OVERLAP = 30, 5


def _objects(rng: random.Random, frames: int) -> list[dict[str, Any]]:
    objects = []
    for _ in range(int(frames * 0.62)):
        start = rng.randrange(0, frames)
        life = rng.randint(40, 250) if rng.random() < 0.85 else rng.randint(6, 40)
        end = min(frames, start + life)
        x, y, vx, vy = rng.uniform(5, 40), rng.uniform(5, 30), rng.uniform(-1, 1), rng.uniform(-1, 1)
        polygon = rng.random() < 0.06
        path = []
        for _frame in range(start, end):
            vx = max(-1.5, min(1.5, vx + rng.gauss(0, 0.2)))
            vy = max(-1.5, min(1.5, vy + rng.gauss(0, 0.2)))
            x, y = x + vx, y + vy
            if not 0 < x < WIDTH - 12:
                vx, x = -vx, min(max(x, 1), WIDTH - 13)
            if not 0 < y < HEIGHT - 10:
                vy, y = -vy, min(max(y, 1), HEIGHT - 11)
            path.append((x, y))
        objects.append({"start": start, "end": end, "path": path, "polygon": polygon,
                        "label": "person" if polygon else rng.choice(["car", "bicycle"])})
    return objects


def _points(rng: random.Random, x: float, y: float, polygon: bool) -> list[float]:
    def j() -> float:
        return rng.gauss(0, 0.2)
    if polygon:
        pts = [(x + 3, y), (x + 9, y), (x + 12, y + 5), (x + 9, y + 10), (x + 3, y + 10), (x, y + 5)]
        return [round(v + j(), 2) for p in pts for v in p]
    return [round(v, 2) for v in (x + j(), y + j(), x + 12 + j(), y + 10 + j())]


def make_task(factor: int, path: Path) -> Path:
    rng = random.Random(7712 * factor)
    frames = 790 * factor
    starts = list(range(0, frames - OVERLAP, SEGMENT - OVERLAP))
    jobs = [(s, min(s + SEGMENT, frames) - 1) for s in starts]
    objects = _objects(rng, frames)
    task = {
        "name": f"overlap x{factor}", "bug_tracker": "", "status": "annotation", "subset": "", "version": "1.0",
        "labels": [{"name": n, "color": c, "type": "any", "attributes": [], "sublabels": []}
                   for n, c in (("car", "#2080c0"), ("person", "#c06060"), ("bicycle", "#40c040"))],
        "data": {"chunk_size": 72, "image_quality": 70, "start_frame": 0, "stop_frame": frames - 1,
                 "storage_method": "cache", "storage": "cloud_storage", "sorting_method": "lexicographical",
                 "chunk_type": "imageset", "deleted_frames": []},
        "jobs": [{"start_frame": a, "stop_frame": b, "status": "annotation", "type": "annotation"} for a, b in jobs],
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("task.json", json.dumps(task))
        lines = [b'{"version":"1.1"}', b'{"type":"images"}'] + [
            json.dumps({"name": f"frame_{i:06d}", "extension": ".png", "width": WIDTH, "height": HEIGHT}).encode()
            for i in range(frames)]
        archive.writestr("data/manifest.jsonl", b"\n".join(lines) + b"\n")
        with archive.open("annotations.json", "w") as out:
            out.write(b"[")
            for index, (first, last) in enumerate(jobs):
                tracks = []
                for obj in objects:
                    a, b = max(first, obj["start"]), min(last + 1, obj["end"])
                    if a >= b:
                        continue
                    kind = "polygon" if obj["polygon"] else "rectangle"
                    shapes = [{"type": kind, "occluded": f % 17 == 0, "outside": False, "z_order": 0,
                               "rotation": 0.0, "frame": f, "attributes": [],
                               "points": _points(rng, *obj["path"][f - obj["start"]], obj["polygon"])}
                              for f in range(a, b)]
                    if b <= last:
                        shapes.append({**shapes[-1], "frame": b, "outside": True})
                    tracks.append({"frame": a, "group": 0, "source": "manual", "shapes": shapes,
                                   "attributes": [], "elements": [], "label": obj["label"]})
                body = {"version": 0, "tags": [], "shapes": [], "tracks": tracks}
                out.write((b"," if index else b"") + json.dumps(body).encode())
            out.write(b"]")
    return path


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(make_task(int(sys.argv[1]), Path(sys.argv[2])))
