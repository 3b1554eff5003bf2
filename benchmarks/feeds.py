"""Benchmark: write every Atom/RSS feed of N synthetic records, with a release history.

    python benchmarks/feeds.py                  # 1,000,000 records
    python benchmarks/feeds.py --records 200000 --later-days 120

Reuses (or generates) the data of benchmarks/validate.py. Untimed setup: intake and publication
decisions as of 2026-11-20, a first open-data release, then the decisions --later-days later and a
second release (records expire, licences move to history: withdrawals and changed entries). Timed:
``plan_feeds`` (history, stream, grouping) and ``write_feeds`` (every document, on every core),
then the feedgen and fast renderers on the same subject feeds, to show why both exist.

Peak RSS is this process's high-water mark while the feeds are made (reset just before, so it is
the feed step's own peak plus what the process already held, which is printed too) and the largest
worker's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate import AS_OF, data_arguments


def status(field: str) -> int:
    """A /proc/self/status memory figure in bytes (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def reset_peak() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux 4.0+)


def setup(data: Path, work: Path, later_days: int):
    from generator.disclosure import decide
    from generator.disclosure.policy import POLICY_FILE, load_policy
    from generator.intake import run_intake
    from generator.outputs.opendata import build_open_data, published_table
    from generator.schema import datasets
    from generator.site import ROOT

    first = dt.date.fromisoformat(AS_OF)
    second = first + dt.timedelta(days=later_days)
    started = time.perf_counter()
    intake = run_intake(data, first)
    policy = load_policy(ROOT / POLICY_FILE)
    before = {d.name: decide(d, intake.records[d.name], first, policy) for d in datasets()}
    build_open_data(before, intake.provenance, first, None, work / "data1", "benchmark")
    after = {d.name: decide(d, intake.records[d.name], second, policy) for d in datasets()}
    published = {name: published_table(d) for name, d in after.items()}
    build_open_data(after, intake.provenance, second, work / "data1", work / "data2", "benchmark", published=published)
    print(f"setup (intake, decisions and two releases, untimed): {time.perf_counter() - started:.0f} s", flush=True)
    return after, published, second


def compare_renderers(plan, count: int = 2000) -> None:
    """feedgen, one document at a time, against the fast renderer as the writer runs it (one chunk:
    every entry's XML by Arrow kernels, then a header around each slice) on the same subject feeds,
    without writing files."""
    from generator.outputs import feeds

    family = plan.family("subject")
    count = min(count, len(family))
    stop = int(family.starts[count])
    values = feeds.entry_values(plan.rows(family.rows[:stop]), plan.context)
    updated = values["updated"].to_pylist()

    def meta(i: int):
        lo, hi = int(family.starts[i]), int(family.starts[i + 1])
        return lo, hi, feeds.document(plan, family, i, updated[lo][:10] if hi > lo else None)

    started = time.perf_counter()
    for i in range(count):
        lo, hi, feed = meta(i)
        feeds.feedgen_documents(feed, values.slice(lo, hi - lo), plan.context)
    slow = time.perf_counter() - started
    started = time.perf_counter()
    atom, rss = feeds._buffer(feeds.atom_fragments(values)), feeds._buffer(feeds.rss_fragments(values))
    for i in range(count):
        lo, hi, feed = meta(i)
        feeds.atom_header(feed, plan.context) + atom.slice(lo, hi) + feeds.ATOM_FOOTER
        feeds.rss_header(feed, plan.context) + rss.slice(lo, hi) + feeds.RSS_FOOTER
    fast = time.perf_counter() - started
    print(f"renderers on {count:,} subject feeds ({stop:,} entries, Atom + RSS, no writing): feedgen "
          f"{slow * 1000 / count:.2f} ms/feed, fast {fast * 1000 / count:.3f} ms/feed; for all {len(family):,} subject "
          f"feeds that is {slow / count * len(family):,.0f} s against {fast / count * len(family):,.0f} s on one core")


def main() -> None:
    args = data_arguments(__doc__, later_days=120)
    from generator.outputs.feeds import plan_feeds, write_feeds
    from generator.outputs.render import workers

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        decisions, published, as_of = setup(args.data, work, args.later_days)
        held = status("VmRSS")
        reset_peak()
        started = time.perf_counter()
        plan = plan_feeds(decisions, work / "data2", as_of, {"name": "benchmark"}, published=published)
        planned = time.perf_counter() - started
        stats = write_feeds(plan, work / "site")
        total = time.perf_counter() - started
        peak = status("VmHWM")
        worker_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        print(f"build_feeds: {total:.1f} s ({planned:.1f} s plan, {total - planned:.1f} s writing on {workers()} processes)")
        print(f"  documents {stats.documents:,} ({', '.join(f'{k} {v:,}' for k, v in stats.by_kind.items())}), "
              f"{stats.bytes / 1024**2:,.0f} MiB ("
              + ", ".join(f"{k} {v / 1024**2:,.0f}" for k, v in stats.bytes_by_kind.items()) + ")")
        print(f"  stream: {stats.records:,} published records, {stats.withdrawn:,} withdrawn; written: "
              f"{stats.entries:,} entries, {stats.withdrawals:,} withdrawal notices")
        print(f"  peak RSS {peak / 1024**2:,.0f} MiB (the process held {held / 1024**2:,.0f} MiB before), "
              f"largest worker {worker_peak / 1024**2:,.0f} MiB")
        compare_renderers(plan)


if __name__ == "__main__":
    main()
