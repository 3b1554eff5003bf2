"""Benchmark: build the site and the open-data release from N synthetic records.

    python benchmarks/build.py                  # 1,000,000 records
    python benchmarks/build.py --records 200000

Reuses (or generates) the data of benchmarks/validate.py, then
1. runs `gongshi build` as a whole process into a fresh folder: wall time and peak RSS;
2. runs the steps in this process to time them: intake, publication decisions, open-data
   packaging (release files, change file, hashes);
3. prints the size of each release file per format.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate import AS_OF, data_arguments, gongshi


def whole_process(data: Path, out: Path) -> tuple[float, int]:
    code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
            "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
    wall, peak, status = subprocess.run(
        [sys.executable, "-c", code, *gongshi(), "build", "--datasets", str(data), "--out", str(out), "--as-of", AS_OF],
        check=True, capture_output=True, text=True).stdout.split()
    if status != "0":
        raise SystemExit(f"gongshi build failed with exit status {status}")
    return float(wall), int(peak) * 1024


def phases(data: Path, work: Path) -> dict[str, float]:
    from generator.disclosure import decide_all
    from generator.intake import run_intake
    from generator.outputs.opendata import build_open_data

    timings = {}
    started = time.perf_counter()
    intake = run_intake(data, dt.date.fromisoformat(AS_OF))
    timings["intake (read, validate)"] = time.perf_counter() - started
    started = time.perf_counter()
    decisions = decide_all(intake)
    timings["publication decisions"] = time.perf_counter() - started
    started = time.perf_counter()
    build_open_data(decisions, intake.provenance, dt.date.fromisoformat(AS_OF), None, work / "data", "benchmark")
    timings["open-data packaging"] = time.perf_counter() - started
    return timings


def main() -> None:
    args = data_arguments(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        wall, peak = whole_process(args.data, work / "site")
        print(f"gongshi build: {wall:.1f} s wall, peak RSS {peak / 1024**2:,.0f} MiB")
        for name, seconds in phases(args.data, work).items():
            print(f"  {name}: {seconds:.1f} s")
        sizes: dict[str, int] = defaultdict(int)
        for path in (work / "site" / "data" / "latest").iterdir():
            sizes[path.suffix.lstrip(".") or path.name] += path.stat().st_size
        print("release size per format: " + ", ".join(f"{k} {v / 1024**2:,.1f} MiB" for k, v in sorted(sizes.items())))
        shutil.rmtree(work / "site", ignore_errors=True)


if __name__ == "__main__":
    main()
