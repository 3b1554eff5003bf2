"""One page per subject, ``subjects/<page id>/``, and its JSON twin, ``api/subjects/<page id>.json``.

A page shows who the subject is (name, codes, category, the region its code was issued in), its
status now (on the black list, on the red list, a record under objection), then its published
records, one section per kind: penalties being displayed with the day display ends, licences in
force, licence history, list entries. Each record sits under a permanent anchor ``#r-<record id>``.
Natural persons have no page; their records appear in listings only.

The records are the publication decision's (see :mod:`generator.outputs.disclosures`): a subject
page and its JSON list exactly what the data packages list for that subject, nothing withheld.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from markupsafe import Markup, escape

from ..incremental import group_digests
from ..normalize import iso_days, parse_dates, string_ranks
from .disclosures import Disclosures
from .opendata import public_columns
from .render import OPEN, Stencil, Writer, escape_html, holds, join, run_parallel, shared, workers, write_files

OPEN_END = "9999-12-31"
ALONE = 2_000  # at most this many pages (about half a second's work) are written in this process (see render.map_parallel)
SUBJECT_CODES = (("subject_org_code", "组织机构代码"), ("subject_tax_reg_no", "税务登记号"),
                 ("subject_inst_cert_no", "事业单位证书号"), ("subject_social_org_reg_no", "社会组织登记证号"))
# (field, label) shown for each record, in order; the authority is linked to its page
RECORD_FIELDS = {
    "penalties": (("decision_doc_no", "决定书文号"), ("violation_type", "违法行为类型"), ("violation_facts", "违法事实"),
                  ("legal_basis", "处罚依据"), ("penalty_categories", "处罚类别"), ("penalty_content", "处罚内容"),
                  ("fine_amount_wan", "罚款金额（万元）"), ("confiscation_amount_wan", "没收金额（万元）"),
                  ("suspended_revoked_licence", "暂扣或吊销证照"), ("decision_date", "处罚决定日期"),
                  ("penalty_valid_until", "处罚有效期"), ("authority", "处罚机关"), ("display_until", "公示截止"),
                  ("remarks", "备注")),
    "licensing": (("decision_doc_title", "决定文书名称"), ("decision_doc_no", "决定文书号"), ("license_category", "许可类别"),
                  ("certificate_name", "许可证书名称"), ("license_no", "许可编号"), ("license_content", "许可内容"),
                  ("decision_date", "许可决定日期"), ("valid_from", "有效期自"), ("valid_to", "有效期至"),
                  ("authority", "许可机关"), ("status", "当前状态"), ("display_until", "展示至"), ("remarks", "备注")),
    "lists": (("list_name", "名单名称"), ("listing_reason", "列入原因"), ("listing_basis", "认定依据"), ("authority", "认定部门"),
              ("listed_date", "列入日期"), ("valid_until", "有效期至"), ("status", "状态"), ("display_until", "公示至"),
              ("remarks", "备注")),
}
# (section key, dataset, decision statuses, title, what to say when empty)
SECTIONS = (
    ("blacklist", "blacklist", ("listed",), "严重失信主体名单", "目前不在严重失信主体名单上。"),
    ("penalties", "penalties", ("displayed",), "正在公示的行政处罚", "目前没有正在公示的行政处罚。"),
    ("licences", "licensing", ("in_force",), "有效的行政许可", "目前没有有效的行政许可。"),
    ("licence-history", "licensing", ("licence_history",), "历史许可", "没有展示中的历史许可。"),
    ("redlist", "redlist", ("listed",), "守信激励名单", "目前不在守信激励名单上。"),
)


@dataclass
class SubjectPagesResult:
    subjects: int  # pages written (all of them, or in an incremental build the changed ones)
    records: int
    lastmod: tuple[pa.Array, pa.Array]  # page paths and the newest record's date of each, for the sitemaps


@dataclass
class SubjectIndex:
    """Every subject with a page and where its records are: subject ``s`` has the records at
    positions ``bounds[s]:bounds[s + 1]`` of ``ds`` (dataset number) and ``rows`` (row in that
    dataset's table)."""

    names: list[str]
    ids: np.ndarray  # page id per subject, sorted
    ds: np.ndarray
    rows: np.ndarray
    bounds: np.ndarray
    newest: np.ndarray  # the newest record's date per subject (datetime64[D])

    def __len__(self) -> int:
        return len(self.ids)

    def lastmod(self) -> tuple[pa.Array, pa.Array]:
        """Each subject page's path and the newest record's date, for the sitemaps."""
        paths = pc.binary_join_element_wise("subjects/", pa.array(self.ids, pa.string()), "/", "")
        return paths, iso_days(self.newest)


def subject_index(disclosures: Disclosures) -> SubjectIndex:
    """Group the published records by subject page id (persons and invalid codes have none)."""
    names = list(disclosures.by_dataset)
    page_id_parts, ds_parts, row_parts, date_parts = [], [], [], []
    for i, name in enumerate(names):
        records = disclosures.by_dataset[name]
        ids = records.table["page_id"]
        rows = pc.indices_nonzero(pc.not_equal(ids, "")) if len(ids) else pa.array([], pa.uint64())
        page_id_parts.append(pc.take(ids, rows).combine_chunks() if len(rows) else pa.array([], pa.string()))
        dates = records.table[records.dataset.decision_date_field]
        date_parts.append(_days(pc.take(dates, rows)) if len(rows) else np.zeros(0, "datetime64[D]"))
        ds_parts.append(np.full(len(rows), i, dtype=np.int8))
        row_parts.append(rows.to_numpy(zero_copy_only=False).astype(np.int64))
    page_ids = pa.concat_arrays(page_id_parts) if page_id_parts else pa.array([], pa.string())
    # by page id (stable: a subject's records stay in dataset and table order), as ranks
    ranks = string_ranks(page_ids) if len(page_ids) else np.zeros(0, np.int64)
    order = np.argsort(ranks, kind="stable")
    sorted_ranks = ranks[order]
    ds = np.concatenate(ds_parts)[order] if ds_parts else np.zeros(0, np.int8)
    rows = np.concatenate(row_parts)[order] if row_parts else np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_ranks[1:] != sorted_ranks[:-1]]) if len(order) else np.zeros(0, np.int64)
    newest = np.maximum.reduceat(np.concatenate(date_parts)[order], starts) if len(starts) else np.zeros(0, "datetime64[D]")
    ids = page_ids.take(pa.array(order[starts])).to_numpy(zero_copy_only=False)
    return SubjectIndex(names, ids, ds, rows, np.r_[starts, len(order)].astype(np.int64), newest)


def _days(dates: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """ISO dates as datetime64[D]; an empty one as 1970-01-01 (the records' dates are checked)."""
    days = parse_dates(dates.combine_chunks() if isinstance(dates, pa.ChunkedArray) else dates)
    return np.where(np.isnat(days), np.datetime64("1970-01-01", "D"), days)


def subject_digests(disclosures: Disclosures, index: SubjectIndex) -> np.ndarray:
    """A digest per subject of every value its page and JSON are made from."""
    if not len(index):
        return np.zeros((0, 2), np.uint64)
    offsets = disclosures.record_offsets()
    start = np.array([offsets[name] for name in index.names], np.int64)
    per_row = disclosures.record_digests[start[index.ds] + index.rows]
    return group_digests(per_row, index.bounds[:-1], len(index.rows))


def write_subject_pages(disclosures: Disclosures, writer: Writer, env, region_name: Callable[[str], str],
                        index: SubjectIndex | None = None, only: np.ndarray | None = None) -> SubjectPagesResult:
    """Write the subjects' pages and JSON (all, or those where ``only`` is true), in parallel;
    subjects are independent."""
    index = index if index is not None else subject_index(disclosures)
    chosen = np.arange(len(index)) if only is None else np.flatnonzero(only)
    (writer.site / "subjects").mkdir(parents=True, exist_ok=True)
    (writer.site / "api" / "subjects").mkdir(parents=True, exist_ok=True)
    state = {"disclosures": disclosures, "index": index, "chosen": chosen, "writer": writer,
             "markup": _Markup.of(env.get_template("pages/subject.html")), "region_name": region_name}
    chunk = min(2000, max(250, len(chosen) // (4 * workers())))  # a few chunks a worker, for balance
    written = run_parallel(_write_range, len(chosen), state, chunk=chunk, alone=ALONE)
    return SubjectPagesResult(written, len(index.rows), index.lastmod())


def _write_range(span: tuple[int, int]) -> int:
    w = shared()
    index: SubjectIndex = w["index"]
    subjects = w["chosen"][span[0]:span[1]]
    if not len(subjects):
        return 0
    writer: Writer = w["writer"]
    chunk = _render(w["disclosures"], index, subjects, w["markup"], w["region_name"])
    ids = chunk.ids.to_pylist()
    writer.pages(2, [f"subjects/{i}/" for i in ids], chunk.names, chunk.bodies)
    api = f"{writer.site}/api/subjects/"
    write_files([f"{api}{i}.json" for i in ids], None, chunk.documents)
    return len(subjects)


# ---------------------------------------------------------------------------------------------
# The pages of a chunk of subjects at once, from Arrow columns. The template's macros are rendered
# once with placeholders (Stencil); every record's <article> and JSON object is then made for the
# whole chunk by string kernels, sorted into the pages' order, and each subject's pieces joined,
# so Python does no work per record or per subject except writing its two files. What a page
# shows is what subject_view, sections and record_view (below) say of one subject, and the JSON
# is api_document's, byte for byte.


@dataclass
class _Markup:
    """The template's macros as stencils, and the pieces that are the same on many pages."""

    page: Stencil
    crumb: Stencil
    link: Stencil
    record: Stencil
    objection: str
    items: dict[str, Stencil]  # a fact or field with its term, by term
    sections: list[tuple[str, str, str]]  # per SECTIONS entry: the markup before its count, between it and the records, after
    badges: list[str]  # by badge code (see _BADGES): the page's status badges
    status: list[str]  # by badge code: the JSON's "status"
    absent: list[str]  # by code (bit k: SECTIONS[k] is empty): the list of kinds the subject has none of

    @classmethod
    def of(cls, template) -> _Markup:
        m = template.make_module({"root": ROOT})
        terms = {label for spec in RECORD_FIELDS.values() for _, label in spec} | {label for _, label in SUBJECT_CODES}
        terms |= {"工商注册号", "统一社会信用代码", "主体类别", "登记地", "法定代表人", "经营者"}
        sections = []
        for key, _, _, title, _ in SECTIONS:
            section = Stencil(m.section, key, title, OPEN, OPEN)
            if section.slots != [0, 1]:
                raise ValueError("the section macro shows its count, then its records")
            sections.append(tuple(section.texts))
        badges, status = [], []
        for code in range(1 << len(_BADGES)):
            chosen = [(kind, text) for k, (kind, text) in enumerate(_BADGES) if code >> k & 1]
            badges.append(str(m.badges(Markup("".join(str(m.badge(kind, text)) for kind, text in chosen)))) if chosen else "")
            status.append(json.dumps([text for _, text in chosen], ensure_ascii=False, separators=(",", ":")))
        absent = []
        for code in range(1 << len(SECTIONS)):
            empty = [s[4] for k, s in enumerate(SECTIONS) if code >> k & 1]
            absent.append(str(m.absent(Markup("".join(str(m.absent_item(text)) for text in empty)))) if empty else "")
        return cls(Stencil(m.page, *[OPEN] * 7), Stencil(m.crumb, OPEN, OPEN), Stencil(m.link, OPEN, OPEN),
                   Stencil(m.record, OPEN, OPEN, OPEN, OPEN), str(m.objection()),
                   {term: Stencil(m.item, term, OPEN) for term in sorted(terms)}, sections, badges, status, absent)


# the status badges, in order, as (kind, text); the first three are shown when a record of the subject
# has that (dataset, decision status), the last when one is under objection
_BADGES = (("black", "严重失信主体名单：在列"), ("penalty", "有正在公示的行政处罚"), ("red", "守信激励名单：在列"),
           ("objection", "有记录异议处理中"))
_BADGE_RECORDS = (("blacklist", "listed"), ("penalties", "displayed"), ("redlist", "listed"))
# what the page says of its subject, from the subject's newest record
_SUBJECT_COLUMNS = ("page_id", "subject_name", "subject_category", "subject_uscc", "subject_business_reg_no", "region",
                    "legal_rep_name", *(field for field, _ in SUBJECT_CODES))


@dataclass
class _Chunk:
    ids: pa.Array  # page ids
    names: pa.Array  # the subjects' names (the page titles), raw
    bodies: pa.Array  # the pages' bodies, for the shell
    documents: pa.Array  # the JSON documents


def _render(disclosures: Disclosures, index: SubjectIndex, subjects: np.ndarray, markup: _Markup,
            region_name: Callable[[str], str]) -> _Chunk:
    """The pages' bodies and the JSON documents of the index's ``subjects``."""
    starts, lengths = index.bounds[subjects], index.bounds[subjects + 1] - index.bounds[subjects]
    first = np.r_[0, np.cumsum(lengths)[:-1]]
    positions = np.repeat(starts - first, lengths) + np.arange(int(lengths.sum()))  # the subjects' records, in order
    subject_of = np.repeat(np.arange(len(subjects)), lengths)
    ds, rows = index.ds[positions], index.rows[positions]
    parts = []
    for i, name in enumerate(index.names):
        where = np.flatnonzero(ds == i)
        if len(where):
            table = disclosures.by_dataset[name].table.take(pa.array(rows[where]))
            parts.append(_record_pieces(name, table, markup).append_column("subject", pa.array(subject_of[where], pa.int32()))
                         .append_column("position", pa.array(where, pa.int64())))
    records = pa.concat_tables(parts)
    subject_of = records["subject"].to_numpy()
    newest = _first_per_subject(records, [("date", "descending"), ("record_id", "descending")])
    s = records.select(_SUBJECT_COLUMNS).take(pa.array(newest))
    ids, name, category, region = (s[c].combine_chunks() for c in ("page_id", "subject_name", "subject_category", "region"))
    unique = pc.unique(region)
    region_names = pa.array([region_name(r) if r else "" for r in unique.to_pylist()], pa.string()).take(
        pc.index_in(region, value_set=unique))
    has_region = pc.not_equal(region, "")
    badge_code = np.zeros(len(subjects), np.int64)
    for k, (dataset, status) in enumerate(_BADGE_RECORDS):
        hit = pc.and_(pc.equal(records["dataset"], dataset), pc.equal(records["status"], status)).to_numpy(zero_copy_only=False)
        badge_code |= _any_per_subject(hit, subject_of, len(subjects)) << k
    objection = records["objection"].to_numpy(zero_copy_only=False)
    badge_code |= _any_per_subject(objection, subject_of, len(subjects)) << len(_BADGE_RECORDS)
    sections_html, absent_code = _sections(records, subject_of, len(subjects), markup)
    id_html, name_html, region_html, region_name_html = (escape_html(v) for v in (ids, name, region, region_names))
    body = markup.page.fill(
        id_html, name_html,
        pc.if_else(has_region, markup.crumb.fill(join("regions/", region_html, "/"), region_name_html), ""),
        pa.array(markup.badges, pa.string()).take(pa.array(badge_code)),
        _facts(s, region_html, region_name_html, has_region, markup),
        sections_html,
        pa.array(markup.absent, pa.string()).take(pa.array(absent_code)))
    document = join(
        '{"id":', _json(ids), ',"name":', _json(name), ',"category":', _json(category), ',"region":',
        pc.if_else(has_region, join('{"code":', _json(region), ',"name":', _json(region_names), "}"), "null"),
        ',"page":', _json(join("subjects/", ids, "/")), ',"status":',
        pa.array(markup.status, pa.string()).take(pa.array(badge_code)),
        ',"records":{', _json_records(records, subject_of, len(subjects)), "}}\n")
    return _Chunk(ids, name, body, document)


def _record_pieces(name: str, table: pa.Table, markup: _Markup) -> pa.Table:
    """Per record of one dataset: what sorts it, the columns the subject's facts come from, its
    ``<article>`` and its JSON object."""
    text = {c: pc.fill_null(table[c].combine_chunks(), "") for c in table.column_names}
    n = table.num_rows
    blank = pa.array([""] * n, pa.string())
    fields = []
    for field, label in RECORD_FIELDS.get(name) or RECORD_FIELDS["lists"]:
        if field not in text:
            continue
        value = text[field]
        if field == "display_until":
            value = pc.if_else(pc.equal(value, ""), "长期", value)
        else:
            value = pc.if_else(pc.equal(value, OPEN_END), "长期", value)
        html = escape_html(value)
        if field == "authority":
            html = markup.link.fill(join("authorities/", escape_html(text["authority_key"]), "/"), html)
        fields.append(pc.if_else(pc.equal(value, ""), "", markup.items[label].fill(html)))
    if name in ("penalties", "licensing"):
        heading = text["decision_doc_no"]
        if "license_no" in text:
            heading = pc.if_else(pc.equal(heading, ""), text["license_no"], heading)
        heading = pc.if_else(pc.equal(heading, ""), "（无文号）", heading)
    else:
        heading = text["list_name"]
    objection = pc.equal(text["under_objection"], "true")
    article = markup.record.fill(escape_html(text["record_id"]), escape_html(heading),
                                 pc.if_else(objection, markup.objection, ""), join(*fields) if fields else blank)
    section = np.full(n, len(SECTIONS), np.int8)  # past the last: on no section of the page
    status = text["disclosure_status"]
    for k, (_, dataset, statuses, _, _) in enumerate(SECTIONS):
        if dataset == name:
            section[pc.is_in(status, value_set=pa.array(statuses, pa.string())).to_numpy(zero_copy_only=False)] = k
    columns = {"dataset": pa.array([name] * n, pa.string()), "record_id": text["record_id"],
               "date": text.get(_DATE_FIELD[name], blank), "status": status, "objection": objection,
               "section": pa.array(section), "article": article, "json": _json_object(name, table)}
    columns.update({c: text.get(c, blank) for c in _SUBJECT_COLUMNS})
    return pa.table(columns)


def _sections(records: pa.Table, subject_of: np.ndarray, subjects: int, markup: _Markup) -> tuple[pa.Array, np.ndarray]:
    """Per subject: its sections' markup, and which sections it has no record in (bit k: SECTIONS[k])."""
    order = _order(records, [("subject", "ascending"), ("section", "ascending"), ("date", "descending"),
                             ("record_id", "descending"), ("position", "ascending")])
    section = records["section"].to_numpy()[order]
    subject = subject_of[order]
    shown = section < len(SECTIONS)
    key = subject.astype(np.int64) * (len(SECTIONS) + 1) + section
    opens = np.r_[True, key[1:] != key[:-1]]
    closes = np.r_[key[1:] != key[:-1], True]
    group = np.cumsum(opens) - 1
    counts = np.bincount(group)[group]
    kind = np.minimum(section, len(SECTIONS) - 1)
    before, between, after = (pa.array([texts[j] for texts in markup.sections], pa.string()).take(pa.array(kind))
                              for j in range(3))
    fragment = join(pc.if_else(pa.array(opens & shown), join(before, pc.cast(pa.array(counts), pa.string()), between), ""),
                    pc.if_else(pa.array(shown), records["article"].combine_chunks().take(pa.array(order)), ""),
                    pc.if_else(pa.array(closes & shown), after, ""))
    has = np.zeros((subjects, len(SECTIONS) + 1), bool)
    has[subject, section] = True
    absent = (~has[:, :len(SECTIONS)]).astype(np.int64) @ (1 << np.arange(len(SECTIONS), dtype=np.int64))
    return _concat_per_subject(fragment, subject, subjects), absent


def _facts(s: pa.Table, region_html: pa.Array, region_name_html: pa.Array, has_region: pa.Array, markup: _Markup) -> pa.Array:
    """The subject's facts, as subject_view lists them."""
    text = {c: s[c].combine_chunks() for c in s.column_names}
    items = markup.items
    by_reg = pc.starts_with(text["page_id"], "ZC")
    category = text["subject_category"]
    legal_rep = escape_html(text["legal_rep_name"])
    facts = [pc.if_else(by_reg, items["工商注册号"].fill(escape_html(text["subject_business_reg_no"])),
                        items["统一社会信用代码"].fill(escape_html(text["subject_uscc"]))),
             items["主体类别"].fill(escape_html(category)),
             pc.if_else(has_region, items["登记地"].fill(markup.link.fill(join("regions/", region_html, "/"), region_name_html)), ""),
             pc.if_else(pc.equal(text["legal_rep_name"], ""), "",
                        pc.if_else(pc.equal(category, "个体工商户"), items["经营者"].fill(legal_rep), items["法定代表人"].fill(legal_rep)))]
    for field, label in SUBJECT_CODES:
        facts.append(pc.if_else(pc.equal(text[field], ""), "", items[label].fill(escape_html(text[field]))))
    return join(*facts)


def _json_object(name: str, table: pa.Table) -> pa.Array:
    """Each record as api_document writes it: the data packages' columns, in their order."""
    parts: list[pa.Array | str] = []
    literal = ""
    for i, column in enumerate(_public(name)):
        literal += ("," if i else "{") + json.dumps(column, ensure_ascii=False) + ":"
        if column not in table.column_names:
            literal += '""'  # api_document's default
            continue
        values = table[column].combine_chunks()
        if values.null_count:
            parts += [literal, _json(values)]
            literal = ""
        else:  # the quotes go with the markup around
            parts += [literal + '"', _json_text(values)]
            literal = '"'
    return join(*parts, literal + "}")


def _json_records(records: pa.Table, subject_of: np.ndarray, subjects: int) -> pa.Array:
    """Per subject, the members of the JSON's "records": each dataset's records by record id."""
    order = _order(records, [("subject", "ascending"), ("dataset", "ascending"), ("record_id", "ascending"),
                             ("position", "ascending")])
    subject = subject_of[order]
    dataset = records["dataset"].combine_chunks().take(pa.array(order))
    codes = pc.dictionary_encode(dataset).indices.to_numpy(zero_copy_only=False)
    key = subject.astype(np.int64) * 8 + codes
    opens = np.r_[True, key[1:] != key[:-1]]
    closes = np.r_[key[1:] != key[:-1], True]
    first_of_subject = np.r_[True, subject[1:] != subject[:-1]]
    opening = join(pc.if_else(pa.array(first_of_subject), "", ","), _json(dataset), ":[")
    return _concat_per_subject(join(pc.if_else(pa.array(opens), opening, ""),
                                    records["json"].combine_chunks().take(pa.array(order)),
                                    pc.if_else(pa.array(closes), "]", ",")), subject, subjects)


def _json(values: pa.Array) -> pa.Array:
    """Each string as a JSON string, exactly as json.dumps(ensure_ascii=False) writes it; null as null."""
    quoted = join('"', _json_text(pc.fill_null(values, "")), '"')
    return pc.if_else(pc.is_null(values), "null", quoted) if values.null_count else quoted


def _json_text(text: pa.Array) -> pa.Array:
    """What goes between the quotes of each string in JSON (json.dumps(ensure_ascii=False))."""
    if holds(text, b'\\"'):
        text = pc.replace_substring(pc.replace_substring(text, "\\", "\\\\"), '"', '\\"')
    if holds(text, bytes(range(0x20))):
        for code in (c for c in range(0x20) if holds(text, bytes([c]))):
            text = pc.replace_substring(text, chr(code), json.encoder.ESCAPE_DCT[chr(code)])  # type: ignore[attr-defined]
    return text


def _order(table: pa.Table, keys: list[tuple[str, str]]) -> np.ndarray:
    return pc.sort_indices(table.select([k for k, _ in keys]), sort_keys=keys).to_numpy(zero_copy_only=False)


def _first_per_subject(records: pa.Table, keys: list[tuple[str, str]]) -> np.ndarray:
    """Per subject, the row that sorts first by ``keys`` (ties: the earlier record, as max() keeps)."""
    order = _order(records, [("subject", "ascending"), *keys, ("position", "ascending")])
    subject = records["subject"].to_numpy()[order]
    return order[np.r_[True, subject[1:] != subject[:-1]]]


def _any_per_subject(flags: np.ndarray, subject_of: np.ndarray, subjects: int) -> np.ndarray:
    return (np.bincount(subject_of, weights=flags.astype(np.float64), minlength=subjects) > 0).astype(np.int64)


def _concat_per_subject(values: pa.Array, subject: np.ndarray, subjects: int) -> pa.Array:
    """The strings of each subject (``values`` grouped by ``subject``, ascending) joined."""
    bounds = np.searchsorted(subject, np.arange(subjects + 1)).astype(np.int32)
    return pc.binary_join(pa.ListArray.from_arrays(pa.array(bounds), values), "")


# ---------------------------------------------------------------------------------------------
# One subject from its records as dicts ((dataset, record) pairs): the same page and JSON stated
# record by record, slower, for reading and for checking the chunked renderer against.


def subject_view(records: list[tuple[str, dict]], region_name: Callable[[str], str]) -> dict:
    """Who the subject is, from its newest record, and its status badges."""
    newest = max(records, key=lambda r: (_date(r), r[1]["record_id"]))[1]
    page_id = newest["page_id"]
    by_reg = page_id.startswith("ZC")
    facts = [("工商注册号" if by_reg else "统一社会信用代码", newest["subject_business_reg_no"] if by_reg else newest["subject_uscc"], ""),
             ("主体类别", newest["subject_category"], "")]
    region = newest["region"]
    if region:
        facts.append(("登记地", region_name(region), f"regions/{region}/"))
    if newest.get("legal_rep_name"):
        facts.append(("法定代表人" if newest["subject_category"] != "个体工商户" else "经营者", newest["legal_rep_name"], ""))
    for field, label in SUBJECT_CODES:
        if newest.get(field):
            facts.append((label, newest[field], ""))
    badges = []
    statuses = {(name, r["disclosure_status"]) for name, r in records}
    if ("blacklist", "listed") in statuses:
        badges.append(("black", "严重失信主体名单：在列"))
    if ("penalties", "displayed") in statuses:
        badges.append(("penalty", "有正在公示的行政处罚"))
    if ("redlist", "listed") in statuses:
        badges.append(("red", "守信激励名单：在列"))
    if any(r["under_objection"] == "true" for _, r in records):
        badges.append(("objection", "有记录异议处理中"))
    return {"id": page_id, "name": newest["subject_name"], "category": newest["subject_category"], "region": region,
            "region_name": region_name(region) if region else "", "facts": facts, "badges": badges}


def sections(records: list[tuple[str, dict]]) -> list[dict]:
    out = []
    for key, name, statuses, title, empty in SECTIONS:
        chosen = [r for n, r in records if n == name and r["disclosure_status"] in statuses]
        chosen.sort(key=lambda r: (_date((name, r)), r["record_id"]), reverse=True)
        out.append({"key": key, "title": title, "empty": empty, "records": [record_view(name, r) for r in chosen]})
    return out


def record_view(dataset: str, r: dict) -> dict:
    """A record's heading and its fields as one ``<dl>``'s items, escaped here: a page has dozens of
    fields, and joining them in Python is several times cheaper than a template loop."""
    spec = RECORD_FIELDS.get(dataset) or RECORD_FIELDS["lists"]
    items = []
    for name, label in spec:
        value = r.get(name, "")
        if name == "display_until":
            value = value or "长期"
        elif value == OPEN_END:
            value = "长期"
        if not value:
            continue
        text = escape(value)
        if name == "authority":
            text = f'<a href="{ROOT}authorities/{escape(r["authority_key"])}/">{text}</a>'
        items.append(f"<dt>{label}</dt><dd>{text}</dd>")
    documented = dataset in ("penalties", "licensing")
    heading = (r["decision_doc_no"] or r.get("license_no") or "（无文号）") if documented else r["list_name"]
    return {"id": r["record_id"], "heading": heading, "fields": Markup("".join(items)),
            "objection": r["under_objection"] == "true"}


ROOT = "../../"  # subject pages are two folders below the site root


def api_document(view: dict, records: list[tuple[str, dict]]) -> str:
    """The subject's JSON: the same published records as its page, with the data packages' columns."""
    by_dataset: dict[str, list[dict]] = {}
    for name, r in sorted(records, key=lambda x: (x[0], x[1]["record_id"])):
        by_dataset.setdefault(name, []).append({c: r.get(c, "") for c in _public(name)})
    document = {
        "id": view["id"], "name": view["name"], "category": view["category"],
        "region": {"code": view["region"], "name": view["region_name"]} if view["region"] else None,
        "page": f"subjects/{view['id']}/",
        "status": [text for _, text in view["badges"]], "records": by_dataset,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"


_PUBLIC: dict[str, list[str]] = {}


def _public(name: str) -> list[str]:
    if name not in _PUBLIC:
        from ..schema import datasets
        _PUBLIC.update({d.name: public_columns(d) for d in datasets()})
    return _PUBLIC[name]


_DATE_FIELD = {"penalties": "decision_date", "licensing": "decision_date", "redlist": "listed_date", "blacklist": "listed_date"}


def _date(record: tuple[str, dict]) -> str:
    return record[1].get(_DATE_FIELD[record[0]], "")

