"""SentencePiece tokenization with fixed special ids.

One model trained on both sides (`joint.model`, a shared vocabulary that allows tied
embeddings) or one per side (`src.model`, `tgt.model`). Every model has
PAD=0 "<pad>", UNK=1 "<unk>", BOS=2 "<s>", EOS=3 "</s>", and SentencePiece's own
normalization is off ("identity"): yiyan normalizes text itself (`corpus.normalize_text`),
so `decode(encode(s)) == s` for normalized `s`, and Chinese full-width punctuation
survives. Raw Chinese needs no word segmentation.
"""

from __future__ import annotations

import itertools
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import sentencepiece as spm

from yiyan.config import TokenizerConfig
from yiyan.errors import YiyanError
from yiyan.io import atomic_write, atomic_write_bytes
from yiyan.vocab import BOS_ID, DEFAULT_SPECIAL_IDS, EOS_ID, PAD_ID, SPECIAL_PIECES, UNK_ID, SpecialIds

__all__ = ["BOS_ID", "EOS_ID", "PAD_ID", "SPECIAL_PIECES", "UNK_ID", "Side", "Tokenizer"]

Side = Literal["src", "tgt"]
BYTE_PIECES = 256  # <0x00> … <0xFF>, added by tokenizer.byte_fallback
_BYTE_PIECE = re.compile(r"<0x[0-9A-F]{2}>")
_REQUIRED_CHARS = re.compile(r"required_chars\. \d+ vs (\d+)")


def _train_model(inputs: list[str], vocab_size: int, config: TokenizerConfig, prefix: Path) -> bytes:
    """Train one SentencePiece model on a bounded random sample; return its serialized proto."""
    spm.set_random_generator_seed(config.seed)
    try:
        spm.SentencePieceTrainer.train(
            input=inputs,
            model_prefix=str(prefix),
            model_type=config.type,
            # the 256 byte pieces come on top of the learned ones: vocab_size keeps its meaning
            vocab_size=vocab_size + (BYTE_PIECES if config.byte_fallback else 0),
            hard_vocab_limit=config.hard_vocab_limit,
            byte_fallback=config.byte_fallback,
            character_coverage=config.character_coverage,
            user_defined_symbols=config.user_symbols,
            input_sentence_size=config.max_sentences,
            shuffle_input_sentence=True,
            normalization_rule_name="identity",
            pad_id=PAD_ID,
            unk_id=UNK_ID,
            bos_id=BOS_ID,
            eos_id=EOS_ID,
            pad_piece=SPECIAL_PIECES[PAD_ID],
            unk_piece=SPECIAL_PIECES[UNK_ID],
            bos_piece=SPECIAL_PIECES[BOS_ID],
            eos_piece=SPECIAL_PIECES[EOS_ID],
            num_threads=2,
            minloglevel=2,
        )
    except RuntimeError as error:
        message = str(error).split("] ", 1)[-1]
        too_many = _REQUIRED_CHARS.search(message)  # "… smaller than required_chars. 4256 vs 6173. …"
        if too_many:  # SentencePiece counts the byte pieces among the required characters
            characters = int(too_many.group(1)) - (BYTE_PIECES if config.byte_fallback else 0)
            fallback = "they become byte pieces" if config.byte_fallback else "they become <unk>"
            raise YiyanError(
                f"tokenizer: the training text has {characters:,} characters to keep at "
                f"tokenizer.character_coverage {config.character_coverage}, more than a vocabulary of "
                f"{vocab_size} pieces holds; raise tokenizer.vocab_size or lower "
                f"tokenizer.character_coverage (e.g. 0.9995: the rarest characters are left out, {fallback})"
            ) from None
        raise YiyanError(f"SentencePiece training failed: {message}") from None
    return prefix.with_suffix(".model").read_bytes()


def _processor(proto: bytes, name: str) -> spm.SentencePieceProcessor:
    sp = spm.SentencePieceProcessor(model_proto=proto)
    ids = (sp.pad_id(), sp.unk_id(), sp.bos_id(), sp.eos_id())
    if ids != (PAD_ID, UNK_ID, BOS_ID, EOS_ID):
        raise YiyanError(f"tokenizer {name}: special ids (pad, unk, bos, eos) are {ids}, need (0, 1, 2, 3)")
    return sp


class Tokenizer:
    """Source and target SentencePiece models (the same one when joint)."""

    def __init__(self, protos: dict[str, bytes]) -> None:
        """`protos`: serialized models, {"joint": …} or {"src": …, "tgt": …}."""
        self._setup(protos)

    def _setup(self, protos: dict[str, bytes]) -> None:
        self._protos = protos
        self._joint = "joint" in protos
        if self._joint:
            self._src = self._tgt = _processor(protos["joint"], "joint.model")
        else:
            self._src = _processor(protos["src"], "src.model")
            self._tgt = _processor(protos["tgt"], "tgt.model")

    # pickling (worker processes) sends the serialized models
    def __getstate__(self) -> dict[str, bytes]:
        return self._protos

    def __setstate__(self, protos: dict[str, bytes]) -> None:
        self._setup(protos)

    @classmethod
    def train(
        cls,
        src_lines_path: str | Path,
        tgt_lines_path: str | Path,
        config: TokenizerConfig,
        out_dir: str | Path,
    ) -> Tokenizer:
        """Train on two text files (one sentence per line) and save to `out_dir`."""
        src, tgt = str(src_lines_path), str(tgt_lines_path)
        with tempfile.TemporaryDirectory(prefix="yiyan-spm-") as tmp:
            if config.joint:
                protos = {"joint": _train_model([src, tgt], config.vocab_size, config, Path(tmp, "joint"))}
            else:
                tgt_size = config.tgt_vocab_size or config.vocab_size
                protos = {
                    "src": _train_model([src], config.vocab_size, config, Path(tmp, "src")),
                    "tgt": _train_model([tgt], tgt_size, config, Path(tmp, "tgt")),
                }
        tokenizer = cls(protos)
        tokenizer.save(out_dir)
        return tokenizer

    @classmethod
    def load(cls, directory: str | Path) -> Tokenizer:
        """The tokenizer saved in `directory`: ours, or an imported model's (source.spm +
        target.spm + vocab.json, `SharedVocabTokenizer`)."""
        directory = Path(directory)
        from yiyan.data.shared_vocab import SharedVocabTokenizer

        if SharedVocabTokenizer.is_saved_in(directory):
            return SharedVocabTokenizer.load(directory)
        for names in (["joint"], ["src", "tgt"]):
            if all((directory / f"{name}.model").is_file() for name in names):
                return cls({name: (directory / f"{name}.model").read_bytes() for name in names})
        raise YiyanError(f"no tokenizer in {directory}: expected joint.model, or src.model and tgt.model")

    def save(self, directory: str | Path) -> None:
        """Write `<name>.model` (and a readable `<name>.vocab`) atomically; remove stale models."""
        directory = Path(directory)
        for name in ("joint", "src", "tgt"):
            if name not in self._protos:
                for suffix in (".model", ".vocab"):
                    (directory / f"{name}{suffix}").unlink(missing_ok=True)
        for name, proto in self._protos.items():
            atomic_write_bytes(directory / f"{name}.model", proto)
            sp = self._tgt if name == "tgt" else self._src
            with atomic_write(directory / f"{name}.vocab") as handle:
                for i in range(sp.get_piece_size()):
                    handle.write(f"{sp.id_to_piece(i)}\t{sp.get_score(i):g}\n")

    # --- properties ---------------------------------------------------------------------

    @property
    def joint(self) -> bool:
        return self._joint

    @property
    def special_ids(self) -> SpecialIds:
        """PAD, UNK, BOS (decoder start) and EOS: yiyan's fixed ids."""
        return DEFAULT_SPECIAL_IDS

    @property
    def model_files(self) -> list[str]:
        """The files in a saved tokenizer directory that `load` reads (an export copies them)."""
        return [f"{name}.model" for name in self._protos]

    @property
    def src_vocab_size(self) -> int:
        return int(self._src.get_piece_size())

    @property
    def tgt_vocab_size(self) -> int:
        return int(self._tgt.get_piece_size())

    def _sp(self, side: Side) -> spm.SentencePieceProcessor:
        return self._src if side == "src" else self._tgt

    def vocab(self, side: Side) -> list[str]:
        """Pieces by id; ids 0-3 are "<pad>", "<unk>", "<s>", "</s>"."""
        sp = self._sp(side)
        return [sp.id_to_piece(i) for i in range(sp.get_piece_size())]

    def src_vocab(self) -> list[str]:
        return self.vocab("src")

    def tgt_vocab(self) -> list[str]:
        return self.vocab("tgt")

    # --- encoding and decoding ------------------------------------------------------------

    def encode_batch(self, texts: Sequence[str], side: Side) -> list[list[int]]:
        """Token ids of many sentences at once (no BOS/EOS)."""
        return self._sp(side).encode(list(texts), num_threads=1)

    def decode_batch(self, sequences: Iterable[Iterable[int]], side: Side) -> list[str]:
        """Text of many id sequences; PAD, BOS and EOS are skipped (UNK shows as ⁇)."""
        cleaned = self._without_specials(sequences)
        return self._sp(side).decode(cleaned)

    def _without_specials(self, sequences: Iterable[Iterable[int]]) -> list[list[int]]:
        """The ids of each sequence without PAD, BOS (decoder start) and EOS."""
        ids = self.special_ids
        skipped = frozenset((ids.pad, ids.bos, ids.eos))
        return [[int(i) for i in sequence if int(i) not in skipped] for sequence in sequences]

    def encode_src(self, text: str) -> list[int]:
        return self.encode_batch([text], "src")[0]

    def encode_tgt(self, text: str) -> list[int]:
        return self.encode_batch([text], "tgt")[0]

    def decode_src(self, ids: Iterable[int]) -> str:
        return self.decode_batch([ids], "src")[0]

    def decode_tgt(self, ids: Iterable[int]) -> str:
        return self.decode_batch([ids], "tgt")[0]

    def src_pieces(self, ids: Iterable[int]) -> list[str]:
        return [self._src.id_to_piece(int(i)) for i in ids]

    def tgt_pieces(self, ids: Iterable[int]) -> list[str]:
        return [self._tgt.id_to_piece(int(i)) for i in ids]

    # --- statistics -----------------------------------------------------------------------

    def statistics(self, lines: Iterable[str], side: Side, batch_size: int = 1000) -> dict[str, Any]:
        """How well the vocabulary fits `lines`: unk rate (share of tokens that are UNK),
        character coverage (share of non-space characters not mapped to UNK or, with byte
        fallback, to bytes), tokens per sentence, and the most frequent uncovered characters."""
        unk = self.special_ids.unk
        uncovered = self.byte_ids(side) | {unk}
        sentences = tokens = unk_tokens = chars = 0
        unknown: Counter[str] = Counter()
        iterator = iter(lines)
        while batch := list(itertools.islice(iterator, batch_size)):
            sentences += len(batch)
            chars += sum(len(text) - text.count(" ") for text in batch)
            for text, ids in zip(batch, self.encode_batch(batch, side), strict=True):
                tokens += len(ids)
                if not uncovered.isdisjoint(ids):  # rare: find the uncovered characters
                    unk_tokens += ids.count(unk)
                    unknown.update(self._unknown_characters(text, side))
        unk_chars = sum(unknown.values())
        return {
            "sentences": sentences,
            "tokens": tokens,
            "tokens_per_sentence": round(tokens / sentences, 3) if sentences else 0.0,
            "unk_rate": unk_tokens / tokens if tokens else 0.0,
            "char_coverage": 1.0 - unk_chars / chars if chars else 1.0,
            "unknown_chars": "".join(char for char, _ in unknown.most_common(30)),
        }

    def _unknown_characters(self, text: str, side: Side) -> str:
        """The characters of `text` that encode to UNK or to bytes (spaces left out; a byte
        piece's surface is empty but for the last byte of its character)."""
        pieces = self._sp(side).encode(text, return_type="proto").pieces
        return "".join(
            piece.surface.replace(" ", "")
            for piece in pieces
            if piece.id == UNK_ID or _BYTE_PIECE.fullmatch(piece.piece)
        )

    def byte_ids(self, side: Side) -> frozenset[int]:
        """The ids of the byte pieces <0x00>…<0xFF> (tokenizer.byte_fallback; none without it)."""
        return frozenset(i for i, piece in enumerate(self.vocab(side)) if _BYTE_PIECE.fullmatch(piece))
