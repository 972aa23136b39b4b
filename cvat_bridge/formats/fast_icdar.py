"""ICDAR Recognition 1.0 and ICDAR Localization 1.0 written directly from the export view.

Each writer reproduces what its former row wrote (``translate.TaskExtractor``, then Datumaro's
``icdar_word_recognition`` after CVAT's ``LabelToCaption`` — ``item_tweaks.text_to_captions`` —
or ``icdar_text_localization``), without importing Datumaro:

- Recognition: ``<subset>/gt.txt``, a line per image: ``<image>, `` then the ``text`` attribute of
  every object (tags first) that has one, each in quotes, nothing between them.
- Localization: ``<subset>/gt_<image>.txt`` per image, a line per object (2D cuboids are not
  exported): ``x1 y1 x2 y2 "text"`` for boxes (rotation ignored), ``x1,y1,...,"text"`` for
  polygons, an empty line for every other object, tags included.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from cvat_bridge.archive import OutputTree
from cvat_bridge.formats.fast_common import FrameNames, LabelTable, round_box, subset_name
from cvat_bridge.formats.fast_labels import ImageFiles, format_value, item_names, rounded
from cvat_bridge.meta import ExportMeta
from cvat_bridge.view import ExportView

ICDAR_EXT = ".png"
TEXT = "text"


class _Texts:
    """The typed ``text`` attribute of an object, for the labels that define one."""

    def __init__(self, labels: LabelTable) -> None:
        self.labels = labels
        self.with_text = frozenset(label.name for label in labels.labels
                                   if label.parent is None and label.attribute(TEXT) is not None)

    def __call__(self, label: str, values: dict[str, str]) -> Any:
        return self.labels.attributes(label, values)[TEXT]


class _Prepared(NamedTuple):
    """What both ICDAR writers read from the view before their frames."""

    labels: LabelTable
    files: dict[int, tuple[str, str]]  # frame -> (item id, image extension)
    ids: dict[str, int]  # top-level label -> its index
    texts: _Texts
    subset: str
    images: ImageFiles | None  # the image files to write (``--save-images``)


def _prepare(view: ExportView, media: Any, save_images: bool) -> _Prepared:
    labels = LabelTable(view.task)
    return _Prepared(labels, item_names(view, FrameNames(view, media), ICDAR_EXT), labels.top_level_ids(),
                     _Texts(labels), subset_name(view), ImageFiles() if save_images else None)


def export_icdar_recognition(view: ExportView, out: OutputTree, meta: ExportMeta, *, save_images: bool = False,
                             media: Any = None) -> None:
    labels, files, ids, texts, subset, images = _prepare(view, media, save_images)
    lines = []
    for content in view.frames():
        item_id, ext = files[content.frame]
        captions = []
        for tag in content.tags:
            if tag.label in texts.with_text:
                captions.append(f'"{format_value(texts(tag.label, tag.attributes))}"')
            elif tag.label not in ids:
                labels.label_id(tag.label)  # raises: an unknown label
        for item in content.shapes:
            if item.label in texts.with_text and item.shape.type != "cuboid":  # cuboids are not exported
                captions.append(f'"{format_value(texts(item.label, item.attributes))}"')
        lines.append(f"{item_id}{ext}, {''.join(captions)}\n")
        if images is not None:
            images.add(f"{subset}/images/{item_id}{ext}", content.frame)
    if lines:
        out.write_text(f"{subset}/gt.txt", "".join(lines))
    if images is not None:
        images.write(view, out, media)


def export_icdar_localization(view: ExportView, out: OutputTree, meta: ExportMeta, *, save_images: bool = False,
                              media: Any = None) -> None:
    labels, files, ids, texts, subset, images = _prepare(view, media, save_images)
    for content in view.frames():
        item_id, ext = files[content.frame]
        for tag in content.tags:
            if tag.label not in ids:
                labels.label_id(tag.label)  # raises: an unknown label
        lines = ["\n"] * len(content.tags)
        for item in content.shapes:
            shape = item.shape
            kind = shape.type
            if kind == "rectangle":
                line = " ".join(map(str, round_box(shape.points)))
                if item.label in texts.with_text:
                    line += f' "{format_value(texts(item.label, item.attributes))}"'
            elif kind == "polygon":
                line = ",".join(map(str, rounded(shape.points)))
                if item.label in texts.with_text:
                    line += f',"{format_value(texts(item.label, item.attributes))}"'
            elif kind == "cuboid":
                continue  # not exported
            else:
                line = ""
            lines.append(line + "\n")
        folder, _, base = item_id.rpartition("/")
        out.write_text(f"{subset}/{folder}/gt_{base}.txt" if folder else f"{subset}/gt_{base}.txt", "".join(lines))
        if images is not None:
            images.add(f"{subset}/images/{item_id}{ext}", content.frame)
    if images is not None:
        images.write(view, out, media)
