"""The CTranslate2 engine: translate with a `yiyan export` directory, without importing torch.

`CT2Translator` is a `yiyan.pipeline.TextPipeline` — the same normalization, SentencePiece,
cutting of over-long sentences, sorting/batching, segmentation and decoding options as the
PyTorch `yiyan.translator.Translator` — whose search is CTranslate2's `translate_batch`. Greedy
output equals the PyTorch engine's token for token (docs/deployment.md says what can differ in
beam search). The exporter is `yiyan.export.ctranslate2`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from yiyan.config import Config, DecodingConfig, ModelConfig, config_from_dict
from yiyan.data.corpus import Normalization
from yiyan.data.tokenizer import Tokenizer
from yiyan.errors import CheckpointError, YiyanError
from yiyan.export import EXPORT_FILE
from yiyan.io import read_json
from yiyan.pipeline import Decoded, TextPipeline

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["EXPORT_FORMAT", "CT2Translator", "import_ctranslate2", "is_export_dir", "read_export_metadata"]

EXPORT_FORMAT = "yiyan-ctranslate2/1"


def import_ctranslate2() -> ModuleType:
    try:
        import ctranslate2
    except ImportError:
        raise YiyanError(
            "the CTranslate2 engine needs the ctranslate2 package: pip install 'yiyan[ct2]'"
        ) from None
    return ctranslate2


def is_export_dir(path: str | Path) -> bool:
    return (Path(path) / EXPORT_FILE).is_file()


def read_export_metadata(export_dir: str | Path) -> dict[str, Any]:
    path = Path(export_dir) / EXPORT_FILE
    if not path.is_file():
        raise CheckpointError(
            f"{path}: not found — is {export_dir} a CTranslate2 export? Create one with "
            "`yiyan export RUN_DIR --to ctranslate2 -o OUT`"
        )
    try:
        metadata: dict[str, Any] = read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: corrupt ({error})") from None
    if metadata.get("format") != EXPORT_FORMAT or "config" not in metadata:
        raise CheckpointError(f"{path}: not a {EXPORT_FORMAT} export description")
    return metadata


def max_lengths(source_lengths: Sequence[int], decoding: DecodingConfig, max_positions: int) -> list[int]:
    """Per sentence, the most tokens before EOS: the float32 arithmetic of
    `yiyan.search.max_output_lengths` (ratio · source tokens + offset), capped like
    `Transformer.max_output_length` (max_positions - 1)."""
    lengths = np.asarray(source_lengths, dtype=np.float32) * np.float32(decoding.max_length_ratio)
    limits = lengths.astype(np.int64) + decoding.max_length_offset
    return [int(limit) for limit in np.minimum(limits, max_positions - 1)]


class CT2Translator(TextPipeline):
    """Text in, text out with an exported CTranslate2 model; the interface of `Translator`.

    `translate(texts, beam=, length_penalty=, max_length_ratio=, no_repeat_ngram_size=,
    batch_size=)`, `translate_detailed` and `translate_document` take the same options
    (defaults: the run's decoding config); attention weights are not available.
    """

    engine = "ctranslate2"
    supports_attention = False

    def __init__(
        self,
        translator: Any,
        tokenizer: Tokenizer,
        *,
        decoding: DecodingConfig | None = None,
        src_normalization: Normalization = "NFKC",
        max_positions: int = ModelConfig.max_positions,
    ) -> None:
        self.translator = translator  # a ctranslate2.Translator
        self.tokenizer = tokenizer
        self.decoding = decoding or DecodingConfig()
        self.src_normalization = src_normalization
        self.max_positions = max_positions
        self.config: Config | None = None
        self.model_dir: Path | None = None
        self.run_dir: Path | None = None  # = model_dir: where `yiyan evaluate` writes eval/
        self.metadata: dict[str, Any] = {}
        self._tgt_ids = {piece: i for i, piece in enumerate(tokenizer.tgt_vocab())}
        # the model's special pieces (an imported Marian model: "</s>", and "<pad>" as decoder start)
        special, pieces = tokenizer.special_ids, tokenizer.tgt_vocab()
        self._eos_piece = pieces[special.eos]
        self._never_produced = [[pieces[i]] for i in special.never_produced]  # as in yiyan.search

    @classmethod
    def load(
        cls,
        export_dir: str | Path,
        *,
        device: str = "auto",
        compute_type: str = "default",
        inter_threads: int = 1,
        intra_threads: int = 0,
    ) -> CT2Translator:
        """Load `yiyan export` output. `compute_type` "default" runs the exported weight type
        (CTranslate2 falls back where the device lacks it); `intra_threads` 0 = CTranslate2's default."""
        ctranslate2 = import_ctranslate2()
        export_dir = Path(export_dir)
        metadata = read_export_metadata(export_dir)
        config = config_from_dict(metadata["config"])
        try:
            translator = ctranslate2.Translator(
                str(export_dir),
                device=device,
                compute_type=compute_type,
                inter_threads=inter_threads,
                intra_threads=intra_threads,
            )
        except (RuntimeError, ValueError) as error:
            raise YiyanError(f"{export_dir}: CTranslate2 cannot load the model: {error}") from None
        ct2 = cls(
            translator,
            Tokenizer.load(export_dir),
            decoding=config.decoding,
            src_normalization=config.data.src_normalization,
            max_positions=config.model.max_positions,
        )
        ct2.config, ct2.model_dir, ct2.run_dir, ct2.metadata = config, export_dir, export_dir, metadata
        return ct2

    @property
    def compute_type(self) -> str:
        return str(self.translator.compute_type)

    def search_ids(
        self, batch: list[list[int]], decoding: DecodingConfig, *, attention: bool, **options: Any
    ) -> list[Decoded]:
        """Decode a batch sorted by length. CTranslate2 takes one length limit per call: greedy
        search decodes the batch to its largest limit and cuts each output at its own (the same
        tokens); beam search prunes differently near the limit, so the batch is split where the
        limit changes (limits grow with the source length: each group is contiguous)."""
        if options:
            raise YiyanError(
                f"the CTranslate2 engine does not support {', '.join(sorted(options))}; "
                "use the PyTorch engine (the training run)"
            )
        limits = max_lengths([len(ids) for ids in batch], decoding, self.max_positions)
        rows = list(range(len(batch)))
        groups = (
            [rows]
            if decoding.beam == 1
            else [list(g) for _, g in itertools.groupby(rows, limits.__getitem__)]
        )
        results: list[Decoded] = []
        for group in groups:
            results += self._translate_batch([batch[i] for i in group], [limits[i] for i in group], decoding)
        return results

    def _translate_batch(
        self, batch: list[list[int]], limits: list[int], decoding: DecodingConfig
    ) -> list[Decoded]:
        """Decode `batch`; sentence i may have `limits[i]` tokens before EOS.

        The PyTorch search allows only EOS once a hypothesis has its limit of tokens. CTranslate2
        cannot force EOS: it runs one step more, and an output longer than the limit is cut
        back to it — the same tokens for greedy search. Scores come back unnormalized (summed
        log-probabilities including EOS), as the PyTorch search reports them.
        """
        length_penalty = 0.0 if decoding.beam == 1 else decoding.length_penalty
        eos = self._eos_piece
        sources = [[*self.tokenizer.src_pieces(ids), eos] for ids in batch]
        try:
            outputs = self.translator.translate_batch(
                sources,
                beam_size=decoding.beam,
                length_penalty=length_penalty,  # score / |y|^α, |y| counting EOS (return_end_token)
                no_repeat_ngram_size=decoding.no_repeat_ngram_size,
                suppress_sequences=self._never_produced,
                max_decoding_length=max(limits) + 1,
                min_decoding_length=0,  # EOS may come first (CTranslate2's default forbids it)
                max_input_length=0,  # the pipeline cut long inputs already
                return_end_token=True,
                return_scores=True,
            )
        except (RuntimeError, ValueError) as error:
            raise YiyanError(f"CTranslate2 failed to translate: {error}") from None
        results = []
        for output, limit in zip(outputs, limits, strict=True):
            pieces: list[str] = list(output.hypotheses[0])
            score = float(output.scores[0]) * len(pieces) ** length_penalty
            kept = (pieces[:-1] if pieces[-1:] == [eos] else pieces)[:limit]
            results.append(Decoded([self._tgt_ids[p] for p in kept], score))
        return results
