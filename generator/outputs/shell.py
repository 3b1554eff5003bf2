"""The page shell: mkdocs-material's own header, navigation, search box and footer, reused around
the pages the generator renders itself (subjects, listings), so every page shares one look.

MkDocs renders one hidden page (``_shell/``) with the theme; this module cuts that page around
its article and turns it into pieces the generator concatenates with its own content. The theme
writes relative URLs (``../assets/…`` on a page one level deep); the shell rewrites them for the
depth of each generated page, so the site still works under any sub-path.

Generated pages carry a Content-Security-Policy that forbids inline scripts: the theme's one
inline script that generated pages need (its localStorage scope) is moved into an external file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup, escape

SHELL_PAGE = "_shell"
TITLE_MARK = "GONGSHI-SHELL-TITLE"
BODY_MARK = "GONGSHI-SHELL-BODY"
SCOPE_SCRIPT = "assets/javascripts/gongshi-scope.js"
# the theme's head script, with its scope taken from this file's own URL instead of the page's
SCOPE_JS = ('__md_scope=new URL("../../",document.currentScript.src),'
            '__md_hash=e=>[...e].reduce(((e,_)=>(e<<5)-e+_.charCodeAt(0)),0),'
            '__md_get=(e,_=localStorage,t=__md_scope)=>JSON.parse(_.getItem(t.pathname+"."+e)),'
            '__md_set=(e,_,t=localStorage,a=__md_scope)=>{try{t.setItem(a.pathname+"."+e,JSON.stringify(_))}catch(e){}};\n')
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'self'; form-action 'self'")
SOURCE = f"""---
search:
  exclude: true
hide:
  - toc
---

# {TITLE_MARK}

{BODY_MARK}
"""


def source_page() -> str:
    """The Markdown page MkDocs renders to make the shell."""
    return SOURCE


def take_page(site: Path) -> str:
    """The rendered shell page's HTML, removed from the site (it is not a page of its own)."""
    page = site / SHELL_PAGE / "index.html"
    html = page.read_text(encoding="utf-8")
    page.unlink()
    page.parent.rmdir()
    return html


@dataclass
class Shell:
    """The theme's page around an article, as text with ``{root}``-style holes filled per page."""

    head: str  # up to and including the opening <article>, with {title}, {extra_head} and {root} holes
    tail: str  # from </article> on, with {root} holes
    site_name: str

    @classmethod
    def from_page(cls, html: str, site: Path, site_url: str) -> Shell:
        """The shell cut from a rendered shell page, for pages written into ``site`` (which gets
        the theme's scope script the shell links to)."""
        shell = cls.parse(html, site_url)
        (site / SCOPE_SCRIPT).parent.mkdir(parents=True, exist_ok=True)
        (site / SCOPE_SCRIPT).write_text(SCOPE_JS, encoding="utf-8")
        return shell

    @classmethod
    def usable(cls, html: str) -> bool:
        """Whether a shell can be cut from ``html`` (a kept page may have been damaged)."""
        try:
            cls.parse(html, "")
        except ValueError:
            return False
        return True

    @classmethod
    def parse(cls, html: str, site_url: str) -> Shell:
        start = re.search(r'<article class="md-content__inner md-typeset">', html)
        end = html.rfind("</article>")
        if not start or end < 0:
            raise ValueError("主题页面结构无法识别：找不到 <article>。")
        head, tail = html[:start.end()], html[end:]
        title = re.search(r"<title>(.*?)</title>", head, re.S)
        site_name = title.group(1).split(" - ", 1)[1] if title and " - " in title.group(1) else ""
        head = head.replace("{", "{{").replace("}", "}}")
        tail = tail.replace("{", "{{").replace("}", "}}")
        head = re.sub(r"<title>.*?</title>", "<title>{title}</title>", head, count=1, flags=re.S)
        head = head.replace(TITLE_MARK, "{short_title}")
        head = re.sub(r'<link rel="canonical" href="[^"]*">', '<link rel="canonical" href="{canonical}">', head)
        head = head.replace("</head>", "{extra_head}</head>")
        # the theme's "skip to content" link targets the shell page's own heading: the article instead
        head = re.sub(r'(<a href=")#[^"]*(" class="md-skip")', r"\1#gs-content\2", head, count=1)
        head = head.replace('md-typeset">', 'md-typeset" id="gs-content">')  # the <article>, the head's end
        # the theme's inline head script → an external file (CSP); the tabbed-content script is not needed
        head = re.sub(r"<script>__md_scope=.*?</script>", f'<script src="{{root}}{SCOPE_SCRIPT}"></script>', head, flags=re.S)
        tail = re.sub(r"<script>var target=document.getElementById.*?</script>", "", tail, flags=re.S)
        # generated pages have no search dialog or copy buttons: the theme needs no translations
        tail = re.sub(r'"translations": \{\{.*?\}\}', '"translations": {{}}', tail, flags=re.S)
        head, tail = _compact(_relative(head)), _compact(_relative(tail))
        if "{canonical}" not in head and site_url:
            head = head.replace("{extra_head}", '<link rel="canonical" href="{canonical}">{extra_head}')
        return cls(head, tail, site_name)

    def page(self, depth: int, title: str, body: str, canonical: str = "", extra_head: str = "") -> str:
        """A whole page ``depth`` folders below the root: its title (escaped here), the rendered
        body (already escaped by its template) and extra ``<head>`` markup."""
        root = "../" * depth
        base = root.rstrip("/") or "."
        meta = f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        full_title = f"{escape(title)} - {self.site_name}" if self.site_name else str(escape(title))
        head = self.head.format(title=full_title, short_title=escape(title), root=root, base=base, canonical=escape(canonical),
                                extra_head=meta + extra_head)
        return head + body + self.tail.format(root=root, base=base)


def _compact(text: str) -> str:
    """The theme's indentation and line breaks between tags removed (a few KB on every page)."""
    text = re.sub(r">\s*\n\s*<", "><", text)
    return re.sub(r"\s*\n\s*", " ", text)


def _relative(text: str) -> str:
    """URLs of a page one folder deep, made relative to ``{root}``."""
    text = re.sub(r'((?:href|src|action)=")\.\./', r"\1{root}", text)
    text = re.sub(r'((?:href|src|action)=")\.\.(")', r"\1{root}\2", text)
    text = text.replace('"base": ".."', '"base": "{base}"')
    text = re.sub(r'("search": ")\.\./', r"\1{root}", text)
    return text


__all__ = ["Markup", "Shell", "source_page"]
