"""Segmentation Mask 1.0, CamVid 1.0 and Cityscapes 1.0 written directly from the export view.

Each writes what its Datumaro row writes (``translate.TaskExtractor`` items, CVAT's mask chain
``ellipses_to_masks`` → ``rotated_boxes_to_polygons`` → ``polygons_to_masks`` → ``boxes_to_masks``
→ ``merge_instance_segments``, the task's label colours, and the exporter) without importing
Datumaro; the chain is fast_segment's, the painting Datumaro's ``CompiledMask``:

- Segmentation Mask (``mask_exporters.CvatVocSegmentationExporter``): ``labelmap.txt`` with the
  labels sorted by name (the background in its place, or first when added), class and instance
  masks ``SegmentationClass/<id>.png``, ``SegmentationObject/<id>.png`` (RGB; class colours with
  the background moved to id 0, instance colours from the VOC colour map), and
  ``ImageSets/Segmentation/<subset>.txt`` listing the items with masks or without annotations;
- CamVid (upstream ``camvid``): ``<subset>annot/<id>.png`` (RGB), ``<subset>.txt`` with
  ``/<subset>/<image> <mask or nothing>`` per item, ``label_colors.txt`` without the background
  CVAT added;
- Cityscapes (``cityscapes.CvatCityscapesExporter``): ``gtFine/<subset>/<id>_gtFine_color.png``
  (RGB), ``_labelIds.png`` (grey), ``_instanceIds.png`` (16-bit grey, class * 1000 + the mask's
  position from 1, the class alone for a true ``is_crowd``), ``label_colors.txt`` with the
  background first; images in ``imgsFine/leftImg8bit/<subset>/<id>_leftImg8bit<ext>``.

Why our own writers: on ``large`` the Datumaro path took 9–16 s of a 0.6–0.8 s budget.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from cvat_bridge.archive import OutputTree
from cvat_bridge.formats.colormaps import (
    BACKGROUND,
    BLACK,
    find_background,
    generated_colormap,
    move_background_first,
    task_colormap,
)
from cvat_bridge.formats.fast_common import FrameNames, LabelTable, subset_name
from cvat_bridge.formats.fast_segment import FrameSegments, IndexMap, Segmenter, compile_index
from cvat_bridge.formats.png import encode_png
from cvat_bridge.meta import ExportMeta
from cvat_bridge.view import ExportView, FrameContent

MISSING_COLOR = (255, 255, 255)  # Datumaro's paint_mask: (-1, -1, -1) mod 256
INSTANCES_PER_LABEL = 1000


def palette(colors: dict[int, Any]) -> np.ndarray:
    """Datumaro's ``paint_mask`` table: index → RGB, white where the colour map has no entry."""
    table = np.array([tuple(colors.get(i) or MISSING_COLOR) for i in range(256)], dtype=np.int64)
    return np.mod(table, 256).astype(np.uint8)


def instance_palette() -> np.ndarray:
    """The 256 VOC colours of instance masks (``VocInstColormap``)."""
    return palette(dict(enumerate(generated_colormap(256))))


def rgb_png(index: np.ndarray, table: np.ndarray) -> bytes:
    """``index`` painted with the colours of ``table`` (an ``(n, 3)`` uint8 array) as an RGB PNG."""
    return encode_png(np.take(table, index, axis=0))


def as_uint8(values: list[int]) -> np.ndarray:
    """``numpy.astype(uint8)`` of Python ints: wrapped to 0..255, as Datumaro's ``paint_mask`` does."""
    return np.array([v & 0xFF for v in values], dtype=np.uint8)


class MaskFrames:
    """The frames of an export with their segments and the class ids of a destination label map."""

    def __init__(self, view: ExportView, media: Any, default_ext: str, target_labels: list[str]) -> None:
        self.view = view
        self.labels = LabelTable(view.task)
        self.names = FrameNames(view, media, default_ext=default_ext)
        self.names.check_unique(view)
        self.subset = subset_name(view)
        self.segmenter = Segmenter(self.labels)
        target = {name: index for index, name in enumerate(target_labels)}
        self.class_ids = [target.get(label.name, 0) for label in self.labels.labels]  # 0: Datumaro's fallback

    def __iter__(self) -> Iterator[tuple[FrameContent, FrameSegments, str]]:
        for content, segments in self.segmenter.frames(self.view.frames()):
            yield content, segments, self.names.item_id(content.info.name)

    def compile(self, content: FrameContent, frame: FrameSegments) -> IndexMap:
        class_ids = [self.class_ids[s.label] for s in frame.segments]
        return compile_index(frame.segments, content.info.width, content.info.height, class_ids)


def has_annotations(content: FrameContent, frame: FrameSegments) -> bool:
    """Whether the Datumaro item keeps any annotation after the chain (cuboids are not converted)."""
    return bool(content.tags or frame.segments or any(s.shape.type != "cuboid" for s in frame.others))


def write_images(view: ExportView, names: FrameNames, out: OutputTree, media: Any,
                 path_of: Callable[[str, str], str]) -> None:
    """Each frame's file at ``path_of(item id, extension)`` (the exporters' ``_save_image``), straight
    into the output."""
    if media is None:
        from cvat_bridge.media import MediaProvider

        with MediaProvider(view.task) as own:
            write_images(view, names, out, own, path_of)
        return
    from cvat_bridge.frames import frame_info

    for frame in view.selection.frames:
        name = frame_info(view.task, frame).name
        out.write_bytes(path_of(names.item_id(name), names.ext(name) or names.default_ext), media.read(frame))


def export_segmentation_mask(view: ExportView, out: OutputTree, meta: ExportMeta, *, save_images: bool = False,
                             media: Any = None, apply_colormap: bool = True) -> None:
    written = OrderedDict(sorted(((n, [c, [], []]) for n, c in task_colormap(view.task).items()),
                                 key=lambda e: e[0]))
    background = find_background(written, color_of=lambda desc: desc[0])
    if background is None:  # not with CVAT's colour map, which always has one
        background = BACKGROUND
        written[background] = [BLACK if any(d[0] is not None for d in written.values()) else None, [], []]
        written.move_to_end(background, last=False)
    label_map = OrderedDict(written)
    label_map.move_to_end(background, last=False)
    colors = {i: desc[0] for i, desc in enumerate(label_map.values()) if desc[0] is not None}
    if not colors:
        colors = dict(enumerate(generated_colormap(len(label_map))))
    frames = MaskFrames(view, media, ".jpg", list(label_map))
    class_table, instance_table = palette(colors), instance_palette()
    listed: list[str] = []
    for content, frame, item_id in frames:
        if frame.segments:
            index, _, class_map = frames.compile(content, frame)
            classes = as_uint8(class_map)
            instances = index if index.dtype == np.uint8 else index.astype(np.uint8)  # the default ids: the index
            if apply_colormap:
                out.write_bytes(f"SegmentationClass/{item_id}.png", rgb_png(index, class_table[classes]))
                out.write_bytes(f"SegmentationObject/{item_id}.png", rgb_png(instances, instance_table))
            else:
                out.write_bytes(f"SegmentationClass/{item_id}.png", encode_png(classes[index]))
                out.write_bytes(f"SegmentationObject/{item_id}.png", encode_png(instances))
            listed.append(item_id)
        elif not has_annotations(content, frame):
            listed.append(item_id)
    if listed:
        out.write_text(f"ImageSets/Segmentation/{frames.subset}.txt", "".join(f"{i}\n" for i in listed))
    out.write_text("labelmap.txt", voc_label_map_text(written))
    if save_images:
        write_images(view, frames.names, out, media, lambda item_id, ext: f"JPEGImages/{item_id}{ext}")


def voc_label_map_text(label_map: OrderedDict[str, Any]) -> str:
    """Datumaro's VOC ``write_label_map``: ``name:r,g,b:parts:actions`` lines under a header."""
    lines = ["# label:color_rgb:parts:actions\n"]
    for name, (color, parts, actions) in label_map.items():
        rgb = ",".join(str(c) for c in color) if color else ""
        lines.append(f"{name}:{rgb}:{','.join(map(str, parts))}:{','.join(map(str, actions))}\n")
    return "".join(lines)


def colour_label_map_text(label_map: OrderedDict[str, Any]) -> str:
    """CamVid's and Cityscapes' ``write_label_map``: ``r g b name`` lines."""
    return "".join(f"{' '.join(str(c) for c in color) if color else ''} {name}\n" for name, color in label_map.items())


def _background_first(label_map: OrderedDict[str, Any]) -> None:
    """``make_camvid_categories``/``make_cityscapes_categories``: the first black label, else a
    ``background`` (added black when missing), moves to id 0."""
    name = next((n for n, c in label_map.items() if c == BLACK), None)
    if name is None:
        name = BACKGROUND
        if name not in label_map:
            label_map[name] = BLACK if any(c is not None for c in label_map.values()) else None
    label_map.move_to_end(name, last=False)


def _colors(label_map: OrderedDict[str, Any]) -> dict[int, Any]:
    if not any(c is not None for c in label_map.values()):
        return dict(enumerate(generated_colormap(len(label_map))))
    return {i: c for i, c in enumerate(label_map.values()) if c}


def export_camvid(view: ExportView, out: OutputTree, meta: ExportMeta, *, save_images: bool = False,
                  media: Any = None, apply_colormap: bool = True) -> None:
    label_map = OrderedDict(sorted(task_colormap(view.task).items(), key=lambda e: e[0]))
    _background_first(label_map)
    frames = MaskFrames(view, media, ".png", list(label_map))
    table = palette(_colors(label_map))
    subset = frames.subset
    lines = []
    for content, frame, item_id in frames:
        image_path = "/" + f"{subset}/{frames.names.file_name(content.info.name)}".replace("\\", "/")
        mask_path = ""
        if frame.segments:
            mask_path = f"{subset}annot/{item_id}.png"
            index, _, class_map = frames.compile(content, frame)
            classes = as_uint8(class_map)
            out.write_bytes(mask_path, rgb_png(index, table[classes]) if apply_colormap
                            else encode_png(classes[index]))
        if len(image_path.split()) > 1 or len(mask_path.split()) > 1:
            image_path, mask_path = f'"{image_path}"', f'"{mask_path}"'
        lines.append(f"{image_path} {mask_path}\n")
    if lines:
        out.write_text(f"{subset}.txt", "".join(lines))
    if len(label_map) > len(frames.labels.labels):
        label_map.pop(BACKGROUND)
    out.write_text("label_colors.txt", colour_label_map_text(label_map))
    if save_images:
        write_images(view, frames.names, out, media, lambda item_id, ext: f"{subset}/{item_id}{ext}")


def export_cityscapes(view: ExportView, out: OutputTree, meta: ExportMeta, *, save_images: bool = False,
                      media: Any = None, apply_colormap: bool = True) -> None:
    label_map = OrderedDict(sorted(task_colormap(view.task).items(), key=lambda e: e[0]))
    move_background_first(label_map)
    _background_first(label_map)
    frames = MaskFrames(view, media, ".png", list(label_map))
    table = palette(_colors(label_map))
    subset = frames.subset
    # only a label's own attribute can be is_crowd: the others need not make their attributes
    crowd_labels = {i for i, label in enumerate(frames.labels.labels) if any(a.name == "is_crowd"
                                                                           for a in label.attributes)}
    for content, frame, item_id in frames:
        if not frame.segments:
            continue
        segments = frame.segments
        index, order, class_map = frames.compile(content, frame)
        classes = as_uint8(class_map)
        # the fork's instance ids (by position in the item), painted in z_order like the classes;
        # the int32 mask becomes a 16-bit PNG through Pillow, which clips to 0..65535
        instance_map = [0] + [c if segments[i].label in crowd_labels and segments[i].attributes.get("is_crowd", False)
                              else c * INSTANCES_PER_LABEL + i + 1
                              for i, c in zip(order, class_map[1:], strict=True)]
        stem = f"gtFine/{subset}/{item_id}_gtFine"
        out.write_bytes(f"{stem}_color.png", rgb_png(index, table[classes]))
        out.write_bytes(f"{stem}_labelIds.png", encode_png(classes[index]))
        out.write_bytes(f"{stem}_instanceIds.png", encode_png(np.array(instance_map, dtype=np.int32)[index]))
    out.write_text("label_colors.txt", colour_label_map_text(label_map))
    if save_images:
        write_images(view, frames.names, out, media,
                     lambda item_id, ext: f"imgsFine/leftImg8bit/{subset}/{item_id}_leftImg8bit{ext}")
