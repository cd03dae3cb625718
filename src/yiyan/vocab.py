"""Special token ids, fixed across the project (tokenizer, batches, models, search).

Every vocabulary reserves the first four ids for these pieces, in this order.
"""

from __future__ import annotations

PAD_ID = 0  # right-padding in batches; never a prediction target
UNK_ID = 1  # a piece the vocabulary lacks
BOS_ID = 2  # starts every decoder input (`tgt_in`)
EOS_ID = 3  # ends every source (`src`) and target output (`tgt_out`)

SPECIAL_PIECES = ("<pad>", "<unk>", "<s>", "</s>")  # the pieces at ids 0..3
