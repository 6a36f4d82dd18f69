"""HTML -> readable plain text, for the text/plain alternative of an HTML-only message."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCKS = frozenset(
    "address article aside blockquote div dl dt dd fieldset figure footer form h1 h2 h3 h4 h5 "
    "h6 header hr li main nav ol p pre section table tr ul".split()
)
_PARAGRAPHS = frozenset("p h1 h2 h3 h4 h5 h6 table".split())  # set off by a blank line
_HIDDEN = frozenset({"head", "script", "style", "template", "title"})
_SPACES = re.compile(r"[ \t\r\n\f\v]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _TextCollector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.hidden = 0
        self.pre = 0
        self.links: list[tuple[str, int]] = []  # (href, len(chunks) at <a>)

    def handle_starttag(self, tag, attrs):
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag == "br":
            self.chunks.append("\n")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.chunks.append(alt)
        elif tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.chunks)))
        if tag in _BLOCKS:
            self.chunks.append("\n\n" if tag in _PARAGRAPHS else "\n")
            if tag == "li":
                self.chunks.append("- ")
        if tag == "pre":
            self.pre += 1

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in _HIDDEN:
            self.hidden -= 1

    def handle_endtag(self, tag):
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            label = "".join(self.chunks[start:]).strip()
            if href and not href.startswith(("#", "cid:")) and href != label and label:
                self.chunks.append(f" ({href.removeprefix('mailto:')})")
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in _PARAGRAPHS:
            self.chunks.append("\n\n")
        elif tag in _BLOCKS and tag not in ("li", "tr"):  # the next item starts its own line
            self.chunks.append("\n")
        elif tag in ("td", "th"):
            self.chunks.append(" ")

    def handle_data(self, data):
        if self.hidden:
            return
        self.chunks.append(data if self.pre else _SPACES.sub(" ", data))


def html_to_text(html: str) -> str:
    """Visible text of ``html``: blocks on their own lines, links as ``label (url)``."""
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    lines = (line.strip(" ") for line in "".join(collector.chunks).split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip() + "\n"
