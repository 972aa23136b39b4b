"""Our PNG encoder, judged by Pillow's decoder: pixels, mode and palette come back as given."""

from __future__ import annotations

import io

import numpy as np
import pytest

from cvat_bridge.formats.png import encode_png

Image = pytest.importorskip("PIL.Image", reason="Pillow decodes the PNGs")


def _decode(data: bytes) -> object:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_grey_image_round_trips() -> None:
    pixels = np.random.default_rng(1).integers(0, 256, size=(7, 13), dtype=np.uint8)
    image = _decode(encode_png(pixels))
    assert image.mode == "L"
    assert np.array_equal(np.asarray(image), pixels)


def test_palette_image_keeps_indices_and_colours() -> None:
    pixels = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    palette = [(0, 0, 0), (128, 0, 0), (0, 128, 64)]
    image = _decode(encode_png(pixels, palette=palette))
    assert image.mode == "P"
    assert np.array_equal(np.asarray(image), pixels)
    assert image.getpalette()[:9] == [0, 0, 0, 128, 0, 0, 0, 128, 64]


def test_sixteen_bit_grey_keeps_large_values() -> None:
    pixels = np.array([[0, 1000, 65535], [256, 2, 3]], dtype=np.uint16)
    image = _decode(encode_png(pixels))
    assert image.mode in ("I;16", "I", "I;16B")
    assert np.array_equal(np.asarray(image).astype(np.int64), pixels.astype(np.int64))


def test_rgb_image_round_trips() -> None:
    pixels = np.random.default_rng(2).integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    image = _decode(encode_png(pixels))
    assert image.mode == "RGB"
    assert np.array_equal(np.asarray(image), pixels)


def test_unsupported_input_is_refused() -> None:
    with pytest.raises(ValueError):
        encode_png(np.zeros((2, 2), dtype=np.float32))
    with pytest.raises(ValueError):
        encode_png(np.zeros((2, 2), dtype=np.uint8), palette=[])
