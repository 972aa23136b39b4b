"""One export, end to end: backup → view → (tweaks → Datumaro exporter | our writer) → archive."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cvat_bridge.archive import OutputTree, atomic_output, describe_os_error, guard_output
from cvat_bridge.backup import load_task
from cvat_bridge.errors import CvatBridgeError, FormatError
from cvat_bridge.formats.registry import FormatSpec, find_format, load_object
from cvat_bridge.gc_pause import gc_paused
from cvat_bridge.meta import build_meta, export_timestamp
from cvat_bridge.model import Task
from cvat_bridge.view import ExportView

Progress = Callable[[int, int], None]


def _datumaro_export(spec: FormatSpec, view: ExportView, out: OutputTree, save_images: bool,
                     progress: Progress | None, media: Any = None) -> None:
    import logging

    from datumaro.components.dataset import Dataset
    from datumaro.components.environment import Environment
    from datumaro.components.progress_reporting import ProgressReporter

    from cvat_bridge.formats.tweaks import TweakContext, run_tweak
    from cvat_bridge.translate import TaskExtractor

    extractor = TaskExtractor(view, keep_cuboids=bool(spec.options.get("keep_cuboids", False)),
                              media_loader=media.media if media is not None else None)
    dataset: Any = Dataset.from_extractors(extractor, env=Environment())
    options = {k: v for k, v in spec.options.items() if k != "keep_cuboids"}
    context = TweakContext(task=view.task, options=options)
    for name in spec.tweaks:
        dataset = run_tweak(name, dataset, context)
    exporter: Any = spec.exporter
    if exporter and ":" in exporter:
        exporter = load_object(exporter)

    reporter = None
    if progress is not None:
        class _Reporter(ProgressReporter):
            """``done/total`` to ``progress``; the parts of a split (one per subset) add up in one bar."""

            def __init__(self, whole: _Reporter | None = None) -> None:
                self.whole, self.parts, self.total, self.done = whole, (), 0, 0

            @property
            def period(self) -> float:
                return 0.01

            @property
            def interval(self) -> float:  # seconds; Datumaro's base class raises NotImplementedError
                return 0.1

            def start(self, total: int | None, *, desc: str | None = None) -> None:
                self.total, self.done = total or 0, 0
                self._report()

            def report_status(self, progress_value: int) -> None:
                self.done = progress_value
                self._report()

            def finish(self) -> None:
                self.done = self.total
                self._report()

            def split(self, count: int) -> tuple[_Reporter, ...]:
                self.parts = tuple(_Reporter(self) for _ in range(count))
                return self.parts

            def _report(self) -> None:
                whole = self.whole or self
                counted = whole.parts or (whole,)
                progress(sum(p.done for p in counted), sum(p.total for p in counted))

        reporter = _Reporter()
    logging.getLogger("datumaro").setLevel(logging.ERROR)
    dataset.export(str(out.folder), exporter, save_media=save_images, progress_reporter=reporter, **options)


def export_task(task: Task, spec: FormatSpec, output: str | Path, *, job: int | None = None,
                save_images: bool = False, overwrite: bool = False, server_url: str = "",
                progress: Progress | None = None, image_format: str | None = None,
                only_annotated: bool = False, options: dict[str, Any] | None = None) -> Path:
    """Export a loaded task (or its ``job``, 1-based) in the format ``spec`` to ``output``.

    ``options`` adds to or overrides the row's ``options`` (e.g. VGGFace2's ``keep_first_box``).

    ``image_format`` (``png``/``jpg``) encodes the frames of video tasks (CVAT: PNG);
    ``only_annotated`` leaves out the frames that carry no annotation.
    """
    from contextlib import nullcontext

    if not spec.implemented:
        raise FormatError(f"format '{spec.name}' is not implemented yet")
    if options:
        spec = dataclasses.replace(spec, options={**spec.options, **options})
    view = ExportView(task, None if job is None else job - 1)
    if only_annotated:
        from cvat_bridge.media import keep_annotated_frames  # media.py loads Datumaro: only when needed

        keep_annotated_frames(view)
    timestamp = export_timestamp()
    output = Path(output)
    guard_output(output, task.source_path)
    media_context: Any = nullcontext()
    if save_images:
        from cvat_bridge.media import MediaProvider

        media_context = MediaProvider(task, image_format=image_format)
    try:
        with media_context as media, atomic_output(output, overwrite=overwrite, timestamp=timestamp) as out:
            if spec.writer:
                meta = build_meta(task, view.job_index, server_url=server_url, timestamp=timestamp)
                extra = {"media": media} if media is not None else {}
                with gc_paused():  # our writers make many objects and no cycles
                    load_object(spec.writer)(view, out, meta, save_images=save_images, **extra, **spec.options)
            else:
                _datumaro_export(spec, view, out, save_images, progress, media)
    except OSError as exc:  # disk full, no permission, a name the file system refuses: not a bug
        raise CvatBridgeError(f"{spec.name}: {describe_os_error(exc)}") from None
    return output


def export(path: str | Path, format: str, output: str | Path, job: int | None = None,
           save_images: bool = False, *, overwrite: bool = False, server_url: str = "",
           progress: Progress | None = None, image_format: str | None = None,
           only_annotated: bool = False, options: dict[str, Any] | None = None,
           lenient: bool = False) -> Path:
    """Read the backup at ``path`` and export it (or job ``job``, 1-based) as ``format`` to ``output``.

    ``output`` ending in ``.zip`` gives a ZIP archive, anything else a folder. ``options``
    overrides the format's options, e.g. ``{"keep_first_box": True}`` for VGGFace2 1.0.
    A bad annotation object stops the export (``BackupError``); ``lenient`` leaves such
    objects out instead and logs how many and why (logger ``cvat_bridge``).
    """
    spec = find_format(format)
    if not spec.implemented:
        raise FormatError(f"format '{spec.name}' is not implemented yet")
    task = load_task(path, lenient=lenient)
    if task.skipped:
        import logging

        from cvat_bridge.validate import summarize

        logging.getLogger("cvat_bridge").warning("skipped %s", summarize(task.skipped))
    return export_task(task, spec, output, job=job, save_images=save_images, overwrite=overwrite,
                       server_url=server_url, progress=progress, image_format=image_format,
                       only_annotated=only_annotated, options=options)
