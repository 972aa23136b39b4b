"""Pausing Python's cyclic garbage collector around the two allocation-heavy phases of an export.

Reading a backup and running a writer make millions of objects and no reference cycles
(reference counting frees them). Left running, the collector walks the growing heap again and
again only to find nothing: more than half of the load time of big tasks, and 15% of the COCO
writer's CPU time on ``large``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused(*, promote: bool = False) -> Iterator[None]:
    """Run the block with the collector paused (restored afterwards if it was enabled).

    ``promote`` moves what the block made to the oldest generation at once (a freeze and an
    unfreeze are two list splices): left in the youngest, the first collection after the pause
    would walk all of it (30-90 ms after loading ``large``) only to promote it. Skipped when the
    program froze objects of its own, which an unfreeze would release.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if promote and gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        if enabled:
            gc.enable()
