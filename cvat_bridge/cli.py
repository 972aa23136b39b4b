"""The ``cvat-bridge`` command: arguments, progress and errors; the work happens elsewhere.

Built on the standard library's argparse, and every command imports only what it needs (rich
only for the tables and the progress bar), so the command starts in a few hundredths of a second.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from cvat_bridge.errors import CvatBridgeError

if TYPE_CHECKING:
    from cvat_bridge.validate import Problem

PROG = "cvat-bridge"
IMAGE_FORMATS = ("png", "jpg")
REQUIRED_EXPORT_OPTIONS = (("task", "--task/-t"), ("format", "--format/-f"), ("output", "--output/-o"))

MAIN_EPILOG = """\
Example:
  cvat-bridge export --task task_backup.zip --format "PASCAL VOC 1.0" -o voc.zip

Run 'cvat-bridge COMMAND --help' for the options of a command."""

EXPORT_EPILOG = """\
Examples:
  cvat-bridge export --task backup.zip --format "COCO 1.0" -o coco.zip
  cvat-bridge export --task backup/ --format "CVAT for video 1.1" --job 2 -o job2.zip
  cvat-bridge export --task backup.zip --format yolo -o yolo_dir --save-images
  cvat-bridge export --task video_backup.zip --format mot -o mot.zip --save-images --image-format jpg \\
      --only-annotated"""


# --- output --------------------------------------------------------------------------------------

def _paint(text: str, style: str) -> str:
    """``text`` in an ANSI ``style`` when stderr is a terminal that takes colours (honours NO_COLOR)."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb" or not sys.stderr.isatty():
        return text
    return f"\x1b[{style}m{text}\x1b[0m"


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _error(message: str) -> None:
    _say(f"{_paint('error:', '1;31')} {message}")


def _warning(message: str) -> None:
    _say(f"{_paint('warning:', '1;33')} {message}")


def _report_skipped(skipped: list[Problem]) -> None:
    """With --lenient: how many bad objects were left out and why, and the first few of them."""
    if not skipped:
        return
    from cvat_bridge.validate import summarize

    _warning(f"skipped {summarize(skipped)}")
    for problem in skipped[:5]:
        _say(f"  {problem}")
    if len(skipped) > 5:
        _say(f"  ... and {len(skipped) - 5} more")


# --- commands ------------------------------------------------------------------------------------

def run_export(args: argparse.Namespace) -> None:
    """Export a task backup (or one of its jobs) in one format."""
    import gc

    from cvat_bridge.backup import load_task
    from cvat_bridge.formats.registry import find_format

    spec = find_format(args.format)
    if not spec.implemented:
        raise CvatBridgeError(f"format '{spec.name}' is not implemented yet")
    loaded = load_task(args.task, lenient=args.lenient)
    # the loaded task lives until the process ends: keep the collector from walking its millions of
    # objects again and again while the export runs (about 12% of the time of big tasks)
    gc.freeze()
    _report_skipped(loaded.skipped)
    if args.job is not None and args.job > len(loaded.jobs):
        raise CvatBridgeError(f"job {args.job} does not exist: the task has {len(loaded.jobs)} jobs "
                              "(see 'cvat-bridge inspect')")
    from cvat_bridge.export import export_task  # the writers' machinery: once the input is known to be good

    options: dict[str, Any] = dict(job=args.job, save_images=args.save_images, overwrite=args.overwrite,
                                   server_url=args.server_url, image_format=args.image_format,
                                   only_annotated=args.only_annotated)
    if not args.quiet and sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn(spec.name), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=Console(stderr=True), transient=True) as bar:
            bar_task = bar.add_task("export", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(bar_task, completed=done, total=total or None)

            export_task(loaded, spec, args.output, progress=progress, **options)
    else:
        export_task(loaded, spec, args.output, **options)
    if not args.quiet:
        _say(f"wrote {args.output}")


def run_formats(args: argparse.Namespace) -> None:
    """List every format with its CVAT display name and status."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from cvat_bridge.formats.registry import load_formats

    table = Table("format", "CVAT display name", "status")
    for spec in load_formats():
        table.add_row(escape(spec.name), escape(spec.display_name),
                      "ready" if spec.implemented else "not implemented yet")
    Console().print(table)


def run_inspect(args: argparse.Namespace) -> None:
    """Show a backup's labels, jobs (with frame ranges) and annotation counts."""
    from cvat_bridge.backup import load_task

    loaded = load_task(args.task, lenient=args.lenient)
    _report_skipped(loaded.skipped)

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    out = Console()
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


# --- arguments -----------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """Usage errors as one ``error:`` line that points to ``--help``, exit code 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands: dict[str, argparse.ArgumentParser] = {}  # name → parser, for their own errors

    def error(self, message: str) -> NoReturn:
        _error(f"{message} (see '{self.prog} --help')")
        sys.exit(2)


def _job_number(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is not a job number: jobs count from 1")
    return number


def build_parser() -> _Parser:
    from cvat_bridge import __version__

    raw = argparse.RawDescriptionHelpFormatter
    parser = _Parser(prog=PROG, description="Export CVAT task backups into CVAT's dataset formats, offline.",
                     epilog=MAIN_EPILOG, formatter_class=raw, allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")
    parser.commands = commands.choices

    export_parser = commands.add_parser(
        "export", help=run_export.__doc__, description=run_export.__doc__, epilog=EXPORT_EPILOG,
        formatter_class=raw, allow_abbrev=False, add_help=False,
        usage=f"{PROG} export --task TASK --format FORMAT --output OUTPUT [options]")
    export_parser.set_defaults(run=run_export)
    required = export_parser.add_argument_group("required options")
    # checked by hand after parsing, so an unknown option is reported before a missing one
    required.add_argument("-t", "--task", help="Task backup: a .zip or its unpacked folder.")
    required.add_argument("-f", "--format", help="Format name or CVAT display name (see 'formats').")
    required.add_argument("-o", "--output", help="Output: NAME.zip for an archive, else a folder.")
    options = export_parser.add_argument_group("options")  # listed after the required ones
    options.add_argument("-h", "--help", action="help", help="Show this help and exit.")
    options.add_argument("-j", "--job", type=_job_number, metavar="N",
                         help="Export only this job (1-based, see 'inspect').")
    options.add_argument("--save-images", action="store_true", help="Put the task's media into the export.")
    options.add_argument("--image-format", type=str.lower, choices=IMAGE_FORMATS, default="png",
                         help="Encoding of video frames with --save-images (CVAT: png; image tasks keep their "
                              "files). Default: png.")
    options.add_argument("--only-annotated", action="store_true",
                         help="Leave out frames without annotations (and their images).")
    options.add_argument("--overwrite", action="store_true", help="Replace OUTPUT if it exists.")
    options.add_argument("--lenient", action="store_true",
                         help="Skip bad annotation objects (and say how many and why) instead of stopping.")
    options.add_argument("--server-url", default="", metavar="URL",
                         help="Base URL for job links in CVAT XML meta.")
    options.add_argument("-q", "--quiet", action="store_true", help="No progress bar.")

    formats = commands.add_parser("formats", help=run_formats.__doc__, description=run_formats.__doc__,
                                  allow_abbrev=False)
    formats.set_defaults(run=run_formats)

    inspect = commands.add_parser("inspect", help=run_inspect.__doc__, description=run_inspect.__doc__,
                                  allow_abbrev=False)
    inspect.set_defaults(run=run_inspect)
    inspect.add_argument("task", help="Task backup: a .zip or its unpacked folder.")
    inspect.add_argument("--lenient", action="store_true", help="List bad annotation objects instead of stopping.")
    return parser


def parse_arguments(argv: list[str]) -> tuple[argparse.Namespace, Callable[[argparse.Namespace], None]]:
    """The parsed arguments and the command to run; usage errors exit with code 2."""
    parser = build_parser()
    if not argv:
        parser.print_help()
        sys.exit(2)
    args, extra = parser.parse_known_args(argv)
    command = parser.commands.get(args.command, parser)
    if extra:
        options = [word for word in extra if word.startswith("-")]
        command.error(f"No such option: {options[0]}" if options else f"unexpected argument(s): {' '.join(extra)}")
    if args.command is None:
        parser.error("no command given")
    if args.command == "export":
        missing = [flags for dest, flags in REQUIRED_EXPORT_OPTIONS if getattr(args, dest) is None]
        if missing:
            command.error(f"missing option{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    return args, args.run


# --- the process ---------------------------------------------------------------------------------

class Terminated(BaseException):
    """SIGTERM: a BaseException, so no ``except Exception`` on the way (ours or Datumaro's)
    stops it, while every ``finally`` runs and removes the temporary output."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


WARNING_HANDLER = "cvat-bridge warning lines"


def _route_library_warnings() -> None:
    """Our library's warnings (e.g. generated ICDAR attributes) as one ``warning:`` line each."""
    import logging

    class WarningLine(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            _warning(record.getMessage())

    library_log = logging.getLogger("cvat_bridge")
    if not any(handler.get_name() == WARNING_HANDLER for handler in library_log.handlers):
        handler = WarningLine(logging.WARNING)
        handler.set_name(WARNING_HANDLER)
        library_log.addHandler(handler)
    library_log.propagate = False


def main(argv: list[str] | None = None) -> None:
    import signal

    # NumPy's OpenBLAS starts a thread per core at import (about 0.06 s of an export's start-up);
    # nothing we do is linear algebra
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    signal.signal(signal.SIGTERM, _terminate)
    try:
        args, command = parse_arguments(sys.argv[1:] if argv is None else argv)
        _route_library_warnings()
        command(args)
    except CvatBridgeError as exc:
        _error(str(exc))
        sys.exit(2)
    except KeyboardInterrupt:
        _say("interrupted")
        sys.exit(130)
    except Terminated:
        _say("terminated")
        sys.exit(143)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no tracebacks for users
        _say(f"{_paint('internal error:', '1;31')} {type(exc).__name__}: {exc}\n"
             "This is a bug in cvat-bridge; please report it with the command you ran.")
        sys.exit(1)


if __name__ == "__main__":
    main()
