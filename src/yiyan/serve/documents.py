"""What the server translates for each input format, and how the results are put together.

    lines   each text is one sentence (`translate_detailed`; what /translate did before)
    text    each text is a document: paragraphs of sentences, segmented, translated sentence by
            sentence and re-assembled with its shape kept (`translate_document`)
    html    each text is HTML: its text nodes are translated as documents, the markup is kept
            (yiyan.html_text)

The batcher's worker calls `translate_documents`; the route turns HTML into text nodes before
and back into HTML after, so the text nodes of every request share the batcher like sentences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from yiyan.html_text import HtmlText
from yiyan.serve.settings import DocumentLike, TranslationLike, TranslatorLike

InputFormat = Literal["lines", "text", "html"]

NO_SEGMENTATION = (
    "this engine has no translate_document: each text was translated as one sentence, not segmented"
)


@dataclass
class Document:
    """A translated document as the API returns it (also the fallback `DocumentLike`)."""

    source: str
    text: str
    sentences: list[TranslationLike] = field(default_factory=list)
    split: int = 0


def segments_documents(translator: TranslatorLike) -> bool:
    return callable(getattr(translator, "translate_document", None))


def translate_documents(
    translator: TranslatorLike, texts: Sequence[str], *, attention: bool, **options: float | int | None
) -> list[DocumentLike]:
    """`translator.translate_document`, or — for an engine without it — one sentence per text."""
    if attention:  # only passed when asked for, like every other option
        options = {**options, "attention": True}
    if segments_documents(translator):
        return list(translator.translate_document(texts, **options))  # type: ignore[attr-defined]
    results = translator.translate_detailed(texts, **options)  # type: ignore[arg-type]
    return [Document(r.source, r.text, [r]) for r in results]


def as_documents(sources: Sequence[str], results: Sequence[DocumentLike]) -> list[Document]:
    return [
        Document(source, result.text, list(result.sentences), int(result.split))
        for source, result in zip(sources, results, strict=True)
    ]


class HtmlBatch:
    """Several HTML texts as one list of text nodes to translate, and back."""

    def __init__(self, sources: Sequence[str]) -> None:
        self.sources = list(sources)
        self.pages = [HtmlText.parse(source) for source in sources]
        self.nodes = [node for page in self.pages for node in page.texts]

    def assemble(self, results: Sequence[DocumentLike]) -> list[Document]:
        """`results`: one per text node, in order → one Document per HTML text."""
        if len(results) != len(self.nodes):
            raise ValueError(f"{len(results)} results for {len(self.nodes)} text nodes")
        documents, start = [], 0
        for source, page in zip(self.sources, self.pages):
            mine = results[start : start + len(page.texts)]
            start += len(page.texts)
            documents.append(
                Document(
                    source,
                    page.render([r.text for r in mine]),
                    [sentence for r in mine for sentence in r.sentences],
                    sum(int(r.split) for r in mine),
                )
            )
        return documents
