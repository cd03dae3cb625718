"""Scoring with sacrebleu: BLEU, chrF and their signatures.

Hypotheses are always scored against the untouched references (never the normalized
training text). BLEU uses sacrebleu's `zh` tokenizer when the target is Chinese, its
character tokenizer for Japanese, Korean and Thai, and `13a` otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sacrebleu

CHARACTER_TOKENIZED = {"ja": "char", "ko": "char", "th": "char"}


def bleu_tokenizer(tgt_lang: str) -> str:
    lang = tgt_lang.lower().split("-")[0].split("_")[0]
    if lang in ("zh", "cmn", "yue"):
        return "zh"
    return CHARACTER_TOKENIZED.get(lang, "13a")


def score(hypotheses: Sequence[str], references: Sequence[str], tgt_lang: str) -> dict[str, Any]:
    """Corpus BLEU and chrF with signatures; both lists must be line-aligned."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    bleu = sacrebleu.BLEU(tokenize=bleu_tokenizer(tgt_lang))
    chrf = sacrebleu.CHRF()
    hyps, refs = list(hypotheses), [list(references)]
    bleu_score = bleu.corpus_score(hyps, refs)
    chrf_score = chrf.corpus_score(hyps, refs)
    return {
        "bleu": round(bleu_score.score, 2),
        "chrf": round(chrf_score.score, 2),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
        "bleu_detail": str(bleu_score),
        "sentences": len(hyps),
    }


def format_scores(scores: dict[str, Any]) -> str:
    return (
        f"BLEU = {scores['bleu']:.2f}   chrF = {scores['chrf']:.2f}   ({scores['sentences']} sentences)\n"
        f"  {scores['bleu_signature']}\n  {scores['chrf_signature']}"
    )
