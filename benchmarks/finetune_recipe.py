"""The pretrain → fine-tune recipe: fine-tune a pretrained run on HSK with and without mixing,
train the same config from scratch, each with the same wall-clock budget, and print one table.

    python benchmarks/finetune_recipe.py --pretrained runs/tatoeba-small --budget 5m \
        --out bench-out/finetune.json --md bench-out/finetune.md

Runs `yiyan finetune` twice (each in its own process, one after the other):
  1. PREFIX             fine-tune without mixing, plus the scratch baseline (PREFIX-scratch)
  2. PREFIX-mixNN       fine-tune with a share --mix-ratio of general-domain pairs per batch
and combines their finetune_report.json files: in-domain test BLEU/chrF of the pretrained,
fine-tuned, fine-tuned + mixing and scratch models; general-domain test BLEU/chrF (the
pretrained run's test set) before and after. Never run two benchmarks at once on a 2-core machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, run_child
from yiyan.cli import parse_duration
from yiyan.io import atomic_write, read_json, write_json

ROWS = ("pretrained", "fine-tuned", "fine-tuned + mixing", "scratch")


def finetune_command(args: argparse.Namespace, run: Path, *extra: str) -> list[str]:
    sets = [item for override in args.overrides for item in ("--set", override)]
    return [
        sys.executable,
        "-m",
        "yiyan",
        "finetune",
        args.pretrained,
        args.config,
        "--run-dir",
        str(run),
        "--max-time",
        str(args.budget),
        "--set",
        f"training.num_threads={args.threads}",
        *sets,
        *extra,
        "--quiet",
    ]


def combine(plain: dict[str, Any], mixed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One row per model: in-domain and general-domain scores, training figures."""
    sources = {
        "pretrained": (plain, "pretrained"),
        "fine-tuned": (plain, "finetuned"),
        "fine-tuned + mixing": (mixed, "finetuned"),
        "scratch": (plain, "scratch"),
    }
    rows = {}
    for row, (report, label) in sources.items():
        general = report["general_test"] or {}
        rows[row] = {
            "run": report["runs"].get(label),
            "in_domain": report["in_domain_test"].get(label),
            "general": general.get(label),
            "training": report["training"].get(label),
        }
    return rows


def _cell(scores: dict[str, float] | None, key: str) -> str:
    return f"{scores[key]:.2f}" if scores else "–"


def markdown(result: dict[str, Any]) -> str:
    plain = result["reports"]["plain"]
    lines = [
        f"Pretrained run `{result['pretrained']}`, config `{result['config']}`, budget {result['budget_s']:g} s "
        f"per training, mixing share {result['mix_ratio']:g}; in-domain test "
        f"{plain['in_domain_test']['sentences']} sentences, general-domain test "
        f"{(plain['general_test'] or {}).get('sentences', 0)} sentences; beam {plain['settings']['beam']}.",
        "",
        "| model | in-domain BLEU | in-domain chrF | general BLEU | general chrF | steps | stopped by |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in ROWS:
        entry = result["rows"][row]
        trained = entry["training"] or {}
        lines.append(
            f"| {row} | {_cell(entry['in_domain'], 'bleu')} | {_cell(entry['in_domain'], 'chrf')} "
            f"| {_cell(entry['general'], 'bleu')} | {_cell(entry['general'], 'chrf')} "
            f"| {trained.get('steps', '–')} | {trained.get('stopped_by', '–')} |"
        )
    rows = result["rows"]

    def bleu(row: str, test: str) -> float | None:
        scores = rows[row][test]
        return scores["bleu"] if scores else None

    checks = {
        "fine-tuned − pretrained, in-domain BLEU (target ≥ +3)": ("fine-tuned", "pretrained", "in_domain"),
        "fine-tuned − scratch, in-domain BLEU (target ≥ +3)": ("fine-tuned", "scratch", "in_domain"),
        "general-domain BLEU lost without mixing": ("pretrained", "fine-tuned", "general"),
        "general-domain BLEU lost with mixing (target ≤ 2)": ("pretrained", "fine-tuned + mixing", "general"),
    }
    lines.append("")
    for name, (a, b, test) in checks.items():
        x, y = bleu(a, test), bleu(b, test)
        if x is not None and y is not None:
            lines.append(f"- {name}: {x - y:+.2f}")
    lines.append(f"- machine: {result['machine']['cpu']}, {result['threads']} threads per training")
    lines += [f"- `{' '.join(command)}`" for command in result["commands"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pretrained", required=True, help="the pretrained run directory")
    parser.add_argument("--config", default="configs/finetune-hsk.yaml")
    parser.add_argument(
        "--budget", type=parse_duration, default=300.0, help="wall clock per training (default 5m)"
    )
    parser.add_argument("--mix-ratio", type=float, default=0.2, help="general-domain share (default 0.2)")
    parser.add_argument("--run-prefix", default="runs/finetune-hsk", help="run directories start with this")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", help="write the combined figures as JSON here")
    parser.add_argument("--md", help="write the table as Markdown here")
    args = parser.parse_args()

    plain_run = Path(args.run_prefix)
    mixed_run = Path(f"{args.run_prefix}-mix{round(args.mix_ratio * 100)}")
    commands = [
        finetune_command(args, plain_run, "--scratch"),
        finetune_command(args, mixed_run, "--set", f"finetune.mix_ratio={args.mix_ratio}"),
    ]
    walls = []
    for command in commands:
        print("$", " ".join(command), flush=True)
        wall, _ = run_child(command, env={"OMP_NUM_THREADS": str(args.threads)})
        walls.append(round(wall, 1))

    reports = {"plain": read_json(plain_run / "finetune_report.json")}
    reports["mixed"] = read_json(mixed_run / "finetune_report.json")
    result: dict[str, Any] = {
        "machine": machine(),
        "pretrained": args.pretrained,
        "config": args.config,
        "budget_s": args.budget,
        "mix_ratio": args.mix_ratio,
        "threads": args.threads,
        "commands": commands,
        "command_wall_seconds": walls,
        "rows": combine(reports["plain"], reports["mixed"]),
        "reports": reports,
    }
    table = markdown(result)
    print(table)
    if args.out:
        write_json(args.out, result)
    if args.md:
        with atomic_write(args.md) as handle:
            handle.write(table)


if __name__ == "__main__":
    main()
