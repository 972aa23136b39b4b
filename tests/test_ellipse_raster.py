"""ellipse_raster draws what ``cv2.ellipse`` draws, and fast_masks.ellipse_mask stays the window of it.

OpenCV is the reference here (the writers no longer import it for ellipses): random centres, axes
and angles, on canvases of many sizes, with ellipses cut by every border, zero and huge axes,
angles far outside 0..360 and on .5 (OpenCV rounds them half to even).
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from cvat_bridge.formats import ellipse_raster, fast_masks

cv2 = pytest.importorskip("cv2")


def opencv(cx: int, cy: int, rx: int, ry: int, angle: float, width: int, height: int) -> np.ndarray:
    canvas = np.zeros((height, width), dtype=np.uint8)
    cv2.ellipse(canvas, (cx, cy), (rx, ry), angle, 0, 360, 1, thickness=-1)
    return canvas


def random_ellipse(rng: random.Random) -> tuple[int, int, int, int, float, int, int]:
    width, height = rng.choice([(100, 80), (37, 23), (640, 480), (5, 5), (1, 1), (30, 12), (1500, 1100)])
    reach = rng.choice([2, 9, 14, 20, 60, 400])
    rx, ry = rng.randint(0, reach), rng.randint(0, reach)
    cx = rng.randint(-reach - 3, width + reach + 3)
    cy = rng.randint(-reach - 3, height + reach + 3)
    angle = rng.choice([0.0, 90.0, 180.5, 45.5, rng.uniform(-800, 800), rng.randint(0, 359) + 0.5, rng.uniform(0, 360)])
    return cx, cy, rx, ry, angle, width, height


@pytest.mark.parametrize("seed", range(4))
def test_draw_matches_opencv(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(600):
        args = random_ellipse(rng)
        assert np.array_equal(ellipse_raster.draw(*args), opencv(*args)), args


def test_draw_refuses_negative_axes() -> None:
    with pytest.raises(ValueError):
        ellipse_raster.draw(10, 10, -1, 3, 0.0, 20, 20)


def window_reference(box: list[float], angle: float, width: int, height: int) -> np.ndarray:
    """The ellipse on the whole image, as the Datumaro path's tweak draws it."""
    x1, y1, x2, y2 = box
    return opencv(round((x1 + x2) / 2), round((y1 + y2) / 2), round((x2 - x1) / 2), round((y2 - y1) / 2),
                  angle, width, height)


@pytest.mark.parametrize("use_opencv", [False, True])
def test_ellipse_mask_is_the_window_of_the_whole_image_drawing(use_opencv: bool,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_masks, "_ELLIPSES", {})
    monkeypatch.setattr(fast_masks, "_ellipse_cache_bytes", 0)  # earlier tests may have filled the budget
    monkeypatch.setattr(fast_masks, "PORT_BUDGET", 0 if use_opencv else 10**6)
    rng = random.Random(7)
    for _ in range(400):
        width, height = rng.choice([(100, 80), (37, 23), (64, 48)])
        x1, y1 = rng.uniform(-10, width + 5), rng.uniform(-10, height + 5)
        box = [round(v, 2) for v in (x1, y1, x1 + rng.uniform(0, 40), y1 + rng.uniform(0, 30))]
        angle = rng.choice([0.0, 30.0, rng.uniform(0, 360)])
        for _ in range(2):  # drawn, then from the cache
            bitmap = fast_masks.ellipse_mask(box, angle, width, height)
            whole = np.zeros((height, width), dtype=np.uint8)
            h, w = bitmap.data.shape
            whole[bitmap.y: bitmap.y + h, bitmap.x: bitmap.x + w] = bitmap.data
            assert np.array_equal(whole, window_reference(box, angle, width, height)), (box, angle, width, height)
    assert fast_masks._ELLIPSES, "drawings are cached"
    assert not next(iter(fast_masks._ELLIPSES.values())).flags.writeable, "shared drawings are read-only"
