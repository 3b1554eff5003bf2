"""gongshi publish: a built site to S3-compatible storage (moto in place of the bucket). What is
uploaded, with which headers and in which order, what is deleted, what a failure leaves."""

from __future__ import annotations

import gzip
import json
import os
import sys
from pathlib import Path

import pytest

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

from click.testing import CliRunner  # noqa: E402

from generator import publish as publishing  # noqa: E402
from generator.cli import main  # noqa: E402

BUCKET = "gongshi-site"
HTML = "text/html; charset=utf-8"
SHORT, ASSET, IMMUTABLE = "public, max-age=300", "public, max-age=3600", "public, max-age=31536000, immutable"

# path → (Content-Type, Cache-Control) the bucket must serve it with
SITE = {
    "index.html": (HTML, SHORT),
    "404.html": (HTML, SHORT),
    "sitemap.xml": ("application/xml; charset=utf-8", SHORT),
    "sitemaps/subjects-1.xml": ("application/xml; charset=utf-8", SHORT),
    "sitemaps/pages.xml.gz": ("application/gzip", SHORT),
    "robots.txt": ("text/plain; charset=utf-8", SHORT),
    "search/index.html": (HTML, SHORT),
    "subjects/91450100MA5K000010/index.html": (HTML, SHORT),
    "subjects/91450100MA5K000029/index.html": (HTML, SHORT),
    "api/subjects/91450100MA5K000010.json": ("application/json; charset=utf-8", SHORT),
    "searchindex/meta.json": ("application/json; charset=utf-8", SHORT),
    "feeds/all.atom": ("application/atom+xml; charset=utf-8", SHORT),
    "feeds/all.rss": ("application/rss+xml; charset=utf-8", SHORT),
    "assets/gongshi.css": ("text/css; charset=utf-8", ASSET),
    "assets/search.js": ("text/javascript; charset=utf-8", ASSET),
    "assets/images/favicon.png": ("image/png", ASSET),
    "assets/images/logo.svg": ("image/svg+xml; charset=utf-8", ASSET),
    "assets/fonts/noto.woff2": ("font/woff2", ASSET),
    "assets/javascripts/bundle.a5f9d56c.min.js": ("text/javascript; charset=utf-8", IMMUTABLE),
    "assets/javascripts/bundle.a5f9d56c.min.js.map": ("application/json; charset=utf-8", IMMUTABLE),
    "assets/stylesheets/main.57a0d79d.min.css": ("text/css; charset=utf-8", IMMUTABLE),
    "data/catalog.jsonld": ("application/ld+json; charset=utf-8", SHORT),
    "data/releases/index.json": ("application/json; charset=utf-8", SHORT),
    "data/releases/2026-11-20.1/penalties/2026-11.csv": ("text/csv; charset=utf-8", IMMUTABLE),
    "data/releases/2026-11-20.1/penalties/2026-11.jsonl": ("application/jsonl; charset=utf-8", IMMUTABLE),
    "data/releases/2026-11-20.1/penalties/2026-11.parquet": ("application/vnd.apache.parquet", IMMUTABLE),
    "data/releases/2026-11-20.1/datapackage.json": ("application/json; charset=utf-8", IMMUTABLE),
    "data/releases/2026-11-20.1/SHA256SUMS": ("text/plain; charset=utf-8", IMMUTABLE),
    "data/latest/penalties/2026-11.csv": ("text/csv; charset=utf-8", SHORT),
    "data/latest/SHA256SUMS": ("text/plain; charset=utf-8", SHORT),
}
HIDDEN = (".gongshi-build/site/index.html", ".gongshi-state.json", ".DS_Store")


@pytest.fixture
def s3(monkeypatch, tmp_path):
    """An empty bucket in moto's in-process S3, and credentials that could reach nothing else."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    with moto.mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def site(tmp_path) -> Path:
    root = tmp_path / "site"
    for path in [*SITE, *HIDDEN]:
        write(root, path, f"<{path}>")
    return root


@pytest.fixture
def uploads(monkeypatch) -> list[str]:
    """The paths uploaded, in the order their uploads began."""
    seen: list[str] = []
    real = publishing.upload_file

    def spy(client, bucket, key, file):
        seen.append(file.path)
        real(client, bucket, key, file)

    monkeypatch.setattr(publishing, "upload_file", spy)
    return seen


def write(root: Path, path: str, text: str) -> None:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(text, encoding="utf-8")


def publish(site: Path, *options: str):
    return CliRunner().invoke(main, ["publish", str(site), "--bucket", BUCKET, *options])


def keys(client, prefix: str = "") -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return {item["Key"] for page in pages for item in page.get("Contents", ())}


def body(client, key: str) -> bytes:
    return client.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def test_first_publish_uploads_every_file_with_its_headers_in_order(s3, site, uploads):
    result = publish(site, "--prefix", "/credit/")
    assert (result.exit_code, result.output) == (0, "已发布到 s3://gongshi-site/credit：上传 30 个（新增 30，更新 0），删除 0 个，未变 0 个。\n")
    assert keys(s3) == {"credit/" + p for p in SITE} | {"credit/.gongshi/manifest.json.gz"}
    served = {}
    for path in SITE:
        head = s3.head_object(Bucket=BUCKET, Key="credit/" + path)
        served[path] = (head["ContentType"], head["CacheControl"])
    assert served == SITE
    assert body(s3, "credit/subjects/91450100MA5K000010/index.html") == b"<subjects/91450100MA5K000010/index.html>"
    # immutable releases and hashed assets, then other assets and data, pages, sitemaps, root last
    phases = [publishing.phase(p) for p in uploads]
    assert phases == sorted(phases)
    assert set(uploads[:8]) == {p for p, (_, cc) in SITE.items() if cc == IMMUTABLE}
    assert sorted(uploads[-2:]) == ["index.html", "sitemap.xml"]
    assert set(uploads[-5:-2]) == {"robots.txt", "sitemaps/pages.xml.gz", "sitemaps/subjects-1.xml"}
    manifest = json.loads(gzip.decompress(body(s3, "credit/.gongshi/manifest.json.gz")))
    assert sorted(manifest["files"]) == sorted(SITE)
    sha, size, headers = manifest["files"]["index.html"]
    assert (len(sha), size, manifest["headers"][headers]) == (64, len(b"<index.html>"), [HTML, SHORT])


def test_hidden_state_files_and_links_out_of_the_site_are_never_uploaded(s3, site, tmp_path, uploads):
    (tmp_path / "secret.txt").write_text("outside", encoding="utf-8")
    (site / "subjects" / "leak.txt").symlink_to(tmp_path / "secret.txt")
    (site / "subjects" / "linked").symlink_to(tmp_path, target_is_directory=True)
    (site / "same.css").symlink_to(site / "assets" / "gongshi.css")
    result = publish(site)
    assert result.exit_code == 0
    assert result.output == ("跳过符号链接 subjects/leak.txt（指向网站之外或指向文件夹）\n"
                             "跳过符号链接 subjects/linked（指向网站之外或指向文件夹）\n"
                             "已发布到 s3://gongshi-site：上传 31 个（新增 31，更新 0），删除 0 个，未变 0 个。\n")
    assert keys(s3) == set(SITE) | {"same.css", ".gongshi/manifest.json.gz"}
    assert not any(path.startswith(".") or "leak" in path or "linked" in path for path in uploads)
    assert body(s3, "same.css") == b"<assets/gongshi.css>"


def test_second_publish_without_changes_uploads_nothing(s3, site, uploads):
    assert publish(site).exit_code == 0
    manifest = s3.head_object(Bucket=BUCKET, Key=".gongshi/manifest.json.gz")["ETag"]
    uploads.clear()
    result = publish(site)
    assert (result.exit_code, result.output) == (0, "已发布到 s3://gongshi-site：上传 0 个（新增 0，更新 0），删除 0 个，未变 30 个。\n")
    assert uploads == []
    assert s3.head_object(Bucket=BUCKET, Key=".gongshi/manifest.json.gz")["ETag"] == manifest


def test_only_the_modified_added_and_removed_files_change(s3, site, uploads):
    assert publish(site).exit_code == 0
    uploads.clear()
    write(site, "subjects/91450100MA5K000010/index.html", "<corrected>")
    write(site, "subjects/91450100MA5K000037/index.html", "<new subject>")
    (site / "subjects/91450100MA5K000029/index.html").unlink()
    result = publish(site)
    assert (result.exit_code, result.output) == (0, "已发布到 s3://gongshi-site：上传 2 个（新增 1，更新 1），删除 1 个，未变 28 个。\n")
    assert sorted(uploads) == ["subjects/91450100MA5K000010/index.html", "subjects/91450100MA5K000037/index.html"]
    assert keys(s3) == set(SITE) - {"subjects/91450100MA5K000029/index.html"} | {
        "subjects/91450100MA5K000037/index.html", ".gongshi/manifest.json.gz"}
    assert body(s3, "subjects/91450100MA5K000010/index.html") == b"<corrected>"
    manifest = json.loads(gzip.decompress(body(s3, ".gongshi/manifest.json.gz")))
    assert "subjects/91450100MA5K000029/index.html" not in manifest["files"]
    assert "subjects/91450100MA5K000037/index.html" in manifest["files"]


def test_dry_run_lists_what_would_happen_and_changes_nothing(s3, site, uploads):
    result = publish(site, "--dry-run", "--prefix", "credit")
    lines = result.output.splitlines()
    assert result.exit_code == 0
    assert lines[-1] == "试运行，未做任何更改。将发布到 s3://gongshi-site/credit：上传 30 个（新增 30，更新 0），删除 0 个，未变 0 个。"
    assert lines[:-1] == [f"新增 {p}" for p in sorted(SITE, key=lambda p: (publishing.phase(p), p))]
    assert keys(s3) == set() and uploads == []
    assert not publishing.cache_path(site).exists()

    assert publish(site, "--prefix", "credit").exit_code == 0
    write(site, "feeds/all.atom", "<newer>")
    (site / "404.html").unlink()
    before = keys(s3)
    manifest = body(s3, "credit/.gongshi/manifest.json.gz")
    result = publish(site, "--dry-run", "--prefix", "credit")
    assert (result.exit_code, result.output) == (0, "更新 feeds/all.atom\n删除 404.html\n"
                                                    "试运行，未做任何更改。将发布到 s3://gongshi-site/credit：上传 1 个（新增 0，更新 1），删除 1 个，未变 28 个。\n")
    assert keys(s3) == before and body(s3, "credit/.gongshi/manifest.json.gz") == manifest
    assert body(s3, "credit/feeds/all.atom") == b"<feeds/all.atom>"


def test_a_failed_upload_keeps_the_old_manifest_and_the_next_run_finishes(s3, site, monkeypatch, uploads):
    assert publish(site).exit_code == 0
    manifest = body(s3, ".gongshi/manifest.json.gz")
    write(site, "index.html", "<home, new>")
    write(site, "data/latest/penalties/2026-11.csv", "<new data>")
    write(site, "subjects/91450100MA5K000010/index.html", "<corrected>")
    (site / "subjects/91450100MA5K000029/index.html").unlink()
    spy = publishing.upload_file

    def broken(client, bucket, key, file):
        if file.path.startswith("subjects/"):
            raise OSError("connection reset")
        spy(client, bucket, key, file)

    monkeypatch.setattr(publishing, "upload_file", broken)
    result = publish(site)
    assert (result.exit_code, result.output) == (
        2, "错误：上传 subjects/91450100MA5K000010/index.html 失败：connection reset。存储桶中的清单未更新，重新运行即可继续。\n")
    assert body(s3, ".gongshi/manifest.json.gz") == manifest
    assert body(s3, "data/latest/penalties/2026-11.csv") == b"<new data>"  # uploaded before the pages
    assert body(s3, "index.html") == b"<index.html>"  # the home page goes last: not reached
    assert "subjects/91450100MA5K000029/index.html" in keys(s3)  # nothing deleted before every upload succeeded

    monkeypatch.setattr(publishing, "upload_file", spy)
    uploads.clear()
    result = publish(site)
    assert (result.exit_code, result.output) == (0, "已发布到 s3://gongshi-site：上传 3 个（新增 0，更新 3），删除 1 个，未变 26 个。\n")
    assert uploads == ["data/latest/penalties/2026-11.csv", "subjects/91450100MA5K000010/index.html", "index.html"]
    assert body(s3, "index.html") == b"<home, new>"
    assert "subjects/91450100MA5K000029/index.html" not in keys(s3)
    assert body(s3, ".gongshi/manifest.json.gz") != manifest


def test_without_a_manifest_the_bucket_is_listed_and_equal_etags_kept(s3, site, uploads):
    s3.put_object(Bucket=BUCKET, Key="index.html", Body=b"<index.html>")  # same bytes: its ETag is their MD5
    s3.put_object(Bucket=BUCKET, Key="robots.txt", Body=b"User-agent: *")  # different
    s3.put_object(Bucket=BUCKET, Key="old/page.html", Body=b"stale")  # no longer in the site
    s3.put_object(Bucket=BUCKET, Key=".other-tool/state", Body=b"not ours")
    result = publish(site)
    assert (result.exit_code, result.output) == (0, "已发布到 s3://gongshi-site：上传 29 个（新增 28，更新 1），删除 1 个，未变 1 个。\n")
    assert "index.html" not in uploads and "robots.txt" in uploads
    assert keys(s3) == set(SITE) | {".gongshi/manifest.json.gz", ".other-tool/state"}
    assert body(s3, "robots.txt") == b"<robots.txt>"


def test_changed_headers_are_uploaded_again(s3, site, monkeypatch, uploads):
    assert publish(site).exit_code == 0
    uploads.clear()
    monkeypatch.setitem(publishing.CONTENT_TYPES, "atom", "application/xml; charset=utf-8")
    result = publish(site)
    assert result.output == "已发布到 s3://gongshi-site：上传 1 个（新增 0，更新 1），删除 0 个，未变 29 个。\n"
    assert uploads == ["feeds/all.atom"]
    assert s3.head_object(Bucket=BUCKET, Key="feeds/all.atom")["ContentType"] == "application/xml; charset=utf-8"


def test_the_hash_cache_spares_reading_unchanged_files(s3, site, monkeypatch):
    assert publish(site).exit_code == 0
    assert publishing.cache_path(site) == site.parent / ".site.publish-cache.json.gz"
    read: list[str] = []
    real = publishing.hash_file
    monkeypatch.setattr(publishing, "hash_file", lambda full, md5: read.append(Path(full).name) or real(full, md5))
    write(site, "feeds/all.rss", "<changed>")
    result = publish(site)
    assert result.output == "已发布到 s3://gongshi-site：上传 1 个（新增 0，更新 1），删除 0 个，未变 29 个。\n"
    assert read == ["all.rss"]


def test_publish_to_an_endpoint_url(site, monkeypatch, tmp_path):
    """Through HTTP to a local S3-compatible server, as to OSS, COS or MinIO."""
    server_module = pytest.importorskip("moto.server")
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name="cn-north-1")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "cn-north-1"})
        result = publish(site, "--endpoint-url", endpoint, "--region", "cn-north-1", "--workers", "4")
        assert (result.exit_code, result.output) == (0, "已发布到 s3://gongshi-site：上传 30 个（新增 30，更新 0），删除 0 个，未变 0 个。\n")
        (site / "404.html").unlink()
        result = publish(site, "--endpoint-url", endpoint, "--region", "cn-north-1")
        assert result.output == "已发布到 s3://gongshi-site：上传 0 个（新增 0，更新 0），删除 1 个，未变 29 个。\n"
        assert keys(client) == set(SITE) - {"404.html"} | {".gongshi/manifest.json.gz"}
        assert client.head_object(Bucket=BUCKET, Key="feeds/all.rss")["ContentType"] == "application/rss+xml; charset=utf-8"
    finally:
        server.stop()


def test_missing_bucket_and_missing_site_are_reported_in_chinese(s3, site, tmp_path):
    result = CliRunner().invoke(main, ["publish", str(site), "--bucket", "no-such-bucket"])
    assert result.exit_code == 2
    assert result.output.startswith("错误：读取存储桶失败（s3://no-such-bucket）：")
    empty = tmp_path / "empty"
    empty.mkdir()
    result = publish(empty)
    assert (result.exit_code, result.output) == (2, f"错误：{empty} 中没有 index.html，不像是生成好的网站。请先运行 gongshi build。\n")


def test_missing_credentials_are_reported_in_chinese(site, monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = publish(site, "--region", "us-east-1", "--endpoint-url", "http://127.0.0.1:9")
    assert (result.exit_code, result.output) == (
        2, "错误：找不到访问存储桶的凭证。请设置 AWS_ACCESS_KEY_ID 和 AWS_SECRET_ACCESS_KEY（或 AWS_PROFILE）后重试。\n")


def test_large_files_go_up_in_parts_with_their_headers(s3, site, monkeypatch, uploads):
    monkeypatch.setattr(publishing, "MULTIPART_THRESHOLD", 5 << 20)  # S3's smallest part
    (site / "data/releases/2026-11-20.1/penalties/2026-11.parquet").write_bytes(os.urandom(6 << 20))
    result = publish(site)
    assert result.output == "已发布到 s3://gongshi-site：上传 30 个（新增 30，更新 0），删除 0 个，未变 0 个。\n"
    head = s3.head_object(Bucket=BUCKET, Key="data/releases/2026-11-20.1/penalties/2026-11.parquet")
    assert (head["ContentLength"], head["ContentType"], head["CacheControl"]) == (
        6 << 20, "application/vnd.apache.parquet", IMMUTABLE)
    assert head["ETag"].strip('"').endswith("-2")  # two parts
    assert publish(site).output == "已发布到 s3://gongshi-site：上传 0 个（新增 0，更新 0），删除 0 个，未变 30 个。\n"


def test_without_boto3_the_command_says_how_to_install_it(site, monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)
    result = publish(site)
    assert (result.exit_code, result.output) == (
        2, "错误：发布到对象存储需要 boto3。请运行 pip install 'gongshi[publish]'（在仓库中：.venv/bin/pip install -e '.[publish]'）后重试。\n")


def test_search_shards_named_by_their_bytes_are_immutable_and_go_first():
    """The search index's sorted shards are named by their bytes (generator/outputs/search.py):
    cached for good, and uploaded before the block files that name them. Other index files keep
    their names as their contents change."""
    shard = "searchindex/d/3f2a9c0d1e4b5a67.json"
    assert publishing.cache_control(shard) == IMMUTABLE
    for path in ("searchindex/d/b0.json", "searchindex/c/12.json", "searchindex/n/12-3.json", "searchindex/meta.json"):
        assert publishing.cache_control(path) == SHORT, path
        assert publishing.phase(shard) < publishing.phase(path), path


def test_a_search_shard_that_left_the_site_is_kept_until_the_next_run(s3, site, uploads):
    """A search page loaded before a deploy holds a boundary block (cached five minutes) that
    names shards by their bytes; a shard a deploy removed stays one run longer, then goes."""
    old, new = "searchindex/d/00000000000000aa.json", "searchindex/d/00000000000000bb.json"
    write(site, old, "<old shard>")
    assert publish(site).exit_code == 0
    (site / old).unlink()
    write(site, new, "<new shard>")
    result = publish(site)
    assert (result.exit_code, result.output) == (
        0, "已发布到 s3://gongshi-site：上传 1 个（新增 1，更新 0），删除 0 个，未变 30 个，"
           "1 个已移除的搜索索引分片暂留到下次发布。\n")
    assert {old, new} <= keys(s3)
    manifest = json.loads(gzip.decompress(body(s3, ".gongshi/manifest.json.gz")))
    assert manifest["leaving"] == [old] and old in manifest["files"]
    result = publish(site)  # the next run: it goes
    assert (result.exit_code, result.output) == (0, "已发布到 s3://gongshi-site：上传 0 个（新增 0，更新 0），删除 1 个，未变 31 个。\n")
    assert old not in keys(s3) and new in keys(s3)
    assert "leaving" not in json.loads(gzip.decompress(body(s3, ".gongshi/manifest.json.gz")))
    (site / "subjects/91450100MA5K000029/index.html").unlink()  # other files go at once
    assert publish(site).output == "已发布到 s3://gongshi-site：上传 0 个（新增 0，更新 0），删除 1 个，未变 30 个。\n"
