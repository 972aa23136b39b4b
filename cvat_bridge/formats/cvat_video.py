"""The track body of "CVAT for video 1.1" (spec §3.3); the meta is shared with the images flavour."""

from __future__ import annotations

from typing import IO

from cvat_bridge.formats.cvat_xml import (
    SHAPE_TAGS,
    XmlWriter,
    _geometry,
    _geometry_text,
    _group,
    _write_attributes,
    write_meta,
)
from cvat_bridge.frames import absolute_frame
from cvat_bridge.interpolate import video_track_shapes
from cvat_bridge.meta import ExportMeta
from cvat_bridge.model import Shape, Track, replace_shape
from cvat_bridge.view import ExportView


def _flags(shape: Shape) -> list[tuple[str, str]]:
    return [("keyframe", str(int(shape.keyframe))), ("outside", str(int(shape.outside)))]


def _write_track_shape(w: XmlWriter, view: ExportView, shape: Shape, track: Track) -> None:
    tag = SHAPE_TAGS.get(shape.type, shape.type)
    frame = absolute_frame(view.task, shape.frame)
    w.open_plain(tag, f' frame="{frame}" keyframe="{int(shape.keyframe)}" outside="{int(shape.outside)}" '
                      f'occluded="{int(shape.occluded)}"{_geometry_text(shape)} z_order="{shape.z_order}"')
    _write_attributes(w, {**shape.attributes, **track.attributes})
    w.close(tag)


def _write_skeleton_shape(w: XmlWriter, view: ExportView, shape: Shape, track: Track) -> None:
    frame = str(absolute_frame(view.task, shape.frame))
    w.open("skeleton", [("frame", frame), ("keyframe", str(int(shape.keyframe))), ("z_order", str(shape.z_order))])
    element_tracks = {t.label: t for t in track.elements}
    for element in shape.elements:
        element_track = element_tracks.get(element.label)
        w.open("points", [("label", element.label), *_flags(element), ("occluded", str(int(element.occluded))),
                          *_geometry(element)])
        _write_attributes(w, {**element.attributes, **(element_track.attributes if element_track else {})})
        w.close("points")
    _write_attributes(w, {**shape.attributes, **track.attributes})
    w.close("skeleton")


def _write_track(w: XmlWriter, view: ExportView, track_id: int, track: Track, shapes: list[Shape]) -> None:
    w.open("track", [("id", str(track_id)), ("label", track.label), ("source", track.source), *_group(track.group)])
    for shape in shapes:
        if shape.type == "skeleton":
            if shape.elements:
                _write_skeleton_shape(w, view, shape, track)
        else:
            _write_track_shape(w, view, shape, track)
    w.close("track")


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


def write_video_xml(view: ExportView, stream: IO[str], meta: ExportMeta) -> None:
    """The "CVAT for video 1.1" annotations.xml: tracks, then standalone shapes as short tracks; no tags."""
    w = XmlWriter(stream)
    w.open("annotations")
    w.leaf("version", "1.1")
    write_meta(w, view, meta)
    track_id = 0
    for track in view.annotations.tracks:
        shapes = video_track_shapes(track, view.end_frame, deleted_frames=view.task.deleted_frames)
        _write_track(w, view, track_id, track, shapes)
        track_id += 1
    included = set(view.selection.frames)
    for shape in view.annotations.shapes:
        if shape.frame not in included:
            continue
        track, shapes = shape_as_track(shape, view)
        _write_track(w, view, track_id, track, shapes)
        track_id += 1
    w.close("annotations")
    w.end()
