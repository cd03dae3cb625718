"""A deterministic stand-in translator for tests, the page preview and `serve_load.py --fake`.

It "translates" word by word with a tiny English→Chinese glossary (unknown words are
spelled backwards), gives every target word a peaked attention over the source words, and
can simulate compute time (a fixed cost per call plus a cost per sentence), so dynamic
batching pays off the way it does with a real model. It records the size of every batch.

`translate_document` follows the contract of `Translator.translate_document` (a
DocumentTranslation per text: `text`, `sentences`, `split`) with a naive segmenter: a
sentence ends at `.`, `!` or `?` before a space; line breaks are kept; Chinese sentences are
joined without spaces; a sentence over `max_words` words is cut into pieces (counted in `split`).
It is used by the tests and by `python -m yiyan.serve --fake` (benchmarks/serve_load.py).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

GLOSSARY = {
    "i": "我",
    "you": "你",
    "love": "爱",
    "he": "他",
    "she": "她",
    "we": "我们",
    "like": "喜欢",
    "tea": "茶",
    "drink": "喝",
    "want": "想",
    "to": "",
    "hello": "你好",
    "teacher": "老师",
    "good": "好",
    "very": "很",
    "the": "",
    "weather": "天气",
    "today": "今天",
    "is": "是",
    ".": "。",
    ",": "，",
    "!": "！",
    "?": "？",
}


SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass
class FakeTranslation:
    source: str
    text: str
    src_tokens: list[str]
    tgt_tokens: list[str]
    score: float
    attention: np.ndarray | None = None
    parts: int = 1


@dataclass
class FakeDocument:
    text: str
    sentences: list[FakeTranslation]
    split: int = 0


class FakeTranslator:
    """Has the attributes the server reads from a real Translator: engine, config, run_dir."""

    engine = "fake"
    run_dir = None
    config = SimpleNamespace(
        data=SimpleNamespace(src_lang="en", tgt_lang="zh"),
        model=SimpleNamespace(type="fake"),
        decoding=SimpleNamespace(beam=5),
    )

    def __init__(
        self,
        *,
        layers: int = 2,
        heads: int = 2,
        call_cost_s: float = 0.0,
        sentence_cost_s: float = 0.0,
        fail_times: int = 0,
        max_words: int = 30,
    ) -> None:
        self.layers = layers
        self.heads = heads
        self.call_cost_s = call_cost_s
        self.sentence_cost_s = sentence_cost_s
        self.fail_times = fail_times  # the next N calls raise RuntimeError
        self.max_words = max_words  # longer sentences are cut into pieces by translate_document
        self.batch_sizes: list[int] = []
        self.calls: list[dict[str, object]] = []
        self._lock = threading.Lock()

    def translate_detailed(
        self, texts: Sequence[str], *, attention: bool = False, **options: float | int | None
    ) -> list[FakeTranslation]:
        with self._lock:
            self.calls.append({"n": len(texts), "attention": attention, **options})
            if self.fail_times > 0:
                self.fail_times -= 1
                raise RuntimeError("simulated translator failure")
            self.batch_sizes.append(len(texts))
        if self.call_cost_s or self.sentence_cost_s:
            time.sleep(self.call_cost_s + self.sentence_cost_s * len(texts))
        return [self._one(text, attention) for text in texts]

    def translate_document(
        self, texts: Sequence[str], *, attention: bool = False, **options: float | int | None
    ) -> list[FakeDocument]:
        """Segment every text, translate all sentences in one call, re-assemble each text."""
        plans = [self._segment(text) for text in texts]  # per text: lines of (pieces, was split)
        pieces = [p for plan in plans for line in plan for sentence, _ in line for p in sentence]
        results = iter(self.translate_detailed(pieces, attention=attention, **options))
        documents = []
        for plan in plans:
            lines, sentences, split = [], [], 0
            for line in plan:
                out = ""
                for sentence_pieces, was_split in line:
                    translated = [next(results) for _ in sentence_pieces]
                    sentences.extend(translated)
                    split += was_split
                    out += "".join(t.text for t in translated)
                lines.append(out)
            documents.append(FakeDocument("\n".join(lines), sentences, split))
        return documents

    def _segment(self, text: str) -> list[list[tuple[list[str], bool]]]:
        """Lines → sentences → pieces of at most max_words words (and whether it was cut)."""
        plan = []
        for line in text.split("\n"):
            sentences = []
            for sentence in SENTENCE_END.split(line.strip()) if line.strip() else []:
                words = sentence.split()
                pieces = [
                    " ".join(words[i : i + self.max_words]) for i in range(0, len(words), self.max_words)
                ]
                sentences.append((pieces, len(pieces) > 1))
            plan.append(sentences)
        return plan

    def _one(self, text: str, attention: bool) -> FakeTranslation:
        words = re.findall(r"\w+|[^\w\s]", text)
        if not words:
            return FakeTranslation(text, "", [], [], 0.0, None)
        src = [f"▁{w}" for w in words] + ["</s>"]
        pairs = [(i, GLOSSARY.get(w.lower(), w[::-1])) for i, w in enumerate(words)]
        pairs = [(i, t) for i, t in pairs if t]
        tgt = [t for _, t in pairs] + ["</s>"]
        aligned = [i for i, _ in pairs] + [len(src) - 1]
        matrix = None
        if attention:
            matrix = np.zeros((len(tgt), self.layers, self.heads, len(src)), dtype=np.float32)
            for t, s in enumerate(aligned):
                for layer in range(self.layers):
                    for head in range(self.heads):
                        peak = 0.5 + 0.4 * ((layer + head + t) % 2)
                        row = np.full(len(src), (1 - peak) / max(len(src) - 1, 1), dtype=np.float32)
                        row[s] = peak if len(src) > 1 else 1.0
                        matrix[t, layer, head] = row
        return FakeTranslation(text, _join(tgt[:-1]), src, tgt, -0.1 * len(tgt), matrix)


def _join(words: list[str]) -> str:
    """Chinese words join directly; a space only between two Latin words."""
    out = ""
    for word in words:
        if out and out[-1].isascii() and out[-1].isalnum() and word[0].isascii() and word[0].isalnum():
            out += " "
        out += word
    return out
