"""The ``gongshi`` command. It parses options, calls the library and maps domain errors to exit
codes (0 fine, 1 rows withheld or build failed, 2 unusable input or options); nothing else."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

from .clock import resolve_as_of
from .errors import GongshiError

AS_OF_HELP = "Build date YYYY-MM-DD (default: SOURCE_DATE_EPOCH, else today in China Standard Time)."


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gongshi")
def main() -> None:
    """Gongshi (公示): validate public-credit disclosure datasets and publish them."""
    arrow_allocator()
    collect_rarely()
    small_pages()


def arrow_allocator() -> None:
    """Arrow's columns are allocated by the C library's malloc unless ``ARROW_DEFAULT_MEMORY_POOL``
    names another allocator. A build allocates and frees columns of a million values step after
    step; the bundled mimalloc returns that memory to the kernel and faults it in again, which
    at 1M records cost a rebuild nearly twice the system time and a third more wall time."""
    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())


def collect_rarely() -> None:
    """Python's cycle collector runs after every 700 new objects and, now and then, walks every
    object there is; a build's records live in Arrow and NumPy, not in Python objects, and make
    few cycles. At 1M records the default collections held every thread for a third of a second
    of a rebuild (four of them full); these make about ten and take under a tenth."""
    gc.set_threshold(50_000, 50, 100)


def small_pages() -> None:
    """NumPy asks the kernel for 2 MB pages (transparent huge pages) for every array of 4 MB or
    more. A build makes and drops such arrays step after step, and each new huge page is zeroed
    whole when first touched: at 1M records, five alternating rebuilds spent about 1.2 s less
    system time, and 0.7 s less wall time, with ordinary pages. ``NUMPY_MADVISE_HUGEPAGE``, when
    set, still decides."""
    setter = hugepage_setter()
    if setter is not None and "NUMPY_MADVISE_HUGEPAGE" not in os.environ:
        setter(False)


def hugepage_setter() -> Callable[[bool], bool] | None:
    """NumPy's switch for huge pages (``numpy._core`` from NumPy 2, ``numpy.core`` before it;
    it returns the setting it replaces); None if this NumPy has none."""
    import numpy as np

    core = getattr(np, "_core", None) or np.core
    return getattr(core.multiarray, "_set_madvise_hugepage", None)


@main.command()
@click.argument("datasets_dir", default="datasets", type=click.Path(path_type=Path))
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Also write the report as JSON to this file.")
@click.option("--as-of", "as_of", metavar="DATE", help=AS_OF_HELP)
@click.option("--limit", default=20, show_default=True, help="Problems shown per rule (0: all). The JSON has all.")
@click.option("--cache", "cache_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Keep each file's checked result here; later runs check only new and changed files.")
def validate(datasets_dir: Path, json_path: Path | None, as_of: str | None, limit: int, cache_dir: Path | None) -> None:
    """Check every file under DATASETS_DIR (default: datasets) and report per file and rule.

    Exits 1 when any row is withheld or a file cannot be used.
    """
    from .intake import run_intake
    from .report import render_text, write_json

    try:
        intake = run_intake(datasets_dir, resolve_as_of(as_of), keep_records=False, cache_dir=cache_dir)
    except GongshiError as exc:
        fail(exc)
    shown = datasets_dir.as_posix()
    click.echo(render_text(intake, shown, limit), nl=False)
    if json_path is not None:
        write_json(intake, shown, json_path)
    sys.exit(1 if intake.failed else 0)


@main.command(name="scan")
@click.argument("site_dir", default="site", type=click.Path(path_type=Path, exists=True, file_okay=False))
def scan_site(site_dir: Path) -> None:
    """Scan every file under SITE_DIR (default: site) for ID numbers in clear and phone numbers.

    Exits 1 when anything is found. `gongshi build` runs the same scan before it publishes.
    """
    from .scan import scan

    findings = scan(site_dir)
    for finding in findings:
        click.echo(finding.describe())
    count = sum(1 for p in site_dir.rglob("*") if p.is_file())
    click.echo(f"扫描 {count} 个文件，发现 {len(findings)} 处个人信息。" + ("请在发布前处理。" if findings else ""))
    sys.exit(1 if findings else 0)


@main.command(name="check")
@click.argument("site_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--sample", default=200, show_default=True,
              help="Generated pages whose HTML is validated, chosen by a hash of their path (hand-written pages: all).")
@click.option("--all-data", is_flag=True, help="Validate every data release in full (default: the latest; the others' descriptors).")
@click.option("--limit", default=20, show_default=True, help="Problems shown per check (0: all).")
@click.option("--workers", default=0, help="Processes (default: one per core).")
def check_site(site_dir: Path, sample: int, all_data: bool, limit: int, workers: int) -> None:
    """Check a built site before it is deployed: internal links and anchors, the HTML of sampled
    pages, every feed, the data packages.

    Exits 1 when any check fails.
    """
    from .checks import run_checks

    if not (site_dir / "index.html").is_file():
        fail(GongshiError(f"{site_dir} 中没有 index.html，不是生成的网站。请先运行 gongshi build。"))
    report = run_checks(site_dir, sample=sample, all_data=all_data, workers=workers or None)
    click.echo(report.render(limit), nl=False)
    sys.exit(1 if report.failed else 0)


@main.command()
@click.option("--records", default=2000, show_default=True, help="How many records in all four datasets.")
@click.option("--seed", default=1, show_default=True, help="Same seed, same files.")
@click.option("--out", "out", default="synthetic", show_default=True, type=click.Path(path_type=Path),
              help="Folder to write datasets into (licensing/, penalties/, redlist/, blacklist/).")
@click.option("--as-of", "as_of", metavar="DATE", help="Latest decision date to generate. " + AS_OF_HELP)
@click.option("--rows-per-file", default=20000, show_default=True, help="Largest file, in rows.")
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="Decision dates in this many days only (default: four years), ending 7 days before the build "
                   "date: e.g. --days 14 for a batch of new submissions.")
def synth(records: int, seed: int, out: Path, as_of: str | None, rows_per_file: int, days: int | None) -> None:
    """Generate fictitious but realistic datasets, deterministically, in every supported
    encoding, header style and format."""
    from .synth import synthesize

    try:
        summary = synthesize(records, seed, out, resolve_as_of(as_of), rows_per_file=rows_per_file, days=days)
    except GongshiError as exc:
        fail(exc)
    click.echo(summary.describe() if hasattr(summary, "describe") else str(summary))


@main.command()
@click.option("--datasets", "datasets_dir", default="datasets", show_default=True, type=click.Path(path_type=Path),
              help="Folder with licensing/, penalties/, redlist/, blacklist/.")
@click.option("--out", default="site", show_default=True, type=click.Path(path_type=Path), help="Where the site goes.")
@click.option("--as-of", "as_of", metavar="DATE", help=AS_OF_HELP)
@click.option("--previous", type=click.Path(path_type=Path, file_okay=False),
              help="Folder holding the last published site, whose data/releases/ continue (default: OUT).")
@click.option("--timings", is_flag=True, help="Also print the seconds and the build process's CPU seconds each step took, and the CPU "
                   "of each step that ran beside it in a process of its own (to stderr).")
@click.option("--full", is_flag=True, help="Re-render everything, even when OUT holds a site built by the same code.")
def build(datasets_dir: Path, out: Path, as_of: str | None, previous: Path | None, timings: bool, full: bool) -> None:
    """Validate the datasets and build the site into OUT. When OUT holds a site built by the same
    code and settings, only what changed is re-rendered. The previous site stays until the new
    one is complete and checked."""
    result = _build(datasets_dir, out, as_of, previous, full)
    click.echo(result.describe())
    if timings:
        for step, seconds in result.phases.seconds.items():
            click.echo(f"{step}: {seconds:.2f} s, CPU {result.phases.cpu[step]:.2f} s "
                       f"(peak RSS so far {result.phases.peak_mib[step]:,} MiB)", err=True)
        for step, (user, system) in result.phases.beside.items():
            click.echo(f"beside the build, {step}: CPU {user + system:.2f} s (user {user:.2f}, system {system:.2f})", err=True)
        click.echo(f"subject pages: {result.pages.subjects.subjects}, listing pages: {result.pages.listings.pages}", err=True)


@main.command()
@click.option("--datasets", "datasets_dir", default="datasets", show_default=True, type=click.Path(path_type=Path),
              help="Folder with licensing/, penalties/, redlist/, blacklist/.")
@click.option("--out", default="site", show_default=True, type=click.Path(path_type=Path), help="Where the site goes.")
@click.option("--as-of", "as_of", metavar="DATE", help=AS_OF_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@click.option("--no-build", is_flag=True, help="Serve OUT as it is, without building first.")
def serve(datasets_dir: Path, out: Path, as_of: str | None, host: str, port: int, no_build: bool) -> None:
    """Build the site, then serve it at http://HOST:PORT/ until interrupted."""
    import functools
    import http.server

    if not no_build:
        click.echo(_build(datasets_dir, out, as_of).describe())
    if not out.is_dir():
        fail(GongshiError(f"{out} 不存在。请先运行 gongshi build，或去掉 --no-build。"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
    with http.server.ThreadingHTTPServer((host, port), handler) as server:
        click.echo(f"正在提供 http://{host}:{port}/ （按 Ctrl+C 停止）")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            click.echo("已停止。")


@main.command()
@click.argument("site_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--bucket", required=True, help="Bucket to publish into (S3, OSS, COS, MinIO…).")
@click.option("--prefix", default="", help="Folder inside the bucket (default: the bucket's root).")
@click.option("--endpoint-url", help="Endpoint of an S3-compatible service, e.g. https://oss-cn-hangzhou.aliyuncs.com.")
@click.option("--region", help="Region (default: AWS_REGION / AWS_DEFAULT_REGION or the profile's).")
@click.option("--dry-run", is_flag=True, help="Show what would be uploaded and deleted; change nothing.")
@click.option("--workers", default=16, show_default=True, help="Parallel uploads and hashing threads.")
def publish(site_dir: Path, bucket: str, prefix: str, endpoint_url: str | None, region: str | None, dry_run: bool,
            workers: int) -> None:
    """Publish the built site in SITE_DIR to object storage: upload new and changed files (pages
    last), then delete removed ones. Credentials come from the AWS_* variables or a profile."""
    from .publish import publish as publish_site

    try:
        result = publish_site(site_dir, bucket, prefix, endpoint_url, region, dry_run, workers)
    except GongshiError as exc:
        fail(exc)
    for path in result.plan.skipped_links:
        click.echo(f"跳过符号链接 {path}（指向网站之外或指向文件夹）", err=True)
    if dry_run:
        for file, new in result.plan.uploads:
            click.echo(f"{'新增' if new else '更新'} {file.path}")
        for path in result.plan.deletions:
            click.echo(f"删除 {path}")
    click.echo(result.describe())


def _build(datasets_dir: Path, out: Path, as_of: str | None, previous: Path | None = None, full: bool = False):
    from .site import build as build_site

    try:
        return build_site(datasets_dir, out, resolve_as_of(as_of), previous=previous, full=full)
    except GongshiError as exc:
        fail(exc)


def fail(exc: Exception) -> None:
    click.echo(f"错误：{exc}", err=True)
    sys.exit(2)


def run() -> None:
    """The ``gongshi`` program: :func:`main`, then the process ends without freeing what the
    command made one object at a time (a build's tables are gigabytes at a million records:
    a third of a second). Output is flushed first; the exit status is main's."""
    try:
        main()
        status = 0
    except SystemExit as exc:
        status = exc.code
    if not isinstance(status, int):  # None is success; a message is printed, as Python would
        if status is not None:
            print(status, file=sys.stderr)
        status = 0 if status is None else 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    run()
