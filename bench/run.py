"""Time whole `cvat-bridge export` processes and print a table: format, seconds, CVAT's seconds, ratio, peak RSS.

    python bench/run.py                      # the reference task `large` (needs ../shared), every ready format
    python bench/run.py --synthetic 10       # plus a synthetic task 10x `large` (made by bench/make_task.py)
    python bench/run.py --formats "COCO 1.0,MOT 1.1" --repeat 3
    python bench/run.py --reference overlap32 --overlap-synthetic 10 --formats "CVAT for video 1.1,MOT 1.1,COCO 1.0"

Each export runs in its own process (`os.wait4` gives its peak RSS and CPU time); the median of --repeat
runs is shown. "CPU s" is user + system time of that process: on a machine shared with other work it
moves less than the wall time. CVAT's seconds come from ../shared/cvat-reference/large/cvat_timings.csv
and overlap32/README.md (CVAT 2.15, same machine kind).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "cvat-reference"
DATA = ROOT / "bench" / ".data"
sys.path.insert(0, str(ROOT))


def cvat_seconds() -> dict[str, float]:
    path = SHARED / "large" / "cvat_timings.csv"
    if not path.exists():
        return {}
    with open(path) as f:
        return {row["format"]: float(row["median_s"]) for row in csv.DictReader(f) if row["save_images"] == "False"}


# ../shared/cvat-reference/overlap32/README.md, "Timings" (one run each, without images)
OVERLAP32_CVAT_SECONDS = {"CVAT for video 1.1": 31.1, "MOT 1.1": 31.1, "COCO 1.0": 32.6}


def run_once(cli: str, backup: Path, fmt: str, out: Path) -> tuple[float, int, int, float]:
    """(wall seconds, peak RSS in MB, exit code, CPU seconds) of one export process."""
    start = time.perf_counter()
    process = subprocess.Popen([cli, "export", "--task", str(backup), "--format", fmt, "-o", str(out),
                                "--overwrite", "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, usage.ru_maxrss // 1024, process.returncode, usage.ru_utime + usage.ru_stime


def compile_package() -> None:
    """Write the package's bytecode caches first, as any installed copy has them: with
    PYTHONDONTWRITEBYTECODE set (as on our development machines) an editable install would
    otherwise recompile every module of cvat_bridge in each timed process (~0.05 s)."""
    import compileall

    import cvat_bridge

    compileall.compile_dir(str(Path(cvat_bridge.__file__).parent), quiet=1)


def main() -> None:
    from cvat_bridge.formats.registry import load_formats

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--formats", help="comma-separated format names (default: every ready format)")
    parser.add_argument("--synthetic", type=int, action="append", default=[], help="also a task N x large")
    parser.add_argument("--overlap-synthetic", type=int, action="append", default=[],
                        help="also an overlap32-like task N times larger (bench/make_overlap_task.py)")
    parser.add_argument("--reference", action="append", default=[],
                        help="reference task under ../shared/cvat-reference (default: large)")
    parser.add_argument("--no-large", action="store_true", help="skip the reference task large")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cli", default=shutil.which("cvat-bridge") or str(ROOT / ".venv" / "bin" / "cvat-bridge"))
    args = parser.parse_args()

    specs = [s for s in load_formats() if s.implemented]
    if args.formats:
        wanted = {name.strip().lower() for name in args.formats.split(",")}
        specs = [s for s in specs if s.name.lower() in wanted or s.display_name.lower() in wanted]
    tasks: list[tuple[str, Path]] = []
    references = args.reference or ([] if args.no_large else ["large"])
    for name in references:
        if (SHARED / name / "backup.zip").exists():
            tasks.append((name, SHARED / name / "backup.zip"))
    DATA.mkdir(parents=True, exist_ok=True)
    for factor in args.synthetic:
        from bench.make_task import make_task

        path = DATA / f"synthetic_x{factor}.zip"
        if not path.exists():
            make_task(factor, path)
        tasks.append((f"x{factor}", path))
    for factor in args.overlap_synthetic:
        from bench.make_overlap_task import make_task as make_overlap_task

        path = DATA / f"overlap_x{factor}.zip"
        if not path.exists():
            make_overlap_task(factor, path)
        tasks.append((f"overlap x{factor}", path))
    compile_package()
    baseline = cvat_seconds()
    print("| task | format | ours s | CPU s | CVAT s | ratio | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for task_name, backup in tasks:
            for spec in specs:
                runs = [run_once(args.cli, backup, spec.name, Path(tmp) / "out.zip") for _ in range(args.repeat)]
                if any(r[2] for r in runs):
                    print(f"| {task_name} | {spec.name} | failed (exit {runs[0][2]}) | | | | |", flush=True)
                    continue
                seconds = statistics.median(r[0] for r in runs)
                cpu = statistics.median(r[3] for r in runs)
                rss = max(r[1] for r in runs)
                cvat = {"large": baseline, "overlap32": OVERLAP32_CVAT_SECONDS}.get(task_name, {}).get(
                    spec.display_name)
                ratio = f"{seconds / cvat:.2f}" if cvat else ""
                print(f"| {task_name} | {spec.name} | {seconds:.2f} | {cpu:.2f} | {cvat or ''} | {ratio} | {rss} |",
                      flush=True)


if __name__ == "__main__":
    main()
