"""YOLO 1.1 (darknet layout) written directly from the export view.

Writes what Datumaro's ``yolo`` exporter writes for ``translate.TaskExtractor`` items, without
importing Datumaro: ``obj.names`` (every label, sublabels too), ``obj.data``, ``<subset>.txt``
listing ``data/obj_<subset>_data/<image>``, and one ``.txt`` per frame, empty when the frame
has no box: ``<label index> <cx> <cy> <w> <h>`` normalised, ``%.6f``, the label index counting
sublabels too. Every box is written, rotated ones too, as CVAT 2.15 did (the references show
both); boxes whose ``is_crowd`` attribute is true are written too: upstream Datumaro 1.13 leaves
them out, CVAT's fork has no such filter. The default subset is called ``train``.

Why our own writer: on ``large`` (2,000 frames) the whole ``cvat-bridge export`` with the
Datumaro exporter took 6.71 s (median of 3, busy 2-core machine) against CVAT's 5.19 s;
importing Datumaro alone costs about 0.5 s of a 0.52 s budget.
"""

from __future__ import annotations

from typing import Any

from cvat_bridge.archive import OutputTree
from cvat_bridge.errors import FormatError
from cvat_bridge.formats.fast_common import DEFAULT_SUBSET, FrameNames, LabelTable, round_box, save_frames, subset_name
from cvat_bridge.meta import ExportMeta
from cvat_bridge.view import ExportView

BOX_TYPES = frozenset({"rectangle"})  # the only shapes written: the view makes no others
PREFIX = "data"
DEFAULT_YOLO_SUBSET = "train"
RESERVED_SUBSETS = frozenset({"backup", "classes", "names"})  # keys of obj.data


def export_yolo(view: ExportView, out: OutputTree, meta: ExportMeta, *, save_images: bool = False,
                media: Any = None) -> None:
    labels = LabelTable(view.task)
    names = FrameNames(view, media)
    names.check_unique(view)
    subset = subset_name(view)
    if subset == DEFAULT_SUBSET:
        subset = DEFAULT_YOLO_SUBSET
    elif subset in RESERVED_SUBSETS:
        raise FormatError(f"Can't export '{subset}' subset in YOLO format, this word is reserved.")
    folder_name = f"obj_{subset}_data"
    label_ids = labels.top_level_ids()
    image_paths: list[str] = []
    for content in view.frames(shape_types=BOX_TYPES):
        info = content.info
        width, height = info.width, info.height
        lines = []
        for item in content.shapes:
            shape = item.shape
            if shape.type != "rectangle":
                continue
            label = item.label
            label_id = label_ids[label] if label in label_ids else labels.label_id(label)
            x1, y1, x2, y2 = round_box(shape.points)
            cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
            lines.append(f"{label_id} {cx:.6f} {cy:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}\n")
        item_id = names.item_id(info.name)
        image_paths.append(f"{PREFIX}/{folder_name}/{names.file_name(info.name)}")
        out.write_text(f"{folder_name}/{item_id}.txt", "".join(lines))
    out.write_text("obj.names", "".join(f"{label.name}\n" for label in labels.labels))
    out.write_text(f"{subset}.txt", "".join(f"{path}\n" for path in image_paths))
    out.write_text("obj.data", f"classes = {len(labels.labels)}\n{subset} = {PREFIX}/{subset}.txt\n"
                               f"names = {PREFIX}/obj.names\nbackup = backup/\n")
    if save_images:
        save_frames(view, out.folder / folder_name, media)
