"""The per-call decoding options of the PyTorch engine beyond `DecodingConfig`, turned into
`yiyan.search.search_nbest` arguments for one batch:

    nbest=N                       the N best hypotheses (Translation.nbest)
    sampling=True, temperature=T, top_k=K, top_p=P, seed=S
                                  N samples instead of beam search; reproducible for a seed
    glossary=[(source, target)]   (or a loaded `yiyan.glossary` Glossary) terminology constraints

They reach `Translator.search_ids` as options of `translate_detailed(texts, **options)` (the
pipeline passes options that are not DecodingConfig fields on to the engine untouched); the
CTranslate2 engine refuses them.

Sampling with a seed: each batch draws from a torch.Generator seeded with the seed and a hash of
the batch's source ids, so the same inputs, batch size and seed give the same samples, whatever
the order batches are decoded in.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import torch

from yiyan.data.tokenizer import Tokenizer
from yiyan.glossary import Glossary, GlossaryEntry, constraints_for, glossary_from_pairs


def batch_generator(seed: int, batch: Sequence[Sequence[int]], device: torch.device) -> torch.Generator:
    """A generator seeded with `seed` and the batch's content (module docstring)."""
    content = zlib.crc32(repr([list(ids) for ids in batch]).encode())
    return torch.Generator(device=device).manual_seed(((seed << 32) | content) & (2**63 - 1))


def as_glossary(glossary: Glossary | Sequence[Sequence[str]]) -> Glossary:
    if all(isinstance(entry, GlossaryEntry) for entry in glossary):
        return list(glossary)  # type: ignore[arg-type]
    return glossary_from_pairs(glossary)  # type: ignore[arg-type]


def search_arguments(
    options: dict[str, Any], batch: Sequence[Sequence[int]], tokenizer: Tokenizer, device: torch.device
) -> dict[str, Any]:
    """`options` with `seed` made a generator and `glossary` made per-sentence constraints."""
    arguments = dict(options)
    seed = arguments.pop("seed", None)
    if seed is not None and arguments.get("sampling"):
        arguments["generator"] = batch_generator(int(seed), batch, device)
    glossary = arguments.pop("glossary", None)
    if glossary:
        sources = tokenizer.decode_batch(batch, "src")  # the normalised source text of each sentence
        arguments["constraints"] = constraints_for(as_glossary(glossary), sources, tokenizer)
    return arguments
