"""Binary masks for the COCO writer, kept as a window of the image rather than a whole canvas.

Each helper gives the pixels the Datumaro path gives (``translate.cvat_rle_to_coco``,
``tweaks.ellipse_to_mask``, pycocotools' polygon rasteriser, Datumaro's ``mask_to_rle``) but
touches only the rows and columns a shape covers, so the cost does not grow with the image.
NumPy and pycocotools (polygons) are imported when first needed; ellipses are drawn as OpenCV
draws them without importing it (``ellipse_raster``).
"""

from __future__ import annotations

import math
import sys
from typing import Any, NamedTuple

import numpy as np


class Bitmap(NamedTuple):
    """A 0/1 ``uint8`` array whose top-left pixel is at (``x``, ``y``) of the image."""

    x: int
    y: int
    data: np.ndarray

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.data))

    def bbox(self) -> list[float]:
        """pycocotools ``toBbox``: the extent of the set pixels, zeros when there are none."""
        rows = np.flatnonzero(self.data.any(axis=1))
        if not rows.size:
            return [0.0, 0.0, 0.0, 0.0]
        cols = np.flatnonzero(self.data.any(axis=0))
        return [float(self.x + cols[0]), float(self.y + rows[0]),
                float(cols[-1] - cols[0] + 1), float(rows[-1] - rows[0] + 1)]


EMPTY = Bitmap(0, 0, np.zeros((0, 0), dtype=np.uint8))
_ALTERNATING = (np.arange(1 << 12) % 2).astype(np.uint8)  # 0, 1, 0, 1, …: the values of CVAT's runs


def rotated_box_corners(points: list[float], degrees: float) -> list[float]:
    """The four corners of box ``[x0, y0, x1, y1]`` rotated by ``degrees`` (clockwise on screen)
    about its centre, starting at the top-left corner, as CVAT's ``RotatedBoxesToPolygons``."""
    x0, y0, x1, y1 = points
    cx, cy = x0 + (x1 - x0) / 2, y0 + (y1 - y0) / 2
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    corners: list[float] = []
    for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1)):
        corners += [cx + cos * (x - cx) - sin * (y - cy), cy + sin * (x - cx) + cos * (y - cy)]
    return corners


def cvat_mask(points: list[float], width: int, height: int) -> Bitmap:
    """CVAT's mask (row-major runs over its box, then left, top, right, bottom), clipped to the image."""
    left, top, right, bottom = (int(v) for v in points[-4:])
    box_w, box_h = right - left + 1, bottom - top + 1
    runs = np.array(points[:-4], dtype=np.int64)  # whole numbers (validated)
    values = _ALTERNATING[: runs.size] if runs.size <= _ALTERNATING.size else np.arange(runs.size) % 2
    flat = np.repeat(values.astype(np.uint8, copy=False), runs)[: box_w * box_h]
    if flat.size < box_w * box_h:
        flat = np.concatenate([flat, np.zeros(box_w * box_h - flat.size, dtype=np.uint8)])
    rows, cols = max(0, min(box_h, height - top)), max(0, min(box_w, width - left))
    return Bitmap(left, top, flat.reshape(box_h, box_w)[:rows, :cols])


def ellipse_mask(box: list[float], angle: float, width: int, height: int) -> Bitmap:
    """``tweaks.ellipse_to_mask`` for an ellipse whose (rounded) box is ``box`` = x1, y1, x2, y2.

    OpenCV draws at an integer centre, so drawing into a window of the image moves every pixel
    by a whole number and gives the same set of pixels as drawing on the whole canvas. The window's
    drawing depends only on the arguments of that ``cv2.ellipse`` call: it is made once per
    distinct call (``ellipse_raster``, without importing OpenCV) and shared, read-only.
    """
    x1, y1, x2, y2 = box
    cx, cy = round((x1 + x2) / 2), round((y1 + y2) / 2)
    rx, ry = round((x2 - x1) / 2), round((y2 - y1) / 2)
    reach = max(abs(rx), abs(ry)) + 2
    left, top = max(0, cx - reach), max(0, cy - reach)
    right, bottom = min(width, cx + reach + 1), min(height, cy + reach + 1)
    if right <= left or bottom <= top:
        return EMPTY
    key = (cx - left, cy - top, rx, ry, round(angle), right - left, bottom - top)
    canvas = _ELLIPSES.get(key)
    if canvas is None:
        canvas = _draw_ellipse(*key)
        canvas.flags.writeable = False
        _remember_ellipse(key, canvas)
    return Bitmap(left, top, canvas)


_ELLIPSES: dict[tuple[int, ...], np.ndarray] = {}  # cv2.ellipse call → its drawing
ELLIPSE_CACHE_BYTES = 16 << 20
_ellipse_cache_bytes = 0


def _remember_ellipse(key: tuple[int, ...], canvas: np.ndarray) -> None:
    global _ellipse_cache_bytes
    if _ellipse_cache_bytes + canvas.size <= ELLIPSE_CACHE_BYTES:
        _ELLIPSES[key] = canvas
        _ellipse_cache_bytes += canvas.size


PORT_BUDGET = 64  # distinct drawings made by ellipse_raster (0.1-0.5 ms each) before OpenCV takes over
_port_drawings = 0


def _draw_ellipse(cx: int, cy: int, rx: int, ry: int, angle: int, width: int, height: int) -> np.ndarray:
    """``cv2.ellipse(zeros, (cx, cy), (rx, ry), angle, 0, 360, 1, thickness=-1)``: by ``ellipse_raster``
    (the same pixels; importing OpenCV costs ~60 ms) unless many distinct ellipses make OpenCV cheaper."""
    global _port_drawings
    if "cv2" not in sys.modules and _port_drawings < PORT_BUDGET:
        from cvat_bridge.formats.ellipse_raster import draw

        _port_drawings += 1
        return draw(cx, cy, rx, ry, angle, width, height)
    import cv2

    canvas = np.zeros((height, width), dtype=np.uint8)
    cv2.ellipse(canvas, (cx, cy), (rx, ry), angle, 0, 360, 1, thickness=-1)
    return canvas


def polygons_mask(polygons: list[list[float]], width: int, height: int) -> Bitmap:
    """pycocotools' rasterisation of polygons (Datumaro's ``rles_to_mask``), as one bitmap."""
    from pycocotools import mask as mask_utils

    merged = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    return Bitmap(0, 0, mask_utils.decode(merged))


def polygons_area(polygons: list[list[float]], width: int, height: int) -> int:
    """Pixel area of polygons as the COCO exporter measures it (pycocotools, merged)."""
    from pycocotools import mask as mask_utils

    rles = mask_utils.frPyObjects(polygons, height, width)
    return int(mask_utils.area(rles)[0] if len(rles) == 1 else mask_utils.area(mask_utils.merge(rles)))


def union(bitmaps: list[Bitmap]) -> Bitmap:
    """Pixels set in any of ``bitmaps`` (Datumaro's ``merge_masks`` of binary masks)."""
    parts = [b for b in bitmaps if b.data.size]
    if len(parts) <= 1:
        return parts[0] if parts else EMPTY
    left, top = min(b.x for b in parts), min(b.y for b in parts)
    right = max(b.x + b.data.shape[1] for b in parts)
    bottom = max(b.y + b.data.shape[0] for b in parts)
    canvas = np.zeros((bottom - top, right - left), dtype=np.uint8)
    for b in parts:
        h, w = b.data.shape
        view = canvas[b.y - top: b.y - top + h, b.x - left: b.x - left + w]
        np.bitwise_or(view, b.data, out=view)
    return Bitmap(left, top, canvas)


def summary(bitmap: Bitmap, width: int, height: int) -> tuple[list[int], int, list[float]]:
    """(COCO RLE counts, area, bbox) of a bitmap on the whole image.

    The counts are the uncompressed, column-major runs of the full canvas, zeros first, as
    Datumaro's ``mask_to_rle`` writes them; the bbox is pycocotools' ``toBbox`` of them, i.e. the
    extent of the set pixels. Only the covered columns are built.
    """
    h, w = bitmap.data.shape
    columns = np.zeros((w, height), dtype=np.uint8)  # the covered columns, top to bottom
    columns[:, bitmap.y: bitmap.y + h] = bitmap.data.T
    flat = columns.ravel()
    edges = np.nonzero(flat[1:] != flat[:-1])[0]
    if not flat.size or (not edges.size and not flat[0]):
        return [width * height], 0, [0.0, 0.0, 0.0, 0.0]
    bounds = np.empty(edges.size + 2, dtype=np.int64)
    bounds[0], bounds[1:-1], bounds[-1] = 0, edges + 1, flat.size
    counts = (bounds[1:] - bounds[:-1]).tolist()
    first = 0 if flat[0] else 1  # index of the first run of ones
    area = sum(counts[first::2])
    # toBbox: columns from the first and last set pixel (column-major order), rows from the data
    # (a run that wraps into the next column covers the last and the first row anyway)
    x0 = int(bounds[first]) // height
    x1 = (int(bounds[-1] if flat[-1] else bounds[-2]) - 1) // height
    rows = np.nonzero(bitmap.data.any(axis=1))[0]
    y0, y1 = bitmap.y + int(rows[0]), bitmap.y + int(rows[-1])
    before, after = bitmap.x * height, (width - bitmap.x - w) * height
    if first == 0:
        counts.insert(0, before)
    else:
        counts[0] += before
    if flat[-1]:
        if after:
            counts.append(after)
    else:
        counts[-1] += after
    return counts, area, [float(bitmap.x + x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)]


def rle_string(bitmap: Bitmap, width: int, height: int) -> str:
    """The ``counts`` string of pycocotools' compressed RLE of the bitmap on the whole image: what
    ``mask_utils.encode`` of the full canvas gives (``RleMask.rle`` in Datumaro formats).

    Small images are encoded whole (fastest there); on larger ones only the covered columns are
    scanned (``summary``) and the runs compressed, so the cost does not grow with the image."""
    from pycocotools import mask as mask_utils

    if width * height <= SMALL_IMAGE_PIXELS:
        canvas = np.zeros((width, height), dtype=np.uint8)  # transposed: .T is the image in Fortran order
        h, w = bitmap.data.shape
        canvas[bitmap.x: bitmap.x + w, bitmap.y: bitmap.y + h] = bitmap.data.T
        return mask_utils.encode(canvas.T)["counts"].decode("ascii")
    counts = summary(bitmap, width, height)[0]
    return mask_utils.frPyObjects({"counts": counts, "size": [height, width]}, height, width)["counts"].decode("ascii")


SMALL_IMAGE_PIXELS = 1 << 16  # measured: below this, encoding the whole image is faster than the window


def mask_to_polygons(bitmap: Bitmap, width: int, height: int) -> list[Any]:
    """Datumaro's ``mask_to_polygons`` of the full canvas (groups whose leader is not a mask)."""
    from datumaro.util import mask_tools

    canvas = np.zeros((height, width), dtype=np.uint8)
    h, w = bitmap.data.shape
    canvas[bitmap.y: bitmap.y + h, bitmap.x: bitmap.x + w] = bitmap.data
    return list(mask_tools.mask_to_polygons(canvas))
