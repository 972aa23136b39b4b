"""The annotations of one export (a task or a job) as CVAT's exporters see them.

Task exports use the merged job annotations, job exports the job's own. Tracks are
numbered by their position in that list (CVAT's ``track_id``). Per-frame objects
follow CVAT's order: standalone shapes, then track shapes, stable-sorted by z_order.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Container, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from itertools import groupby, pairwise, starmap
from operator import attrgetter, le
from typing import Generic, TypeVar

from cvat_bridge.frames import FrameSelection, frame_info, select_frames
from cvat_bridge.interpolate import LINEAR_TYPES, POLY_TYPES, interpolate_track, iter_visible_shapes
from cvat_bridge.merge import job_annotations, task_annotations
from cvat_bridge.model import Annotations, FrameInfo, Shape, Tag, Task, Track

Obj = TypeVar("Obj", Shape, Tag)


@dataclass(slots=True)
class FrameShape:
    """A shape on one frame, with the attributes CVAT writes for it."""

    shape: Shape
    attributes: dict[str, str]  # own (mutable) values first, then the track's immutable ones
    track_id: int | None = None
    label: str = ""
    group: int = 0
    source: str = "manual"
    elements: list[FrameShape] = field(default_factory=list)


@dataclass
class FrameContent:
    frame: int  # relative
    info: FrameInfo
    shapes: list[FrameShape]
    tags: list[Tag]


class ExportView:
    """Frames and annotations of a task export (``job_index=None``) or a job export."""

    def __init__(self, task: Task, job_index: int | None = None) -> None:
        if job_index is not None and not 0 <= job_index < len(task.jobs):
            from cvat_bridge.errors import CvatBridgeError

            raise CvatBridgeError(f"job {job_index + 1} does not exist: the task has {len(task.jobs)} jobs")
        self.task = task
        self.job_index = job_index
        self.selection: FrameSelection = select_frames(task, job_index)

    @cached_property
    def annotations(self) -> Annotations:
        if self.job_index is None:
            return task_annotations(self.task)
        return job_annotations(self.task, self.job_index)

    @property
    def end_frame(self) -> int:
        """Exclusive relative end of the exported range (CVAT's ``stop + 1``)."""
        return self.selection.stop + 1

    @cached_property
    def included(self) -> frozenset[int]:
        return frozenset(self.selection.frames)

    def track_shapes(self, track: Track, *, include_outside: bool = False) -> list[Shape]:
        return interpolate_track(
            track,
            self.end_frame,
            deleted_frames=self.task.deleted_frames,
            included_frames=self.included,
            include_outside=include_outside,
        )

    def frames(self, shape_types: Collection[str] | None = None) -> Iterator[FrameContent]:
        """Every included frame, empty ones too, with its shapes and tags in CVAT's order.

        Streamed: tracks are interpolated lazily as the frames advance (a heap holds the next
        shape of each started track, ordered by frame, then track id), so memory holds the
        current frame's objects rather than every interpolated frame of the export.

        ``shape_types``: only the shapes of these types (top-level type: a skeleton is one shape) are
        made, for a writer that draws only some; the frames, the tags and the order of the kept
        shapes are those of the full view, and a track that would fail to interpolate still fails.
        """
        task = self.task
        included = self.included
        annotations = self.annotations
        standalone = _PerFrame(annotations.shapes, included, shape_types)
        tags = _PerFrame(annotations.tags, included, None)
        tracks = annotations.tracks
        by_start = sorted((i for i, track in enumerate(tracks)
                           if shape_types is None or not _skippable(track, shape_types)),
                          key=lambda i: tracks[i].frame)
        started = 0
        pending: list[tuple[int, int, Shape, Iterator[Shape]]] = []  # (frame, track id, shape, the rest)
        deleted = task.deleted_frames
        end = self.end_frame
        for frame in self.selection.frames:
            while started < len(by_start) and tracks[by_start[started]].frame <= frame:
                track_id = by_start[started]
                rest = iter_visible_shapes(tracks[track_id], end, deleted_frames=deleted, included_frames=included)
                first = next(rest, None)
                if first is not None:
                    heapq.heappush(pending, (first.frame, track_id, first, rest))
                started += 1
            bucket = standalone.take(frame)
            # positional FrameShape(shape, attributes, track_id, label, group, source, elements): the
            # attribute dicts of loaded objects are shared (annotations_json), writers get their own copy
            shapes = [
                FrameShape(s, dict(s.attributes), None, s.label, s.group, s.source,
                           _standalone_elements(s.elements) if s.elements else [])
                for s in bucket
            ] if bucket else []
            while pending and pending[0][0] <= frame:
                shape_frame, track_id, shape, rest = pending[0]
                following = next(rest, None)
                if following is None:
                    heapq.heappop(pending)
                else:
                    heapq.heapreplace(pending, (following.frame, track_id, following, rest))
                if shape_frame != frame or (shape_types is not None and shape.type not in shape_types):
                    continue
                track = tracks[track_id]
                if shape.type == "skeleton":
                    frame_shape = _tracked(track, shape, track_id)
                    if not frame_shape.elements:
                        continue
                    shapes.append(frame_shape)
                else:  # _tracked without elements, inline: one call less per tracked shape
                    shapes.append(FrameShape(shape, {**shape.attributes, **track.attributes}, track_id,
                                             track.label, track.group, track.source, []))
            if len(shapes) > 1:
                shapes.sort(key=_Z_ORDER)
            yield FrameContent(frame, frame_info(task, frame), shapes, tags.take(frame))


_Z_ORDER = attrgetter("shape.z_order")


_FRAME = attrgetter("frame")


class _PerFrame(Generic[Obj]):
    """The objects of each frame (shapes of ``types`` when given) in their order, taken for ascending frames.

    Objects stored in frame order (the usual case) are read run by run as the frames advance
    (nothing held up front); others are grouped by frame first.
    """

    def __init__(self, objects: list[Obj], included: Container[int], types: Collection[str] | None) -> None:
        self.types = types
        self.runs: Iterator[tuple[int, Iterator[Obj]]] | None = None
        self.run: tuple[int, Iterator[Obj]] | None = None
        self.grouped: dict[int, list[Obj]] = {}
        if all(starmap(le, pairwise(map(_FRAME, objects)))):
            self.runs = groupby(objects, _FRAME)
            self.run = next(self.runs, None)
            return
        for obj in objects:
            frame = obj.frame
            if frame in included and (types is None or obj.type in types):
                bucket = self.grouped.get(frame)
                if bucket is None:
                    self.grouped[frame] = [obj]
                else:
                    bucket.append(obj)

    def take(self, frame: int) -> list[Obj]:
        """The objects on ``frame``; frames must be asked for in ascending order."""
        if self.runs is None:
            return self.grouped.pop(frame, [])
        run = self.run
        while run is not None and run[0] < frame:
            run = next(self.runs, None)
        if run is None or run[0] != frame:
            self.run = run
            return []
        types = self.types
        objects = list(run[1]) if types is None else [o for o in run[1] if o.type in types]
        self.run = next(self.runs, None)  # (after the run is read: groupby's runs end when it advances)
        return objects


def _skippable(track: Track, types: Collection[str]) -> bool:
    """Whether a view limited to ``types`` can leave ``track`` out: none of its shapes would be kept
    and interpolating it cannot fail (one known type, keyframes on distinct ascending frames, one
    point count; the same for skeleton element tracks)."""
    if not track.shapes:  # nothing to draw, and its element tracks are never interpolated
        return True
    return _uniform(track) and track.shapes[0].type not in types and all(_uniform(e) for e in track.elements)


_INTERPOLATED_TYPES = frozenset({*LINEAR_TYPES, *POLY_TYPES, "points", "mask"})


def _uniform(track: Track) -> bool:
    keys = track.shapes
    if not keys:
        return True
    kind, count, previous = keys[0].type, len(keys[0].points), keys[0].frame - 1
    if kind not in _INTERPOLATED_TYPES or (kind in POLY_TYPES and count < 2):
        return False
    for key in keys:
        if key.type != kind or len(key.points) != count or key.frame <= previous:
            return False
        previous = key.frame
    return True


def _standalone_elements(elements: list[Shape]) -> list[FrameShape]:
    return [FrameShape(e, dict(e.attributes), None, e.label, e.group, e.source) for e in elements]


def _standalone(shape: Shape) -> FrameShape:
    """A standalone shape as the view gives it (``frames`` builds these inline)."""
    return FrameShape(shape, dict(shape.attributes), None, shape.label, shape.group, shape.source,
                      _standalone_elements(shape.elements) if shape.elements else [])


def _tracked(track: Track, shape: Shape, track_id: int) -> FrameShape:
    elements = []
    if shape.type == "skeleton":
        element_tracks = {t.label: t for t in track.elements}
        for element in shape.elements:
            element_track = element_tracks.get(element.label, track)
            elements.append(FrameShape(
                shape=element,
                attributes={**element.attributes, **element_track.attributes},
                track_id=track_id,
                label=element.label,
                group=element_track.group,
                source=element_track.source,
            ))
        if elements and all(e.shape.outside for e in elements):
            elements = []
    return FrameShape(
        shape=shape,
        attributes={**shape.attributes, **track.attributes},
        track_id=track_id,
        label=track.label,
        group=track.group,
        source=track.source,
        elements=elements,
    )
