"""Server settings and the translator interface the server needs.

Nothing here imports torch, FastAPI or uvicorn: the CLI can build settings (and report a
bad value) before anything heavy is loaded.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from yiyan.errors import YiyanError

if TYPE_CHECKING:
    import numpy as np


class TranslationLike(Protocol):
    """What the server reads from one result of `translate_detailed` (yiyan.results.Translation)."""

    @property
    def source(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def src_tokens(self) -> list[str]: ...
    @property
    def tgt_tokens(self) -> list[str]: ...
    @property
    def score(self) -> float: ...
    @property
    def parts(self) -> int: ...  # pieces an over-long sentence was cut into (1: not cut)
    @property
    def attention(self) -> np.ndarray | None: ...  # [target steps, layers, heads, source tokens]


class DocumentLike(Protocol):
    """One result of `translate_document` (yiyan.results.DocumentTranslation): a text of any
    number of sentences, segmented, translated sentence by sentence and re-assembled."""

    @property
    def text(self) -> str: ...
    @property
    def sentences(self) -> Sequence[TranslationLike]: ...
    @property
    def split(self) -> int: ...  # over-long sentences that had to be cut into pieces


class TranslatorLike(Protocol):
    """yiyan.translator.Translator, the CTranslate2 translator, or a test double.

    `translate_document(texts, **options) -> Sequence[DocumentLike]` is optional: without it the
    server translates each document as one sentence and says so (see serve/documents.py).
    """

    def translate_detailed(
        self, texts: Sequence[str], *, attention: bool = False, **options: float | int | None
    ) -> Sequence[TranslationLike]: ...


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    max_batch_size: int = 32  # sentences translated together; 1 = no dynamic batching
    max_wait_ms: float = 10.0  # how long the oldest queued request waits for others to join
    max_queue: int = 256  # requests waiting; more → 503
    max_chars: int = 5000  # characters per text (a text may be a document of many sentences)
    max_texts: int = 64  # texts per request
    max_beam: int = 8
    max_length_ratio: float = 4.0  # upper bound of the request option
    request_timeout_s: float = 30.0  # queued + translating; longer → 504
    log_level: str = "info"
    access_log: bool = True

    def validate(self) -> None:
        positive = {
            "max_batch_size": self.max_batch_size,
            "max_queue": self.max_queue,
            "max_chars": self.max_chars,
            "max_texts": self.max_texts,
            "max_beam": self.max_beam,
            "max_length_ratio": self.max_length_ratio,
            "request_timeout_s": self.request_timeout_s,
        }
        for name, value in positive.items():
            if value <= 0:
                raise YiyanError(f"serve: {name.replace('_', '-')} must be > 0 (got {value})")
        if self.max_wait_ms < 0:
            raise YiyanError(f"serve: max-wait-ms must be >= 0 (got {self.max_wait_ms})")
        if not 0 <= self.port <= 65535:
            raise YiyanError(f"serve: port must be in 0..65535 (got {self.port})")

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False
