"""Publishing a built site to S3-compatible object storage (AWS S3, Aliyun OSS, Tencent COS,
MinIO): upload what changed, delete what was removed, never download an object.

What is in the bucket is described by a manifest object, ``<prefix>.gongshi/manifest.json.gz``
(path → SHA-256, size and headers), written last, after every upload and deletion succeeded. A
run compares the local files' hashes with it; without one (the first run, or a bucket filled by
another tool) it lists the bucket instead and takes an object whose ETag is the MD5 of the local
file (a single-part upload) as unchanged.

The order keeps the published site whole for visitors at every moment: immutable release files
and content-addressed assets first, then the other assets, data and feeds, then the HTML pages,
then the sitemaps, and the root ``index.html`` and ``sitemap.xml`` last; deletions only after all
uploads; the manifest after everything. Any failure stops the run and leaves the previous
manifest, so the next run redoes whatever was not finished.

Hashes are kept in a cache beside the site (``.<site>.publish-cache.json.gz``, keyed by size and
modification time), so an unchanged file is not read twice.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import closing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .errors import GongshiError

MANIFEST = ".gongshi/manifest.json.gz"
MANIFEST_FORMAT = 1
INSTALL_HINT = "发布到对象存储需要 boto3。请运行 pip install 'gongshi[publish]'（在仓库中：.venv/bin/pip install -e '.[publish]'）后重试。"
DEFAULT_WORKERS = 16
CHUNK = 1 << 20
# Larger files go up in parts (a single PUT takes at most 5 GB); their ETag is not an MD5.
MULTIPART_THRESHOLD = 64 << 20
# Names at the site root starting with "." are local state (.gongshi-*, caches), never published;
# .well-known/ (RFC 8615) is the one such folder a web site may mean to serve.
PUBLIC_DOT_NAMES = {".well-known"}

# OSS and COS answer only virtual-hosted-style requests (https://<bucket>.<endpoint>/<key>);
# botocore addresses other custom endpoints path-style (https://<endpoint>/<bucket>/<key>).
VIRTUAL_HOSTED = ("aliyuncs.com", "myqcloud.com")

SHORT = "public, max-age=300"
ASSET = "public, max-age=3600"
IMMUTABLE = "public, max-age=31536000, immutable"
UTF8 = "; charset=utf-8"
CONTENT_TYPES = {
    "html": "text/html" + UTF8, "htm": "text/html" + UTF8,
    "css": "text/css" + UTF8, "js": "text/javascript" + UTF8, "mjs": "text/javascript" + UTF8,
    "json": "application/json" + UTF8, "map": "application/json" + UTF8,
    "jsonld": "application/ld+json" + UTF8, "jsonl": "application/jsonl" + UTF8,
    "webmanifest": "application/manifest+json" + UTF8,
    "xml": "application/xml" + UTF8, "xsl": "application/xslt+xml" + UTF8,
    "atom": "application/atom+xml" + UTF8, "rss": "application/rss+xml" + UTF8,
    "csv": "text/csv" + UTF8, "tsv": "text/tab-separated-values" + UTF8,
    "txt": "text/plain" + UTF8, "md": "text/markdown" + UTF8,
    "parquet": "application/vnd.apache.parquet",
    "svg": "image/svg+xml" + UTF8, "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
    "gif": "image/gif", "webp": "image/webp", "avif": "image/avif", "ico": "image/x-icon",
    "woff2": "font/woff2", "woff": "font/woff", "ttf": "font/ttf", "otf": "font/otf",
    "gz": "application/gzip", "zip": "application/zip", "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# files without an extension that the site has: the releases' SHA256SUMS
NAMED_TYPES = {"SHA256SUMS": "text/plain" + UTF8}
OCTETS = "application/octet-stream"
STATIC_ASSETS = {"css", "js", "mjs", "map", "svg", "png", "jpg", "jpeg", "gif", "webp", "avif", "ico",
                 "woff2", "woff", "ttf", "otf"}
# data/releases/<version>/… never change once written (generator/outputs/opendata.py); nor do
# files named by their content's hash, like the theme's bundle.a5f9d56c.min.js and the search
# index's sorted shards (generator/outputs/search.py). Uploaded first, they are in place before the
# files that name them.
RELEASE_FILE = re.compile(r"^data/releases/\d{4}-\d{2}-\d{2}\.\d+/")
HASHED_NAME = re.compile(r"\.[0-9a-f]{8,}(\.min)?\.(js|css|mjs)(\.map)?$")
SEARCH_SHARD = re.compile(r"^searchindex/[cd]/[0-9a-f]{16}\.json$")
# Files a page loaded before a run may still ask for afterwards, kept one run longer when they
# leave the site: a search page holds a boundary block of the index (cached five minutes), which
# names code and document-number shards by their bytes; a deploy that changes a shard removes
# the old name, and a query through the old block would find nothing there. Deleted by the next
# run (a day later with the daily build).
KEPT_ONE_MORE = SEARCH_SHARD

# upload phases, in order: each finishes before the next starts
IMMUTABLE_FILES, ASSETS, PAGES, SITEMAPS, ROOT = range(5)
ROOT_FILES = ("index.html", "sitemap.xml")


class PublishError(GongshiError):
    """The site could not be published; the bucket's manifest is left as it was."""


# ---------------------------------------------------------------------------------------------
# Headers and order


def content_type(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    if name in NAMED_TYPES:
        return NAMED_TYPES[name]
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return CONTENT_TYPES.get(suffix, OCTETS)


def is_immutable(path: str) -> bool:
    return bool(RELEASE_FILE.match(path) or HASHED_NAME.search(path) or SEARCH_SHARD.match(path))


def cache_control(path: str) -> str:
    """Long and immutable only for files that never change under their name; an hour for the
    theme's other assets; five minutes for pages, feeds, indexes and the latest data."""
    if is_immutable(path):
        return IMMUTABLE
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return ASSET if suffix in STATIC_ASSETS else SHORT


def phase(path: str) -> int:
    if path in ROOT_FILES:
        return ROOT
    if path.startswith("sitemaps/") or path == "robots.txt":
        return SITEMAPS
    if path.endswith((".html", ".htm")):
        return PAGES
    return IMMUTABLE_FILES if is_immutable(path) else ASSETS


def publishable(path: str) -> bool:
    """Whether a path (relative to the site or to the prefix) is part of the published site."""
    top = path.split("/", 1)[0]
    return bool(top) and (not top.startswith(".") or top in PUBLIC_DOT_NAMES)


def normalise_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    return prefix + "/" if prefix else ""


def target(bucket: str, prefix: str) -> str:
    return f"s3://{bucket}" + (f"/{prefix.rstrip('/')}" if prefix else "")


# ---------------------------------------------------------------------------------------------
# Local files and their hashes


@dataclass(frozen=True, slots=True)
class LocalFile:
    path: str   # relative, with "/"
    full: str   # on disk
    size: int
    mtime_ns: int


def site_files(site_dir: Path) -> tuple[list[LocalFile], list[str]]:
    """Every publishable file under ``site_dir``, and the symbolic links skipped. Links are
    followed only to files inside the site; linked folders are never entered."""
    root = site_dir.resolve()
    files: list[LocalFile] = []
    skipped: list[str] = []
    stack = [(str(root), "")]
    while stack:
        folder, rel = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                path = rel + entry.name
                if not rel and not publishable(path):
                    continue
                if entry.is_symlink():
                    real = Path(entry.path).resolve()
                    if entry.is_dir() or not real.is_file() or not real.is_relative_to(root):
                        skipped.append(path)
                        continue
                    stat = real.stat()
                    files.append(LocalFile(path, str(real), stat.st_size, stat.st_mtime_ns))
                elif entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, path + "/"))
                elif entry.is_file(follow_symlinks=False):
                    stat = entry.stat(follow_symlinks=False)
                    files.append(LocalFile(path, entry.path, stat.st_size, stat.st_mtime_ns))
    files.sort(key=lambda f: f.path)
    return files, sorted(skipped)


def cache_path(site_dir: Path) -> Path:
    """The hash cache lives beside the site, so a build that replaces the site keeps it."""
    site = site_dir.resolve()
    return site.parent / f".{site.name}.publish-cache.json.gz"


def read_cache(path: Path) -> dict[str, list]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            data = json.load(f)
        return data["files"] if data.get("format") == MANIFEST_FORMAT else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # no cache, or an unreadable one: hash everything


def write_cache(path: Path, hashes: dict[str, tuple[str, str | None]], files: list[LocalFile]) -> None:
    entries = {f.path: [f.size, f.mtime_ns, hashes[f.path][0]] for f in files}
    temporary = path.with_name(path.name + ".tmp")
    with gzip.open(temporary, "wt", encoding="utf-8", compresslevel=1) as f:
        json.dump({"format": MANIFEST_FORMAT, "files": entries}, f, separators=(",", ":"))
    temporary.replace(path)


def hash_file(full: str, md5: bool) -> tuple[str, str | None]:
    """SHA-256 (and MD5 when asked, to compare with ETags), read in 1 MiB chunks."""
    sha = hashlib.sha256()
    etag = hashlib.md5(usedforsecurity=False) if md5 else None
    with open(full, "rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
            if etag is not None:
                etag.update(chunk)
    return sha.hexdigest(), etag.hexdigest() if etag is not None else None


def hash_files(files: list[LocalFile], cache: dict[str, list], workers: int, md5: bool = False) -> dict[str, tuple[str, str | None]]:
    """path → (SHA-256, MD5 or None). Files whose size and modification time match the cache
    are not read (unless an MD5 is needed); the others are hashed by ``workers`` threads
    (hashlib releases the GIL while it hashes)."""
    hashes: dict[str, tuple[str, str | None]] = {}
    todo = []
    for f in files:
        known = cache.get(f.path)
        if not md5 and known and known[0] == f.size and known[1] == f.mtime_ns:
            hashes[f.path] = (known[2], None)
        else:
            todo.append(f)
    for f, digest, error in parallel(todo, lambda f: hash_file(f.full, md5), workers):
        if error is not None:
            raise PublishError(f"读取 {f.full} 失败：{error}") from error
        hashes[f.path] = digest
    return hashes


# ---------------------------------------------------------------------------------------------
# The bucket: manifest and listing


def manifest_key(prefix: str) -> str:
    return prefix + MANIFEST


def read_manifest(client, bucket: str, prefix: str) -> tuple[dict[str, tuple[str, int, str, str]], set[str]] | None:
    """path → (SHA-256, size, Content-Type, Cache-Control) as last published, and the paths kept
    after they left the site (see :data:`KEPT_ONE_MORE`); None when the bucket has no manifest
    under this prefix (or one this version cannot read)."""
    from botocore.exceptions import ClientError

    try:
        body = client.get_object(Bucket=bucket, Key=manifest_key(prefix))["Body"].read()
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    try:
        data = json.loads(gzip.decompress(body))
        if data.get("format") != MANIFEST_FORMAT:
            return None
        headers = data["headers"]
        files = {path: (sha, size, *headers[h]) for path, (sha, size, h) in data["files"].items()}
        return files, set(data.get("leaving", [])) & set(files)
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None


def manifest_bytes(files: dict[str, tuple[str, int, str, str]], leaving: Iterable[str] = ()) -> bytes:
    """The manifest: each distinct (Content-Type, Cache-Control) pair once, files refer to it;
    ``leaving``: files no longer in the site, kept until the next run."""
    headers: dict[tuple[str, str], int] = {}
    entries = {}
    for path, (sha, size, ctype, cc) in sorted(files.items()):
        entries[path] = [sha, size, headers.setdefault((ctype, cc), len(headers))]
    document = {"format": MANIFEST_FORMAT, "headers": [list(h) for h in headers], "files": entries}
    if leaving:
        document["leaving"] = sorted(leaving)
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)


def list_bucket(client, bucket: str, prefix: str) -> dict[str, tuple[str, int]]:
    """path → (ETag without quotes, size) of every object under the prefix that belongs to the
    site (not the manifest or other names starting with "." at the prefix's root)."""
    objects = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", ()):
            path = item["Key"][len(prefix):]
            if publishable(path) and not path.endswith("/"):
                objects[path] = (item["ETag"].strip('"').lower(), item["Size"])
    return objects


def error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


# ---------------------------------------------------------------------------------------------
# Plan


@dataclass
class Plan:
    bucket: str
    prefix: str
    source: str                                     # "manifest" or "listing"
    uploads: list[tuple[LocalFile, bool]]           # (file, new?), in upload order
    deletions: list[str]
    unchanged: int
    manifest: dict[str, tuple[str, int, str, str]]  # what the bucket holds once the plan is done
    write_manifest: bool
    skipped_links: list[str] = field(default_factory=list)
    leaving: list[str] = field(default_factory=list)  # gone from the site, kept until the next run

    @property
    def added(self) -> int:
        return sum(1 for _, new in self.uploads if new)

    @property
    def updated(self) -> int:
        return len(self.uploads) - self.added

    def counts(self) -> str:
        kept = f"，{len(self.leaving):,} 个已移除的搜索索引分片暂留到下次发布" if self.leaving else ""
        return (f"上传 {len(self.uploads):,} 个（新增 {self.added:,}，更新 {self.updated:,}），"
                f"删除 {len(self.deletions):,} 个，未变 {self.unchanged:,} 个{kept}")


def plan(client, site_dir: Path, bucket: str, prefix: str, workers: int = DEFAULT_WORKERS,
         use_cache: bool = True, write_hash_cache: bool = True) -> Plan:
    """Compare the site with what the bucket holds: what to upload (new or changed content or
    headers), what to delete, and the manifest to write afterwards."""
    prefix = normalise_prefix(prefix)
    files, skipped = site_files(site_dir)
    found = read_manifest(client, bucket, prefix)
    published, left_before = found if found is not None else (None, set())
    listed = list_bucket(client, bucket, prefix) if published is None else None
    cache_file = cache_path(site_dir)
    hashes = hash_files(files, read_cache(cache_file) if use_cache else {}, workers, md5=listed is not None)
    if write_hash_cache:
        with suppress(OSError):  # the cache only saves time
            write_cache(cache_file, hashes, files)
    manifest: dict[str, tuple[str, int, str, str]] = {}
    uploads: list[tuple[LocalFile, bool]] = []
    for f in files:
        sha, md5 = hashes[f.path]
        entry = (sha, f.size, content_type(f.path), cache_control(f.path))
        manifest[f.path] = entry
        if published is not None:
            before = published.get(f.path)
            if before != entry:
                uploads.append((f, before is None))
        else:
            before_object = listed.get(f.path)
            if before_object is None:
                uploads.append((f, True))
            elif before_object != (md5, f.size):  # a multipart ETag ("…-3") never equals an MD5
                uploads.append((f, False))
    remote = published if published is not None else listed
    gone = set(remote) - set(manifest)
    # what a page loaded before this run may still ask for stays one run longer (see KEPT_ONE_MORE)
    leaving = sorted(path for path in gone if KEPT_ONE_MORE.match(path) and path not in left_before)
    deletions = sorted(gone - set(leaving))
    if published is not None:
        manifest.update((path, published[path]) for path in leaving)
    else:  # listed: no headers known; the next run deletes them whatever they are
        manifest.update((path, ("", listed[path][1], content_type(path), cache_control(path))) for path in leaving)
    uploads.sort(key=lambda u: (phase(u[0].path), u[0].path))
    return Plan(bucket, prefix, "manifest" if published is not None else "listing", uploads, deletions,
                len(files) - len(uploads), manifest, write_manifest=published != manifest or set(leaving) != left_before,
                skipped_links=skipped, leaving=leaving)


# ---------------------------------------------------------------------------------------------
# Upload, delete, manifest


def upload_file(client, bucket: str, key: str, file: LocalFile) -> None:
    headers = {"ContentType": content_type(file.path), "CacheControl": cache_control(file.path)}
    if file.size >= MULTIPART_THRESHOLD:
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_THRESHOLD,
                                use_threads=False)
        client.upload_file(file.full, bucket, key, ExtraArgs=headers, Config=config)
        return
    with open(file.full, "rb") as body:
        client.put_object(Bucket=bucket, Key=key, Body=body, ContentLength=file.size, **headers)


def delete_object(client, bucket: str, key: str) -> None:
    # One DELETE per object rather than DeleteObjects: that call needs a Content-MD5 header some
    # S3-compatible services insist on and current botocore no longer sends.
    client.delete_object(Bucket=bucket, Key=key)


def parallel(items: Iterable, action: Callable, workers: int) -> Iterator[tuple]:
    """Yield (item, result, error) for every item as the ``workers`` threads finish them, with a
    bounded number in flight (a first publish has 1.4M files). Closing the generator early
    cancels what has not started and waits for what has."""

    def call(item):
        try:
            return item, action(item), None
        except Exception as exc:
            return item, None, exc

    with ThreadPoolExecutor(max_workers=workers) as pool:
        running: set = set()
        try:
            for item in items:
                if len(running) >= workers * 4:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    yield from (future.result() for future in done)
                running.add(pool.submit(call, item))
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                yield from (future.result() for future in done)
        finally:
            for future in running:
                future.cancel()


def run_all(items: Iterable, action: Callable, workers: int, describe: Callable[[object], str]) -> None:
    """Run ``action`` on every item; at the first failure stop and raise a PublishError naming it."""
    with closing(parallel(items, action, workers)) as results:
        for item, _, error in results:
            if error is not None:
                raise PublishError(f"{describe(item)}失败：{error}") from error


def upload(client, plan: Plan, workers: int = DEFAULT_WORKERS) -> None:
    """Upload phase by phase (immutable files, assets and data, pages, sitemaps, root), each
    phase complete before the next begins."""
    phases: dict[int, list[LocalFile]] = {}
    for f, _ in plan.uploads:
        phases.setdefault(phase(f.path), []).append(f)
    for number in sorted(phases):
        run_all(phases[number], lambda f: upload_file(client, plan.bucket, plan.prefix + f.path, f), workers,
                lambda f: f"上传 {f.path} ")


def delete(client, plan: Plan, workers: int = DEFAULT_WORKERS) -> None:
    run_all(plan.deletions, lambda path: delete_object(client, plan.bucket, plan.prefix + path), workers,
            lambda path: f"删除 {path} ")


def write_manifest(client, plan: Plan) -> None:
    client.put_object(Bucket=plan.bucket, Key=manifest_key(plan.prefix), Body=manifest_bytes(plan.manifest, plan.leaving),
                      ContentType="application/json", ContentEncoding="gzip", CacheControl="no-store")


# ---------------------------------------------------------------------------------------------
# The whole run


def make_client(endpoint_url: str | None = None, region: str | None = None, workers: int = DEFAULT_WORKERS):
    """An S3 client with credentials from the usual places (AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws, an instance role)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise PublishError(INSTALL_HINT) from exc
    options: dict = {"max_pool_connections": max(workers, 10), "retries": {"mode": "standard", "max_attempts": 5}}
    if endpoint_url:
        # S3-compatible services (OSS, COS, MinIO…) may refuse the CRC32 checksums botocore adds
        # by default since 1.36; send checksums only where the API requires them.
        options.update(request_checksum_calculation="when_required", response_checksum_validation="when_required")
        if (urlsplit(endpoint_url).hostname or "").endswith(VIRTUAL_HOSTED):
            options["s3"] = {"addressing_style": "virtual"}
    session = boto3.session.Session()  # not boto3's shared default session: credentials read now
    return session.client("s3", endpoint_url=endpoint_url or None, region_name=region or None, config=Config(**options))


@dataclass
class Published:
    plan: Plan
    dry_run: bool

    def describe(self) -> str:
        where = target(self.plan.bucket, self.plan.prefix)
        if self.dry_run:
            return f"试运行，未做任何更改。将发布到 {where}：{self.plan.counts()}。"
        return f"已发布到 {where}：{self.plan.counts()}。"


def publish(site_dir: Path, bucket: str, prefix: str = "", endpoint_url: str | None = None, region: str | None = None,
            dry_run: bool = False, workers: int = DEFAULT_WORKERS, client=None) -> Published:
    """Publish ``site_dir`` to ``s3://bucket/prefix``: plan, upload, delete, then the manifest.
    With ``dry_run`` only the plan is made (nothing is written, in the bucket or beside the site)."""
    if not (site_dir / "index.html").is_file():
        raise PublishError(f"{site_dir} 中没有 index.html，不像是生成好的网站。请先运行 gongshi build。")
    if workers < 1:
        raise PublishError("--workers 至少为 1。")
    if client is None:
        client = make_client(endpoint_url, region, workers)
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    step = "读取存储桶"
    try:
        the_plan = plan(client, site_dir, bucket, prefix, workers, write_hash_cache=not dry_run)
        if not dry_run:
            step = "上传"
            upload(client, the_plan, workers)
            step = "删除"
            delete(client, the_plan, workers)
            if the_plan.write_manifest:
                step = "写入清单"
                write_manifest(client, the_plan)
    except PublishError as exc:
        raise PublishError(f"{exc}。存储桶中的清单未更新，重新运行即可继续。") from exc
    except OSError as exc:
        raise PublishError(f"读取 {site_dir} 失败：{exc}") from exc
    except NoCredentialsError as exc:
        raise PublishError("找不到访问存储桶的凭证。请设置 AWS_ACCESS_KEY_ID 和 AWS_SECRET_ACCESS_KEY（或 AWS_PROFILE）后重试。") from exc
    except (BotoCoreError, ClientError) as exc:
        raise PublishError(f"{step}失败（{target(bucket, normalise_prefix(prefix))}）：{exc}。"
                           "存储桶中的清单未更新，重新运行即可继续。") from exc
    return Published(the_plan, dry_run)
