"""Sitemaps and robots.txt: ``sitemap.xml`` is a sitemap index; each sitemap it lists holds at most
50,000 URLs (the protocol's limit) with their last modification date.

Sitemap URLs must be absolute, so they need the site's address (``site_url`` in mkdocs.yml, or
the ``GONGSHI_SITE_URL`` environment variable). Without one, no sitemap is written and robots.txt
says so; the site itself works under any address.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from xml.sax.saxutils import escape

MAX_URLS = 50_000
HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'


def write_sitemaps(site: Path, site_url: str, entries: Iterable[tuple[str, str]]) -> int:
    """Write ``sitemap.xml`` (an index) and ``sitemaps/<n>.xml`` for the site-relative ``entries``
    (path, lastmod); returns the number of sitemaps. Replaces the theme's own sitemap."""
    for stale in ("sitemap.xml", "sitemap.xml.gz"):
        (site / stale).unlink(missing_ok=True)
    if not site_url:
        (site / "robots.txt").write_text("User-agent: *\nAllow: /\n", encoding="utf-8")
        return 0
    folder = site / "sitemaps"
    folder.mkdir(exist_ok=True)
    files: list[tuple[str, str]] = []
    chunk: list[tuple[str, str]] = []

    def flush() -> None:
        name = f"sitemaps/{len(files) + 1}.xml"
        urls = "".join(f"<url><loc>{escape(site_url + '/' + path)}</loc>{_lastmod(mod)}</url>\n" for path, mod in chunk)
        (site / name).write_text(HEADER + '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n' + urls
                                 + "</urlset>\n", encoding="utf-8")
        files.append((name, max((m for _, m in chunk), default="")))
        chunk.clear()

    for entry in entries:
        chunk.append(entry)
        if len(chunk) == MAX_URLS:
            flush()
    if chunk or not files:
        flush()
    index = "".join(f"<sitemap><loc>{escape(site_url + '/' + name)}</loc>{_lastmod(mod)}</sitemap>\n" for name, mod in files)
    (site / "sitemap.xml").write_text(HEADER + '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
                                      + index + "</sitemapindex>\n", encoding="utf-8")
    (site / "robots.txt").write_text(f"User-agent: *\nAllow: /\n\nSitemap: {site_url}/sitemap.xml\n", encoding="utf-8")
    return len(files)


def _lastmod(day: str) -> str:
    return f"<lastmod>{day}</lastmod>" if day else ""
