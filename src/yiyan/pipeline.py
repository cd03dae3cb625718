"""The text pipeline every translation engine shares: text in, text out.

    texts ─ normalize ─ encode ─ cut over-long ─ sort by length ─ batch ─ search ─ decode ─ re-join ─ input order
                                                                    │
                                            the engine: source ids in, output ids (+ score, attention) out

`TextPipeline` is the base class of both engines — `yiyan.translator.Translator` (PyTorch) and
`yiyan.ct2_engine.CT2Translator` (CTranslate2) — which only implement `search_ids`. So both
read text, cut long sentences, batch, and write text the same way, and what one does the other
does too.

Nothing is truncated: a sentence longer than `decoding.max_input_tokens` pieces is cut at
clause boundaries (sentence ends, then ; :, then commas and conjunctions, then spaces; see
`yiyan.segment.CLAUSE_LEVELS`), and where a clause is still too long, every
max_input_tokens pieces. The parts are translated like sentences and joined again (the way the
target language joins sentences); `Translation.parts` says how many there were.

`translate_document` treats each text as a document: lines kept, each line segmented into
sentences (`yiyan.segment`), every sentence of every text translated in one
`translate_detailed` call (so they batch together), then re-assembled. A line of several
sentences therefore comes out exactly as `translate_detailed` of its sentences, joined.

Decoding options (`beam=5`, …) override the engine's `decoding` config; options that are not
DecodingConfig fields are passed on to the engine's search untouched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from yiyan.config import Config, DataConfig, DecodingConfig
from yiyan.data.corpus import Normalization, normalize_text
from yiyan.data.tokenizer import Tokenizer
from yiyan.errors import YiyanError
from yiyan.results import Alternative, DocumentTranslation, Translation
from yiyan.segment import (
    CLAUSE_LEVELS,
    assemble,
    join_sentences,
    normalize_zh_punctuation,
    split_clauses,
    split_document,
)

__all__ = ["Decoded", "TextPipeline", "split_decoding_options"]

DECODING_FIELDS = frozenset(f.name for f in dataclasses.fields(DecodingConfig))


@dataclass
class Decoded:
    """What an engine's search returns for one source: output ids (no BOS/EOS), the summed
    log-probability including EOS, and optionally attention [output steps, layers, heads,
    source tokens incl. EOS]."""

    tokens: list[int]
    score: float
    attention: np.ndarray | None = None
    normalised_score: float | None = None  # score / (tokens + 1) ** length_penalty
    alternatives: list[Decoded] = field(default_factory=list)  # with the nbest option: best first


def split_decoding_options(
    decoding: DecodingConfig, options: dict[str, Any]
) -> tuple[DecodingConfig, dict[str, Any]]:
    """(`decoding` with the options that are its fields, the other options); None = not given."""
    given = {k: v for k, v in options.items() if v is not None}
    fields = {k: v for k, v in given.items() if k in DECODING_FIELDS}
    extra = {k: v for k, v in given.items() if k not in DECODING_FIELDS}
    return dataclasses.replace(decoding, **fields), extra


class TextPipeline:
    """Base class of the engines: everything between text and the search (see the module doc).

    An engine sets `tokenizer`, `decoding`, `src_normalization` and `config` (None for an
    in-memory model: the languages are then DataConfig's defaults) and implements `search_ids`.
    """

    tokenizer: Tokenizer
    decoding: DecodingConfig
    src_normalization: Normalization
    config: Config | None
    engine: str = "torch"
    supports_attention: bool = True

    # --- what an engine implements -----------------------------------------------------------

    def search_ids(
        self, batch: list[list[int]], decoding: DecodingConfig, *, attention: bool, **options: Any
    ) -> list[Decoded]:
        """Translate a batch of source ids (no EOS; none empty, sorted by length)."""
        raise NotImplementedError

    # --- languages ---------------------------------------------------------------------------

    @property
    def src_lang(self) -> str:
        return self.config.data.src_lang if self.config is not None else DataConfig.src_lang

    @property
    def tgt_lang(self) -> str:
        return self.config.data.tgt_lang if self.config is not None else DataConfig.tgt_lang

    # --- the public interface ------------------------------------------------------------------

    def translate(self, texts: Sequence[str], **options: Any) -> list[str]:
        """Translate `texts`, one sentence each; options override the decoding config (beam=5, ...)."""
        return [t.text for t in self.translate_detailed(texts, **options)]

    def translate_detailed(
        self, texts: Sequence[str], *, attention: bool = False, **options: Any
    ) -> list[Translation]:
        """One `Translation` per text, each text one sentence (an over-long one is cut, see above)."""
        if attention and not self.supports_attention:
            raise YiyanError(
                f"attention weights are not available with the {self.engine} engine; use the training "
                "run with the PyTorch engine"
            )
        decoding, extra = split_decoding_options(self.decoding, options)
        sources = [normalize_text(text, self.src_normalization) for text in texts]
        parts = [self.encode_parts(source, decoding.max_input_tokens) for source in sources]
        units = [ids for text_parts in parts for ids in text_parts]  # every part of every text
        decoded = self._search_sorted(units, decoding, attention, extra)
        # one SentencePiece call for all outputs (each call starts a thread pool)
        outputs = self.tokenizer.decode_batch([out.tokens for out in decoded], "tgt")
        translations = [self._translation(*unit) for unit in zip(units, decoded, outputs, strict=True)]
        results, start = [], 0
        for text, text_parts in zip(texts, parts):
            mine = translations[start : start + len(text_parts)]
            start += len(text_parts)
            result = mine[0] if len(mine) == 1 else self._join(mine)
            if decoding.zh_punctuation and self.tgt_lang.startswith("zh"):
                result.text = normalize_zh_punctuation(result.text)[0]
                for alternative in result.nbest:
                    alternative.text = normalize_zh_punctuation(alternative.text)[0]
            results.append(dataclasses.replace(result, source=text))
        return results

    def translate_document(self, texts: Sequence[str], **options: Any) -> list[DocumentTranslation]:
        """Each text a document: segmented into sentences, translated, re-assembled (module doc)."""
        layouts = [split_document(text, self.src_lang) for text in texts]
        sentences = [s for layout in layouts for line in layout for s in line.sentences]
        translated = iter(self.translate_detailed(sentences, **options))
        documents = []
        for layout in layouts:
            per_line = [[next(translated) for _ in line.sentences] for line in layout]
            text = assemble(layout, [[t.text for t in line] for line in per_line], self.tgt_lang)
            mine = [t for line in per_line for t in line]
            documents.append(DocumentTranslation(text, mine, sum(t.was_split for t in mine)))
        return documents

    # --- the steps ---------------------------------------------------------------------------

    def encode_parts(self, text: str, limit: int) -> list[list[int]]:
        """The source ids of `text` (no EOS), in parts of at most `limit` pieces; [[]] if empty."""
        ids = self.tokenizer.encode_batch([text], "src")[0] if text else []
        return self._cut(text, ids, max(limit, 1), 0)

    def _cut(self, text: str, ids: list[int], limit: int, level: int) -> list[list[int]]:
        """Cut at the strongest clause boundaries that exist in `text`, pack the clauses greedily
        into parts of at most `limit` pieces, and cut a part still too long at weaker ones;
        where there are none, every `limit` pieces."""
        if len(ids) <= limit:
            return [ids]
        clauses: list[str] = []
        while level < len(CLAUSE_LEVELS) and len(clauses) < 2:
            clauses = split_clauses(text, level)
            level += 1
        if len(clauses) < 2:
            return [ids[start : start + limit] for start in range(0, len(ids), limit)]
        lengths = [len(c) for c in self.tokenizer.encode_batch([c.strip() for c in clauses], "src")]
        groups, group, size = [], "", 0
        for clause, length in zip(clauses, lengths):
            if group and size + length > limit:
                groups.append(group)
                group, size = "", 0
            group, size = group + clause, size + length
        groups.append(group)
        groups = [g.strip() for g in groups]
        encoded = self.tokenizer.encode_batch(groups, "src")
        return [part for g, g_ids in zip(groups, encoded) for part in self._cut(g, g_ids, limit, level)]

    def _search_sorted(
        self, units: list[list[int]], decoding: DecodingConfig, attention: bool, extra: dict[str, Any]
    ) -> list[Decoded]:
        """Search every non-empty unit in batches of similar length; results in input order."""
        results = [Decoded([], 0.0) for _ in units]  # empty input → empty output, no search
        order = sorted((i for i, ids in enumerate(units) if ids), key=lambda i: len(units[i]))
        size = max(decoding.batch_size, 1)
        for start in range(0, len(order), size):
            chunk = order[start : start + size]
            decoded = self.search_ids([units[i] for i in chunk], decoding, attention=attention, **extra)
            for i, out in zip(chunk, decoded, strict=True):
                results[i] = out
        return results

    def _translation(self, ids: list[int], out: Decoded, text: str) -> Translation:
        if not ids:
            return Translation("", "", [], [], 0.0, None)
        tokenizer, eos = self.tokenizer, self.tokenizer.special_ids.eos
        pieces = tokenizer.tgt_pieces(out.tokens)
        if out.attention is not None and out.attention.shape[0] > len(pieces):
            pieces = [*pieces, *tokenizer.tgt_pieces([eos])]  # the EOS step has attention too
        return Translation(
            source="",
            text=text,
            src_tokens=tokenizer.src_pieces([*ids, eos]),
            tgt_tokens=pieces,
            score=out.score,
            attention=out.attention,
            nbest=self._alternatives(out.alternatives),
        )

    def _alternatives(self, alternatives: list[Decoded]) -> list[Alternative]:
        texts = self.tokenizer.decode_batch([a.tokens for a in alternatives], "tgt") if alternatives else []
        return [
            Alternative(
                text,
                a.score,
                a.score if a.normalised_score is None else a.normalised_score,
                self.tokenizer.tgt_pieces(a.tokens),
            )
            for a, text in zip(alternatives, texts, strict=True)
        ]

    def _join(self, parts: list[Translation]) -> Translation:
        """The parts of one cut sentence as one translation: texts joined as sentences, tokens
        concatenated, scores summed, attention block-diagonal (a part attends to its own source)."""
        attention = None
        if all(p.attention is not None for p in parts):
            blocks = [p.attention for p in parts if p.attention is not None]
            rows, cols = sum(b.shape[0] for b in blocks), sum(b.shape[-1] for b in blocks)
            attention = np.zeros((rows, *blocks[0].shape[1:-1], cols), dtype=blocks[0].dtype)
            row = col = 0
            for block in blocks:
                attention[row : row + block.shape[0], ..., col : col + block.shape[-1]] = block
                row, col = row + block.shape[0], col + block.shape[-1]
        return Translation(
            source="",
            text=join_sentences([p.text for p in parts], self.tgt_lang),
            src_tokens=[piece for p in parts for piece in p.src_tokens],
            tgt_tokens=[piece for p in parts for piece in p.tgt_tokens],
            score=sum(p.score for p in parts),
            attention=attention,
            parts=len(parts),
        )
