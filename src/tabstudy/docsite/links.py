"""The offline link check of a built site: every local ``href`` and ``src`` of every HTML page
must resolve to a file of the site (and an ``#anchor`` to an ``id`` on the page it names);
external links are listed, never fetched; a script or stylesheet from the network is an error
(the site must open offline)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

LINK_ATTRS = frozenset({"href", "src"})
SKIPPED_SCHEMES = frozenset({"mailto", "javascript", "data", "tel"})


@dataclass
class PageLinks:
    """What one page links to and which anchors it offers."""

    links: list[tuple[str, str, str]] = field(default_factory=list)
    """(tag, attribute value, rel) of every href/src."""
    ids: set[str] = field(default_factory=set)


class _Collector(HTMLParser):
    """Collects the links and the ids of one page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = PageLinks()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        for name in ("id", "name") if tag == "a" else ("id",):
            if values.get(name):
                self.page.ids.add(values[name])
        for name in LINK_ATTRS & values.keys():
            self.page.links.append((tag, values[name], values.get("rel", "")))


def parse_page(html: str) -> PageLinks:
    """The links and ids of one HTML page."""
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector.page


@dataclass(frozen=True)
class LinkReport:
    """The outcome of :func:`check_site`."""

    pages: int
    checked: int
    broken: list[str]
    """``page: link (why)`` for each local link that does not resolve."""
    external: list[str]
    """Every distinct external URL (listed, not fetched)."""
    online_assets: list[str]
    """``page: URL`` of each script or stylesheet loaded from the network."""

    @property
    def ok(self) -> bool:
        """Every local link resolves and nothing is loaded from the network."""
        return not self.broken and not self.online_assets


def is_external(url: str) -> bool:
    """Whether ``url`` points off the site (a scheme such as http, or a protocol-relative
    ``//host``)."""
    return bool(urlsplit(url).scheme) or url.startswith("//")


def is_asset(tag: str, rel: str) -> bool:
    """Whether a link loads something the page needs to render (a script, a stylesheet, a
    preloaded file, an image or a frame), as opposed to a link a reader follows."""
    rels = set(rel.split())
    return tag in ("script", "img", "iframe", "source") or (
        tag == "link" and bool(rels & {"stylesheet", "preload", "icon", "modulepreload"})
    )


def target_of(page: Path, url: str) -> tuple[Path, str]:
    """The file a local ``url`` on ``page`` resolves to and its fragment (an empty path is
    the page itself; a folder means its ``index.html``)."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    target = page if not path else (page.parent / path)
    if path.endswith("/") or target.is_dir():
        target = target / "index.html"
    return target.resolve(), unquote(parts.fragment)


STATIC = "_static"
"""Sphinx's folder of theme assets: its ``*.html`` files are template macros, not pages."""


def is_static(rel: Path) -> bool:
    """Whether a file (relative to the site) is a theme asset rather than a page."""
    return STATIC in rel.parts


def check_site(site: Path) -> LinkReport:
    """Check every local link of every page (``*.html`` outside :data:`STATIC`) under ``site``
    (see the module)."""
    site = Path(site).resolve()
    pages = [p for p in sorted(site.rglob("*.html")) if not is_static(p.relative_to(site))]
    parsed = {p.resolve(): parse_page(p.read_text(encoding="utf-8")) for p in pages}
    broken: list[str] = []
    external: set[str] = set()
    online: list[str] = []
    checked = 0
    for page, found in parsed.items():
        where = page.relative_to(site).as_posix()
        for tag, url, rel in found.links:
            scheme = urlsplit(url).scheme
            if scheme in SKIPPED_SCHEMES:
                continue
            if is_external(url):
                external.add(url)
                if is_asset(tag, rel):
                    online.append(f"{where}: {url}")
                continue
            checked += 1
            problem = _problem(site, page, url, parsed)
            if problem:
                broken.append(f"{where}: {url} ({problem})")
    return LinkReport(len(pages), checked, broken, sorted(external), online)


def _problem(site: Path, page: Path, url: str, parsed: dict[Path, PageLinks]) -> str | None:
    """Why a local link does not resolve, or None when it does."""
    target, fragment = target_of(page, url)
    if not target.is_relative_to(site):
        return "outside the site"
    if not target.is_file():
        return "no such file"
    if fragment and target.suffix == ".html" and fragment not in parsed[target].ids:
        return f"no id {fragment!r} on {target.relative_to(site).as_posix()}"
    return None
