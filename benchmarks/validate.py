"""Benchmark: validate N synthetic records with `gongshi validate`, as a whole process.

    python benchmarks/validate.py                  # 1,000,000 records, 3 timed runs
    python benchmarks/validate.py --records 200000 --runs 5
    python benchmarks/validate.py --cached 3       # also: 3 re-runs with --cache and one new file

Generates the data once with `gongshi synth` (kept in --data, reused when present), then runs
`gongshi validate` --runs times after one warm-up and prints each run's wall time, rows per
second and peak resident memory (the child's ru_maxrss), then the medians against the targets:
at least 200,000 rows/s and under 2 GB peak memory on a 2-core machine.

With --cached N it then times N runs of the incremental case: `gongshi validate --cache DIR` over the same
files (linked into a temporary folder) plus one new file of 1,000 rows, a different one each
run, after one run that fills the cache.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_ROWS_PER_SECOND = 200_000
TARGET_PEAK_BYTES = 2 * 1024**3
AS_OF = "2026-11-20"


def gongshi() -> list[str]:
    return [sys.executable, "-m", "generator.cli"]


def machine_reference() -> str:
    """The same small workload on any machine, to compare benchmark figures taken on different
    machines or days: the CPU seconds (best of three) of 3 million Python additions, sorting 4
    million 64-bit integers with NumPy and a random take of a million short strings with Arrow
    (the three kinds of work a build does)."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(0)
    numbers = rng.integers(0, 1 << 62, 4_000_000)
    strings = pa.array([f"统一社会信用代码{i:010d}" for i in range(1_000_000)], pa.string())
    order = pa.array(rng.permutation(len(strings)))

    def python() -> None:
        total = 0
        for i in range(3_000_000):
            total += i

    def best(task) -> float:
        times = []
        for _ in range(3):
            started = time.process_time()
            task()
            times.append(time.process_time() - started)
        return min(times)

    parts = {"python": best(python), "numpy sort": best(lambda: np.sort(numbers)), "arrow take": best(lambda: strings.take(order))}
    return ", ".join(f"{name} {seconds:.2f}" for name, seconds in parts.items()) + " s CPU"


def ensure_data(records: int, seed: int, data: Path) -> None:
    marker = data / ".synth.json"
    wanted = {"records": records, "seed": seed, "as_of": AS_OF}
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        return
    print(f"generating {records:,} records into {data} …", flush=True)
    started = time.perf_counter()
    subprocess.run([*gongshi(), "synth", "--records", str(records), "--seed", str(seed), "--out", str(data),
                    "--as-of", AS_OF], check=True, stdout=subprocess.DEVNULL)
    marker.write_text(json.dumps(wanted))
    print(f"generated in {time.perf_counter() - started:.1f} s", flush=True)


def run_once(data: Path, report: Path, *extra: str) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one `gongshi validate` process."""
    code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); w = time.perf_counter() - t; "
            "print(w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
    out = subprocess.run([sys.executable, "-c", code, *gongshi(), "validate", str(data), "--as-of", AS_OF,
                          "--json", str(report), *extra], check=True, capture_output=True, text=True).stdout.split()
    wall, peak_kib, status = float(out[0]), int(out[1]), int(out[2])
    if status not in (0, 1):
        raise SystemExit(f"gongshi validate failed with exit status {status}")
    return wall, peak_kib * 1024


def data_arguments(description: str, **extra: int) -> argparse.Namespace:
    """The options both benchmarks share (the data set), plus ``extra`` integer options; the data
    is generated when missing."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=Path("bench-data") / "validate")
    for name, default in extra.items():
        parser.add_argument(f"--{name}", type=int, default=default)
    args = parser.parse_args()
    ensure_data(args.records, args.seed, args.data)
    return args


def new_file(data: Path, folder: Path, number: int, rows: int = 1000) -> None:
    """Add ``penalties/zz-new-<number>.csv``: the header and first ``rows`` rows of the largest
    UTF-8 or GB18030 penalties CSV (a re-export, so its rows are duplicates), with its sidecar."""
    def utf16(path: Path) -> bool:
        with path.open("rb") as f:
            return f.read(2) in (b"\xff\xfe", b"\xfe\xff")

    sources = sorted((p for p in (data / "penalties").glob("*.csv") if not utf16(p)), key=lambda p: p.stat().st_size)
    source = sources[-1]
    lines = source.read_bytes().split(b"\n")
    for old in (folder / "penalties").glob("zz-new-*"):
        old.unlink()
    target = folder / "penalties" / f"zz-new-{number}.csv"
    target.write_bytes(b"\n".join(lines[:rows + 1]) + b"\n")
    shutil.copy(source.with_name(source.name + ".provenance.yaml"), target.with_name(target.name + ".provenance.yaml"))


def cached_runs(data: Path, runs: int, tmp: Path) -> None:
    """Time `validate --cache` re-runs, each with one new 1,000-row file."""
    folder, cache, report = tmp / "datasets", tmp / "cache", tmp / "cached.json"
    shutil.copytree(data, folder, copy_function=os.link)  # the same files, linked
    run_once(folder, report, "--cache", str(cache))  # fills the cache
    results = []
    for i in range(runs):
        new_file(data, folder, i)
        wall, peak = run_once(folder, report, "--cache", str(cache))
        results.append((wall, peak))
        print(f"cached re-run {i + 1} (one new file of 1,000 rows): {wall:.2f} s, peak {peak / 1024**2:,.0f} MiB", flush=True)
    print(f"median cached re-run: {statistics.median(w for w, _ in results):.2f} s")


def main() -> None:
    args = data_arguments(__doc__, runs=3, cached=0)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        run_once(args.data, report)  # warm-up: file cache, bytecode
        rows = json.loads(report.read_text(encoding="utf-8"))["totals"]["read"]
        results = []
        for i in range(args.runs):
            wall, peak = run_once(args.data, report)
            results.append((wall, peak))
            print(f"run {i + 1}: {wall:.2f} s, {rows / wall:,.0f} rows/s, peak {peak / 1024**2:,.0f} MiB", flush=True)
    wall = statistics.median(w for w, _ in results)
    peak = max(p for _, p in results)
    speed = rows / wall
    print(f"\nrows read: {rows:,} on {os.cpu_count()} cores")
    print(f"median wall: {wall:.2f} s  ->  {speed:,.0f} rows/s (target >= {TARGET_ROWS_PER_SECOND:,}) "
          f"{'OK' if speed >= TARGET_ROWS_PER_SECOND else 'MISSED'}")
    print(f"peak RSS: {peak / 1024**2:,.0f} MiB (target < {TARGET_PEAK_BYTES // 1024**2:,} MiB) "
          f"{'OK' if peak < TARGET_PEAK_BYTES else 'MISSED'}")
    if args.cached:
        print()
        with tempfile.TemporaryDirectory() as tmp:
            cached_runs(args.data, args.cached, Path(tmp))


if __name__ == "__main__":
    main()
