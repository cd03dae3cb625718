"""Train a config on Tatoeba English→Chinese for a wall-clock budget and report the figures.

    python benchmarks/train_tatoeba.py --data ../shared/data/tatoeba-cmn \
        --config configs/tatoeba-small.yaml --budget 20m --name train-tatoeba-small

Reports: training throughput in non-padding target tokens/s (validation excluded), the share
of padding in batches, achieved model FLOP/s against this machine's measured fp32 matmul peak
(CPU) or, with --device cuda, MFU against the GPU's peak dense bf16 FLOP/s (common.py's table),
peak RSS of the training process, test BLEU / chrF with greedy and beam 5, and decoding
speed of the test set (after an untimed warm-up). "Target tokens" everywhere: non-padding target
pieces + one EOS per sentence (common.target_tokens; the trainer's `n_tgt_tokens` counts exactly
that). Figures: benchmarks/results/<--name>.json (common.write_result); the run directory is
scratch. Never run two benchmarks at once on a 2-core machine.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import (
    generated_pieces,
    gpu_peak_tflops,
    matmul_peak_gflops,
    run_child,
    target_tokens,
    transformer_train_flops_per_target_token,
    write_result,
)
from yiyan.cli import parse_duration
from yiyan.config import Config, load_config
from yiyan.data.batching import TokenBudgetBatchSampler
from yiyan.data.binarize import BinarizedDataset
from yiyan.io import read_json
from yiyan.metrics import score
from yiyan.translator import Translator


def padding_share(config: Config) -> dict[str, float]:
    """Share of padding cells in one epoch of training batches (source and target side)."""
    data = BinarizedDataset(config.run_path / "data" / "bin", "train")
    sampler = TokenBudgetBatchSampler(
        data.src_lengths,
        data.tgt_lengths,
        config.training.batch_tokens,
        seed=1,
        max_length=config.training.max_length,
    )
    sampler.set_epoch(0)
    src_real = src_cells = tgt_real = tgt_cells = 0
    for indices in sampler:
        src = data.src_lengths[indices] + 1  # + EOS
        tgt = data.tgt_lengths[indices] + 1  # + BOS (input side) / EOS (output side)
        src_real, src_cells = src_real + int(src.sum()), src_cells + int(src.max()) * len(indices)
        tgt_real, tgt_cells = tgt_real + int(tgt.sum()), tgt_cells + int(tgt.max()) * len(indices)
    return {
        "src_padding": round(1 - src_real / src_cells, 4),
        "tgt_padding": round(1 - tgt_real / tgt_cells, 4),
        "src_tokens_per_tgt_token": round(src_real / tgt_real, 3),
        "batches_per_epoch": len(sampler),
    }


def train_flops_per_target_token(config: Config, src_per_tgt: float, mean_len: float) -> float:
    """Model FLOPs per target token of one training step (common.py's count, this config's sizes)."""
    m = config.model
    return transformer_train_flops_per_target_token(
        m.d_model,
        m.ff_size,
        m.encoder_layers,
        m.decoder_layers,
        load_vocab_size(config),
        src_per_tgt,
        mean_len,
    )


def load_vocab_size(config: Config) -> int:
    meta = read_json(config.run_path / "model.json")
    return int(meta["tgt_vocab_size"])


def decode_figures(
    run: Path, config: Config, threads: int, device: str = "cpu", limit: int = 0
) -> dict[str, Any]:
    torch.set_num_threads(threads)
    translator = Translator.load(run, device=device)
    data = config.run_path / "data"
    sources = (data / f"test.{config.data.src_lang}").read_text(encoding="utf-8").splitlines()
    refs = (data / f"test.ref.{config.data.tgt_lang}").read_text(encoding="utf-8").splitlines()
    if limit:
        sources, refs = sources[:limit], refs[:limit]
    train_sources = (data / f"train.{config.data.src_lang}").read_text(encoding="utf-8").splitlines()
    novel = near_duplicate_free(sources, train_sources)
    results: dict[str, Any] = {
        "novel_subset": {
            "rule": "English with no training sentence of word-set Jaccard >= 0.7",
            "sentences": len(novel),
            "of": len(sources),
        }
    }
    for beam in (1, 5):
        translator.translate(sources[: config.decoding.batch_size], beam=beam)  # warm-up, untimed
        start = time.perf_counter()
        translations = translator.translate_detailed(sources, beam=beam)
        seconds = time.perf_counter() - start
        hyps = [t.text for t in translations]
        tokens = target_tokens(generated_pieces(t.tgt_tokens) for t in translations)
        scores = score(hyps, refs, config.data.tgt_lang)
        results[f"beam{beam}"] = {
            "bleu": scores["bleu"],
            "chrf": scores["chrf"],
            "sentences_per_s": round(len(sources) / seconds, 1),
            "target_tokens_per_s": round(tokens / seconds, 1),
            "seconds": round(seconds, 2),
            "signature": scores["bleu_signature"],
        }
        novel_scores = score([hyps[i] for i in novel], [refs[i] for i in novel], config.data.tgt_lang)
        results["novel_subset"][f"beam{beam}_bleu"] = novel_scores["bleu"]
    return results


WORD = re.compile(r"\w+")


def near_duplicate_free(
    test_sources: list[str], train_sources: list[str], threshold: float = 0.7
) -> list[int]:
    """Indices of the test sentences with no near-duplicate among the training sources: no training
    sentence whose set of lower-cased words has Jaccard similarity ≥ `threshold` with theirs
    ("Tom is here." vs "Tom is there." share 2 of 4 words: 0.5, kept; "I love you." vs "I love
    you!" share all: 1.0, left out). Exact duplicates are already gone (prepare decontaminates)."""
    words = [frozenset(WORD.findall(line.lower())) for line in train_sources]
    by_word: dict[str, list[int]] = defaultdict(list)
    for i, bag in enumerate(words):
        for word in bag:
            by_word[word].append(i)
    kept = []
    for index, line in enumerate(test_sources):
        bag = frozenset(WORD.findall(line.lower()))
        shared: Counter[int] = Counter(i for word in bag for i in by_word.get(word, ()))
        if not any(n / len(bag | words[i]) >= threshold for i, n in shared.items()):
            kept.append(index)
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="directory with train.tsv, dev.tsv, test.tsv")
    parser.add_argument("--config", default="configs/tatoeba-small.yaml")
    parser.add_argument(
        "--budget", type=parse_duration, default=1200.0, help="training wall clock (default 20m)"
    )
    parser.add_argument(
        "--normalise-to",
        type=float,
        default=0.0,
        metavar="GFLOPS",
        help="compute-normalised budget: train for budget × GFLOPS / this machine's measured matmul peak "
        "(issue 16: --budget 20m --normalise-to 210)",
    )
    parser.add_argument("--run-dir", help="default: runs/bench-<config name>")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto", help="training.device: auto, cpu or cuda (default auto)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--test-limit",
        type=int,
        default=0,
        help="decode only the first N test sentences (smoke runs; 0 = all)",
    )
    parser.add_argument("--name", help="result name: benchmarks/results/NAME.json (default train-<config>)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    peak = matmul_peak_gflops()  # before training, on a quiet machine
    print(f"fp32 matmul peak: {peak:.1f} GFLOP/s", flush=True)
    budget = args.budget * args.normalise_to / peak if args.normalise_to else args.budget
    if args.normalise_to:
        print(f"budget: {args.budget:.0f} s × {args.normalise_to} / {peak:.1f} = {budget:.0f} s", flush=True)
    data = Path(args.data)
    name = Path(args.config).stem
    run = Path(args.run_dir or f"runs/bench-{name}")
    overrides = [
        "data.corpus=null",
        f"data.train={data / 'train.tsv'}",
        f"data.dev={data / 'dev.tsv'}",
        f"data.test={data / 'test.tsv'}",
        f"run_dir={run}",
        f"training.num_threads={args.threads}",
        f"training.max_time={budget:.0f}",
        f"training.device={args.device}",
        *args.overrides,
    ]
    config = load_config(args.config, overrides)
    report: dict[str, Any] = {"config": args.config, "budget_s": round(budget), "overrides": args.overrides}
    if args.normalise_to:
        report["budget_rule"] = f"{args.budget:.0f} s × {args.normalise_to} GFLOP/s / measured peak"
    report["matmul_peak_gflops"] = round(peak, 1)

    cli = [sys.executable, "-m", "yiyan"]
    sets = [item for o in overrides for item in ("--set", o)]
    prep_wall, prep_rss = run_child([*cli, "prepare", args.config, *sets])
    report["prepare"] = {"seconds": round(prep_wall, 1), "peak_rss_gib": round(prep_rss, 3)}
    report["padding"] = padding_share(config)
    env = {"OMP_NUM_THREADS": str(args.threads)}
    train_wall, train_rss = run_child([*cli, "train", args.config, "--quiet", *sets], env=env)
    summary = read_json(run / "train_summary.json")
    tokens_per_s = summary["target_tokens_per_s"]
    mean_len = float(np.mean(BinarizedDataset(run / "data" / "bin", "train").tgt_lengths)) + 1
    report["train"] = {
        **summary,
        "wall_seconds_incl_startup": round(train_wall, 1),
        "peak_rss_gib_children_max": round(train_rss, 3),
    }
    if config.model.type == "transformer":  # the FLOP count below models the Transformer only
        flops = train_flops_per_target_token(config, report["padding"]["src_tokens_per_tgt_token"], mean_len)
        report["train"]["mflop_per_target_token"] = round(flops / 1e6, 1)
        report["train"]["achieved_gflops"] = round(tokens_per_s * flops / 1e9, 1)
        print(f"achieved model FLOP/s: {report['train']['achieved_gflops']} GFLOP/s", flush=True)
        if summary.get("device") == "cuda":
            gpu = torch.cuda.get_device_name()
            peak = gpu_peak_tflops(gpu)
            report["train"]["gpu"] = gpu
            if peak is not None:
                report["train"]["mfu"] = round(report["train"]["achieved_gflops"] / (peak[1] * 1000), 4)
                print(
                    f"MFU: {report['train']['mfu']:.1%} of {peak[0]} peak bf16 {peak[1]:.0f} TFLOP/s",
                    flush=True,
                )
        else:
            report["train"]["share_of_matmul_peak"] = round(
                report["train"]["achieved_gflops"] / report["matmul_peak_gflops"], 3
            )
    decode_device = "cuda" if summary.get("device") == "cuda" else "cpu"
    report["test"] = decode_figures(run, config, args.threads, decode_device, args.test_limit)
    report["test_limit"] = args.test_limit
    write_result(args.name or f"train-{name}", report, matmul_peak=report["matmul_peak_gflops"])


if __name__ == "__main__":
    main()
