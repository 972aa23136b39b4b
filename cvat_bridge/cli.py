"""The ``cvat-bridge`` command: arguments, progress and errors; the work happens elsewhere."""

from __future__ import annotations

import gc
import logging
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cvat_bridge.errors import CvatBridgeError

if TYPE_CHECKING:
    from cvat_bridge.validate import Problem

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Export CVAT task backups into CVAT's dataset formats, offline.",
    epilog="Example: cvat-bridge export --task task_backup.zip --format \"PASCAL VOC 1.0\" -o voc.zip",
)
err = Console(stderr=True)
out = Console()


class FrameFormat(str, Enum):
    """How the frames of video tasks are encoded with --save-images."""

    png = "png"
    jpg = "jpg"


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.command(epilog=(
    "Examples:\n\n"
    "  cvat-bridge export --task backup.zip --format \"COCO 1.0\" -o coco.zip\n\n"
    "  cvat-bridge export --task backup/ --format \"CVAT for video 1.1\" --job 2 -o job2.zip\n\n"
    "  cvat-bridge export --task backup.zip --format yolo -o yolo_dir --save-images\n\n"
    "  cvat-bridge export --task video_backup.zip --format mot -o mot.zip --save-images --image-format jpg"
    " --only-annotated"
))
def export(
    task: Annotated[Path, typer.Option("--task", "-t", help="Task backup: a .zip or its unpacked folder.")],
    format: Annotated[str, typer.Option("--format", "-f", help="Format name or CVAT display name (see 'formats').")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output: NAME.zip for an archive, else a folder.")],
    job: Annotated[
        Optional[int],  # noqa: UP045 - typer needs Optional on Python 3.10
        typer.Option("--job", "-j", min=1, help="Export only this job (1-based, see 'inspect')."),
    ] = None,
    save_images: Annotated[bool, typer.Option("--save-images", help="Put the task's media into the export.")] = False,
    image_format: Annotated[
        FrameFormat,
        typer.Option("--image-format", case_sensitive=False,
                     help="Encoding of video frames with --save-images (CVAT: png; image tasks keep their files)."),
    ] = FrameFormat.png,
    only_annotated: Annotated[
        bool, typer.Option("--only-annotated", help="Leave out frames without annotations (and their images)."),
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists.")] = False,
    lenient: Annotated[bool, typer.Option(
        "--lenient", help="Skip bad annotation objects (and say how many and why) instead of stopping.")] = False,
    server_url: Annotated[str, typer.Option("--server-url", help="Base URL for job links in CVAT XML meta.")] = "",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Export a task backup (or one of its jobs) in one format."""
    from cvat_bridge.backup import load_task
    from cvat_bridge.export import export_task
    from cvat_bridge.formats.registry import find_format

    spec = find_format(format)
    if not spec.implemented:
        _fail(f"format '{spec.name}' is not implemented yet")
    loaded = load_task(task, lenient=lenient)
    # the loaded task lives until the process ends: keep the collector from walking its millions of
    # objects again and again while the export runs (about 12% of the time of big tasks)
    gc.freeze()
    _report_skipped(loaded.skipped)
    if job is not None and job > len(loaded.jobs):
        _fail(f"job {job} does not exist: the task has {len(loaded.jobs)} jobs (see 'cvat-bridge inspect')")
    show = not quiet and err.is_terminal
    if show:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn(f"{spec.name}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=err, transient=True) as bar:
            bar_task = bar.add_task("export", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(bar_task, completed=done, total=total or None)

            export_task(loaded, spec, output, job=job, save_images=save_images, overwrite=overwrite,
                        server_url=server_url, progress=progress, image_format=image_format.value,
                        only_annotated=only_annotated)
    else:
        export_task(loaded, spec, output, job=job, save_images=save_images, overwrite=overwrite,
                    server_url=server_url, image_format=image_format.value, only_annotated=only_annotated)
    if not quiet:
        err.print(f"wrote {escape(str(output))}", highlight=False)


def _report_skipped(skipped: list[Problem]) -> None:
    """With --lenient: how many bad objects were left out and why, and the first few of them."""
    if not skipped:
        return
    from cvat_bridge.validate import summarize

    err.print(f"[bold yellow]warning:[/] skipped {escape(summarize(skipped))}", highlight=False, soft_wrap=True)
    for problem in skipped[:5]:
        err.print(f"  {problem}", highlight=False, soft_wrap=True, markup=False)
    if len(skipped) > 5:
        err.print(f"  ... and {len(skipped) - 5} more", highlight=False)


@app.command()
def formats() -> None:
    """List every format with its CVAT display name and status."""
    from cvat_bridge.formats.registry import load_formats

    table = Table("format", "CVAT display name", "status")
    for spec in load_formats():
        table.add_row(spec.name, spec.display_name, "ready" if spec.implemented else "not implemented yet")
    out.print(table)


@app.command()
def inspect(
    task: Annotated[Path, typer.Argument(help="Task backup: a .zip or its unpacked folder.")],
    lenient: Annotated[bool, typer.Option("--lenient", help="List bad annotation objects instead of stopping.")]
    = False,
) -> None:
    """Show a backup's labels, jobs (with frame ranges) and annotation counts."""
    from cvat_bridge.backup import load_task

    loaded = load_task(task, lenient=lenient)
    _report_skipped(loaded.skipped)
    out.print(f"[bold]{escape(loaded.name)}[/]: {loaded.media_kind} task, {loaded.size} frames "
              f"(media frames {loaded.start_frame}-{loaded.stop_frame}, step {loaded.step}), "
              f"subset '{escape(loaded.subset or 'default')}', overlap {loaded.overlap}"
              + ("" if loaded.media_available else ", no media in the backup"), highlight=False)
    labels = Table("label", "type", "attributes", "sublabels", title="labels")
    for label in loaded.labels:
        labels.add_row(escape(label.name), escape(label.type), escape(", ".join(a.name for a in label.attributes)),
                       escape(", ".join(s.name for s in label.sublabels)))
    out.print(labels)
    jobs = Table("job", "type", "frames", "tags", "shapes", "tracks", title="jobs")
    for index, (job, job_data) in enumerate(zip(loaded.jobs, loaded.job_annotations, strict=False), 1):
        jobs.add_row(str(index), escape(job.type), f"{job.start_frame}-{job.stop_frame}", str(len(job_data.tags)),
                     str(len(job_data.shapes)), str(len(job_data.tracks)))
    out.print(jobs)


class Terminated(BaseException):
    """SIGTERM: a BaseException, so no ``except Exception`` on the way (ours, click's, Datumaro's)
    stops it, while every ``finally`` runs and removes the temporary output."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


class _WarningHandler(logging.Handler):
    """Our library's warnings (e.g. generated ICDAR attributes) as one ``warning:`` line each."""

    def emit(self, record: logging.LogRecord) -> None:
        err.print(f"[yellow]warning:[/] {escape(record.getMessage())}", highlight=False, soft_wrap=True)


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    library_log = logging.getLogger("cvat_bridge")
    library_log.addHandler(_WarningHandler(logging.WARNING))
    library_log.propagate = False
    try:
        result = app(standalone_mode=False)
        if isinstance(result, int) and result:
            sys.exit(result)  # typer.Exit(code) comes back as a return value without standalone mode
    except CvatBridgeError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted", highlight=False)
        sys.exit(130)
    except Terminated:
        err.print("terminated", highlight=False)
        sys.exit(143)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no tracebacks for users
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):  # click usage errors (typer vendors click)
            exc.show()
            sys.exit(2)
        if type(exc).__name__ == "Abort":
            sys.exit(130)
        err.print(f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))}\n"
                  "This is a bug in cvat-bridge; please report it with the command you ran.", highlight=False)
        sys.exit(1)

if __name__ == "__main__":
    main()
