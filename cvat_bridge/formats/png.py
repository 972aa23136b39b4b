"""PNG masks, encoded the way CVAT's exporters encode them, so the files are byte for byte CVAT's.

CVAT's Datumaro saves an image through OpenCV, except int32 arrays, which go through Pillow
(stored as 16-bit grey, values saturated to 0..65535). Each reference export of CVAT's confirms
it: every mask PNG is what ``cv2.imencode`` or Pillow gives for its pixels. Readers that compare
pixels would accept any encoder; readers (and checkers) that compare bytes need these two.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

_TO_OPENCV_ORDER = {3: [2, 1, 0], 4: [2, 1, 0, 3]}  # RGB → BGR, RGBA → BGRA


def encode_png(pixels: Any) -> bytes:
    """``pixels`` as a PNG: ``(h, w)`` uint8 or uint16 grey, ``(h, w, 3)`` RGB or ``(h, w, 4)``
    RGBA uint8 (through OpenCV), or ``(h, w)`` int32 (through Pillow, 16-bit grey)."""
    if pixels.dtype == np.int32 and pixels.ndim == 2:
        from PIL import Image

        # what Pillow writes for an int32 ("I") image, without its deprecated "I" PNG path: the values
        # saturated into a 16-bit image (same bytes)
        buffer = io.BytesIO()
        Image.fromarray(np.clip(pixels, 0, 0xFFFF).astype(np.uint16)).save(buffer, format="PNG")
        return buffer.getvalue()
    if pixels.ndim == 3:
        if pixels.shape[2] not in _TO_OPENCV_ORDER or pixels.dtype != np.uint8:
            raise ValueError("only 8-bit RGB or RGBA colour images are supported")
        pixels = pixels[:, :, _TO_OPENCV_ORDER[pixels.shape[2]]]
    elif pixels.ndim != 2 or pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"unsupported pixels: {pixels.ndim} dimensions of {pixels.dtype}")
    import cv2

    ok, encoded = cv2.imencode(".png", pixels)
    if not ok:  # pragma: no cover - OpenCV encodes every array accepted above
        raise ValueError("OpenCV could not encode the mask")
    return encoded.tobytes()
