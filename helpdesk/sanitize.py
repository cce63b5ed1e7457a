"""Make customer-written HTML safe to show agents, and text safe to turn into HTML."""

from __future__ import annotations

import html
import re

import nh3

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p",
    "pre", "q", "s", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody",
    "td", "tfoot", "th", "thead", "tr", "u", "ul", "font", "center",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "*": {"dir", "lang"},
}
_URL = re.compile(r"https?://[^\s<>\"']+")


def clean_html(markup: str) -> str:
    """Return ``markup`` with everything that could run script or track removed."""
    return nh3.clean(
        markup or "",
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "cid", "data"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def text_to_html(text: str) -> str:
    """Return plain ``text`` as escaped HTML paragraphs with links made clickable."""
    escaped = html.escape(text or "")
    linked = _URL.sub(lambda m: f'<a href="{m[0]}" rel="noopener noreferrer nofollow">{m[0]}</a>', escaped)
    paragraphs = [p.replace("\n", "<br>") for p in re.split(r"\n{2,}", linked.strip())]
    return "".join(f"<p>{p}</p>" for p in paragraphs if p)


def html_to_text(markup: str) -> str:
    """Return the readable text of ``markup`` (for search and plain-text parts)."""
    without_blocks = re.sub(r"(?is)<(script|style|head)[^>]*>.*?</\1>", " ", markup or "")
    spaced = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</tr>|</li>|</h\d>", "\n", without_blocks)
    text = html.unescape(re.sub(r"<[^>]+>", "", spaced))
    return re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t\r\f\v]+", " ", text)).strip()
