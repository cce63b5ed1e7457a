"""Turn an agent's Markdown into safe HTML, and titles into slugs."""

from __future__ import annotations

import re
import unicodedata

import markdown
import nh3

from helpdesk.sanitize import html_to_text

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "q",
    "s", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
    "u", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "ol": {"start"},
    "*": {"dir", "lang"},
}
#: Paths the public blueprint uses itself; an article may not take them as its slug.
RESERVED_SLUGS = {"search", "suggest", "category", "files", "static", "new"}


def render_markdown(source: str) -> str:
    """Return ``source`` Markdown as HTML with everything that could run script removed."""
    html = markdown.markdown(source or "", extensions=["extra", "sane_lists"], output_format="html")
    return clean_article_html(html)


def clean_article_html(markup: str) -> str:
    """Return ``markup`` limited to the tags an article needs (headings, lists, code, tables, links, images)."""
    return nh3.clean(
        markup or "",
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def plain_text(body_html: str) -> str:
    """Return the readable text of an article's HTML (for search and excerpts)."""
    return html_to_text(body_html)


def slugify(text: str, fallback: str = "article") -> str:
    """Return ``text`` as a lower-case, hyphenated ASCII slug."""
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:80].strip("-")
    return slug or fallback


def excerpt(text: str, terms: list[str] | None = None, width: int = 160) -> str:
    """Return about ``width`` characters of ``text``, around the first of ``terms`` found."""
    text = re.sub(r"\s+", " ", text or "").strip()
    if len(text) <= width:
        return text
    start = 0
    lowered = text.lower()
    for term in terms or []:
        at = lowered.find(term.lower())
        if at >= 0:
            start = max(0, at - width // 3)
            break
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < start + 20 else start
    cut = text[start : start + width]
    if start + width < len(text):
        cut = cut.rsplit(" ", 1)[0] + "…"
    return ("…" if start else "") + cut
