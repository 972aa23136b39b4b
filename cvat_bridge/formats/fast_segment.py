"""CVAT's segmentation chain for our own writers: per frame, the instance masks Datumaro's
exporters would get, and the index maps they would paint from them. No Datumaro import.

The mask formats' rows run, on ``translate.TaskExtractor`` items, ``ellipses_to_masks`` →
(``keep_tracks``) → ``rotated_boxes_to_polygons`` → ``polygons_to_masks`` → (``boxes_to_masks``)
→ ``merge_instance_segments``; this module gives the same masks in the same order:

- ellipses become masks in place (``fast_masks.ellipse_mask``, attributes without ``rotation``);
  CVAT masks are taken as they are (``fast_masks.cvat_mask``);
- ``only_tracks``: only shapes with a ``track_id`` attribute stay (MOTS' ``KeepTracks``: the shapes
  of tracks, and any of a label with an attribute of that name; tags go too);
- boxes with a non-zero rotation become 4-corner polygons (attributes kept, ``rotation`` too)
  that move to the end of the frame's list;
- polygons are rasterised by pycocotools at the image size exactly as Datumaro's transform does
  (a batch of them per frame, one ``decode`` call), then cropped to their set pixels; with
  ``boxes_to_masks`` the axis-aligned boxes too (as their 4 corners, computed the way Datumaro's
  ``Bbox.as_polygon`` does), whose pixels are worked out from pycocotools' rule (``box_bitmap``,
  tested against it) rather than rasterised;
- ``merge_instance_segments``: the masks are stable-sorted by group; each of group 0 stays
  alone, the masks of one group (2 or more) become one mask, the union of their pixels, with the
  label, z_order, group and attributes of the largest (pixel count; the first of equals).

API (stable; new parameters will only be optional ones):

``Segmenter(labels: LabelTable, *, boxes_to_masks=True, only_tracks=False)``
    ``.frame(content: FrameContent) -> FrameSegments``, and the function
    ``frame_segments(content, labels, **same options)`` for one-off use.
``FrameSegments(segments: list[Segment], others: list[FrameShape])``
    ``segments`` in Datumaro's order after the chain; ``others`` the frame's remaining shapes
    (boxes when ``boxes_to_masks`` is off, polylines, points, skeletons, cuboids) in view order:
    Datumaro puts them, after the frame's tags, before the segments.
``Segment``: ``label`` (index in ``LabelTable.labels``, Datumaro's label id), ``bitmap``
    (``fast_masks.Bitmap``: a window of the image, 0/1 uint8; may be a view: copy to change it),
    ``z_order``, ``group``, ``attributes`` (typed as ``translate.Converter`` types them, made on
    first use; the leader's for a merged group), ``shape`` (the source ``FrameShape``; the
    leader's), ``track_id``, ``area`` (pixels), ``solid`` (every pixel of the window is set).
``paint(canvas, bitmap, value)``, ``paint_segment(canvas, segment, value)``
    set the bitmap's pixels of a ``(height, width)`` array to ``value`` (later paints win).
``compile_index(segments, width, height, class_ids) -> IndexMap(index, order, class_map)``
    the index map ``compile_masks`` paints before mapping it (writers map it to colours directly).
``compile_masks(segments, width, height, class_ids, instance_ids=None) -> CompiledMasks``
    Datumaro's ``CompiledMask.from_instance_masks``: segments stable-sorted by z_order, painted
    in that order with their position (1-based) as index — a segment of class 0 paints 0 —,
    then ``class_mask`` = class of each index and ``instance_mask`` = the instance ids (default:
    the index itself), with NumPy's smallest dtypes as Datumaro picks them.
``merge_values(pairs, width, height, dtype)``
    Datumaro's ``merge_masks`` of ``(segment, value)`` pairs in the given order (MOTS).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from cvat_bridge.formats import fast_masks
from cvat_bridge.formats.fast_common import LabelTable, round2, round_box, shape_attributes
from cvat_bridge.formats.fast_masks import Bitmap, rotated_box_corners
from cvat_bridge.view import FrameContent, FrameShape

SMALL_CANVAS = 1 << 16  # pixels: below this, decoded polygons stay views of the whole image
DECODE_BUDGET = 1 << 22  # bytes of one batched pycocotools decode
SHARED_WINDOW_PIXELS = 1 << 14  # solid_window: larger windows are made afresh
FRAMES_PER_BATCH = 64  # Segmenter.frames: frames whose polygons are rasterised together


class Segment:
    """One instance mask as Datumaro's mask exporters receive it (attributes made on first use)."""

    __slots__ = ("label", "bitmap", "z_order", "group", "shape", "solid", "_attributes", "_labels")

    def __init__(self, label: int, bitmap: Bitmap, z_order: int, group: int, shape: FrameShape,
                 labels: LabelTable | None = None, attributes: dict[str, Any] | None = None) -> None:
        self.label = label
        self.bitmap = bitmap
        self.z_order = z_order
        self.group = group
        self.shape = shape
        self.solid = False  # every pixel of the bitmap is set (an axis-aligned box): painted as a slice
        self._attributes = attributes
        self._labels = labels

    @property
    def attributes(self) -> dict[str, Any]:
        """Typed as ``translate.Converter`` types them (ellipses: without ``rotation``)."""
        if self._attributes is None:
            assert self._labels is not None
            self._attributes = shape_attributes(self._labels, self.shape)
            if self.shape.shape.type == "ellipse":
                del self._attributes["rotation"]
        return self._attributes

    @property
    def area(self) -> int:
        return self.bitmap.data.size if self.solid else self.bitmap.area

    @property
    def track_id(self) -> int | None:
        return self.shape.track_id

    def __repr__(self) -> str:
        b = self.bitmap
        return (f"Segment(label={self.label}, z_order={self.z_order}, group={self.group}, "
                f"window=({b.x}, {b.y}, {b.data.shape[1]}x{b.data.shape[0]}), area={self.area})")


Pending = list[tuple[Segment, list[float]]]  # segments whose bitmap is their polygon's, still to rasterise
Collected = tuple[list[Segment], list[FrameShape], Pending]


class FrameSegments(NamedTuple):
    segments: list[Segment]
    others: list[FrameShape]


class CompiledMasks(NamedTuple):
    class_mask: np.ndarray
    instance_mask: np.ndarray


class IndexMap(NamedTuple):
    """What ``CompiledMask.from_instance_masks`` paints before it maps values: ``index`` holds,
    per pixel, 0 or the 1-based paint position of the segment on top; ``order[p - 1]`` is the
    segment painted at position p, ``class_map[p]`` its class (``class_map[0]`` = 0)."""

    index: np.ndarray
    order: list[int]
    class_map: list[int]


def _scaled(value: float) -> int:
    """pycocotools' ``(int)(5 * v + .5)``: its polygon grid, truncated toward zero like C."""
    return int(5.0 * value + 0.5)


def _ceil_fifth(value: int) -> int:
    """``ceil((value + .5) / 5 - .5)``, exact on integers: ``ceil((value - 2) / 5)``."""
    return -((2 - value) // 5)


def box_bitmap(points: list[float], width: int, height: int) -> tuple[Bitmap, bool] | None:
    """pycocotools' rasterisation of a box's ``box_polygon``, worked out rather than run: on its
    5x grid the top and bottom edges of an axis-aligned box are the only boundary points, so the
    pixels are columns ``ceil((X1 - 2) / 5)`` .. ``(X2 - 3) // 5`` and rows from the top edge's
    ``ceil((Y1 - 2) / 5)`` to before the bottom edge's, clipped to the image (see ``rleFrPoly``).
    ``None`` for boxes without a positive size on that grid (then pycocotools is asked).
    Returns the bitmap and whether it is solid (always, unless empty)."""
    x1, y1, x2, y2 = round_box(points)
    # the corners of box_polygon: x1 + (x2 - x1), as Datumaro adds them, may differ from x2
    left, right = int(5.0 * x1 + 0.5), int(5.0 * (x1 + (x2 - x1)) + 0.5)  # _scaled, inlined
    top, bottom = int(5.0 * y1 + 0.5), int(5.0 * (y1 + (y2 - y1)) + 0.5)
    if right <= left or bottom <= top:
        return None
    col0, col1 = max(0, _ceil_fifth(left)), min(width - 1, (right - 3) // 5)
    row0 = min(height, max(0, _ceil_fifth(top)))
    row1 = min(height, max(0, _ceil_fifth(bottom)))
    if col1 < col0 or row1 <= row0:
        return fast_masks.EMPTY, False
    return Bitmap(col0, row0, solid_window(row1 - row0, col1 - col0 + 1)), True


def solid_window(height: int, width: int) -> np.ndarray:
    """An all-ones ``(height, width)`` uint8 window; small ones are shared (read-only) by the boxes
    of that size."""
    if height * width > SHARED_WINDOW_PIXELS:
        return np.ones((height, width), dtype=np.uint8)
    return _shared_solid_window(height, width)


@functools.lru_cache(maxsize=1024)  # at most 16 MB
def _shared_solid_window(height: int, width: int) -> np.ndarray:
    window = np.ones((height, width), dtype=np.uint8)
    window.flags.writeable = False
    return window


def box_polygon(points: list[float]) -> list[float]:
    """Datumaro's ``Bbox.as_polygon`` of a CVAT box (x1, y1, x2, y2 as ``translate`` rounds them)."""
    x1, y1, x2, y2 = round_box(points)
    w, h = x2 - x1, y2 - y1
    return [x1, y1, x1 + w, y1, x1 + w, y1 + h, x1, y1 + h]


def rasterise(polygons: list[list[float]], width: int, height: int) -> list[Bitmap]:
    """pycocotools' rasterisation of each polygon alone (``frPyObjects([polygon], h, w)[0]``, as
    Datumaro's ``polygons_to_masks`` calls it), batched: one call for the usual polygons, one per
    odd polygon (pycocotools reads 4 numbers as a box, fewer as an error, as it does for Datumaro).
    Each bitmap is cropped to its set pixels (a view of the batch on small images)."""
    from pycocotools import mask as mask_utils

    if not polygons:
        return []
    rles: list[Any] = [None] * len(polygons)
    usual = [i for i, p in enumerate(polygons) if len(p) > 4]
    if usual:
        for i, rle in zip(usual, mask_utils.frPyObjects([polygons[i] for i in usual], height, width), strict=True):
            rles[i] = rle
    for i, p in enumerate(polygons):
        if len(p) <= 4:
            rles[i] = mask_utils.frPyObjects([p], height, width)[0]
    bitmaps: list[Bitmap] = []
    per_batch = max(1, DECODE_BUDGET // max(1, width * height))
    small = width * height <= SMALL_CANVAS
    for start in range(0, len(rles), per_batch):
        batch = rles[start: start + per_batch]
        decoded = mask_utils.decode(batch)
        for i, (x, y, w, h) in enumerate(mask_utils.toBbox(batch).astype(int).tolist()):
            if not (w and h):
                bitmaps.append(fast_masks.EMPTY)
                continue
            window = decoded[y: y + h, x: x + w, i]
            bitmaps.append(Bitmap(x, y, window if small else np.array(window)))
    return bitmaps


class Segmenter:
    """Frame content → the frame's segments after CVAT's chain (see the module docstring)."""

    def __init__(self, labels: LabelTable, *, boxes_to_masks: bool = True, only_tracks: bool = False) -> None:
        self.labels = labels
        self.boxes_to_masks = boxes_to_masks
        self.only_tracks = only_tracks
        self._label_ids = labels.top_level_ids()

    def frame(self, content: FrameContent) -> FrameSegments:
        segments, others, pending = self._collect(content)
        if pending:
            bitmaps = rasterise([p for _, p in pending], content.info.width, content.info.height)
            for (segment, _), bitmap in zip(pending, bitmaps, strict=True):
                segment.bitmap = bitmap
        return _finished(segments, others)

    def frames(self, contents: Iterable[FrameContent]) -> Iterator[tuple[FrameContent, FrameSegments]]:
        """``(content, self.frame(content))`` for each content, the same segments, but the polygons of
        up to ``FRAMES_PER_BATCH`` consecutive frames of one image size rasterised in one batch."""
        batch: list[tuple[FrameContent, list[Segment], list[FrameShape], Pending]] = []
        for content in contents:
            if batch and (len(batch) >= FRAMES_PER_BATCH or (content.info.width, content.info.height)
                          != (batch[0][0].info.width, batch[0][0].info.height)):
                yield from _rasterised(batch)
                batch = []
            batch.append((content, *self._collect(content)))
        if batch:
            yield from _rasterised(batch)

    def _collect(self, content: FrameContent) -> Collected:
        """The frame's segments in order, its other shapes, and the segments still to rasterise
        with their polygons."""
        width, height = content.info.width, content.info.height
        shapes = content.shapes
        if self.only_tracks:  # KeepTracks looks for a track_id attribute: a label's own one counts too
            shapes = [s for s in shapes if s.track_id is not None or "track_id" in self.labels.attributes(s.label, {})]
        segments: list[Segment] = []
        others: list[FrameShape] = []
        rotated: list[FrameShape] = []
        pending: Pending = []  # segments whose polygon is still to rasterise
        empty = fast_masks.EMPTY
        for item in shapes:
            kind = item.shape.type
            if kind == "rectangle":
                if item.shape.rotation:
                    rotated.append(item)
                    continue
                if not self.boxes_to_masks:
                    others.append(item)
                    continue
                segment = self._segment(item, empty)
                box = box_bitmap(item.shape.points, width, height)
                if box is None:
                    pending.append((segment, box_polygon(item.shape.points)))
                else:
                    segment.bitmap, segment.solid = box
            elif kind == "polygon":
                segment = self._segment(item, empty)
                pending.append((segment, [(r / 100.0 if (r := round(v * 100.0)) else 0.0 * v)  # round2
                                          for v in item.shape.points]))
            elif kind == "mask":
                segment = self._segment(item, fast_masks.cvat_mask(item.shape.points, width, height))
            elif kind == "ellipse":
                cx, cy, right, top = item.shape.points
                box = [round2(2 * cx - right), round2(top), round2(right), round2(2 * cy - top)]
                segment = self._segment(item, fast_masks.ellipse_mask(box, float(item.shape.rotation), width, height))
            else:
                others.append(item)
                continue
            segments.append(segment)
        for item in rotated:  # RotatedBoxesToPolygons appends its polygons
            segment = self._segment(item, empty)
            corners = rotated_box_corners(round_box(item.shape.points), item.shape.rotation)
            pending.append((segment, [round2(v) for v in corners]))
            segments.append(segment)
        return segments, others, pending

    def _segment(self, item: FrameShape, bitmap: Bitmap) -> Segment:
        label = self._label_ids.get(item.label)
        if label is None:
            label = self.labels.label_id(item.label)  # raises for an unknown label
        return Segment(label, bitmap, item.shape.z_order, item.group, item, self.labels)


def frame_segments(content: FrameContent, labels: LabelTable, **options: Any) -> FrameSegments:
    return Segmenter(labels, **options).frame(content)


def _finished(segments: list[Segment], others: list[FrameShape]) -> FrameSegments:
    return FrameSegments(merge_groups(segments) if any(s.group for s in segments) else segments, others)


def _rasterised(batch: list[tuple[FrameContent, list[Segment], list[FrameShape], Pending]],
                ) -> Iterator[tuple[FrameContent, FrameSegments]]:
    """The frames of ``batch`` (one image size) with all their pending polygons rasterised together."""
    pending = [entry for _, _, _, frame_pending in batch for entry in frame_pending]
    if pending:
        info = batch[0][0].info
        bitmaps = rasterise([p for _, p in pending], info.width, info.height)
        for (segment, _), bitmap in zip(pending, bitmaps, strict=True):
            segment.bitmap = bitmap
    for content, segments, others, _ in batch:
        yield content, _finished(segments, others)


def merge_groups(segments: list[Segment]) -> list[Segment]:
    """Datumaro's ``merge_instance_segments`` of masks (``find_instances`` + ``merge_segments``)."""
    if not any(s.group for s in segments):
        return segments
    result: list[Segment] = []
    members: list[Segment] = []
    for segment in sorted(segments, key=lambda s: s.group):
        if members and segment.group != members[0].group:
            result.append(_merged(members))
            members = []
        if segment.group:
            members.append(segment)
        else:
            result.append(segment)
    if members:
        result.append(_merged(members))
    return result


def _merged(members: list[Segment]) -> Segment:
    if len(members) == 1:
        return members[0]
    leader = max(members, key=lambda s: s.area)
    bitmap = fast_masks.union([s.bitmap for s in members])
    return Segment(leader.label, bitmap, leader.z_order, leader.group, leader.shape,
                   attributes=leader.attributes)


def paint(canvas: np.ndarray, bitmap: Bitmap, value: int) -> None:
    """Set the pixels of ``bitmap`` on ``canvas`` (the whole image) to ``value``."""
    data = bitmap.data
    if not data.size:
        return
    h, w = data.shape
    canvas[bitmap.y: bitmap.y + h, bitmap.x: bitmap.x + w][data.view(bool)] = value


def paint_segment(canvas: np.ndarray, segment: Segment, value: int) -> None:
    """``paint`` of a segment's bitmap; a solid one as a slice."""
    if segment.solid:
        b = segment.bitmap
        h, w = b.data.shape
        canvas[b.y: b.y + h, b.x: b.x + w] = value
    else:
        paint(canvas, segment.bitmap, value)


def compile_index(segments: Sequence[Segment], width: int, height: int, class_ids: Sequence[int]) -> IndexMap:
    """The index map of ``CompiledMask.from_instance_masks`` (see ``IndexMap``)."""
    count = len(segments)
    order = sorted(range(count), key=lambda i: segments[i].z_order)
    index = np.zeros((height, width), dtype=np.min_scalar_type(count + 1))
    class_map = [0]
    for position, i in enumerate(order, start=1):
        class_id = class_ids[i]
        paint_segment(index, segments[i], position if class_id else 0)
        class_map.append(class_id)
    return IndexMap(index, order, class_map)


def compile_masks(segments: Sequence[Segment], width: int, height: int, class_ids: Sequence[int],
                  instance_ids: Sequence[int | None] | None = None) -> CompiledMasks:
    """Datumaro's ``CompiledMask.from_instance_masks`` (see the module docstring)."""
    index, order, class_map = compile_index(segments, width, height, class_ids)
    instance_map = [0]
    for position, i in enumerate(order, start=1):
        instance_id = instance_ids[i] if instance_ids is not None and i < len(instance_ids) else None
        instance_map.append(position if instance_id is None else instance_id)
    class_mask = np.array(class_map, dtype=np.min_scalar_type(class_map))[index]
    if instance_map == list(range(len(segments) + 1)):
        instance_mask = index
    else:
        instance_mask = np.array(instance_map, dtype=np.min_scalar_type(instance_map))[index]
    return CompiledMasks(class_mask, instance_mask)


def merge_values(pairs: Iterable[tuple[Segment, int]], width: int, height: int, dtype: Any) -> np.ndarray:
    """Datumaro's ``merge_masks`` of ``(binary mask, value)`` pairs: later pairs paint over earlier."""
    canvas = np.zeros((height, width), dtype=dtype)
    for segment, value in pairs:
        paint_segment(canvas, segment, value)
    return canvas
