"""MaskBatch answers what fast_masks answers one shape at a time (summary, polygons_area)."""

from __future__ import annotations

import random

import pytest

from cvat_bridge.formats import fast_masks
from cvat_bridge.formats.mask_batch import MaskBatch

SIZES = [(100, 80), (37, 23), (640, 480), (5, 5), (1, 1), (30, 12)]


def cvat_points(rng: random.Random, width: int, height: int) -> list[float]:
    """CVAT's mask runs over a box that may stick out of the image (or lie outside it), with runs
    that fall short of the box or run past it, and boxes as tall as the image."""
    left, top = rng.randint(0, width + 2), rng.randint(0, height + 2)
    right, bottom = left + rng.randint(0, 30), top + rng.randint(0, 20)
    if rng.random() < 0.15:
        top, bottom = 0, height - 1  # runs that continue into the next column
    area = (right - left + 1) * (bottom - top + 1)
    runs: list[float] = []
    while sum(runs) < area + rng.choice([0, 0, -5, 7]):
        runs.append(float(rng.randint(0, 9)))
    if rng.random() < 0.1:
        runs = runs[: rng.randint(0, len(runs))]
    return [*runs, float(left), float(top), float(right), float(bottom)]


def polygon(rng: random.Random, width: int, height: int) -> list[float]:
    points = rng.randint(3, 8) * 2 + rng.choice([0, 0, 1])
    return [round(rng.uniform(-3, max(width, height) + 3), rng.choice([0, 2, 3])) for _ in range(points)]


@pytest.mark.parametrize("seed", range(6))
def test_batch_matches_one_by_one(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(40):
        batch, got, expected = MaskBatch(), {}, {}
        for i in range(rng.randint(0, 40)):
            width, height = rng.choice(SIZES)
            kind = rng.random()
            if kind < 0.4:
                points = cvat_points(rng, width, height)
                expected[i] = fast_masks.summary(fast_masks.cvat_mask(points, width, height), width, height)
                batch.cvat_mask_summary(points, width, height, lambda *r, i=i, got=got: got.__setitem__(i, r))
            elif kind < 0.7:
                x, y = rng.uniform(-5, width + 5), rng.uniform(-5, height + 5)
                box = [round(v, 2) for v in (x, y, x + rng.uniform(0, 30), y + rng.uniform(0, 30))]
                bitmap = fast_masks.ellipse_mask(box, rng.choice([0.0, rng.uniform(0, 360)]), width, height)
                expected[i] = fast_masks.summary(bitmap, width, height)
                batch.bitmap_summary(bitmap, width, height, lambda *r, i=i, got=got: got.__setitem__(i, r))
            else:
                points = polygon(rng, width, height)
                expected[i] = fast_masks.polygons_area([points], width, height)
                batch.polygon_area(points, width, height, lambda a, i=i, got=got: got.__setitem__(i, a))
        batch.run()
        assert batch.pending == 0
        for i, value in expected.items():
            if isinstance(value, tuple):
                counts, area, bbox = got[i]
                assert (counts, area, bbox) == value, i
                assert all(type(c) is int for c in counts) and type(area) is int
            else:
                assert got[i] == value and type(got[i]) is int


def test_more_polygons_than_one_pycocotools_call_takes() -> None:
    """pycocotools' area() fails beyond 255 objects: the batch splits them."""
    batch, areas = MaskBatch(), []
    for i in range(600):
        batch.polygon_area([1.0, 1.0, 10.0 + i % 7, 1.0, 5.0, 9.0], 20, 20, areas.append)
    batch.run()
    assert areas == [fast_masks.polygons_area([[1.0, 1.0, 10.0 + i % 7, 1.0, 5.0, 9.0]], 20, 20) for i in range(600)]


def test_masks_outside_the_rules_are_measured_one_by_one() -> None:
    """Negative runs or a box left of the image: answered at once, as fast_masks answers."""
    batch, got = MaskBatch(), []
    points = [2.0, 3.0, 4.0, 5.0, -2.0, 3.0, 4.0, 6.0]
    batch.cvat_mask_summary(points, 20, 20, lambda *r: got.append(r))
    assert got == [fast_masks.summary(fast_masks.cvat_mask(points, 20, 20), 20, 20)] and batch.pending == 0
    with pytest.raises(ValueError):
        batch.cvat_mask_summary([2.0, -3.0, 1.0, 1.0, 4.0, 4.0], 20, 20, lambda *r: None)
