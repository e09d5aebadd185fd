"""HTML from a message, made safe to show as HTML: what the sandbox does with a letter's or a
care plan's HTML so that the page looks as PKB would show it (PKB renders the HTML of a
document, care plan or radiology report) without running anything a message carries.

An allowlist, not a blocklist: only text-formatting elements are kept, with no attributes but
a link's ``http(s)``/``mailto`` address and a table cell's span; the content of scripts,
styles and embedded frames is dropped; every text and attribute value is escaped again. A
stand-alone tool must not depend on a library the product does not need, so it is built on the
standard library's tokenising parser.
"""

from __future__ import annotations

from html import escape
from html.parser import HTMLParser

# Elements a letter or a care plan uses for layout and emphasis.
ALLOWED = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "div", "dl", "dt", "em",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "s", "small",
        "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
        "u", "ul",
    }
)  # fmt: skip
VOID = frozenset({"br", "hr"})
# Elements whose content is never text for a reader: dropped with everything inside them.
DROPPED = frozenset(
    {"script", "style", "iframe", "object", "embed", "template", "noscript", "svg", "math",
     "head", "title", "textarea", "select", "frameset", "frame", "applet"}
)  # fmt: skip
SAFE_SCHEMES = ("http://", "https://", "mailto:")


def _attributes(tag: str, attrs: list[tuple[str, str | None]]) -> str:
    kept: list[str] = []
    for name, value in attrs:
        value = value or ""
        if tag == "a" and name == "href":
            address = "".join(value.split()).lower()  # "java\nscript:" is still javascript:
            if address.startswith(SAFE_SCHEMES):
                kept.append(f' href="{escape(value, quote=True)}"')
                kept.append(' rel="noopener noreferrer"')
        elif tag in ("td", "th") and name in ("colspan", "rowspan") and value.isdigit():
            kept.append(f' {name}="{int(value)}"')
    return "".join(kept)


class _Sanitiser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.dropping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROPPED:
            self.dropping += 1
            return
        if self.dropping or tag not in ALLOWED:
            return
        self.out.append(f"<{tag}{_attributes(tag, attrs)}>")
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROPPED or self.dropping or tag not in ALLOWED:
            return
        self.out.append(f"<{tag}{_attributes(tag, attrs)}>")

    def handle_endtag(self, tag: str) -> None:
        if tag in DROPPED:
            self.dropping = max(0, self.dropping - 1)
            return
        if self.dropping or tag not in self.open:
            return
        # Close what was left open inside it, so the output is always balanced.
        while self.open:
            last = self.open.pop()
            self.out.append(f"</{last}>")
            if last == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            self.out.append(escape(data, quote=False))

    def close_all(self) -> str:
        self.close()
        while self.open:
            self.out.append(f"</{self.open.pop()}>")
        return "".join(self.out)


def sanitise_html(html: str) -> str:
    """``html`` with only the allowed elements and attributes, balanced, safe to insert."""
    parser = _Sanitiser()
    parser.feed(html)
    return parser.close_all()
