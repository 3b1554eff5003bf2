"""Sitemaps and robots.txt: ``sitemap.xml`` is a sitemap index; each sitemap it lists holds at most
50,000 URLs (the protocol's limit) with their last modification date.

Sitemap URLs must be absolute, so they need the site's address (``site_url`` in mkdocs.yml, or
the ``GONGSHI_SITE_URL`` environment variable). Without one, no sitemap is written and robots.txt
says so; the site itself works under any address.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

import pyarrow as pa
import pyarrow.compute as pc

from ..normalize import one_array, string_buffers

MAX_URLS = 50_000
HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'
URLSET = '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'

Texts = Sequence[str] | pa.Array | pa.ChunkedArray


def write_sitemaps(site: Path, site_url: str, blocks: Iterable[tuple[Texts, Texts]]) -> int:
    """Write ``sitemap.xml`` (an index) and ``sitemaps/<n>.xml`` for the site-relative paths
    and last modification dates of ``blocks`` (each a pair of equally long sequences or text
    columns, in the order listed); returns the number of sitemaps. Replaces the theme's own
    sitemap. The URL lines are made column by column, hundreds of thousands of pages at once."""
    for stale in ("sitemap.xml", "sitemap.xml.gz"):
        (site / stale).unlink(missing_ok=True)
    if not site_url:
        (site / "robots.txt").write_text("User-agent: *\nAllow: /\n", encoding="utf-8")
        return 0
    folder = site / "sitemaps"
    folder.mkdir(exist_ok=True)
    pairs = [(_texts(p), _texts(m)) for p, m in blocks]
    paths = pa.concat_arrays([p for p, _ in pairs]) if pairs else pa.array([], pa.string())
    mods = pa.concat_arrays([m for _, m in pairs]) if pairs else pa.array([], pa.string())
    lines = pc.binary_join_element_wise(f"<url><loc>{escape(site_url + '/')}", _escaped(paths), "</loc>", _lastmod(mods),
                                        "</url>\n", "")
    found = string_buffers(one_array(lines))
    if found is None:
        raise ValueError("sitemap entries must be text without missing values")
    offsets, data = found
    files: list[tuple[str, str]] = []
    for lo in range(0, max(len(paths), 1), MAX_URLS):
        hi = min(lo + MAX_URLS, len(paths))
        name = f"sitemaps/{len(files) + 1}.xml"
        urls = data[offsets[lo]:offsets[hi]].tobytes()
        (site / name).write_bytes((HEADER + URLSET).encode() + urls + b"</urlset>\n")
        files.append((name, pc.max(mods.slice(lo, hi - lo)).as_py() or ""))
    index = "".join(f"<sitemap><loc>{escape(site_url + '/' + name)}</loc>{_lastmod_text(mod)}</sitemap>\n" for name, mod in files)
    (site / "sitemap.xml").write_text(HEADER + '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
                                      + index + "</sitemapindex>\n", encoding="utf-8")
    (site / "robots.txt").write_text(f"User-agent: *\nAllow: /\n\nSitemap: {site_url}/sitemap.xml\n", encoding="utf-8")
    return len(files)


def _texts(values: Texts) -> pa.Array:
    if isinstance(values, pa.ChunkedArray | pa.Array):
        return pc.cast(one_array(values), pa.string())
    return pa.array(list(values), pa.string())


def _escaped(values: pa.Array) -> pa.Array:
    """As ``xml.sax.saxutils.escape``: &, < and > (the ampersand first)."""
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        values = pc.replace_substring(values, char, entity)
    return values


def _lastmod(days: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(days, ""), "", pc.binary_join_element_wise("<lastmod>", _escaped(days), "</lastmod>", ""))


def _lastmod_text(day: str) -> str:
    return f"<lastmod>{escape(day)}</lastmod>" if day else ""
