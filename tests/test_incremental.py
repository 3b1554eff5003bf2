"""Incremental builds equal full builds byte for byte, and no build ever leaves a broken site.

The demo datasets are built once; then records are added (for a new subject and for existing
ones), one is corrected, a whole file is withdrawn and the build date moves on so that display
periods end. The site updated in place by an incremental build must be identical, file for file
and byte for byte, to a full build of the same input continuing from the same earlier site.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from generator import incremental
from generator.errors import BuildError
from generator.incremental import JOURNAL, STATE, State, Units
from generator.site import build

from .conftest import PERSON_ID, Folder, row, uscc

ROOT = Path(__file__).resolve().parent.parent
FIRST = date(2026, 11, 20)
LATER = date(2027, 9, 30)  # a year on: many display periods and licences have ended
NEW_SUBJECT = uscc("91450100MA5K0Q001")


def tree(site: Path) -> dict[str, str]:
    """Every file under ``site`` with the sha256 of its bytes."""
    return {p.relative_to(site).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(site.rglob("*")) if p.is_file()}


def change(datasets: Path) -> None:
    """Additions, a correction and a withdrawn file."""
    folder = Folder(datasets)
    folder.write("penalties", "new-2027.csv", [
        row("penalties", subject_name="南宁新开户贸易有限公司", subject_uscc=NEW_SUBJECT, decision_doc_no="南市监罚〔2027〕8号",
            decision_date="2027-09-01"),
        row("penalties", decision_doc_no="南市监罚〔2027〕9号", decision_date="2027-09-02", fine_amount_wan="1.5",
            penalty_content="罚款15000元"),
    ], submitted="2027-09-10T10:00:00+08:00", approved="2027-09-11T10:00:00+08:00")
    licensing = sorted((datasets / "licensing").glob("*.csv"))[0]
    raw = licensing.read_bytes()
    encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else ("utf-8" if _utf8(raw) else "gb18030")
    text = raw.decode(encoding)
    assert "有限公司" in text
    licensing.write_bytes(text.replace("有限公司", "有限责任公司", 1).encode(encoding))
    withdrawn = sorted((datasets / "blacklist").glob("*-2022-2026.csv"))[0]
    withdrawn.unlink()
    withdrawn.with_name(withdrawn.name + ".provenance.yaml").unlink()


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    """The demo built in full on the first day, and a copy of the datasets to change."""
    base = tmp_path_factory.mktemp("incremental")
    shutil.copytree(ROOT / "datasets", base / "datasets")
    site = base / "first"
    result = build(base / "datasets", site, FIRST)
    assert not result.work.incremental
    return base, site


def changed_copy(first, tmp_path, symlinks: bool = False) -> tuple[Path, Path]:
    """The first site's datasets with :func:`change` made, and a copy of its site to rebuild."""
    base, site = first
    datasets = tmp_path / "datasets"
    shutil.copytree(base / "datasets", datasets)
    change(datasets)
    updated = tmp_path / "updated"
    shutil.copytree(site, updated, symlinks=symlinks)
    return datasets, updated


def killed_part_way(monkeypatch, call: str, dying, datasets: Path, updated: Path) -> None:
    """Rebuild ``updated`` with ``os.<call>`` replaced by ``dying`` (which raises part-way, as a
    killed process stops), then give the real call back."""
    real = getattr(incremental.os, call)
    monkeypatch.setattr(incremental.os, call, dying)
    with pytest.raises(KeyboardInterrupt):
        build(datasets, updated, LATER)
    monkeypatch.setattr(incremental.os, call, real)


def recovered_equals_full_build(first, tmp_path, datasets: Path, updated: Path) -> None:
    """The next run finishes the interrupted commit; the site then equals a full build."""
    assert incremental.recover(updated)
    assert not (updated / STATE / JOURNAL).exists()
    full = tmp_path / "full"
    build(datasets, full, LATER, previous=first[1], full=True)
    assert tree(updated) == tree(full)
    assert not list(tmp_path.glob(".gongshi-*"))  # the staging folder went with the journal


def test_incremental_build_equals_full_build_byte_for_byte(first, tmp_path):
    site = first[1]
    datasets, updated = changed_copy(first, tmp_path, symlinks=True)
    result = build(datasets, updated, LATER)
    work = result.work
    assert work.incremental
    total = len(result.pages.subjects.lastmod[0])
    assert 0 < work.changed("subjects") < total  # only some subjects were rendered again
    assert work.deleted > 0
    full = build(datasets, tmp_path / "full", LATER, previous=site, full=True)
    assert not full.work.incremental
    assert tree(updated) == tree(tmp_path / "full")
    assert f"subjects/{NEW_SUBJECT}/index.html" in tree(updated)


def test_pages_are_written_in_the_kept_shell_and_all_again_when_the_theme_page_changed(first, tmp_path):
    """An incremental build writes its pages into the last build's shell page without waiting for
    mkdocs, then compares it with the one mkdocs rendered: had the theme's page changed (the code
    and settings being the same), every generated page is written again."""
    site = first[1]
    kept = (site / STATE / incremental.SHELL).read_text(encoding="utf-8")
    assert "<article" in kept and "GONGSHI-SHELL-BODY" in kept
    datasets, updated = changed_copy(first, tmp_path)
    (updated / STATE / incremental.SHELL).write_text(kept.replace("</head>", "<!-- an older theme -->\n</head>"),
                                                     encoding="utf-8")
    result = build(datasets, updated, LATER)
    assert result.work.incremental
    assert result.work.changed("subjects") == -1 and result.work.changed("listings") == -1  # every one, again
    assert (updated / STATE / incremental.SHELL).read_text(encoding="utf-8") == kept
    build(datasets, tmp_path / "full", LATER, previous=site, full=True)
    assert tree(updated) == tree(tmp_path / "full")
    assert "an older theme" not in (updated / f"subjects/{NEW_SUBJECT}/index.html").read_text(encoding="utf-8")


def test_a_damaged_kept_shell_is_not_used(first, tmp_path):
    """A kept shell page no shell can be cut from is left alone: the build waits for mkdocs."""
    datasets, updated = changed_copy(first, tmp_path)
    (updated / STATE / incremental.SHELL).write_text("<html>cut short", encoding="utf-8")
    result = build(datasets, updated, LATER)
    assert result.work.incremental and result.work.changed("subjects") >= 0  # only the changed pages
    assert (updated / STATE / incremental.SHELL).read_text(encoding="utf-8") == (
        first[1] / STATE / incremental.SHELL).read_text(encoding="utf-8")
    build(datasets, tmp_path / "full", LATER, previous=first[1], full=True)
    assert tree(updated) == tree(tmp_path / "full")


def test_a_second_build_of_the_same_input_rewrites_no_page(first, tmp_path):
    base, site = first
    again = tmp_path / "again"
    shutil.copytree(site, again)
    before = tree(again)
    result = build(base / "datasets", again, FIRST)
    assert result.work.incremental
    assert (result.work.changed("subjects"), result.work.changed("listings"), result.work.changed("subject-feeds")) == (0, 0, 0)
    assert result.work.deleted == 0
    assert "增量构建：重写主体页面 0 个、列表页 0 个、主体订阅源 0 个、其他订阅源和存档页 0 个" in result.describe()
    assert tree(again) == before


def test_an_incremental_build_links_the_unchanged_search_files_and_scans_the_new_ones(first, tmp_path, monkeypatch):
    import generator.site as site_module
    from generator.outputs import search

    def inodes(site: Path) -> dict[str, int]:
        return {p.relative_to(site).as_posix(): p.stat().st_ino for p in (site / "searchindex").rglob("*") if p.is_file()}

    base, site = first
    again = tmp_path / "again"
    shutil.copytree(site, again)
    before = inodes(again)

    def not_made(*args, **kwargs):
        raise AssertionError("the search index was made again from the same inputs")

    monkeypatch.setattr(site_module, "write_search_index", not_made)  # the step beside inherits it
    build(base / "datasets", again, FIRST)
    assert inodes(again) == before and len(before) > 5  # the same input: every file kept, nothing made
    assert (again / STATE / incremental.SEARCH_INPUTS).read_text() == (site / STATE / incremental.SEARCH_INPUTS).read_text()
    monkeypatch.undo()

    # a leak in the index this build makes is found in the files it writes
    datasets, updated = changed_copy(first, tmp_path / "leak")
    before = tree(updated)
    real = search.search_tables

    def leaking(disclosures):
        subjects, documents = real(disclosures)
        names = [f"某公司{PERSON_ID}" if page_id == NEW_SUBJECT else name
                 for page_id, name in zip(subjects["page_id"].to_pylist(), subjects["name"].to_pylist(), strict=True)]
        return subjects.set_column(1, "name", pa.array(names, pa.large_string())), documents

    monkeypatch.setattr(site_module, "search_tables", leaking)
    with pytest.raises(BuildError) as raised:
        build(datasets, updated, LATER)
    assert re.search(r"\nsearchindex/n/\d+(-\d+)?\.json: 身份证号码 450102\*{8}", str(raised.value))
    assert tree(updated) == before


def test_changed_settings_or_full_flag_force_a_full_build(first, tmp_path, monkeypatch):
    base, site = first
    copy = tmp_path / "copy"
    shutil.copytree(site, copy)
    assert not build(base / "datasets", copy, FIRST, full=True).work.incremental
    monkeypatch.setenv("GONGSHI_TAG_AUTHORITY", "credit.example.gov.cn,2026")  # every feed entry id changes
    result = build(base / "datasets", copy, FIRST)
    assert not result.work.incremental
    assert "完整构建。" in result.describe()
    state = State.load(copy)
    assert state is not None and state.fingerprint != State.load(site).fingerprint


def test_a_commit_cut_short_is_finished_by_the_next_run(first, tmp_path, monkeypatch):
    """The process dies while moving changed files into place: the journal lets the next run
    finish the job, and the result equals a full build."""
    datasets, updated = changed_copy(first, tmp_path)
    real_replace = os.replace
    moves = {"n": 0}

    def dying_replace(src, dst):  # the 20th move into the site (caches beside it are written with replace too)
        if str(dst).startswith(str(updated) + os.sep):
            moves["n"] += 1
            if moves["n"] == 20:
                raise KeyboardInterrupt("killed")
        return real_replace(src, dst)

    killed_part_way(monkeypatch, "replace", dying_replace, datasets, updated)
    assert (updated / STATE / JOURNAL).is_file()  # the journal says what was left to do
    recovered_equals_full_build(first, tmp_path, datasets, updated)


def test_a_folder_swap_cut_short_is_finished_by_the_next_run(first, tmp_path, monkeypatch):
    """The search index is put in place whole, with two renames; the process dies between
    them (the old index moved aside, the new one not yet in): the next run puts it in place."""
    datasets, updated = changed_copy(first, tmp_path)
    real_rename = os.rename

    def dying_rename(src, dst):
        if str(dst) == str(updated / "searchindex"):
            raise KeyboardInterrupt("killed")
        return real_rename(src, dst)

    killed_part_way(monkeypatch, "rename", dying_rename, datasets, updated)
    assert not (updated / "searchindex").exists()  # moved aside, the new one not yet in
    recovered_equals_full_build(first, tmp_path, datasets, updated)


def test_a_whole_folder_replaces_the_old_one(tmp_path):
    """Files of the old folder that the new one lacks go with it; a second run does nothing."""
    (tmp_path / "new" / "sub").mkdir(parents=True)
    (tmp_path / "new" / "sub" / "a.json").write_text("new", encoding="utf-8")
    (tmp_path / "site" / "old").mkdir(parents=True)
    (tmp_path / "site" / "old" / "gone.json").write_text("old", encoding="utf-8")
    assert incremental._replace_folder(tmp_path / "new", tmp_path / "site" / "old", tmp_path / "aside") == 1
    site_files = sorted(p.relative_to(tmp_path / "site").as_posix() for p in (tmp_path / "site").rglob("*") if p.is_file())
    assert site_files == ["old/sub/a.json"]
    assert incremental._replace_folder(tmp_path / "new", tmp_path / "site" / "old", tmp_path / "aside") == 0


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_killing_a_build_part_way_leaves_the_previous_site(first, tmp_path, mode):
    """``kill -9`` while the new site is being written: the previous site is untouched, and the
    next build cleans up and succeeds."""
    base, site = first
    out = tmp_path / "site"
    shutil.copytree(site, out)
    before = tree(out)
    datasets = tmp_path / "datasets"
    shutil.copytree(base / "datasets", datasets)
    change(datasets)
    command = [sys.executable, "-c", "from generator.cli import main; main()", "build", "--datasets", str(datasets), "--out", str(out),
               "--as-of", LATER.isoformat(), *(["--full"] if mode == "full" else [])]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and process.poll() is None:
            staging = [p for p in tmp_path.glob(".gongshi-*/site/subjects") if any(p.iterdir())]
            if staging:
                break
            time.sleep(0.005)
        assert process.poll() is None, "the build ended before it could be interrupted"
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert tree(out) == before
    assert list(tmp_path.glob(".gongshi-*"))  # the dead build's staging folder is still there
    result = build(datasets, out, LATER)
    assert result.work.incremental  # the dead build changed nothing, so the site's state still holds
    assert not list(tmp_path.glob(".gongshi-*"))
    assert f"subjects/{NEW_SUBJECT}/index.html" in tree(out)


def test_a_build_leaves_a_sibling_sites_staging_alone(first, tmp_path):
    """Cleaning up after dead builds touches only the staging folders of the same site."""
    base, site = first
    sibling = tmp_path / ".gongshi-other-abc123"
    sibling.mkdir()
    mine = tmp_path / ".gongshi-site-dead00"
    mine.mkdir()
    shutil.copytree(site, tmp_path / "site")
    build(base / "datasets", tmp_path / "site", FIRST)
    assert sibling.is_dir() and not mine.exists()


def test_units_changed_and_gone():
    before = Units(pa.array(["a", "b", "c", "d"]), np.array([[1, 1], [2, 2], [3, 3], [4, 4]], np.uint64))
    after = Units(pa.array(["e", "c", "a"]), np.array([[5, 5], [3, 3], [9, 9]], np.uint64))
    fresh = Units(after.keys, after.digests)  # never compared: finds what is gone on its own
    assert after.changed(before).tolist() == [True, False, True]
    assert after.gone(before) == fresh.gone(before) == ["b", "d"]
    assert after.gone(None) == [] and after.changed(None).tolist() == [True, True, True]


def test_row_digests_are_the_same_when_split_between_processes(monkeypatch):
    import pyarrow as pa

    table = pa.table({"a": [f"值{i}" for i in range(1000)], "b": [None if i % 7 else str(i) for i in range(1000)]})
    alone = incremental.row_digests(table)
    monkeypatch.setattr(incremental, "PARALLEL_ROWS", 10)
    monkeypatch.setenv("GONGSHI_WORKERS", "3")
    assert (incremental.row_digests(table) == alone).all()
    assert len({tuple(d) for d in alone.tolist()}) == 1000


def test_a_rebuild_digests_only_the_records_that_changed(first, tmp_path, monkeypatch):
    """Records whose values are as in the last release keep the digests the last build saved:
    a rebuild of the same input digests no record, and one after an addition digests that one."""
    from generator.outputs import disclosures

    hashed: list[int] = []
    real = disclosures.row_digests
    monkeypatch.setattr(disclosures, "row_digests", lambda table, *a, **k: hashed.append(table.num_rows) or real(table, *a, **k))
    base, site = first
    again = tmp_path / "again"
    shutil.copytree(site, again)
    build(base / "datasets", again, FIRST)
    assert sum(hashed) == 0
    datasets = tmp_path / "datasets"
    shutil.copytree(base / "datasets", datasets)
    Folder(datasets).write("penalties", "new-2026.csv", [
        row("penalties", subject_name="南宁新开户贸易有限公司", subject_uscc=NEW_SUBJECT, decision_doc_no="南市监罚〔2026〕8号",
            decision_date="2026-11-02")], submitted="2026-11-10T10:00:00+08:00", approved="2026-11-11T10:00:00+08:00")
    hashed.clear()
    result = build(datasets, again, FIRST)
    assert result.work.changed("subjects") == 1 and sum(hashed) == 1
