"""Benchmark: add records to a large site and rebuild it incrementally.

    python benchmarks/incremental.py                      # 1,000,000 records; 3 x 1,000 recent ones; 1,000 back-dated
    python benchmarks/incremental.py --records 100000 --added 1000
    python benchmarks/incremental.py --control 0          # without step 5 (saves a full build)
    python benchmarks/incremental.py --repeat 1           # step 3 once
    python benchmarks/incremental.py --cold 1             # each rebuild from a cold page cache (root, Linux)

Reuses (or generates) the data of benchmarks/validate.py, then, each step as a whole
`gongshi build --timings` process into the same site folder:
1. a full build of the data (the baseline);
2. a rebuild of the same data (nothing changed: the floor of an incremental build);
3. a rebuild after ADDED new submissions: records in new files (`gongshi synth` with another
   seed) decided in the RECENT days before the build date (decisions are published within 7
   working days), the target: under 15 s and under 5% of the full build. REPEAT times, each
   with another batch on top of the last: one rebuild on this noisy machine says little, the
   median of several is the figure;
4. a rebuild after ADDED more records decided at any time in the four years before (late
   submissions: they land in every month's listings, the most pages an addition can touch);
5. a full build of the same input into another folder (the median of step 3 is also given as
   a share of it: a full build's time moves with the disk's state, and 5% with it), and a
   byte-for-byte comparison.
Prints wall time, peak RSS, CPU time (user and system, the build and every process it started),
the seconds of each step and the CPU of each step that ran beside the build for every run, and,
before the first build and after the last, a machine reference (:func:`validate.machine_reference`):
the speed of these shared machines varies by day and hour, and the targets are in seconds. With ``--cold 1`` the
page cache is emptied (``sync``, then ``/proc/sys/vm/drop_caches``; needs root) before each
rebuild, as on a machine that has just restored the site: every file the rebuild reads comes
from the disk.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate import AS_OF, data_arguments, gongshi, machine_reference

RUNNER = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
          "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
          "sys.stderr.write(r.stderr); sys.stderr.write(r.stdout); u = resource.getrusage(resource.RUSAGE_CHILDREN); "
          "print(time.perf_counter() - t, u.ru_maxrss, r.returncode, u.ru_utime, u.ru_stime)")

STEP = re.compile(r"(?P<seconds>[\d.]+) s, CPU (?P<cpu>[\d.]+) s \(peak RSS so far ")  # a --timings line after "name: "
BESIDE = re.compile(r"beside the build, (?P<name>.+): CPU [\d.]+ s \(user (?P<user>[\d.]+), system (?P<system>[\d.]+)\)$")


def drop_page_cache() -> None:
    """Empty the page cache (Linux, root): the next build reads every file from the disk."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        raise SystemExit(f"--cold needs root on Linux to empty the page cache: {exc}") from None


@dataclass
class Run:
    """One timed ``gongshi build``: wall seconds, peak RSS (bytes), CPU seconds of the build and
    every process it started (user, system), its summary line and its step timings."""

    wall: float
    peak: int
    user: float
    system: float
    summary: str
    steps: dict[str, tuple[float, float]]  # step: (seconds, CPU seconds of the build process)
    beside: dict[str, tuple[float, float]]  # step run beside the build in a process of its own: (user, system)


def timed_build(datasets: Path, out: Path, *extra: str, cold: bool = False) -> Run:
    """Run one build as a whole process and time it (``cold``: from an empty page cache). The
    files the run before wrote are on the disk first (``sync``): a full build leaves gigabytes
    to write back, which the next run would otherwise share the disk with (a site is rebuilt
    when data lands, not seconds after its last build)."""
    if cold:
        drop_page_cache()
    else:
        os.sync()
    done = subprocess.run([sys.executable, "-c", RUNNER, *gongshi(), "build", "--datasets", str(datasets), "--out", str(out),
                           "--as-of", AS_OF, "--timings", *extra], check=True, capture_output=True, text=True)
    wall, peak, status, user, system = done.stdout.split()
    if status != "0":
        raise SystemExit(f"gongshi build failed with exit status {status}:\n{done.stderr}")
    steps, beside = {}, {}
    summary = ""
    for line in done.stderr.splitlines():
        if "(peak RSS so far " in line:
            name, rest = line.rsplit(": ", 1)
            step = STEP.match(rest)
            steps[name] = (float(step["seconds"]), float(step["cpu"]))
        elif found := BESIDE.match(line):
            beside[found["name"]] = (float(found["user"]), float(found["system"]))
        elif line.startswith("已生成网站"):
            summary = line
    return Run(float(wall), int(peak) * 1024, float(user), float(system), summary, steps, beside)


def linked_datasets(data: Path, target: Path) -> None:
    """The benchmark data as a datasets folder of symbolic links (nothing copied)."""
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        (target / folder.name).mkdir(parents=True)
        for path in folder.iterdir():
            (target / folder.name / path.name).symlink_to(path.resolve())


def add_records(datasets: Path, work: Path, records: int, seed: int, days: int | None, name: str) -> None:
    """``records`` new records in new files named ``<name>-…``: decided in the ``days`` days
    before the build date's publication lag, or (None) at any time in the four years before."""
    added = work / name
    recent = ["--days", str(days)] if days else []
    subprocess.run([*gongshi(), "synth", "--records", str(records), "--seed", str(seed), "--out", str(added),
                    "--as-of", AS_OF, *recent], check=True, stdout=subprocess.DEVNULL)
    for folder in sorted(p for p in added.iterdir() if p.is_dir()):
        for path in folder.iterdir():
            shutil.copy(path, datasets / folder.name / f"{name}-{path.name}")


def report(label: str, run: Run) -> None:
    """The run's times; the CPU line says how long the run would take with every core busy all
    the time, the least wall time that amount of work allows."""
    work = re.search(r"(完整构建。|增量构建：[^。]*。)", run.summary)
    print(f"{label}: {run.wall:.1f} s wall, peak RSS {run.peak / 1024**2:,.0f} MiB — {work.group(1) if work else run.summary}")
    cores = os.cpu_count() or 1
    print(f"  CPU {run.user + run.system:.1f} s (user {run.user:.1f}, system {run.system:.1f}): "
          f"at least {(run.user + run.system) / cores:.1f} s wall on {cores} cores")
    print("  " + ", ".join(f"{name} {seconds:.1f} (CPU {cpu:.1f})" for name, (seconds, cpu) in run.steps.items()))
    if run.beside:
        print("  beside the build (CPU of each step's own process): " + ", ".join(
            f"{name} {user + system:.1f} (user {user:.1f}, system {system:.1f})" for name, (user, system) in run.beside.items()))


def same_tree(a: Path, b: Path) -> tuple[int, list[str]]:
    """Files compared and the ones that differ (or exist on one side only)."""
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    differ = sorted(str(p) for p in files_a ^ files_b)
    differ += [str(p) for p in sorted(files_a & files_b) if not filecmp.cmp(a / p, b / p, shallow=False)]
    return len(files_a | files_b), differ


def main() -> None:
    args = data_arguments(__doc__, added=1000, recent=14, repeat=3, control=1, cold=0)
    cold = bool(args.cold)
    with tempfile.TemporaryDirectory(dir=args.data.parent) as tmp:
        work = Path(tmp)
        datasets = work / "datasets"
        linked_datasets(args.data, datasets)
        site = work / "site"
        print(f"machine reference (best of 3): {machine_reference()}")
        full = timed_build(datasets, site)
        report("full build", full)
        report("rebuild, nothing changed", timed_build(datasets, site, cold=cold))
        walls = []
        for batch in range(max(1, args.repeat)):
            add_records(datasets, work, args.added, 20261120 + 2 * batch, args.recent, f"new{batch + 1}")
            run = timed_build(datasets, site, cold=cold)
            report(f"rebuild after adding {args.added:,} records decided in the last {args.recent} days "
                   f"(batch {batch + 1} of {max(1, args.repeat)})", run)
            walls.append(run.wall)
        middle = statistics.median(walls)
        print(f"median of {len(walls)}: {middle:.1f} s (each: {', '.join(f'{w:.1f}' for w in walls)}); "
              f"incremental / full: {middle / full.wall:.1%} (targets: < 15 s and < 5%)")
        previous = work / "previous"  # the releases so far (hard links), for the control build to continue from
        shutil.copytree(site / "data", previous / "data", copy_function=os.link)
        add_records(datasets, work, args.added, 20261121, None, "late")  # seeds of the recent batches are even
        run = timed_build(datasets, site, cold=cold)
        report(f"rebuild after adding {args.added:,} records decided over four years", run)
        print(f"incremental / full: {run.wall / full.wall:.1%}")
        if not args.control:
            return
        control = timed_build(datasets, work / "control", "--full", "--previous", str(previous))
        report("full build of the same input", control)
        # the same work measured twice: how far a full build's time moves within one run
        print(f"median of {len(walls)} / this full build: {middle / control.wall:.1%} "
              f"(the two full builds: {full.wall:.1f} s and {control.wall:.1f} s)")
        print(f"machine reference (best of 3): {machine_reference()}")
        compared, differ = same_tree(site, work / "control")
        print(f"byte-for-byte: {compared:,} files compared, {len(differ)} differ" + (f": {differ[:10]}" if differ else ""))


if __name__ == "__main__":
    main()
