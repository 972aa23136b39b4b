"""Label colours of CVAT's mask formats, without Datumaro: the task's colour map as CVAT makes
it, the fork's background rule, and Datumaro's generated (VOC) colour map.

Shared by the mask tweaks (masks.py) and our own segmentation writers.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

BACKGROUND = "background"
BACKGROUND_COLOR = "#000000"
BLACK = (0, 0, 0)


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    value = color.lstrip("#")
    if len(value) != 6:
        return (0, 0, 0)
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def task_colormap(task: Any) -> dict[str, tuple[int, int, int]]:
    """CVAT's ``make_colormap``: every label (sublabels too) with its colour, ``background``
    (black) first unless the task has a label of that name. The exporters sort it by name."""
    colormap = {label.name: hex_to_rgb(label.color or BACKGROUND_COLOR) for label in task.all_labels()}
    if BACKGROUND not in colormap:
        colormap = {BACKGROUND: hex_to_rgb(BACKGROUND_COLOR), **colormap}
    return colormap


def find_background(label_map: OrderedDict[str, Any], color_of: Callable[[Any], Any] = lambda v: v) -> str | None:
    """The fork's background label: the first coloured black, else the one named ``background``."""
    for name, value in label_map.items():
        color = color_of(value)
        if color is not None and tuple(color) == BLACK:
            return name
    return BACKGROUND if BACKGROUND in label_map else None


def move_background_first(label_map: OrderedDict[str, Any]) -> str:
    """The fork's rule for KITTI and Cityscapes (``{name: color}`` maps): the background label
    (see ``find_background``, else a new black one) moves to the front, id 0."""
    name = find_background(label_map)
    if name is None:
        name = BACKGROUND
        label_map[name] = BLACK if any(c is not None for c in label_map.values()) else None
    label_map.move_to_end(name, last=False)
    return name


def generated_colormap(length: int) -> list[tuple[int, int, int]]:
    """Datumaro's ``generate_colormap`` (the PASCAL VOC colours): the bits of each index, three
    at a time, spread over the high bits of red, green and blue."""
    colors = []
    for index in range(length):
        r = g = b = 0
        for bit in range(7, -1, -1):
            r |= (index & 1) << bit
            g |= ((index >> 1) & 1) << bit
            b |= ((index >> 2) & 1) << bit
            index >>= 3
        colors.append((r, g, b))
    return colors
