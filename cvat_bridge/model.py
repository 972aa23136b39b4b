"""Plain data classes for a CVAT task as stored in a task backup.

Frame numbers on annotations are *relative* task frame indices (0..size-1), as in
``annotations.json``; absolute media frame numbers are derived in ``frames.py``.
Attribute values are kept as the strings CVAT stores; typing happens at translation.
Objects read from a backup share equal ``attributes`` dicts (``annotations_json``, for memory):
treat them as read-only and copy before changing one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cvat_bridge.validate import Problem


@dataclass(slots=True)
class AttributeSpec:
    name: str
    input_type: str = "text"  # checkbox | radio | number | text | select
    mutable: bool = False
    default_value: str = ""
    values: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Label:
    name: str
    color: str = ""
    type: str = "any"
    attributes: list[AttributeSpec] = field(default_factory=list)
    sublabels: list[Label] = field(default_factory=list)
    svg: str = ""
    parent: str | None = None  # name of the skeleton this sublabel belongs to

    def attribute(self, name: str) -> AttributeSpec | None:
        for spec in self.attributes:
            if spec.name == name:
                return spec
        return None


@dataclass(slots=True)
class Job:
    start_frame: int  # relative, inclusive
    stop_frame: int  # relative, inclusive
    type: str = "annotation"  # annotation | ground_truth | consensus_replica
    status: str = "annotation"
    frames: list[int] | None = None  # specific_frames segments only (relative)
    files: list[str] | None = None


@dataclass(slots=True)
class Shape:
    """A standalone shape, a skeleton element, or (with ``keyframe``) a tracked shape."""

    type: str
    frame: int
    points: list[float]
    label: str = ""
    occluded: bool = False
    outside: bool = False
    z_order: int = 0
    rotation: float = 0.0
    group: int = 0
    source: str = "manual"
    attributes: dict[str, str] = field(default_factory=dict)
    elements: list[Shape] = field(default_factory=list)
    score: float = 1.0
    keyframe: bool = True


def replace_shape(shape: Shape, **changes: Any) -> Shape:
    """``dataclasses.replace`` for a Shape without its per-call field introspection (4x faster;
    it is called per object in big exports)."""
    copy = Shape(shape.type, shape.frame, shape.points, shape.label, shape.occluded, shape.outside, shape.z_order,
                 shape.rotation, shape.group, shape.source, shape.attributes, shape.elements, shape.score,
                 shape.keyframe)
    for name, value in changes.items():
        setattr(copy, name, value)
    return copy


# replace_shape lists the fields in this order: a new or moved field must be added there too
assert tuple(f.name for f in fields(Shape)) == (
    "type", "frame", "points", "label", "occluded", "outside", "z_order", "rotation", "group", "source",
    "attributes", "elements", "score", "keyframe")


@dataclass(slots=True)
class Tag:
    label: str
    frame: int
    group: int = 0
    source: str = "manual"
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Track:
    label: str
    frame: int
    shapes: list[Shape]  # keyframes, as stored
    group: int = 0
    source: str = "manual"
    attributes: dict[str, str] = field(default_factory=dict)  # immutable attributes
    elements: list[Track] = field(default_factory=list)  # skeleton element tracks


@dataclass(slots=True)
class Annotations:
    tags: list[Tag] = field(default_factory=list)
    shapes: list[Shape] = field(default_factory=list)
    tracks: list[Track] = field(default_factory=list)


@dataclass(slots=True)
class FrameInfo:
    name: str  # image path relative to data/ (with extension), or video "frame_XXXXXX"
    width: int
    height: int


@dataclass(slots=True)
class Task:
    name: str
    labels: list[Label]  # top-level labels, sublabels nested
    jobs: list[Job]
    job_annotations: list[Annotations]  # one per job, same order as ``jobs``
    media_kind: str  # "images" | "video"
    frames: list[FrameInfo]  # one per *absolute* media frame (the whole manifest)
    start_frame: int = 0  # absolute
    stop_frame: int = 0  # absolute, inclusive, clipped to the last frame on the step grid
    step: int = 1
    deleted_frames: set[int] = field(default_factory=set)  # relative
    subset: str = ""
    bug_tracker: str = ""
    status: str = "annotation"
    video_name: str = ""
    validation_mode: str | None = None
    validation_frames: list[str] = field(default_factory=list)
    source_path: str = ""  # where the backup was read from
    media_available: bool = True
    skipped: list[Problem] = field(default_factory=list)  # bad objects a lenient load left out

    @property
    def size(self) -> int:
        return (self.stop_frame - self.start_frame) // self.step + 1

    @property
    def mode(self) -> str:
        return "interpolation" if self.media_kind == "video" else "annotation"

    @property
    def overlap(self) -> int:
        annotation_jobs = [j for j in self.jobs if j.type == "annotation"]
        if len(annotation_jobs) < 2:
            return 0
        return max(0, annotation_jobs[0].stop_frame - annotation_jobs[1].start_frame + 1)

    def all_labels(self) -> list[Label]:
        """Labels in CVAT's category order: each top-level label followed by its sublabels."""
        result: list[Label] = []
        for label in self.labels:
            result.append(label)
            result.extend(label.sublabels)
        return result
