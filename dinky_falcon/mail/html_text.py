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
# A '<' that starts no tag, comment or declaration is text, but HTMLParser hands it over one
# character per call, slowly: as '&lt;' it joins the text around it.
_LONE_LT = re.compile(r"<(?![A-Za-z/!?])")


class _TextCollector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.hidden = 0
        self.pre = 0
        self.link: tuple[str, int] | None = None  # the open <a>: (href, len(chunks) at <a>)

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
            # Links do not nest (HTML5: an <a> closes the open one), and each label is then
            # joined once: nested labels re-joined at every </a> were quadratic.
            self.end_link()
            self.link = (dict(attrs).get("href") or "", len(self.chunks))
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
        elif tag == "a":
            self.end_link()
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in _PARAGRAPHS:
            self.chunks.append("\n\n")
        elif tag in _BLOCKS and tag not in ("li", "tr"):  # the next item starts its own line
            self.chunks.append("\n")
        elif tag in ("td", "th"):
            self.chunks.append(" ")

    def end_link(self) -> None:
        if self.link is None:
            return
        href, start = self.link
        self.link = None
        if href and not href.startswith(("#", "cid:")):
            label = "".join(self.chunks[start:]).strip()
            if label and href != label:
                self.chunks.append(f" ({href.removeprefix('mailto:')})")

    def handle_data(self, data):
        if self.hidden:
            return
        self.chunks.append(data if self.pre else _SPACES.sub(" ", data))


def html_to_text(html: str) -> str:
    """Visible text of ``html``: blocks on their own lines, links as ``label (url)``."""
    collector = _TextCollector()
    collector.feed(_LONE_LT.sub("&lt;", html))
    # feed() stops at a tag, comment or declaration that the input ends inside of, and keeps
    # the rest unparsed. close() before Python 3.11.13 then re-scans that rest to its end
    # once for each '<' in it: quadratic ("</" * 128k took 13 s). HTML5, and close() since,
    # show nothing of such a cut-off construct (but a final "<" or "</", which is text).
    if collector.rawdata.startswith("<") and collector.rawdata not in ("<", "</"):
        collector.rawdata = ""
    collector.close()
    lines = (line.strip(" ") for line in "".join(collector.chunks).split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip() + "\n"
