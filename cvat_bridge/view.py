"""The annotations of one export (a task or a job) as CVAT's exporters see them.

Task exports use the merged job annotations, job exports the job's own. Tracks are
numbered by their position in that list (CVAT's ``track_id``). Per-frame objects
follow CVAT's order: standalone shapes, then track shapes, stable-sorted by z_order.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

from cvat_bridge.frames import FrameSelection, frame_info, select_frames
from cvat_bridge.interpolate import interpolate_track, iter_track_shapes
from cvat_bridge.merge import job_annotations, task_annotations
from cvat_bridge.model import Annotations, FrameInfo, Shape, Tag, Task, Track


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

    def frames(self) -> Iterator[FrameContent]:
        """Every included frame, empty ones too, with its shapes and tags in CVAT's order.

        Streamed: tracks are interpolated lazily as the frames advance (a heap holds the next
        shape of each started track, ordered by frame, then track id), so memory holds the
        current frame's objects rather than every interpolated frame of the export.
        """
        included = self.included
        standalone: dict[int, list[Shape]] = defaultdict(list)
        for shape in self.annotations.shapes:
            if shape.frame in included:
                standalone[shape.frame].append(shape)
        tags: dict[int, list[Tag]] = defaultdict(list)
        for tag in self.annotations.tags:
            if tag.frame in included:
                tags[tag.frame].append(tag)
        tracks = self.annotations.tracks
        by_start = sorted(range(len(tracks)), key=lambda i: tracks[i].frame)
        started = 0
        pending: list[tuple[int, int, Shape, Iterator[Shape]]] = []  # (frame, track id, shape, the rest)
        deleted = self.task.deleted_frames
        end = self.end_frame
        for frame in self.selection.frames:
            while started < len(by_start) and tracks[by_start[started]].frame <= frame:
                track_id = by_start[started]
                rest = iter_track_shapes(tracks[track_id], end, deleted_frames=deleted, included_frames=included)
                first = next(rest, None)
                if first is not None:
                    heapq.heappush(pending, (first.frame, track_id, first, rest))
                started += 1
            shapes = [_standalone(s) for s in standalone.pop(frame, ())]
            while pending and pending[0][0] <= frame:
                shape_frame, track_id, shape, rest = pending[0]
                following = next(rest, None)
                if following is None:
                    heapq.heappop(pending)
                else:
                    heapq.heapreplace(pending, (following.frame, track_id, following, rest))
                if shape_frame != frame or shape.outside:
                    continue
                frame_shape = _tracked(tracks[track_id], shape, track_id)
                if shape.type == "skeleton" and not frame_shape.elements:
                    continue
                shapes.append(frame_shape)
            shapes.sort(key=_z_order)
            yield FrameContent(frame, frame_info(self.task, frame), shapes, tags.pop(frame, []))


def _z_order(frame_shape: FrameShape) -> int:
    return frame_shape.shape.z_order



def _standalone(shape: Shape) -> FrameShape:
    # attribute dicts of loaded objects are shared (annotations_json): writers get their own copy
    return FrameShape(
        shape=shape,
        attributes=dict(shape.attributes),
        label=shape.label,
        group=shape.group,
        source=shape.source,
        elements=[
            FrameShape(shape=e, attributes=dict(e.attributes), label=e.label, group=e.group, source=e.source)
            for e in shape.elements
        ] if shape.elements else [],
    )


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
