"""A small PNG encoder for the masks our own writers make (no Pillow, OpenCV or Datumaro import).

Mask images are large areas of few values: zlib at a low level compresses them well and fast.
Readers see pixels, not bytes, so only the mode matters for parity: 8-bit grey (``L``),
palette (``P``, with ``palette`` as RGB triples), 16-bit grey (``I;16``), 8-bit ``RGB`` or ``RGBA``.
"""

from __future__ import annotations

import functools
import struct
import zlib
from typing import Any

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
GREY, RGB, PALETTE, RGBA = 0, 2, 3, 6  # PNG colour types


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


@functools.lru_cache(maxsize=64)
def _head(width: int, height: int, depth: int, colour: int) -> bytes:
    """Signature and IHDR chunk (the same for every mask of an export's image size)."""
    return SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))


def _rows(pixels: np.ndarray) -> bytes:
    """The image rows, each after a filter byte 0 (none), as one byte string."""
    height = pixels.shape[0]
    flat = np.ascontiguousarray(pixels).reshape(height, -1).view(np.uint8)
    framed = np.zeros((height, flat.shape[1] + 1), dtype=np.uint8)
    framed[:, 1:] = flat
    return framed.tobytes()


IEND = _chunk(b"IEND", b"")


def encode_png(pixels: np.ndarray, *, palette: Any = None, level: int = 1) -> bytes:
    """``pixels`` as a PNG: ``(h, w)`` uint8 (grey, or palette indices when ``palette`` is given:
    a sequence of ``(r, g, b)``), ``(h, w)`` uint16 (16-bit grey) or ``(h, w, 3|4)`` uint8 (RGB, RGBA)."""
    height, width = pixels.shape[:2]
    if pixels.ndim == 3:
        if pixels.shape[2] not in (3, 4) or pixels.dtype != np.uint8:
            raise ValueError("only 8-bit RGB or RGBA colour images are supported")
        depth, colour = 8, RGB if pixels.shape[2] == 3 else RGBA
    elif pixels.dtype == np.uint16:
        if palette is not None:
            raise ValueError("a palette image has 8-bit indices")
        depth, colour = 16, GREY
        pixels = pixels.astype(">u2")  # PNG stores big-endian samples
    elif pixels.dtype == np.uint8:
        depth, colour = 8, GREY if palette is None else PALETTE
    else:
        raise ValueError(f"unsupported pixel type {pixels.dtype}")
    parts = [_head(width, height, depth, colour)]
    if palette is not None:
        entries = [tuple(int(c) for c in rgb) for rgb in palette]
        if not 0 < len(entries) <= 256:
            raise ValueError("a palette has 1 to 256 colours")
        parts.append(_chunk(b"PLTE", bytes(c for rgb in entries for c in rgb)))
    parts.append(_chunk(b"IDAT", zlib.compress(_rows(pixels), level)))
    parts.append(IEND)
    return b"".join(parts)


def encode_framed_png(rows: Any, width: int, height: int, *, depth: int = 8, colour: int = GREY,
                      level: int = 1) -> bytes:
    """A PNG of ready rows: ``rows`` holds each row's filter byte 0, then its samples (big-endian
    when 16-bit), as any contiguous buffer; e.g. an ``(h, 1 + 4 * w)`` uint8 array written through
    a view, which spares ``encode_png``'s copies for large images of few values (RGBA masks)."""
    return _head(width, height, depth, colour) + _chunk(b"IDAT", zlib.compress(rows, level)) + IEND
