"""`Translation`, the result every translation engine returns.

It lives apart from `yiyan.translate` so that the CTranslate2 engine, which needs neither
PyTorch nor the model code, can build results without importing torch (about 220 MiB of
resident memory saved in a deployment).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Translation:
    source: str
    text: str
    src_tokens: list[str]  # source pieces fed to the model (EOS included)
    tgt_tokens: list[str]  # generated pieces (EOS included when the model produced it)
    score: float
    attention: np.ndarray | None = None  # [target steps, layers, heads, source tokens]
