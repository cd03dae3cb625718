"""Request and response bodies of the HTTP API (they make the OpenAPI schema at /docs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TranslateRequest(BaseModel):
    """yiyan's request: `text` or `texts`; options default to the model's config.

    (A body with `q` instead is a LibreTranslate request: see serve/libretranslate.py.)
    """

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"text": "I love you.", "beam": 5, "attention": True}]},
    )

    text: str | None = Field(None, description="one text to translate")
    texts: list[str] | None = Field(None, description="several texts, translated in order")
    beam: int | None = Field(None, description="beam size, 1..max_beam (1 = greedy); default: the model's")
    max_length_ratio: float | None = Field(
        None, description="max output tokens = ratio × source tokens + offset; default: the model's"
    )
    attention: bool = Field(False, description="return attention matrices (not available with ctranslate2)")
    input_format: Literal["lines", "text", "html"] = Field(
        "lines",
        description="lines: each text is one sentence; text: each text is a document (paragraphs of "
        "sentences, segmented and re-assembled); html: documents in HTML, only text nodes translated",
    )

    glossary: list[list[str]] | None = Field(
        None,
        description="terminology: [source term, target term] pairs; a sentence containing a source term "
        "(case-insensitive, whole words) gets the target term in its translation (constrained beam search; "
        "PyTorch engine only)",
        examples=[[["router", "路由器"]]],
    )

    @model_validator(mode="after")
    def _glossary_pairs(self) -> TranslateRequest:
        for i, pair in enumerate(self.glossary or []):
            if len(pair) != 2 or not all(term.strip() for term in pair):
                raise ValueError(f"glossary[{i}]: expected two non-empty terms [source, target]")
        return self

    @model_validator(mode="after")
    def _one_of_text_texts(self) -> TranslateRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' (a string) or 'texts' (a list of strings)")
        if self.texts is not None and not self.texts:
            raise ValueError("'texts' is empty")
        return self

    @property
    def items(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or [])


class Attention(BaseModel):
    weights: list[list[float]] = Field(
        description="[target tokens][source tokens] weights; each row sums to ~1 over the source tokens"
    )
    layer: int = Field(description="decoder layer the weights come from (0-based; the last layer)")
    heads: str = Field("mean", description="how heads are combined")


class TranslationOut(BaseModel):
    source: str
    text: str
    score: float | None = Field(
        description="model score of the hypothesis (length-normalized log-probability)"
    )
    src_tokens: list[str] = Field(description="source pieces fed to the model (</s> included)")
    tgt_tokens: list[str] = Field(description="generated pieces (</s> included when generated)")
    parts: int = Field(
        1, description="pieces an over-long sentence was cut into to be translated (1: not cut)"
    )
    attention: Attention | None = None


class DocumentOut(BaseModel):
    source: str
    text: str = Field(description="the translated document, its paragraphs and line breaks (or markup) kept")
    split: int = Field(description="over-long sentences that were cut into pieces to be translated")
    sentences: list[TranslationOut] = Field(description="each sentence the document was segmented into")


class TranslateResponse(BaseModel):
    input_format: str = Field(description="as requested: lines → TranslationOut, text/html → DocumentOut")
    translations: list[TranslationOut] | list[DocumentOut]
    beam: int | None = Field(description="beam size used (null: the engine's default)")
    elapsed_ms: float = Field(description="time from arrival to answer, queueing included")
    note: str | None = Field(None, description="e.g. why attention is missing")


class Limits(BaseModel):
    max_chars: int
    max_texts: int
    max_beam: int
    max_length_ratio: float
    max_batch_size: int
    max_wait_ms: float
    max_queue: int
    request_timeout_s: float


class Info(BaseModel):
    model: str = Field(description="name of the run or export directory")
    path: str | None
    src_lang: str | None
    tgt_lang: str | None
    architecture: str | None = Field(description="transformer or rnn")
    engine: str = Field(description="pytorch, ctranslate2 (or fake in tests)")
    attention: bool = Field(description="whether the engine can return attention")
    documents: bool = Field(
        description="whether the engine segments documents (input_format text/html) into sentences"
    )
    default_beam: int | None
    version: str
    limits: Limits


class Health(BaseModel):
    status: str
    worker_alive: bool
    queued: int
    batches: int
    sentences: int


class ErrorBody(BaseModel):
    error: str = Field(description="what went wrong, in one line")
    detail: Any = Field(None, description="more context (validation errors, limits)")
