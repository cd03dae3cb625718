"""Two SentencePiece models mapped onto one vocabulary: the tokenizer of Marian / OPUS-MT models.

A Marian model has a source model (`source.spm`) and a target model (`target.spm`) whose own
piece ids mean nothing to the network: the ids are those of one shared `vocab.json`
(piece → id), the same for both sides. So

    encode:  text → source (or target) SentencePiece pieces → vocab.json ids (absent piece: UNK)
    decode:  ids → vocab.json pieces → target (or source) SentencePiece decode_pieces

which is what Hugging Face's `MarianTokenizer` does. A source text may start with a target
language code `>>xx<<` (multilingual models); it is kept as one piece, as MarianTokenizer does.
Multilingual-target models (Helsinki-NLP/opus-mt-en-zh among them) expect such a code on every
source; `source_prefix` puts it in front of every source that has none. The special ids are
Marian's (EOS `</s>` 0, UNK `<unk>` 1, PAD `<pad>` last, decoder start = PAD). Special pieces
and prefix are kept in `marian_tokenizer.json` beside the three files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import sentencepiece as spm

from yiyan.data.tokenizer import Side, Tokenizer
from yiyan.errors import YiyanError
from yiyan.io import atomic_write_bytes, write_json
from yiyan.vocab import SpecialIds

SOURCE_SPM, TARGET_SPM, VOCAB_JSON, OPTIONS_JSON = (
    "source.spm",
    "target.spm",
    "vocab.json",
    "marian_tokenizer.json",
)
MARIAN_SPECIAL_PIECES = {"pad": "<pad>", "unk": "<unk>", "bos": "<pad>", "eos": "</s>"}  # bos: decoder start


def _vocabulary(vocab: dict[str, Any], name: str) -> list[str]:
    """Pieces by id; the ids must be exactly 0 … n-1."""
    pieces: list[str | None] = [None] * len(vocab)
    for piece, index in vocab.items():
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(vocab):
            raise YiyanError(f"{name}: id {index!r} of {piece!r} is not in 0 … {len(vocab) - 1}")
        if pieces[index] is not None:
            raise YiyanError(f"{name}: id {index} is given to both {pieces[index]!r} and {piece!r}")
        pieces[index] = piece
    return [piece for piece in pieces if piece is not None]


class SharedVocabTokenizer(Tokenizer):
    """`Tokenizer`'s interface over source.spm + target.spm + one shared vocab.json."""

    def __init__(
        self,
        source: bytes,
        target: bytes,
        vocab: dict[str, Any],
        specials: dict[str, str],
        source_prefix: str | None = None,
    ) -> None:
        self._state = (source, target, vocab, specials, source_prefix)
        self._joint = True  # one vocabulary for both sides: embeddings can be tied
        self._src = spm.SentencePieceProcessor(model_proto=source)
        self._tgt = spm.SentencePieceProcessor(model_proto=target)
        self._pieces = _vocabulary(vocab, VOCAB_JSON)
        self._ids: dict[str, int] = {piece: i for i, piece in enumerate(self._pieces)}
        missing = {role: piece for role, piece in specials.items() if piece not in self._ids}
        if missing:
            raise YiyanError(f"{VOCAB_JSON} lacks the special piece(s) {missing}")
        self._special_ids = SpecialIds(**{role: self._ids[piece] for role, piece in specials.items()})
        self.language_codes = [p for p in self._pieces if p.startswith(">>") and p.endswith("<<")]
        if source_prefix is not None and source_prefix not in self.language_codes:
            shown = ", ".join(self.language_codes[:10]) or "none"
            raise YiyanError(f"{source_prefix!r} is not a language code of {VOCAB_JSON} (codes: {shown})")
        self.source_prefix = source_prefix

    def __getstate__(self) -> Any:
        return self._state

    def __setstate__(self, state: Any) -> None:
        self.__init__(*state)  # type: ignore[misc]  # rebuilt from the picklable state

    @staticmethod
    def is_saved_in(directory: Path) -> bool:
        return (directory / VOCAB_JSON).is_file()

    @classmethod
    def from_files(
        cls, directory: str | Path, specials: dict[str, str] | None = None, source_prefix: str | None = None
    ) -> SharedVocabTokenizer:
        """Read source.spm, target.spm and vocab.json from `directory` (a YiyanError names a missing
        or unreadable one); `specials` (role → piece) and `source_prefix` default to those of
        marian_tokenizer.json, else Marian's pieces and no prefix."""
        directory = Path(directory)
        for name in (SOURCE_SPM, TARGET_SPM, VOCAB_JSON):
            if not (directory / name).is_file():
                raise YiyanError(f"{directory / name}: missing (a Marian tokenizer needs {name})")
        try:
            vocab = json.loads((directory / VOCAB_JSON).read_text(encoding="utf-8"))
            if specials is None and (directory / OPTIONS_JSON).is_file():
                options = json.loads((directory / OPTIONS_JSON).read_text(encoding="utf-8"))
                specials, source_prefix = options["special_pieces"], options.get("source_prefix")
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
            raise YiyanError(f"{directory}: {VOCAB_JSON} or {OPTIONS_JSON} is not valid ({error})") from None
        if not isinstance(vocab, dict):
            raise YiyanError(f"{directory / VOCAB_JSON}: expected a JSON object piece → id")
        source, target = (directory / SOURCE_SPM).read_bytes(), (directory / TARGET_SPM).read_bytes()
        try:
            return cls(source, target, vocab, dict(specials or MARIAN_SPECIAL_PIECES), source_prefix)
        except RuntimeError as error:  # SentencePiece: not a model
            raise YiyanError(
                f"{directory}: {SOURCE_SPM} / {TARGET_SPM} is not a SentencePiece model ({error})"
            ) from None

    @classmethod
    def load(cls, directory: str | Path) -> SharedVocabTokenizer:
        return cls.from_files(directory)

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        source, target, vocab, specials, source_prefix = self._state
        atomic_write_bytes(directory / SOURCE_SPM, source)
        atomic_write_bytes(directory / TARGET_SPM, target)
        write_json(directory / VOCAB_JSON, vocab)
        write_json(directory / OPTIONS_JSON, {"special_pieces": specials, "source_prefix": source_prefix})

    @property
    def special_ids(self) -> SpecialIds:
        return self._special_ids

    @property
    def model_files(self) -> list[str]:
        return [SOURCE_SPM, TARGET_SPM, VOCAB_JSON, OPTIONS_JSON]

    @property
    def src_vocab_size(self) -> int:
        return len(self._pieces)

    @property
    def tgt_vocab_size(self) -> int:
        return len(self._pieces)

    def vocab(self, side: Side) -> list[str]:
        return list(self._pieces)

    # --- encoding and decoding ------------------------------------------------------------

    def _split_code(self, text: str) -> tuple[list[str], str]:
        """A leading `>>xx<<` language code (kept as one piece) and the rest of the text."""
        end = text.find("<<") if text.startswith(">>") else -1
        return ([text[: end + 2]], text[end + 2 :]) if end != -1 else ([], text)

    def encode_pieces(self, texts: Sequence[str], side: Side) -> list[list[str]]:
        split = [self._split_code(text) for text in texts]
        if side == "src" and self.source_prefix is not None:  # the target language, where none is given
            split = [(code or [self.source_prefix], rest) for code, rest in split]
        encoded = self._sp(side).encode([rest for _, rest in split], out_type=str, num_threads=1)
        return [code + pieces for (code, _), pieces in zip(split, encoded, strict=True)]

    def encode_batch(self, texts: Sequence[str], side: Side) -> list[list[int]]:
        unk = self._special_ids.unk
        return [[self._ids.get(p, unk) for p in pieces] for pieces in self.encode_pieces(texts, side)]

    def decode_batch(self, sequences: Iterable[Iterable[int]], side: Side) -> list[str]:
        sp = self._sp(side)
        return [sp.decode_pieces([self._pieces[i] for i in ids]) for ids in self._without_specials(sequences)]

    def src_pieces(self, ids: Iterable[int]) -> list[str]:
        return [self._pieces[int(i)] for i in ids]

    def tgt_pieces(self, ids: Iterable[int]) -> list[str]:
        return [self._pieces[int(i)] for i in ids]

    def _unknown_characters(self, text: str, side: Side) -> str:
        sp = self._sp(side)
        pieces = sp.encode(self._split_code(text)[1], return_type="proto").pieces
        unknown = [p for p in pieces if p.id == sp.unk_id() or p.piece not in self._ids]
        return "".join(p.surface.replace(" ", "") for p in unknown)
