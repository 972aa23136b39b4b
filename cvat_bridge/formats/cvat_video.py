"""The track body of "CVAT for video 1.1" (spec §3.3); the meta is shared with the images flavour.

Written as text like the images body (see cvat_xml_text): each track, or each batch of
standalone shapes, is written with attribute values as they are and written again with escaped
values in the rare case one of them needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

from cvat_bridge.formats.cvat_xml import XmlWriter, write_meta
from cvat_bridge.formats.cvat_xml_text import (
    SHAPE_TAGS,
    Fragments,
    attribute_opens,
    attribute_text,
    escaped_values,
    geometry_text,
    group_text,
    needs_escape,
    quote_attr,
)
from cvat_bridge.frames import absolute_frame
from cvat_bridge.interpolate import video_track_shapes
from cvat_bridge.meta import ExportMeta
from cvat_bridge.model import Shape, Track, replace_shape
from cvat_bridge.view import ExportView

STANDALONE_BATCH = 512  # standalone shapes written (and checked for escaping) at a time


def shape_as_track(shape: Shape, view: ExportView) -> tuple[Track, list[Shape]]:
    """A standalone shape as a 1-2 frame track: a keyframe, then an outside copy on the next frame
    when that frame lies strictly before the export's last frame (CVAT's rule)."""
    task = view.task
    stop_abs = absolute_frame(task, view.selection.stop)

    def frames_of(s: Shape) -> list[Shape]:
        first = replace_shape(s, keyframe=True, outside=False, attributes={}, elements=[])
        result = [first]
        if absolute_frame(task, s.frame) + task.step < stop_abs:
            result.append(replace_shape(first, frame=s.frame + 1, outside=True))
        return result

    track = Track(label=shape.label, frame=shape.frame, shapes=[], group=shape.group, source=shape.source,
                  attributes=dict(shape.attributes))
    shapes = frames_of(shape)
    if shape.type == "skeleton":
        element_frames = []
        for element in shape.elements:
            element_track = Track(label=element.label, frame=element.frame, shapes=[],
                                  attributes=dict(element.attributes))
            track.elements.append(element_track)
            element_frames.append([
                replace_shape(f, outside=f.outside or element.outside, occluded=element.occluded,
                              points=element.points, type=element.type, label=element.label)
                for f in frames_of(element)])
        for index, parent in enumerate(shapes):
            parent.elements = [frames[index] for frames in element_frames]
    return track, shapes


class VideoBody:
    """Writes tracks into ``parts``; holds the export's frame numbering and the repeating markup.

    ``values`` arguments: a list collects the attribute values written as they are (checked by
    the caller), ``None`` writes them escaped.
    """

    def __init__(self, view: ExportView, parts: list[str]) -> None:
        self.view = view
        self.parts = parts
        self.start, self.step = view.task.start_frame, view.task.step
        self.stop = absolute_frame(view.task, view.selection.stop)
        self.quoted = Fragments(quote_attr)
        self.shape_opens = Fragments(lambda kind: f'\n    <{SHAPE_TAGS.get(kind, kind)} frame="')
        self.closes = Fragments(lambda kind: f"\n    </{SHAPE_TAGS.get(kind, kind)}>")
        self.opens3, self.opens4 = attribute_opens(3), attribute_opens(4)

    def _track_head(self, track_id: int, label: str, source: str, group: int) -> str:
        return f'\n  <track id="{track_id}" label={self.quoted[label]} source={self.quoted[source]}{group_text(group)}>'

    def track(self, track_id: int, track: Track, shapes: list[Shape], values: list[str] | None) -> None:
        parts, start, step = self.parts, self.start, self.step
        shape_opens, closes, opens3 = self.shape_opens, self.closes, self.opens3
        parts.append(self._track_head(track_id, track.label, track.source, track.group))
        track_attributes = track.attributes
        element_tracks = {t.label: t for t in track.elements}
        for shape in shapes:
            kind = shape.type
            if kind == "skeleton":
                if shape.elements:
                    self._skeleton(shape, track, element_tracks, values)
                continue
            parts.append(f'{shape_opens[kind]}{start + shape.frame * step}" keyframe="{int(shape.keyframe)}" '
                         f'outside="{int(shape.outside)}" occluded="{int(shape.occluded)}"{geometry_text(shape)} '
                         f'z_order="{shape.z_order}">')
            attributes = {**shape.attributes, **track_attributes} if track_attributes else shape.attributes
            if attributes:
                if values is None:
                    attributes = escaped_values(attributes)
                else:
                    values.extend(attributes.values())
                parts.append(attribute_text(attributes, opens3))
            parts.append(closes[kind])
        parts.append("\n  </track>")

    def _skeleton(self, shape: Shape, track: Track, element_tracks: dict[str, Track],
                  values: list[str] | None) -> None:
        parts = self.parts
        parts.append(f'\n    <skeleton frame="{self.start + shape.frame * self.step}" '
                     f'keyframe="{int(shape.keyframe)}" z_order="{shape.z_order}">')
        for element in shape.elements:
            element_track = element_tracks.get(element.label)
            parts.append(f"\n      <points label={self.quoted[element.label]} keyframe=\"{int(element.keyframe)}\" "
                         f'outside="{int(element.outside)}" occluded="{int(element.occluded)}"'
                         f"{geometry_text(element)}>")
            self._attributes({**element.attributes, **(element_track.attributes if element_track else {})},
                             self.opens4, values)
            parts.append("\n      </points>")
        self._attributes({**shape.attributes, **track.attributes}, self.opens3, values)
        parts.append("\n    </skeleton>")

    def _attributes(self, attributes: dict[str, str], opens: Fragments, values: list[str] | None) -> None:
        if attributes:
            if values is None:
                attributes = escaped_values(attributes)
            else:
                values.extend(attributes.values())
            self.parts.append(attribute_text(attributes, opens))

    def standalone(self, first_id: int, shapes: list[Shape], values: list[str] | None) -> None:
        """Standalone shapes as the short tracks of ``shape_as_track``, numbered from ``first_id``."""
        parts, start, step, stop = self.parts, self.start, self.step, self.stop
        shape_opens, closes, opens3 = self.shape_opens, self.closes, self.opens3
        for track_id, shape in enumerate(shapes, first_id):
            kind = shape.type
            if kind == "skeleton":
                if all(e.frame == shape.frame for e in shape.elements):
                    self._standalone_skeleton(track_id, shape, values)
                else:  # (not seen in CVAT data) the general way
                    track, frames = shape_as_track(shape, self.view)
                    self.track(track_id, track, frames, values)
                continue
            parts.append(self._track_head(track_id, shape.label, shape.source, shape.group))
            attributes = shape.attributes
            if attributes:
                if values is None:
                    attributes = escaped_values(attributes)
                else:
                    values.extend(attributes.values())
            occluded = int(shape.occluded)
            rest = (f'{geometry_text(shape)} z_order="{shape.z_order}">'
                    f"{attribute_text(attributes, opens3)}{closes[kind]}")
            frame = start + shape.frame * step
            parts.append(f'{shape_opens[kind]}{frame}" keyframe="1" outside="0" occluded="{occluded}"{rest}')
            if frame + step < stop:  # the outside copy on the next frame
                parts.append(f'{shape_opens[kind]}{frame + step}" keyframe="1" outside="1" occluded="{occluded}"{rest}')
            parts.append("\n  </track>")

    def _standalone_skeleton(self, track_id: int, shape: Shape, values: list[str] | None) -> None:
        """``track(*shape_as_track(shape))`` for a skeleton whose elements lie on its frame."""
        parts = self.parts
        parts.append(self._track_head(track_id, shape.label, shape.source, shape.group))
        frame = self.start + shape.frame * self.step
        if shape.elements:
            by_label = {e.label: e.attributes for e in shape.elements}  # the element tracks, by label
            elements = [(f"\n      <points label={self.quoted[e.label]} keyframe=\"1\" outside=\"",
                         f'" occluded="{int(e.occluded)}"{geometry_text(e)}>', e.outside, by_label[e.label])
                        for e in shape.elements]
            copies = [(frame, False)] + ([(frame + self.step, True)] if frame + self.step < self.stop else [])
            for copy_frame, outside in copies:
                parts.append(f'\n    <skeleton frame="{copy_frame}" keyframe="1" z_order="{shape.z_order}">')
                for head, rest, element_outside, attributes in elements:
                    parts.append(f"{head}{int(outside or element_outside)}{rest}")
                    self._attributes(attributes, self.opens4, values)
                    parts.append("\n      </points>")
                self._attributes(shape.attributes, self.opens3, values)
                parts.append("\n    </skeleton>")
        parts.append("\n  </track>")


def _write_checked(body: VideoBody, write: Callable[..., None], *args: Any) -> None:
    """``write(*args, values)`` with values as they are, again escaped when one needs it."""
    parts = body.parts
    start = len(parts)
    values: list[str] = []
    write(*args, values)
    if values and needs_escape("".join(values)):
        del parts[start:]
        write(*args, None)


def write_video_xml(view: ExportView, stream: IO[str], meta: ExportMeta) -> None:
    """The "CVAT for video 1.1" annotations.xml: tracks, then standalone shapes as short tracks; no tags."""
    w = XmlWriter(stream)
    w.open("annotations")
    w.leaf("version", "1.1")
    write_meta(w, view, meta)
    body = VideoBody(view, w.parts)
    track_id = 0
    for track in view.annotations.tracks:
        shapes = video_track_shapes(track, view.end_frame, deleted_frames=view.task.deleted_frames)
        _write_checked(body, body.track, track_id, track, shapes)
        w.flush_if_large()
        track_id += 1
    included = set(view.selection.frames)
    standalone = [shape for shape in view.annotations.shapes if shape.frame in included]
    for first in range(0, len(standalone), STANDALONE_BATCH):
        _write_checked(body, body.standalone, track_id + first, standalone[first: first + STANDALONE_BATCH])
        w.flush_if_large()
    w.close("annotations")
    w.end()
