"""Test BLEU of the last checkpoint vs averaged last-N checkpoints vs the EMA, per run.

    python benchmarks/toolbox_train.py runs/tatoeba-ref-s1 runs/tatoeba-ref-s2 --average 2 3 5

Each RUN must have been trained with training.keep_checkpoints and training.ema_decay on
(the reference runs: configs/tatoeba-small.yaml + ema_decay 0.995 + keep_checkpoints 5). For every
run, these weights decode the run's prepared Tatoeba test set (data/test.en → data/test.ref.zh),
greedy and beam 5, scored by sacrebleu:

    last          the trained weights at the last step (= `yiyan average RUN --last 1`)
    avg-last-N    the mean of the last N kept checkpoints (`yiyan average RUN --last N`)
    ema-last      the EMA of the weights at the last step (checkpoints/last/ema.safetensors)
    ema-best      the run's model.safetensors: the EMA at the step with the best dev BLEU
                  (what `yiyan translate RUN` uses)

All variants come from the same training run, so they compare like with like even on a machine
that other jobs share (the run's wall-clock budget bought fewer updates then, but the same ones
for every variant). Writes benchmarks/results/toolbox-train.json (or --name).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import matmul_peak_gflops, write_result
from yiyan.averaging import average_run, read_index, write_run_like
from yiyan.checkpoint import load_model
from yiyan.io import read_json
from yiyan.metrics import score
from yiyan.training.ema import load_ema_weights
from yiyan.translator import Translator, load_run_config

BEAMS = (1, 5)


def variants(run: Path, work: Path, average: list[int]) -> dict[str, Path]:
    """Run directories holding each variant's weights (built under `work`)."""
    kept = len(read_index(run))
    out: dict[str, Path] = {}
    for count in [1, *average]:
        if count > kept:
            print(f"{run}: only {kept} checkpoints kept; skipping avg-last-{count}", file=sys.stderr)
            continue
        name = "last" if count == 1 else f"avg-last-{count}"
        out[name] = work / name
        if not (out[name] / "model.safetensors").is_file():
            average_run(run, out[name], last=count)
    out["ema-last"] = work / "ema-last"
    if not (out["ema-last"] / "model.safetensors").is_file():
        model = load_model(run)
        load_ema_weights(model, run / "checkpoints" / "last" / "ema.safetensors")
        write_run_like(
            run, out["ema-last"], model, {"source_run": str(run), "method": "EMA at the last step"}
        )
    out["ema-best"] = run
    return out


def test_bleu(run_dir: Path, sources: list[str], refs: list[str], tgt_lang: str) -> dict[str, Any]:
    translator = Translator.load(run_dir, device="cpu")
    results: dict[str, Any] = {}
    for beam in BEAMS:
        start = time.perf_counter()
        hyps = translator.translate(sources, beam=beam)
        scores = score(hyps, refs, tgt_lang)
        results[f"beam{beam}"] = {
            "bleu": scores["bleu"],
            "chrf": scores["chrf"],
            "seconds": round(time.perf_counter() - start, 1),
        }
    results["signature"] = scores["bleu_signature"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", type=Path, help="runs trained with keep_checkpoints and ema_decay")
    parser.add_argument("--average", type=int, nargs="+", default=[2, 3, 5], help="N of avg-last-N")
    parser.add_argument("--work", type=Path, default=Path("bench-out/toolbox-train"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-sentences", type=int, default=0, help="first N test sentences only (0: all)")
    parser.add_argument("--name", default="toolbox-train", help="result name (benchmarks/results/NAME.json)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    peak = matmul_peak_gflops()
    results: dict[str, Any] = {"runs": {}}
    for run in args.runs:
        config = load_run_config(run)
        data = run / "data"
        sources = (data / f"test.{config.data.src_lang}").read_text(encoding="utf-8").splitlines()
        refs = (data / f"test.ref.{config.data.tgt_lang}").read_text(encoding="utf-8").splitlines()
        if args.max_sentences:
            sources, refs = sources[: args.max_sentences], refs[: args.max_sentences]
        summary = read_json(run / "train_summary.json")
        entry: dict[str, Any] = {
            "train": {
                k: summary.get(k)
                for k in ("steps", "stopped_by", "best_step", "wall_seconds", "target_tokens_per_s")
            },
            "ema_decay": config.training.ema_decay,
            "eval_every": config.training.eval_every,
            "kept_steps": [e["step"] for e in read_index(run)],
            "test_sentences": len(sources),
            "variants": {},
        }
        for name, directory in variants(run, args.work / run.name, args.average).items():
            entry["variants"][name] = test_bleu(directory, sources, refs, config.data.tgt_lang)
            shown = "  ".join(
                f"{b}: {v['bleu']:.2f}" for b, v in entry["variants"][name].items() if b != "signature"
            )
            print(f"{run.name} {name:12s} {shown}", flush=True)
        results["runs"][run.name] = entry
    names = sorted({n for e in results["runs"].values() for n in e["variants"]})
    results["mean_over_runs"] = {
        name: {
            f"beam{beam}": round(
                statistics.mean(e["variants"][name][f"beam{beam}"]["bleu"] for e in results["runs"].values()),
                2,
            )
            for beam in BEAMS
        }
        for name in names
        if all(name in e["variants"] for e in results["runs"].values())
    }
    last = results["mean_over_runs"]["last"]
    results["gain_over_last"] = {
        name: {beam: round(values[beam] - last[beam], 2) for beam in values}
        for name, values in results["mean_over_runs"].items()
        if name != "last"
    }
    print(results["gain_over_last"], flush=True)
    write_result(args.name, results, matmul_peak=peak)


if __name__ == "__main__":
    main()
