"""Where we differ from CVAT on purpose (../shared/cvat-reference/DELTAS.md), undone for parity.

The conformance test compares our archive, with only these deliberate additions taken out,
against CVAT's reference; tests/test_formats_labels.py checks that the additions are there.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path


def without_cuboids_2d(archive: Path, target: Path) -> Path:
    """DELTAS.md item 2: our Datumaro 1.0 keeps 2D cuboids, CVAT 2.15 dropped them."""
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.startswith("annotations/") and info.filename.endswith(".json"):
                content = json.loads(data)
                for item in content.get("items", []):
                    item["annotations"] = [a for a in item["annotations"] if a.get("type") != "cuboid_2d"]
                data = json.dumps(content).encode()
            dst.writestr(info, data)
    return target


DELIBERATE_DELTAS = {"Datumaro 1.0": without_cuboids_2d}


def undo_deliberate_deltas(format_name: str, archive: Path) -> Path:
    """Our archive as CVAT 2.15 would have written it, for the formats with a deliberate delta."""
    undo = DELIBERATE_DELTAS.get(format_name)
    if undo is None:
        return archive
    return undo(archive, archive.with_name(archive.stem + "_as_cvat.zip"))
