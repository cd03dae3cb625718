"""Import a Marian (OPUS-MT) model and decode with it: Hugging Face vs yiyan (PyTorch, CTranslate2).

    python benchmarks/import_marian.py --folder opus-mt-en-zh --target-code '>>cmn_Hans<<' \
        --src /work/shared/data/tatoeba-cmn/test.tsv --sentences 200
    python benchmarks/import_marian.py --random-opus-en-zh --src /work/shared/data/tatoeba-cmn/test.tsv

With `--folder`, a downloaded OPUS-MT folder (huggingface-cli download Helsinki-NLP/opus-mt-en-zh).
Without a network, `--random-opus-en-zh` builds a MarianMTModel of opus-mt-en-zh's shape (d_model
512, 6 + 6 layers, 8 heads, feed-forward 2048, 65,001 pieces) with random weights, tokenizers
trained on the source lines, and vocab.json padded to 65,001 pieces: the speed of a model that
size, on outputs that are the same for every engine — not translation quality.

Measured: seconds to import; greedy decoding of the same sentences by Hugging Face
`generate(num_beams=1)` (batched), the yiyan PyTorch Translator and the CTranslate2 export
(float32 and int8), each with the same length limit; sentences/s, generated tokens/s, and the
share of sentences whose tokens equal Hugging Face's. Writes benchmarks/results/<name>.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result
from yiyan.export.ctranslate2 import export_ctranslate2
from yiyan.importers.marian import import_marian
from yiyan.search import max_output_lengths
from yiyan.translator import Translator

OPUS_EN_ZH = {"d_model": 512, "layers": 6, "heads": 8, "ffn": 2048, "vocab": 65001, "positions": 512}
RATIO, OFFSET = 1.5, 10


def random_opus_folder(directory: Path, lines: list[str], seed: int = 0) -> Path:
    """A MarianMT folder of opus-mt-en-zh's shape with random weights (see the module doc)."""
    import sentencepiece as spm
    from transformers import MarianConfig, MarianMTModel

    directory.mkdir(parents=True)
    text = directory / "lines.txt"
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for name in ("source", "target"):
        spm.SentencePieceTrainer.train(
            input=str(text),
            model_prefix=str(directory / name),
            vocab_size=1000,
            hard_vocab_limit=False,
            minloglevel=2,
            num_threads=2,
        )
        (directory / f"{name}.model").rename(directory / f"{name}.spm")
    processor = spm.SentencePieceProcessor(model_file=str(directory / "source.spm"))
    pieces = [processor.id_to_piece(i) for i in range(3, processor.get_piece_size())]
    filler = [f"▁unused{i}" for i in range(OPUS_EN_ZH["vocab"] - len(pieces) - 3)]
    vocab = ["</s>", "<unk>", *pieces, *filler, "<pad>"]
    (directory / "vocab.json").write_text(json.dumps({p: i for i, p in enumerate(vocab)}), encoding="utf-8")
    pad = len(vocab) - 1
    config = MarianConfig(
        vocab_size=len(vocab),
        d_model=OPUS_EN_ZH["d_model"],
        encoder_layers=OPUS_EN_ZH["layers"],
        decoder_layers=OPUS_EN_ZH["layers"],
        encoder_attention_heads=OPUS_EN_ZH["heads"],
        decoder_attention_heads=OPUS_EN_ZH["heads"],
        encoder_ffn_dim=OPUS_EN_ZH["ffn"],
        decoder_ffn_dim=OPUS_EN_ZH["ffn"],
        max_position_embeddings=OPUS_EN_ZH["positions"],
        pad_token_id=pad,
        decoder_start_token_id=pad,
        eos_token_id=0,
        forced_eos_token_id=0,
        scale_embedding=True,
        activation_function="swish",
    )
    model = MarianMTModel(config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # logits far apart (HF's init_std 0.02 makes near-ties that float noise decides)
        for name, tensor in model.named_parameters():
            if "embed_positions" not in name and tensor.dim() == 2:
                scale = 0.4 if name.endswith("shared.weight") else 1 / math.sqrt(tensor.size(1))
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * scale)
    model.save_pretrained(directory)
    (directory / "tokenizer_config.json").write_text(
        json.dumps({"source_lang": "en", "target_lang": "zh"}), encoding="utf-8"
    )
    return directory


def timed(function: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def hf_greedy(
    folder: Path, translator: Translator, texts: list[str], batch_size: int
) -> tuple[list[list[int]], float]:
    """Hugging Face generate on yiyan's source ids, batched like yiyan, one length limit per batch
    (the largest), each output then cut at its own limit (greedy: the same tokens)."""
    from transformers import MarianMTModel

    model = MarianMTModel.from_pretrained(folder).eval()
    special = translator.model.special_ids
    ids = [[*i, special.eos] for i in translator.tokenizer.encode_batch(texts, "src")]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    outputs: list[list[int]] = [[] for _ in ids]
    start = time.perf_counter()
    for begin in range(0, len(order), batch_size):
        rows = order[begin : begin + batch_size]
        width = max(len(ids[i]) for i in rows)
        src = torch.full((len(rows), width), special.pad)
        for r, i in enumerate(rows):
            src[r, : len(ids[i])] = torch.tensor(ids[i])
        mask = src != special.pad
        limits = max_output_lengths(mask, RATIO, OFFSET).clamp(
            max=translator.model.max_output_length or 10**6
        )
        with torch.inference_mode():
            out = model.generate(
                input_ids=src,
                attention_mask=mask.long(),
                num_beams=1,
                do_sample=False,
                max_new_tokens=int(limits.max()) + 1,
                bad_words_ids=[[special.pad]],
            ).tolist()
        for r, i in enumerate(rows):
            tokens = out[r][1:]
            tokens = tokens[: tokens.index(special.eos)] if special.eos in tokens else tokens
            outputs[i] = [t for t in tokens if t != special.pad][: int(limits[r])]
    return outputs, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--folder", type=Path, help="a downloaded OPUS-MT folder")
    source.add_argument(
        "--random-opus-en-zh", action="store_true", help="random weights, opus-mt-en-zh's shape"
    )
    parser.add_argument(
        "--src", type=Path, required=True, help="source sentences: a text file or a TSV (column 0)"
    )
    parser.add_argument("--sentences", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--target-code", help="e.g. '>>cmn_Hans<<' for opus-mt-en-zh")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="import-marian")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    lines = [line.split("\t")[0].strip() for line in args.src.read_text(encoding="utf-8").splitlines()]
    texts = [line for line in lines if line][: args.sentences]

    work = Path(tempfile.mkdtemp(prefix="import-marian-"))
    try:
        folder = args.folder or random_opus_folder(work / "opus-mt-en-zh", [line for line in lines if line])
        result, import_seconds = timed(
            lambda: import_marian(folder, work / "run", target_code=args.target_code, force=True)
        )
        translator = Translator.load(work / "run", device="cpu")
        options = {
            "beam": 1,
            "max_length_ratio": RATIO,
            "max_length_offset": OFFSET,
            "batch_size": args.batch_size,
        }
        translator.translate(texts[:4], **options)  # warm-up
        ours, seconds = timed(lambda: translator.translate_detailed(texts, **options))
        vocab = {piece: i for i, piece in enumerate(translator.tokenizer.tgt_vocab())}
        ours_ids = [[vocab[p] for p in t.tgt_tokens if p != "</s>"] for t in ours]
        theirs, hf_seconds = hf_greedy(folder, translator, texts, args.batch_size)
        tokens = sum(len(t) for t in ours_ids)
        engines: dict[str, Any] = {
            "huggingface_generate": {"seconds": round(hf_seconds, 3)},
            "yiyan_pytorch": {
                "seconds": round(seconds, 3),
                "same_tokens_as_hf": sum(a == b for a, b in zip(ours_ids, theirs)) / len(texts),
            },
        }
        from yiyan.ct2_engine import CT2Translator

        for quantization in ("float32", "int8"):
            export_ctranslate2(
                work / "run", work / f"ct2-{quantization}", quantization=quantization, force=True
            )
            ct2 = CT2Translator.load(work / f"ct2-{quantization}", device="cpu", intra_threads=args.threads)
            ct2.translate(texts[:4], **options)
            out, ct2_seconds = timed(lambda ct2=ct2: ct2.translate_detailed(texts, **options))
            ids = [[vocab[p] for p in t.tgt_tokens if p != "</s>"] for t in out]
            engines[f"ctranslate2_{quantization}"] = {
                "seconds": round(ct2_seconds, 3),
                "same_tokens_as_hf": sum(a == b for a, b in zip(ids, theirs)) / len(texts),
            }
        for entry in engines.values():
            entry["sentences_per_s"] = round(len(texts) / entry["seconds"], 2)
            entry["generated_tokens_per_s"] = round(tokens / entry["seconds"], 1)
        results = {
            "model": str(args.folder) if args.folder else "random weights, opus-mt-en-zh's shape",
            "parameters": result.report["parameters"],
            "import_seconds": round(import_seconds, 2),
            "sentences": len(texts),
            "generated_tokens": tokens,
            "greedy": True,
            "length_limit": f"{RATIO} × source tokens + {OFFSET}",
            "batch_size": args.batch_size,
            "threads": args.threads,
            # other work on the machine while this ran (1-, 5-, 15-minute load averages, start and end)
            "load_average": {"start": load_at_start, "end": [round(x, 2) for x in os.getloadavg()]},
            "engines": engines,
        }
        import ctranslate2
        import transformers

        path = write_result(
            args.name,
            results,
            extra_versions={"transformers": transformers.__version__, "ctranslate2": ctranslate2.__version__},
        )
        print(json.dumps(results, indent=2))
        print(path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
