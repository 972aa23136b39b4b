"""Small in-memory CVAT tasks for the format tests: built from cvat_bridge.model, no files needed.

Frames are ``img_0.jpg`` … (flat names: several upstream importers read a sub-folder in an
item id as a person or class name), 100×50 like CVAT's own per-format test tasks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cvat_bridge.model import Annotations, AttributeSpec, FrameInfo, Job, Label, Shape, Tag, Task, Track

WIDTH, HEIGHT = 100, 50

SKELETON_SVG = (
    '<line x1="1" y1="1" x2="2" y2="2" data-type="edge" data-node-from="1" data-node-to="2"></line>'
    '<line x1="2" y1="2" x2="3" y2="3" data-type="edge" data-node-from="2" data-node-to="3"></line>'
    '<circle r="1.5" cx="1" cy="1" data-type="element node" data-node-id="1" data-label-name="head"></circle>'
    '<circle r="1.5" cx="2" cy="2" data-type="element node" data-node-id="2" data-label-name="neck"></circle>'
    '<circle r="1.5" cx="3" cy="3" data-type="element node" data-node-id="3" data-label-name="tail"></circle>'
)
POINT_NAMES = ["head", "neck", "tail"]


def skeleton_label(name: str = "pose") -> Label:
    return Label(name, type="skeleton", svg=SKELETON_SVG,
                 attributes=[AttributeSpec("complete", "checkbox", default_value="false", values=["false"])],
                 sublabels=[Label(p, type="points", parent=name) for p in POINT_NAMES])


def plain_label(name: str, *attributes: AttributeSpec) -> Label:
    return Label(name, attributes=list(attributes))


def make_task(labels: list[Label], *, shapes: Sequence[Shape] = (), tags: Sequence[Tag] = (),
              tracks: Sequence[Track] = (), frames: int = 3) -> Task:
    return Task(
        name="format test",
        labels=labels,
        jobs=[Job(0, frames - 1)],
        job_annotations=[Annotations(tags=list(tags), shapes=list(shapes), tracks=list(tracks))],
        media_kind="images",
        frames=[FrameInfo(f"img_{i}.jpg", WIDTH, HEIGHT) for i in range(frames)],
        start_frame=0,
        stop_frame=frames - 1,
        media_available=False,
    )


def box(label: str, frame: int, x1: float, y1: float, x2: float, y2: float, **kwargs: Any) -> Shape:
    return Shape("rectangle", frame, [x1, y1, x2, y2], label=label, **kwargs)


def skeleton(frame: int, points: list[tuple[float, float]], *, occluded: tuple[str, ...] = (),
             outside: tuple[str, ...] = (), label: str = "pose", group: int = 0) -> Shape:
    """A skeleton shape with one element per point name (``occluded``/``outside`` by name)."""
    elements = [
        Shape("points", frame, [x, y], label=name, occluded=name in occluded, outside=name in outside)
        for name, (x, y) in zip(POINT_NAMES, points, strict=True)
    ]
    return Shape("skeleton", frame, [], label=label, elements=elements, group=group)


def cuboid(label: str, frame: int) -> Shape:
    points = [10.0, 10.0, 10.0, 30.0, 30.0, 10.0, 30.0, 30.0, 35.0, 5.0, 35.0, 25.0, 15.0, 5.0, 15.0, 25.0]
    return Shape("cuboid", frame, points, label=label)
