"""`Translation` and `DocumentTranslation`, the results every translation engine returns.

They live apart from `yiyan.translator` so that the CTranslate2 engine, which needs neither
PyTorch nor the model code, can build results without importing torch (about 220 MiB of
resident memory saved in a deployment).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Alternative:
    """One hypothesis of an n-best list (`translate_detailed(..., nbest=N)`)."""

    text: str
    log_prob: float  # summed log-probability of the output pieces and the EOS
    normalised_score: float  # log_prob / (pieces + 1) ** length_penalty: what the list is ranked by
    tgt_tokens: list[str]


@dataclass
class Translation:
    """One sentence (or one line in `--input-format lines`) and its translation."""

    source: str
    text: str
    src_tokens: list[str]  # source pieces fed to the model (EOS included)
    tgt_tokens: list[str]  # generated pieces (EOS included when the model produced it)
    score: float
    attention: np.ndarray | None = None  # [target steps, layers, heads, source tokens]
    # pieces the source was translated in: > 1 when it was longer than decoding.max_input_tokens
    # and was cut at clause boundaries (then tokens are concatenated, attention block-diagonal)
    parts: int = 1
    # with the nbest option: the n best hypotheses, best (this translation) first; empty otherwise,
    # and for a sentence translated in parts
    nbest: list[Alternative] = field(default_factory=list)

    @property
    def was_split(self) -> bool:
        return self.parts > 1


@dataclass
class DocumentTranslation:
    """One text of any number of lines and sentences (`translate_document`): each line
    segmented into sentences, each sentence translated, the text put back together with its
    shape (blank lines, indentation, list markers, line ends) kept."""

    text: str
    sentences: list[Translation] = field(default_factory=list)  # in document order
    split: int = 0  # sentences longer than decoding.max_input_tokens, translated in pieces
