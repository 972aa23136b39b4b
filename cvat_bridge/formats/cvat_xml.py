"""CVAT for images 1.1 and CVAT for video 1.1: CVAT's own XML, written as CVAT writes it.

Layout (spec §3): two-space indentation, every element closed on its own line,
coordinates with two decimals, attribute values escaped like ``xml.sax``. The meta is written
element by element (``XmlWriter``), the body frame by frame as text (``cvat_xml_text``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from cvat_bridge.archive import OutputTree
from cvat_bridge.formats.cvat_xml_text import (
    ATTRIBUTE_END,
    CUBOID_KEYS,
    SHAPE_TAGS,
    Fragments,
    attribute_opens,
    attribute_text,
    escape_text,
    escaped_values,
    first_geometry_text,
    geometry_text,
    group_text,
    needs_escape,
    quote_attr,
)
from cvat_bridge.frames import absolute_frame
from cvat_bridge.meta import ExportMeta
from cvat_bridge.model import Label, Tag
from cvat_bridge.view import ExportView, FrameContent, FrameShape

__all__ = ["CUBOID_KEYS", "SHAPE_TAGS", "XmlWriter", "export_images", "export_video", "write_images_xml",
           "write_meta"]


class XmlWriter:
    """Minimal pretty-printing XML writer matching CVAT's output byte for byte.

    Output is gathered in ``parts`` and written in large pieces (``end`` writes the rest); the
    body writers append whole objects' text to ``parts`` themselves.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.depth = 0
        self.parts: list[str] = ['<?xml version="1.0" encoding="utf-8"?>']

    def flush(self) -> None:
        self.stream.write("".join(self.parts))
        self.parts.clear()

    def flush_if_large(self, count: int = 4096) -> None:
        if len(self.parts) >= count:
            self.flush()

    def _start(self, tag: str, attrs: Iterable[tuple[str, str]]) -> str:
        attr_text = "".join([f" {k}={quote_attr(v)}" for k, v in attrs])
        return f"\n{'  ' * self.depth}<{tag}{attr_text}>"

    def open(self, tag: str, attrs: Iterable[tuple[str, str]] = ()) -> None:
        self.parts.append(self._start(tag, attrs))
        self.depth += 1

    def close(self, tag: str) -> None:
        self.depth -= 1
        self.parts.append(f"\n{'  ' * self.depth}</{tag}>")

    def leaf(self, tag: str, text: str = "", attrs: Iterable[tuple[str, str]] = ()) -> None:
        self.parts.append(f"{self._start(tag, attrs)}{escape_text(text)}</{tag}>")

    def end(self) -> None:
        self.parts.append("\n")
        self.flush()


def _write_labels(w: XmlWriter, labels: list[Label]) -> None:
    w.open("labels")
    for label in labels:
        w.open("label")
        w.leaf("name", label.name)
        w.leaf("color", label.color)
        w.leaf("type", label.type)
        w.open("attributes")
        for spec in label.attributes:
            w.open("attribute")
            w.leaf("name", spec.name)
            w.leaf("mutable", str(spec.mutable))
            w.leaf("input_type", spec.input_type)
            w.leaf("default_value", spec.default_value)
            w.leaf("values", "\n".join(spec.values))
            w.close("attribute")
        w.close("attributes")
        if label.parent is not None:
            w.leaf("parent", label.parent)
        if label.type == "skeleton" and label.svg:
            w.leaf("svg", label.svg)
        w.close("label")
    w.close("labels")


def _write_size(w: XmlWriter, meta: ExportMeta) -> None:
    w.open("original_size")
    w.leaf("width", str(meta.original_width))
    w.leaf("height", str(meta.original_height))
    w.close("original_size")


def write_meta(w: XmlWriter, view: ExportView, meta: ExportMeta) -> None:
    task = view.task
    is_job = view.job_index is not None
    w.open("meta")
    w.open("job" if is_job else "task")
    w.leaf("id", str(meta.job_id if is_job else meta.task_id))
    if not is_job:
        w.leaf("name", task.name)
    w.leaf("size", str(len(range(view.selection.start, view.selection.stop + 1)) if is_job else task.size))
    w.leaf("mode", task.mode)
    w.leaf("overlap", str(task.overlap))
    w.leaf("bugtracker", task.bug_tracker)
    w.leaf("created", meta.created)
    w.leaf("updated", meta.updated)
    w.leaf("subset", task.subset or "default")
    w.leaf("start_frame", str(absolute_frame(task, view.selection.start)))
    w.leaf("stop_frame", str(absolute_frame(task, view.selection.stop)))
    w.leaf("frame_filter", f"step={task.step}" if task.step > 1 else "")
    w.open("segments")
    for segment in meta.segments:
        w.open("segment")
        w.leaf("id", str(segment.id))
        w.leaf("start", str(segment.start))
        w.leaf("stop", str(segment.stop))
        w.leaf("url", segment.url)
        w.close("segment")
    w.close("segments")
    w.open("owner")
    w.leaf("username", meta.owner)
    w.leaf("email", "")
    w.close("owner")
    w.leaf("assignee", "")
    _write_labels(w, task.all_labels())
    if not is_job and task.media_kind == "video":
        _write_size(w, meta)
        w.leaf("source", task.video_name)
    w.close("job" if is_job else "task")
    w.leaf("dumped", meta.dumped)
    if is_job and task.media_kind == "video":
        _write_size(w, meta)
    w.close("meta")


class ImageMarkup:
    """The repeating, escaped markup of the "CVAT for images" body (one per export)."""

    def __init__(self) -> None:
        self.shape_heads = Fragments(self._shape_head)  # (type, label, source) → '<box label=.. occluded="'
        self.closes = Fragments(lambda tag: f"\n    </{tag}>")
        self.quoted = Fragments(quote_attr)
        self.opens = [attribute_opens(depth) for depth in range(5)]

    @staticmethod
    def _shape_head(key: tuple[str, str, str]) -> str:
        kind, label, source = key
        return f'\n    <{SHAPE_TAGS.get(kind, kind)} label={quote_attr(label)} source={quote_attr(source)} occluded="'


def _image_skeleton(parts: list[str], item: FrameShape, markup: ImageMarkup, escape: bool,
                    values: list[str]) -> None:
    quoted = markup.quoted
    parts.append(f"\n    <skeleton label={quoted[item.label]} source={quoted[item.source]} "
                 f'z_order="{item.shape.z_order}"{group_text(item.group)}>')
    for element in item.elements:
        e = element.shape
        parts.append(f"\n      <points label={quoted[element.label]} source={quoted[element.source]} "
                     f'outside="{int(e.outside)}" occluded="{int(e.occluded)}"{first_geometry_text(e)}'
                     f"{group_text(element.group)}>")
        attributes = element.attributes
        if attributes:
            if escape:
                attributes = escaped_values(attributes)
            else:
                values.extend(attributes.values())
            parts.append(attribute_text(attributes, markup.opens[4]))
        parts.append("\n      </points>")


def _image_frame(parts: list[str], content: FrameContent, frame_id: int, markup: ImageMarkup,
                 escape: bool) -> bool:
    """Append the ``<image>`` element of a frame; False when an attribute value needed escaping
    and ``escape`` was off (the caller writes the frame again with ``escape``)."""
    info = content.info
    parts.append(f'\n  <image id="{frame_id}" name={quote_attr(info.name)} width="{info.width}" '
                 f'height="{info.height}">')
    values: list[str] = []
    heads, closes, opens = markup.shape_heads, markup.closes, markup.opens[3]
    for item in content.shapes:
        shape = item.shape
        kind = shape.type
        if kind == "skeleton":
            _image_skeleton(parts, item, markup, escape, values)
            tag = "skeleton"
        else:
            group = item.group
            parts.append(f'{heads[kind, item.label, item.source]}{int(shape.occluded)}"{geometry_text(shape)} '
                         f'z_order="{shape.z_order}"' + (f' group_id="{group}">' if group else ">"))
            tag = SHAPE_TAGS.get(kind, kind)
        attributes = item.attributes
        if attributes:
            if escape:
                attributes = escaped_values(attributes)
            else:
                values.extend(attributes.values())
            parts.append(attribute_text(attributes, opens))
        parts.append(closes[tag])
    for tag_object in content.tags:
        _image_tag(parts, tag_object, markup)
    parts.append("\n  </image>")
    return escape or not values or not needs_escape("".join(values))


def _image_tag(parts: list[str], tag: Tag, markup: ImageMarkup) -> None:
    parts.append(f"\n    <tag label={markup.quoted[tag.label]} source={markup.quoted[tag.source]}"
                 f"{group_text(tag.group)}>")
    opens = markup.opens[3]
    parts.extend([f"{opens[name]}{escape_text(value)}{ATTRIBUTE_END}" for name, value in tag.attributes.items()])
    parts.append("\n    </tag>")


def write_images_xml(view: ExportView, stream: IO[str], meta: ExportMeta) -> None:
    """The "CVAT for images 1.1" annotations.xml."""
    w = XmlWriter(stream)
    w.open("annotations")
    w.leaf("version", "1.1")
    write_meta(w, view, meta)
    markup = ImageMarkup()
    parts = w.parts
    task = view.task
    for content in view.frames():
        frame_id = absolute_frame(task, content.frame)
        start = len(parts)
        if not _image_frame(parts, content, frame_id, markup, False):
            del parts[start:]
            _image_frame(parts, content, frame_id, markup, True)
        w.flush_if_large()
    w.close("annotations")
    w.end()


def _save_images(view: ExportView, out_dir: Path, media: Any) -> None:
    """``images/<frame name>`` for every included frame (video: ``frame_XXXXXX.PNG``), as CVAT does."""
    from cvat_bridge.media import write_frames

    write_frames(view, out_dir / "images", media)


def export_images(view: ExportView, out: OutputTree, meta: ExportMeta, *, save_images: bool = False,
                  media: Any = None) -> None:
    with out.open_text("annotations.xml") as stream:
        write_images_xml(view, stream, meta)
    if save_images:
        _save_images(view, out.folder, media)


def export_video(view: ExportView, out: OutputTree, meta: ExportMeta, *, save_images: bool = False,
                 media: Any = None) -> None:
    from cvat_bridge.formats.cvat_video import write_video_xml

    with out.open_text("annotations.xml") as stream:
        write_video_xml(view, stream, meta)
    if save_images:
        _save_images(view, out.folder, media)
