"""Run `make demo` and record its figures in benchmarks/results/demo.json.

    python benchmarks/demo.py [--pretrain-steps N] [--finetune-steps N] [--seed S] [--name demo]
                                  (defaults: the Makefile's DEMO_PRETRAIN_STEPS, DEMO_FINETUNE_STEPS, DEMO_SEED)
    python benchmarks/demo.py --from-runs PRETRAINED_RUN FINETUNED_RUN [--name demo]

Runs the Makefile's demo target (pretrain on Tatoeba → fine-tune on HSK → translate → report)
with the given step budgets, times it, and records: the wall time of the whole target and of
each training run, the translations of the demo sentences, and the fine-tune report's BLEU /
chrF (HSK and Tatoeba test, before and after fine-tuning) with the sacrebleu signatures.
`--from-runs` records the same figures from two runs made by the demo's commands (e.g. with
other thread counts), translating the demo sentences again; the total wall time is then absent.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import REPO, matmul_peak_gflops, write_result
from yiyan.io import read_json

PRETRAINED, FINETUNED = REPO / "runs" / "demo", REPO / "runs" / "demo-hsk"
SENTENCES = [
    "I love you.",
    "Hello, teacher!",
    "Where is the train station?",
    "I want to drink some tea.",
    "The weather is very nice today.",
]  # the Makefile's DEMO_SENTENCES


def makefile_default(variable: str) -> int:
    """The Makefile's default of a demo variable (`DEMO_PRETRAIN_STEPS ?= 2200`): one source of truth."""
    found = re.search(
        rf"^{variable} \?= (\d+)$", (REPO / "Makefile").read_text(encoding="utf-8"), re.MULTILINE
    )
    if found is None:
        raise SystemExit(f"Makefile: no line '{variable} ?= N'")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pretrain-steps", type=int, default=makefile_default("DEMO_PRETRAIN_STEPS"))
    parser.add_argument("--finetune-steps", type=int, default=makefile_default("DEMO_FINETUNE_STEPS"))
    parser.add_argument("--seed", type=int, default=makefile_default("DEMO_SEED"))
    parser.add_argument("--name", default="demo", help="result name (benchmarks/results/NAME.json)")
    parser.add_argument("--from-runs", nargs=2, type=Path, metavar=("PRETRAINED", "FINETUNED"))
    args = parser.parse_args()

    peak = matmul_peak_gflops()  # before the run: how fast this machine is right now
    if args.from_runs:
        pretrained, finetuned = args.from_runs
        from yiyan.translator import Translator

        outputs = Translator.load(finetuned).translate(SENTENCES, beam=5)
        translations = dict(zip(SENTENCES, outputs, strict=True))
        write_result(args.name, record(pretrained, finetuned, translations, None, None), matmul_peak=peak)
        return 0
    command = [
        "make",
        "demo",
        f"DEMO_PRETRAIN_STEPS={args.pretrain_steps}",
        f"DEMO_FINETUNE_STEPS={args.finetune_steps}",
        f"DEMO_SEED={args.seed}",
    ]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    sys.stdout.write(done.stdout)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        return done.returncode

    translated = [line.split("\t", 1) for line in done.stdout.splitlines() if "\t" in line]
    translations = {src: tgt for src, tgt in translated if src in SENTENCES}
    write_result(args.name, record(PRETRAINED, FINETUNED, translations, command, wall), matmul_peak=peak)
    return 0


def record(
    pretrained: Path,
    finetuned: Path,
    translations: dict[str, str],
    command: list[str] | None,
    wall: float | None,
) -> dict[str, Any]:
    """The figures of a finished demo: its runs' summaries, the translations, the fine-tune report."""
    report = read_json(finetuned / "finetune_report.json")
    prepared = read_json(pretrained / "prepare_report.json")
    return {
        "make_command": " ".join(command) if command else None,
        "wall_seconds_total": round(wall, 1) if wall is not None else None,
        "runs": {"pretrained": str(pretrained), "finetuned": str(finetuned)},
        "settings": {"pretrain": settings(pretrained), "finetune": settings(finetuned)},
        "pretrain": read_json(pretrained / "train_summary.json"),
        "pretrain_data": {
            "sentences": prepared["sentences"],
            "decontamination": prepared["decontamination"],
            "simplified": prepared["simplified"],
        },
        "finetune": report["training"]["finetuned"],
        "translations": translations,
        "in_domain_test": report["in_domain_test"],
        "general_test": report["general_test"],
        "gains": report["gains"],
        "signatures": report["signatures"],
    }


def settings(run: Path) -> dict[str, Any]:
    """The recipe values a demo search varies, as the run was trained."""
    from yiyan.translator import load_run_config

    config = load_run_config(run)
    training = config.training
    return {
        "batch_tokens": training.batch_tokens,
        "learning_rate": training.learning_rate,
        "schedule": training.schedule,
        "warmup_steps": training.warmup_steps,
        "seed": training.seed,
        "dropout": config.model.dropout,
    }


if __name__ == "__main__":
    sys.exit(main())
