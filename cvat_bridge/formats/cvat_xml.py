"""CVAT for images 1.1 and CVAT for video 1.1: CVAT's own XML, written as CVAT writes it.

Layout (spec §3): two-space indentation, every element closed on its own line,
coordinates with two decimals, attribute values escaped like ``xml.sax``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from cvat_bridge.frames import absolute_frame
from cvat_bridge.meta import ExportMeta
from cvat_bridge.model import Label, Shape, Tag
from cvat_bridge.view import ExportView, FrameShape

CUBOID_KEYS = ("xtl1", "ytl1", "xbl1", "ybl1", "xtr1", "ytr1", "xbr1", "ybr1",
               "xtl2", "ytl2", "xbl2", "ybl2", "xtr2", "ytr2", "xbr2", "ybr2")
SHAPE_TAGS = {"rectangle": "box"}


_NEEDS_ESCAPE = re.compile(r"[&<>\"'\n\r\t]")


def _num(value: float) -> str:
    return f"{value:.2f}"


def _attr(value: str) -> str:
    """An attribute value quoted exactly as ``xml.sax.saxutils.quoteattr`` does, fast for plain text."""
    if not _NEEDS_ESCAPE.search(value):
        return f'"{value}"'
    from xml.sax.saxutils import quoteattr  # imports urllib.request: only when a value needs it

    return quoteattr(value)


def _text(value: str) -> str:
    if not _NEEDS_ESCAPE.search(value):
        return value
    from xml.sax.saxutils import escape

    return escape(value)


class XmlWriter:
    """Minimal pretty-printing XML writer matching CVAT's output byte for byte.

    Output is gathered in a list and written in large pieces (``end`` writes the rest): one
    ``write`` per element part was a good share of the time of big exports.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.depth = 0
        self._parts: list[str] = ['<?xml version="1.0" encoding="utf-8"?>']

    def flush(self) -> None:
        self.stream.write("".join(self._parts))
        self._parts.clear()

    def _start(self, tag: str, attrs: Iterable[tuple[str, str]]) -> str:
        attrs = attrs if isinstance(attrs, list) else list(attrs)
        if _NEEDS_ESCAPE.search("".join([v for _, v in attrs])):
            attr_text = "".join([f" {k}={_attr(v)}" for k, v in attrs])
        else:  # the usual case: one search for all values
            attr_text = "".join([f' {k}="{v}"' for k, v in attrs])
        return f"\n{'  ' * self.depth}<{tag}{attr_text}>"

    def open(self, tag: str, attrs: Iterable[tuple[str, str]] = ()) -> None:
        self._parts.append(self._start(tag, attrs))
        self.depth += 1
        if len(self._parts) >= 8192:
            self.flush()

    def open_plain(self, tag: str, attr_text: str) -> None:
        """``open`` with the attributes already written out (``' name="value"'``...), for values that
        never need escaping: numbers."""
        self._parts.append(f"\n{'  ' * self.depth}<{tag}{attr_text}>")
        self.depth += 1
        if len(self._parts) >= 8192:
            self.flush()

    def close(self, tag: str, inline: bool = False) -> None:
        self.depth -= 1
        self._parts.append(f"</{tag}>" if inline else f"\n{'  ' * self.depth}</{tag}>")

    def leaf(self, tag: str, text: str = "", attrs: Iterable[tuple[str, str]] = ()) -> None:
        self._parts.append(f"{self._start(tag, attrs)}{_text(text)}</{tag}>")

    def attribute_leaves(self, attributes: dict[str, str]) -> None:
        """``<attribute name="...">value</attribute>`` for each item: ``leaf`` in one step."""
        indent = "\n" + "  " * self.depth
        self._parts.extend([f"{indent}<attribute name={_attr(name)}>{_text(value)}</attribute>"
                            for name, value in attributes.items()])

    def end(self) -> None:
        self._parts.append("\n")
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


def _geometry(shape: Shape) -> list[tuple[str, str]]:
    p = shape.points
    if shape.type == "rectangle":
        attrs = [("xtl", f"{p[0]:.2f}"), ("ytl", f"{p[1]:.2f}"), ("xbr", f"{p[2]:.2f}"), ("ybr", f"{p[3]:.2f}")]
        if shape.rotation:
            attrs.append(("rotation", _num(shape.rotation)))
        return attrs
    if shape.type == "ellipse":
        attrs = [("cx", _num(p[0])), ("cy", _num(p[1])), ("rx", _num(p[2] - p[0])), ("ry", _num(p[1] - p[3]))]
        if shape.rotation:
            attrs.append(("rotation", _num(shape.rotation)))
        return attrs
    if shape.type == "cuboid":
        return [(key, _num(value)) for key, value in zip(CUBOID_KEYS, p, strict=False)]
    if shape.type == "mask":
        left, top, right, bottom = (int(v) for v in p[-4:])
        rle = ", ".join(str(int(v)) for v in p[:-4])
        return [("rle", rle), ("left", str(left)), ("top", str(top)),
                ("width", str(right - left + 1)), ("height", str(bottom - top + 1))]
    return [("points", ";".join([f"{p[i]:.2f},{p[i + 1]:.2f}" for i in range(0, len(p) - 1, 2)]))]


def _geometry_text(shape: Shape) -> str:
    """``_geometry`` written out as XML attributes: numbers only, nothing to escape."""
    return "".join([f' {key}="{value}"' for key, value in _geometry(shape)])


def _write_attributes(w: XmlWriter, attributes: dict[str, str]) -> None:
    if attributes:
        w.attribute_leaves(attributes)


def _group(group: int) -> list[tuple[str, str]]:
    return [("group_id", str(group))] if group else []


def _write_image_shape(w: XmlWriter, item: FrameShape) -> None:
    shape = item.shape
    tag = SHAPE_TAGS.get(shape.type, shape.type)
    attrs = [("label", item.label), ("source", item.source)]
    if shape.type == "skeleton":
        w.open(tag, attrs + [("z_order", str(shape.z_order))] + _group(item.group))
        for element in item.elements:
            e = element.shape
            w.open("points", [("label", element.label), ("source", element.source),
                              ("outside", str(int(e.outside))), ("occluded", str(int(e.occluded))),
                              *_geometry(e)[:1], *_group(element.group)])
            _write_attributes(w, element.attributes)
            w.close("points")
    else:
        group = f' group_id="{item.group}"' if item.group else ""
        w.open_plain(tag, f" label={_attr(item.label)} source={_attr(item.source)} occluded=\"{int(shape.occluded)}\""
                          f'{_geometry_text(shape)} z_order="{shape.z_order}"{group}')
    _write_attributes(w, item.attributes)
    w.close(tag)


def _write_tag(w: XmlWriter, tag: Tag) -> None:
    w.open("tag", [("label", tag.label), ("source", tag.source), *_group(tag.group)])
    _write_attributes(w, tag.attributes)
    w.close("tag")


def write_images_xml(view: ExportView, stream: IO[str], meta: ExportMeta) -> None:
    """The "CVAT for images 1.1" annotations.xml."""
    w = XmlWriter(stream)
    w.open("annotations")
    w.leaf("version", "1.1")
    write_meta(w, view, meta)
    for content in view.frames():
        w.open("image", [("id", str(absolute_frame(view.task, content.frame))), ("name", content.info.name),
                         ("width", str(content.info.width)), ("height", str(content.info.height))])
        for item in content.shapes:
            _write_image_shape(w, item)
        for tag in content.tags:
            _write_tag(w, tag)
        w.close("image")
    w.close("annotations")
    w.end()


def _save_images(view: ExportView, out_dir: Path, media: Any) -> None:
    """``images/<frame name>`` for every included frame (video: ``frame_XXXXXX.PNG``), as CVAT does."""
    from cvat_bridge.media import write_frames

    write_frames(view, out_dir / "images", media)


def export_images(view: ExportView, out_dir: Path, meta: ExportMeta, *, save_images: bool = False,
                  media: Any = None) -> None:
    with open(out_dir / "annotations.xml", "w", encoding="utf-8", newline="\n") as stream:
        write_images_xml(view, stream, meta)
    if save_images:
        _save_images(view, out_dir, media)


def export_video(view: ExportView, out_dir: Path, meta: ExportMeta, *, save_images: bool = False,
                 media: Any = None) -> None:
    from cvat_bridge.formats.cvat_video import write_video_xml

    with open(out_dir / "annotations.xml", "w", encoding="utf-8", newline="\n") as stream:
        write_video_xml(view, stream, meta)
    if save_images:
        _save_images(view, out_dir, media)
