"""Translate HTML without touching its markup: only text nodes are translated.

    page = HtmlText.parse('<p>Hello <b>world</b>!</p><script>var x = 1;</script>')
    page.texts                       # ['Hello', 'world']  — what needs translating
    page.render(['你好', '世界'])    # '<p>你好 <b>世界</b>!</p><script>var x = 1;</script>'

The parser is the standard library's `html.parser`, so the input need not be well-formed.
Every piece of the input that is not translated is copied byte for byte: tags (attributes
and their quoting as written), comments, doctype, processing instructions, `<script>`,
`<style>`, `<code>`, `<pre>`, `<textarea>`, elements marked `translate="no"` or
`class="notranslate"`, and text nodes with no letter or digit (whitespace, `&nbsp;`,
punctuation, entities alone).

A translated text node keeps its leading and trailing whitespace (and `&nbsp;`) as written. Its inside is
unescaped (`Tom &amp; Jerry` is translated as "Tom & Jerry", one sentence, not two pieces
around an entity), runs of HTML whitespace become one space (a browser shows them so; a
line break inside a `<p>` is not a paragraph break), and the translation is escaped again
(`&`, `<`, `>`), so the markup stays valid. Attribute values (`title`, `alt`) are not
translated.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser

# Elements whose text is code or data, not prose.
NO_TRANSLATE_TAGS = frozenset({"script", "style", "code", "pre", "textarea", "kbd", "samp", "var"})
# Elements without an end tag: they never open a region.
VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)
HTML_SPACE = re.compile(r"[ \t\n\r\f]+")
_EDGE = r"(?:[ \t\n\r\f]|&nbsp;|&#160;|&#[xX]0*[aA]0;)*"  # whitespace and no-break-space entities
EDGE_SPACE = re.compile(rf"^{_EDGE}(.*?){_EDGE}$", re.DOTALL)


@dataclass(frozen=True)
class _Piece:
    raw: str  # the input, verbatim
    text: str | None = None  # what to translate (None: copied as is)
    before: str = ""  # whitespace kept around the translation
    after: str = ""


class HtmlText:
    """An HTML fragment or page split into verbatim pieces and translatable text nodes."""

    def __init__(self, pieces: Sequence[_Piece]) -> None:
        self._pieces = list(pieces)

    @classmethod
    def parse(cls, markup: str) -> HtmlText:
        return cls(_Splitter(markup).pieces())

    @property
    def texts(self) -> list[str]:
        """The text nodes to translate, in document order."""
        return [p.text for p in self._pieces if p.text is not None]

    def render(self, translations: Sequence[str]) -> str:
        """The input with each text node replaced by its translation (in the order of `texts`)."""
        wanted = len(self.texts)
        if len(translations) != wanted:
            raise ValueError(f"{len(translations)} translations for {wanted} text nodes")
        out: list[str] = []
        it = iter(translations)
        for piece in self._pieces:
            if piece.text is None:
                out.append(piece.raw)
            else:
                out.append(piece.before + html.escape(next(it), quote=False) + piece.after)
        return "".join(out)


class _Splitter(HTMLParser):
    """Records where each parser event starts; the input between two starts is one piece."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.markup = markup
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", markup)]
        # (start offset, unescaped text for data events or None, inside a no-translate region)
        self.marks: list[tuple[int, str | None, bool]] = []
        self.skip_tag: str | None = None  # the element that opened the no-translate region
        self.skip_depth = 0  # nesting of that same element inside the region

    def pieces(self) -> list[_Piece]:
        self.feed(self.markup)
        self.close()
        ends = [start for start, _, _ in self.marks[1:]] + [len(self.markup)]
        pieces: list[_Piece] = []
        if self.marks and self.marks[0][0] > 0:  # anything before the first event (never, in practice)
            pieces.append(_Piece(self.markup[: self.marks[0][0]]))
        run: list[tuple[str, str]] = []  # consecutive translatable data events: (raw, text)
        for (start, data, skipped), end in zip(self.marks, ends):
            raw = self.markup[start:end]
            # The slice must be exactly this event's data: input the parser silently drops
            # (a stray `</>`) would otherwise end up inside a translated text.
            if data is not None and not skipped and html.unescape(raw) == data:
                run.append((raw, data))
                continue
            pieces.extend(_text_pieces(run))
            run = []
            pieces.append(_Piece(raw))
        pieces.extend(_text_pieces(run))
        return pieces

    def _mark(self, data: str | None = None) -> None:
        line, column = self.getpos()
        self.marks.append((self.line_starts[line - 1] + column, data, self.skip_tag is not None))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._mark()
        if self.skip_tag is not None:
            self.skip_depth += tag == self.skip_tag
        elif tag not in VOID_TAGS and _no_translate(tag, attrs):
            self.skip_tag, self.skip_depth = tag, 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._mark()  # <br/>, <img .../>: opens nothing

    def handle_endtag(self, tag: str) -> None:
        self._mark()
        if tag == self.skip_tag:
            self.skip_depth -= 1
            if self.skip_depth == 0:
                self.skip_tag = None

    def handle_data(self, data: str) -> None:
        self._mark(data)

    def handle_comment(self, data: str) -> None:
        self._mark()

    def handle_decl(self, decl: str) -> None:
        self._mark()

    def handle_pi(self, data: str) -> None:
        self._mark()

    def unknown_decl(self, data: str) -> None:
        self._mark()


def _no_translate(tag: str, attrs: list[tuple[str, str | None]]) -> bool:
    values = {name: (value or "") for name, value in attrs}
    return (
        tag in NO_TRANSLATE_TAGS
        or values.get("translate", "").strip().lower() == "no"
        or "notranslate" in values.get("class", "").split()
    )


def _text_pieces(run: list[tuple[str, str]]) -> list[_Piece]:
    """One text node (several data events: the parser may cut text at a stray `<`)."""
    if not run:
        return []
    raw = "".join(r for r, _ in run)
    text = "".join(t for _, t in run)
    if not any(c.isalnum() for c in text):
        return [_Piece(raw)]
    match = EDGE_SPACE.match(raw)
    assert match is not None  # the pattern matches any string
    before, after = raw[: match.start(1)], raw[match.end(1) :]
    core = HTML_SPACE.sub(" ", html.unescape(match.group(1)))
    return [_Piece(raw, core, before, after)]
