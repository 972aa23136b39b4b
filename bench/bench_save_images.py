"""Peak memory and time of ``--save-images`` exports of a generated 2,000-frame video task.

    .venv/bin/python bench/bench_save_images.py [--frames 2000] [--width 1280] [--height 720]
                                                [--formats "CVAT for video 1.1,COCO 1.0,MOT 1.1"]

Makes the video backup with fixtures/make_video.py (H.264 in MP4, one box track over the whole
clip), then runs the ``cvat-bridge`` command once per format in a child process and reports
the process's peak resident memory (``ru_maxrss`` from ``os.wait4``) and wall time. Budget: 500 MB per export.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_MB = 500


def _make_video_module():  # noqa: ANN202 - a module loaded from fixtures/
    spec = importlib.util.spec_from_file_location("make_video", ROOT / "fixtures" / "make_video.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(cli: Path, backup: Path, format_name: str, out: Path) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of one export in its own process (``os.wait4`` gives its peak)."""
    command = [str(cli), "export", "-t", str(backup), "-f", format_name, "-o", str(out), "--save-images",
               "--overwrite", "-q"]
    with tempfile.TemporaryFile() as errors:
        start = time.monotonic()
        process = subprocess.Popen(command, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.monotonic() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"{format_name}: export failed\n{errors.read().decode(errors='replace')}")
    return usage.ru_maxrss / 1024, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--formats", default="CVAT for video 1.1,COCO 1.0,MOT 1.1")
    args = parser.parse_args()
    cli = Path(sys.executable).with_name("cvat-bridge")
    mv = _make_video_module()
    with tempfile.TemporaryDirectory(prefix="bench_save_images.") as tmp:
        backup = Path(tmp) / "video_backup.zip"
        start = time.monotonic()
        annotations = {"version": 0, "tags": [], "shapes": [],
                       "tracks": [mv.box_track(0, args.frames - 2, args.width, args.height)]}
        mv.make_video_backup(backup, count=args.frames, width=args.width, height=args.height,
                             annotations=annotations)
        print(f"backup: {args.frames} frames {args.width}x{args.height}, "
              f"{backup.stat().st_size / 2**20:.1f} MB, made in {time.monotonic() - start:.0f} s")
        print("| format | frames written | archive MB | peak RSS MB | seconds |")
        print("|---|---|---|---|---|")
        worst = 0.0
        for format_name in args.formats.split(","):
            out = Path(tmp) / "out.zip"
            peak, seconds = _run(cli, backup, format_name, out)
            with zipfile.ZipFile(out) as archive:
                written = sum(1 for n in archive.namelist() if n.lower().endswith(".png"))
            worst = max(worst, peak)
            print(f"| {format_name} | {written} | {out.stat().st_size / 2**20:.0f} | {peak:.0f} | {seconds:.0f} |")
            out.unlink()
    verdict = "within" if worst < BUDGET_MB else "OVER"
    print(f"peak RSS {worst:.0f} MB: {verdict} the {BUDGET_MB} MB budget")
    if worst >= BUDGET_MB:
        sys.exit(1)


if __name__ == "__main__":
    main()
