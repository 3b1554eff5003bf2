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

from ..incremental import group_digests, row_digests, text_digests
from .disclosures import Disclosures
from .opendata import public_columns
from .render import Writer, run_parallel, shared

OPEN_END = "9999-12-31"
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
    lastmod: list[tuple[str, str]]  # (page path, the newest record's date), for the sitemaps


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
    lastmod: list[tuple[str, str]]

    def __len__(self) -> int:
        return len(self.ids)


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
        date_parts.append(np.array([d or "1970-01-01" for d in pc.take(dates, rows).to_pylist()], dtype="datetime64[D]")
                          if len(rows) else np.zeros(0, "datetime64[D]"))
        ds_parts.append(np.full(len(rows), i, dtype=np.int8))
        row_parts.append(rows.to_numpy(zero_copy_only=False).astype(np.int64))
    page_ids = pa.concat_arrays(page_id_parts) if page_id_parts else pa.array([], pa.string())
    order = pc.sort_indices(page_ids).to_numpy(zero_copy_only=False)
    sorted_ids = page_ids.take(pa.array(order)).to_numpy(zero_copy_only=False)
    ds = np.concatenate(ds_parts)[order] if ds_parts else np.zeros(0, np.int8)
    rows = np.concatenate(row_parts)[order] if row_parts else np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]]) if len(sorted_ids) else np.zeros(0, np.int64)
    newest = np.maximum.reduceat(np.concatenate(date_parts)[order], starts) if len(starts) else np.zeros(0, "datetime64[D]")
    ids = sorted_ids[starts]
    lastmod = list(zip((f"subjects/{p}/" for p in ids.tolist()), np.datetime_as_string(newest).tolist(), strict=True))
    return SubjectIndex(names, ids, ds, rows, np.r_[starts, len(sorted_ids)].astype(np.int64), lastmod)


def subject_digests(disclosures: Disclosures, index: SubjectIndex) -> np.ndarray:
    """A digest per subject of every value its page and JSON are made from."""
    if not len(index):
        return np.zeros((0, 2), np.uint64)
    per_row = np.zeros((len(index.rows), 2), np.uint64)
    for i, name in enumerate(index.names):
        where = np.flatnonzero(index.ds == i)
        if len(where):
            table = disclosures.by_dataset[name].table
            per_row[where] = row_digests(table)[index.rows[where]] + text_digests([name])  # the table in its own order: no copy
    return group_digests(per_row, index.bounds[:-1], len(index.rows))


def write_subject_pages(disclosures: Disclosures, writer: Writer, env, region_name: Callable[[str], str],
                        index: SubjectIndex | None = None, only: np.ndarray | None = None) -> SubjectPagesResult:
    """Write the subjects' pages and JSON (all, or those where ``only`` is true), in parallel;
    subjects are independent."""
    index = index if index is not None else subject_index(disclosures)
    chosen = np.arange(len(index)) if only is None else np.flatnonzero(only)
    (writer.site / "api" / "subjects").mkdir(parents=True, exist_ok=True)
    state = {"disclosures": disclosures, "index": index, "chosen": chosen, "writer": writer,
             "template": env.get_template("pages/subject.html"), "region_name": region_name}
    written = run_parallel(_write_range, len(chosen), state, chunk=2000)
    return SubjectPagesResult(written, len(index.rows), index.lastmod)


def _write_range(span: tuple[int, int]) -> int:
    w = shared()
    index: SubjectIndex = w["index"]
    subjects = w["chosen"][span[0]:span[1]]
    lengths = index.bounds[subjects + 1] - index.bounds[subjects]
    positions = np.concatenate([np.arange(index.bounds[s], index.bounds[s + 1]) for s in subjects.tolist()]) \
        if len(subjects) else np.zeros(0, np.int64)
    records = _records(w["disclosures"], index.names, index.ds[positions], index.rows[positions])
    writer: Writer = w["writer"]
    at = 0
    for length in lengths.tolist():
        subject_records = records[at:at + length]
        at += length
        view = subject_view(subject_records, w["region_name"])
        body = w["template"].render(root=ROOT, s=view, sections=sections(subject_records))
        writer.page(f"subjects/{view['id']}/", view["name"], body)
        (writer.site / "api" / "subjects" / f"{view['id']}.json").write_text(api_document(view, subject_records), encoding="utf-8")
    return len(subjects)


def _records(disclosures: Disclosures, names: list[str], ds: np.ndarray, rows: np.ndarray) -> list[tuple[str, dict]]:
    """(dataset, record as a dict of public columns and page columns) for the given positions, in order."""
    out: list[tuple[str, dict] | None] = [None] * len(rows)
    for i, name in enumerate(names):
        where = np.flatnonzero(ds == i)
        if not len(where):
            continue
        table = disclosures.by_dataset[name].table.take(pa.array(rows[where]))
        columns = table.to_pydict()
        keys = list(columns)
        for j, values in zip(where.tolist(), zip(*columns.values(), strict=True), strict=True):
            out[j] = (name, dict(zip(keys, values, strict=True)))
    return out  # type: ignore[return-value]


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

