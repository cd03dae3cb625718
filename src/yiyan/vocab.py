"""Special token ids (tokenizer, batches, models, search).

Every vocabulary yiyan trains reserves the first four ids for these pieces, in this order.
An imported model (yiyan.importers) may use others: `SpecialIds`, recorded in model.json and
read back by `Seq2SeqModel.special_ids` and `Tokenizer.special_ids`, so nothing downstream
assumes the constants.
"""

from __future__ import annotations

from dataclasses import dataclass

PAD_ID = 0  # right-padding in batches; never a prediction target
UNK_ID = 1  # a piece the vocabulary lacks
BOS_ID = 2  # starts every decoder input (`tgt_in`)
EOS_ID = 3  # ends every source (`src`) and target output (`tgt_out`)

SPECIAL_PIECES = ("<pad>", "<unk>", "<s>", "</s>")  # the pieces at ids 0..3


@dataclass(frozen=True)
class SpecialIds:
    """The special ids one model and its tokenizer use. yiyan's own runs use the constants above;
    an imported model keeps its own (Marian: EOS 0, UNK 1, PAD = the last id, and the decoder
    starts from PAD, so `bos` — the decoder start token — equals `pad`). model.json records them."""

    pad: int = PAD_ID
    unk: int = UNK_ID
    bos: int = BOS_ID  # the decoder start token (first `tgt_in` position); never produced
    eos: int = EOS_ID

    @property
    def never_produced(self) -> list[int]:
        """Ids a search never outputs: PAD and the decoder start token (once if they are one id)."""
        return sorted({self.pad, self.bos})


DEFAULT_SPECIAL_IDS = SpecialIds()
SPECIAL_ROLES = ("pad", "unk", "bos", "eos")  # SpecialIds fields; ModelConfig has <role>_id for each
