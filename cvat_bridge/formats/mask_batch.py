"""Pixel measures of many masks and polygons at once, for the COCO writer.

Datumaro's COCO exporter measures every shape on its own: the pixel area of a polygon
(pycocotools), the column-major RLE counts, area and extent of a mask. One shape at a time, each
measure is a dozen NumPy calls on a few hundred pixels, so their fixed cost dominated big exports
(``large``: 2,222 masks, 2,222 ellipses, 3,823 polygons). ``MaskBatch`` collects the requests and
answers them together: one pycocotools call per image size for the polygons, a few array
operations over all set pixels for the masks. The results are those of ``fast_masks.summary`` and
``fast_masks.polygons_area`` (tests/test_mask_batch.py compares them on random shapes).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from typing import Any

import numpy as np

from cvat_bridge.formats.fast_masks import Bitmap, cvat_mask, polygons_area, summary

Summary = tuple[list[int], int, list[float]]
SummaryDone = Callable[[list[int], int, list[float]], None]
AreaDone = Callable[[int], None]


class MaskBatch:
    """Deferred ``summary`` / ``polygons_area`` requests; ``run`` answers them through their callbacks."""

    def __init__(self) -> None:
        self._polygons: dict[tuple[int, int], list[tuple[list[float], AreaDone]]] = {}
        self._bitmaps: list[tuple[Bitmap, int, int, SummaryDone]] = []
        self._cvat_masks: list[tuple[list[float], int, int, SummaryDone]] = []
        self.pending = 0

    def polygon_area(self, polygon: list[float], width: int, height: int, done: AreaDone) -> None:
        """``done(polygons_area([polygon], width, height))``, later."""
        if len(polygon) <= 4:  # pycocotools reads a list of 4 numbers as a box: keep its own call
            done(polygons_area([polygon], width, height))
            return
        self._polygons.setdefault((height, width), []).append((polygon, done))
        self.pending += 1

    def bitmap_summary(self, bitmap: Bitmap, width: int, height: int, done: SummaryDone) -> None:
        """``done(*summary(bitmap, width, height))``, later."""
        self._bitmaps.append((bitmap, width, height, done))
        self.pending += 1

    def cvat_mask_summary(self, points: list[float], width: int, height: int, done: SummaryDone) -> None:
        """``done(*summary(cvat_mask(points, width, height), width, height))``, later."""
        left, top, right, bottom = points[-4:]
        if left < 0 or top < 0 or right < left or bottom < top or min(points[:-4], default=0) < 0:
            done(*summary(cvat_mask(points, width, height), width, height))  # (invalid) as the one-by-one path
            return
        self._cvat_masks.append((points, width, height, done))
        self.pending += 1

    def run(self) -> None:
        if self._polygons:
            from pycocotools import mask as mask_utils

            for (height, width), requests in self._polygons.items():
                # pycocotools' area() fails for more than 255 objects (it sizes an array with uint8)
                for first in range(0, len(requests), 255):
                    chunk = requests[first: first + 255]
                    rles = mask_utils.frPyObjects([p for p, _ in chunk], height, width)
                    for (_, done), area in zip(chunk, mask_utils.area(rles).tolist(), strict=True):
                        done(area)
            self._polygons = {}
        if self._bitmaps:
            requests = self._bitmaps
            self._bitmaps = []
            for (*_, done), result in zip(requests, _bitmap_summaries(requests), strict=True):
                done(*result)
        if self._cvat_masks:
            requests = self._cvat_masks
            self._cvat_masks = []
            for (*_, done), result in zip(requests, _cvat_mask_summaries(requests), strict=True):
                done(*result)
        self.pending = 0


def _bitmap_summaries(requests: list[tuple[Bitmap, int, int, Any]]) -> list[Summary]:
    return _summaries([(b.x, b.y, b.data) for b, *_ in requests], [(w, h) for _, w, h, _ in requests])


def _cvat_mask_summaries(requests: list[tuple[list[float], int, int, Any]]) -> list[Summary]:
    """``summary(cvat_mask(...))`` of each mask: all masks decoded by one ``np.repeat``."""
    count = len(requests)
    runs_per_mask = np.array([len(p) - 4 for p, *_ in requests], dtype=np.int64)
    runs = np.fromiter(chain.from_iterable(p[:-4] for p, *_ in requests), dtype=np.float64,
                       count=int(runs_per_mask.sum())).astype(np.int64)  # whole numbers (validated)
    boxes = np.array([p[-4:] for p, *_ in requests], dtype=np.float64).reshape(count, 4).astype(np.int64)
    box_w, box_h = boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1
    area = box_w * box_h
    # each mask's runs cut at its box's area, then zeros up to it (cvat_mask's padding): one np.repeat
    owner = np.repeat(np.arange(count), runs_per_mask)
    first_run = np.cumsum(runs_per_mask) - runs_per_mask
    ends = np.cumsum(runs)
    ends -= np.append(0, ends)[first_run][owner]  # cumulative within each mask
    cut = np.minimum(ends, area[owner])
    lengths = np.diff(cut, prepend=0)
    has_runs = runs_per_mask > 0
    lengths[first_run[has_runs]] = cut[first_run[has_runs]]
    values = ((np.arange(runs.size) - first_run[owner]) % 2).astype(np.uint8)
    used = np.zeros(count, dtype=np.int64)
    used[has_runs] = cut[(first_run + runs_per_mask - 1)[has_runs]]
    after_each = np.cumsum(runs_per_mask)
    decoded = np.repeat(np.insert(values, after_each, 0), np.insert(lengths, after_each, area - used))
    windows = []
    offset = 0
    for (points, width, height, _), w, h in zip(requests, box_w.tolist(), box_h.tolist(), strict=True):
        left, top = int(points[-4]), int(points[-3])
        rows, cols = max(0, min(h, height - top)), max(0, min(w, width - left))
        windows.append((left, top, decoded[offset: offset + w * h].reshape(h, w)[:rows, :cols]))
        offset += w * h
    return _summaries(windows, [(w, h) for _, w, h, _ in requests])


def _summaries(windows: list[tuple[int, int, np.ndarray]], sizes: list[tuple[int, int]]) -> list[Summary]:
    """``summary`` of each (x, y, 0/1 array) window on an image of (width, height).

    The windows' columns go into one array, each column followed by a zero; the changes in it are
    the starts and ends of the column-major runs of ones, mapped to positions in each image.
    """
    results: list[Summary] = [([w * h], 0, [0.0, 0.0, 0.0, 0.0]) for w, h in sizes]
    lengths = [d.shape[1] * (d.shape[0] + 1) for _, _, d in windows]
    offsets = np.cumsum([1, *lengths])  # columns[0] stays 0: a run can start at the first pixel
    columns = np.zeros(int(offsets[-1]), dtype=np.uint8)
    for (_, _, data), start, size in zip(windows, offsets.tolist(), lengths, strict=False):
        if size:
            columns[start: start + size].reshape(data.shape[1], data.shape[0] + 1)[:, :-1] = data.T
    changes = np.flatnonzero(columns[1:] != columns[:-1]) + 1
    if not changes.size:
        return results
    owner = np.searchsorted(offsets, changes, side="right") - 1
    heights = np.array([d.shape[0] + 1 for _, _, d in windows], dtype=np.int64)[owner]
    column, row = np.divmod(changes - offsets[owner], heights)
    image_h = np.array([h for _, h in sizes], dtype=np.int64)[owner]
    x = np.array([x for x, _, _ in windows], dtype=np.int64)[owner]
    y = np.array([y for _, y, _ in windows], dtype=np.int64)[owner]
    position = (x + column) * image_h + y + row
    run_start, run_end, run_id = position[0::2], position[1::2], owner[0::2]
    top, bottom = y[0::2] + row[0::2], y[1::2] + row[1::2] - 1
    # one mask's runs that continue into its next column (a window as tall as the image) are one run
    joined = np.flatnonzero((run_end[:-1] == run_start[1:]) & (run_id[:-1] == run_id[1:]))
    first = np.flatnonzero(np.append(True, run_id[1:] != run_id[:-1]))  # each mask's first run
    y0 = np.minimum.reduceat(top, first).tolist()
    y1 = np.maximum.reduceat(bottom, first).tolist()
    if joined.size:
        run_end = np.delete(run_end, joined)
        run_start = np.delete(run_start, joined + 1)
        run_id = np.delete(run_id, joined + 1)
        first = np.flatnonzero(np.append(True, run_id[1:] != run_id[:-1]))
    last = np.append(first[1:], run_id.size) - 1
    previous_end = np.append(0, run_end[:-1])
    previous_end[first] = 0
    run_length = run_end - run_start
    counts = np.empty(2 * run_id.size, dtype=np.int64)
    counts[0::2], counts[1::2] = run_start - previous_end, run_length
    mask_ids = run_id[first]
    heights_of_mask = np.array([sizes[i][1] for i in mask_ids.tolist()], dtype=np.int64)
    x0 = (run_start[first] // heights_of_mask).tolist()
    x1 = ((run_end[last] - 1) // heights_of_mask).tolist()
    areas = np.add.reduceat(run_length, first).tolist()
    ends = run_end[last].tolist()
    all_counts = counts.tolist()
    for j, (mask, a, b) in enumerate(zip(mask_ids.tolist(), first.tolist(), last.tolist(), strict=True)):
        w, h = sizes[mask]
        mask_counts = all_counts[2 * a: 2 * b + 2]
        if w * h - ends[j]:
            mask_counts.append(w * h - ends[j])
        results[mask] = (mask_counts, areas[j], [float(x0[j]), float(y0[j]), float(x1[j] - x0[j] + 1),
                                                 float(y1[j] - y0[j] + 1)])
    return results
