"""Benchmark: build the site and the open-data release from N synthetic records.

    python benchmarks/build.py                  # 1,000,000 records
    python benchmarks/build.py --records 200000

Reuses (or generates) the data of benchmarks/validate.py, then
1. runs `gongshi build --timings` as a whole process into a fresh folder: wall time, peak RSS and
   the seconds of each step, subject pages per second, the site's size and file count;
2. prints the size of each release file per format;
3. times mkdocs-material building 2,000 of the same subject pages (kept out of its nav, the
   theme's fastest case) and prints how much faster the generator writes them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate import AS_OF, data_arguments, gongshi

MKDOCS_PAGES = 2000


def whole_process(data: Path, out: Path) -> tuple[float, int, dict[str, float], int]:
    """Wall time, peak RSS (largest process: the build or one of its page writers), the build's
    own step timings with the peak memory so far, and its subject page count."""
    code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True); "
            "sys.stderr.write(r.stderr); "
            "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
    done = subprocess.run([sys.executable, "-c", code, *gongshi(), "build", "--datasets", str(data), "--out", str(out),
                           "--as-of", AS_OF, "--timings"], check=True, capture_output=True, text=True)
    wall, peak, status = done.stdout.split()
    if status != "0":
        raise SystemExit(f"gongshi build failed with exit status {status}:\n{done.stderr}")
    steps: dict[str, float] = {}
    peaks: dict[str, str] = {}
    subjects = 0
    for line in done.stderr.splitlines():
        if line.startswith("subject pages: ") and "listing pages" in line:
            subjects = int(line.split(":")[1].split(",")[0])
        elif "(peak RSS so far " in line:
            name, rest = line.rsplit(": ", 1)
            steps[name] = float(rest.split(" s")[0])
            peaks[name] = rest.split("so far ")[1].rstrip(")")
    return float(wall), int(peak) * 1024, steps, peaks, subjects


def site_size(site: Path) -> tuple[int, int]:
    files = size = 0
    for path in site.rglob("*"):
        if path.is_file():
            files += 1
            size += path.stat().st_size
    return files, size


def mkdocs_seconds(site: Path, work: Path, pages: int) -> float:
    """mkdocs-material building ``pages`` of the generator's subject pages (their article, as raw
    HTML in Markdown), out of the nav, as a whole process."""
    docs = work / "mkdocs-docs"
    (docs / "subjects").mkdir(parents=True)
    (docs / "index.md").write_text("# 首页\n", encoding="utf-8")
    for page in sorted((site / "subjects").iterdir())[:pages]:
        html = (page / "index.html").read_text(encoding="utf-8")
        article = html[html.index('<article class="md-content__inner md-typeset">') + 46:html.rindex("</article>")]
        (docs / "subjects" / f"{page.name}.md").write_text(article, encoding="utf-8")
    config = work / "mkdocs.yml"
    config.write_text(f"site_name: bench\ndocs_dir: {docs}\nsite_dir: {work / 'mkdocs-site'}\ntheme:\n  name: material\n"
                      "  language: zh\n  font: false\nnav:\n  - index.md\nnot_in_nav: |\n  /subjects/\n", encoding="utf-8")
    mkdocs = Path(sys.executable).with_name("mkdocs")
    started = time.perf_counter()
    subprocess.run([str(mkdocs), "build", "-q", "-f", str(config)], check=True)
    return time.perf_counter() - started


def main() -> None:
    args = data_arguments(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        wall, peak, steps, peaks, subjects = whole_process(args.data, work / "site")
        files, size = site_size(work / "site")
        print(f"gongshi build: {wall:.1f} s wall, peak RSS {peak / 1024**2:,.0f} MiB; site {size / 1024**3:,.2f} GiB in {files:,} files")
        for name, seconds in steps.items():
            print(f"  {name}: {seconds:.1f} s (peak RSS so far {peaks[name]})")
        rate = subjects / steps["subject pages"]
        print(f"subject pages: {subjects:,} in {steps['subject pages']:.1f} s = {rate:,.0f} pages/s (page and JSON each)")
        theirs = mkdocs_seconds(work / "site", work, MKDOCS_PAGES)
        ours = MKDOCS_PAGES / rate
        print(f"mkdocs-material, {MKDOCS_PAGES:,} of the same pages out of nav: {theirs:.1f} s "
              f"({MKDOCS_PAGES / theirs:,.0f} pages/s); the generator: {ours:.2f} s; {theirs / ours:,.0f}x faster")
        sizes: dict[str, int] = defaultdict(int)
        for path in (work / "site" / "data" / "latest").iterdir():
            sizes[path.suffix.lstrip(".") or path.name] += path.stat().st_size
        print("release size per format: " + ", ".join(f"{k} {v / 1024**2:,.1f} MiB" for k, v in sorted(sizes.items())))
        shutil.rmtree(work / "site", ignore_errors=True)


if __name__ == "__main__":
    main()
