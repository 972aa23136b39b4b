"""MOT 1.1 as CVAT writes it, on top of upstream Datumaro's ``mot_seq_gt`` exporter.

One difference from upstream Datumaro 1.13 (CVAT's Datumaro fork behaves like this): with
images, ``img1/`` holds each frame under its own name (``img1/frame_000000.png``, the item
id plus the media's extension), not under the 1-based frame number (``img1/000001.jpg``).
"""

from __future__ import annotations

from typing import Any

from datumaro.plugins.data_formats.mot import MotSeqGtExporter


class CvatMotExporter(MotSeqGtExporter):
    """Datumaro's ``mot_seq_gt`` exporter, with images named after their items."""

    def _save_image(self, item: Any, path: str | None = None, *, name: str | None = None,
                    subdir: str | None = None, basedir: str | None = None) -> None:
        super()._save_image(item, path, subdir=subdir, basedir=basedir)
