"""Benchmark: subject pages alone, to see how much of their cost is the disk.

    python benchmarks/subject_pages.py                       # pages into a folder under $TMPDIR
    python benchmarks/subject_pages.py --into /dev/shm       # pages into memory (tmpfs)
    python benchmarks/subject_pages.py --records 20000 --data bench-data/small --repeat 5   # a quick look

Reads and decides the synthetic data of benchmarks/validate.py (1,000,000 records by default),
then times only the writing of every subject page and its JSON, in the build's own worker
processes, and prints subject pages per second. Running it twice, on disk and on tmpfs, separates
the cost of rendering from the cost of creating ~700,000 files. ``--repeat N`` writes them N times
over (into a new folder each time) and prints each pass and the median. The generator measured is
this checkout's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]
from validate import AS_OF, ensure_data  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=ROOT / "bench-data" / "validate")
    parser.add_argument("--into", type=Path, default=None, help="Folder to write the pages under (default: $TMPDIR).")
    parser.add_argument("--repeat", type=int, default=1, help="Write the pages this many times (default: 1).")
    args = parser.parse_args()
    ensure_data(args.records, args.seed, args.data)

    from generator.disclosure import decide_all
    from generator.intake import run_intake
    from generator.outputs.disclosures import gather
    from generator.outputs.render import Writer, environment, workers
    from generator.outputs.shell import TITLE_MARK, Shell
    from generator.outputs.subject_pages import write_subject_pages
    from generator.site import build, region_name

    as_of = dt.date.fromisoformat(AS_OF)
    with tempfile.TemporaryDirectory() as demo:  # the theme's real page around the article, from the demo site
        build(ROOT / "datasets", Path(demo) / "site", as_of)
        page = (Path(demo) / "site" / "about" / "index.html").read_text(encoding="utf-8")
    shell = Shell.parse(page.replace("关于本站", TITLE_MARK), "http://127.0.0.1:8000")
    disclosures = gather(decide_all(run_intake(args.data, as_of)))
    rates = []
    for _ in range(max(1, args.repeat)):
        target = Path(tempfile.mkdtemp(prefix="gongshi-pages-", dir=args.into))
        try:
            writer = Writer(target, shell, "")
            started = time.perf_counter()
            result = write_subject_pages(disclosures, writer, environment(ROOT / "templates"), region_name)
            seconds = time.perf_counter() - started
        finally:
            shutil.rmtree(target, ignore_errors=True)
        rates.append(result.subjects / seconds)
        print(f"{result.subjects:,} subject pages (page and JSON each) into {args.into or tempfile.gettempdir()} "
              f"with {workers()} processes: {seconds:.1f} s = {rates[-1]:,.0f} pages/s", flush=True)
    if len(rates) > 1:
        print(f"median of {len(rates)}: {statistics.median(rates):,.0f} pages/s")


if __name__ == "__main__":
    main()
