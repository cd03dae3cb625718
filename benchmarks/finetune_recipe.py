"""The pretrain → fine-tune recipe against a fair from-scratch baseline, over several seeds.

    python benchmarks/finetune_recipe.py --pretrained runs/bench-tatoeba-small --budget 3m --seeds 1 2 3

Per seed (`training.seed`), one after another, each with the same wall-clock budget:
  1. fine-tuned          `yiyan finetune PRETRAINED CONFIG` (PREFIX-sSEED)
  2. fine-tuned + mixing the same with `finetune.mix_ratio` general-domain pairs (PREFIX-mixNN-sSEED)
  3. scratch             the same model trained from scratch on the in-domain data alone, its own
                         vocabulary, the pretraining recipe's optimizer and peak learning rate
                         (yiyan.finetune.scratch_config) — but with a warmup that fits the budget
                         (PREFIX-scratch-sSEED).
and scores them with yiyan.finetune.build_report (in-domain test; general-domain test = the
pretrained run's). Reported: per model, BLEU / chrF mean ± sample std over the seeds; the headline
deltas (fine-tuned − pretrained, fine-tuned − scratch, general-domain loss with and without mixing)
computed per seed, then mean ± std. The pretrained model is one fixed run (no seed variance).

The scratch baseline's warmup is derived, not guessed: a probe trains the scratch baseline for
`eval_every` updates (one evaluation included, as in the real run), which gives wall seconds per
update; expected updates = budget ÷ that; warmup = `--scratch-warmup-share` (default 10 %) of the
expected updates. A pretraining warmup of 300 updates would never finish in a 3-minute budget of
≈ 140 updates, leaving the baseline at a fraction of its learning rate throughout. When the
pretrained run's schedule decays to zero at `max_steps` (linear, cosine), the scratch baseline's
`max_steps` is the expected updates, so its decay ends with its budget.

Figures: benchmarks/results/<--name>.json (common.write_result). Never run two benchmarks at once on a
2-core machine. Duration ≈ probe (≈ 1 min) + seeds × 3 × (budget + ≈ 1 min of scoring).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import run_child, write_result
from yiyan.cli import parse_duration

MODELS = ("pretrained", "fine-tuned", "fine-tuned + mixing", "scratch")
# headline deltas: name → (model a, model b, test set); each is a − b in BLEU, per seed
DELTAS = {
    "in-domain gain over pretrained (target ≥ +3)": ("fine-tuned", "pretrained", "in_domain"),
    "in-domain gain over pretrained, with mixing (target ≥ +3)": (
        "fine-tuned + mixing",
        "pretrained",
        "in_domain",
    ),
    "in-domain gain over scratch (target ≥ +3)": ("fine-tuned", "scratch", "in_domain"),
    "in-domain gain over scratch, with mixing": ("fine-tuned + mixing", "scratch", "in_domain"),
    "general-domain loss without mixing": ("pretrained", "fine-tuned", "general"),
    "general-domain loss with mixing (target ≤ 2)": ("pretrained", "fine-tuned + mixing", "general"),
}


# ------------------------------------------------------------------ the scratch baseline (child process)


def scratch_worker(job: dict[str, Any]) -> None:
    """Train the scratch baseline of `job` (or probe its speed: `max_steps` set, `max_time` 0)."""
    from yiyan.config import load_config
    from yiyan.finetune import scratch_config
    from yiyan.training.trainer import train
    from yiyan.translator import load_run_config

    overrides = [*job["overrides"], f"finetune.init_from={json.dumps(job['pretrained'])}"]
    config = load_config(job["config"], overrides)
    baseline = scratch_config(config, load_run_config(job["pretrained"]))
    max_steps = job["max_steps"]
    if not max_steps and baseline.training.schedule in ("linear", "cosine"):
        max_steps = job["horizon"]  # these decay to zero at max_steps: the updates the budget holds
    training = dataclasses.replace(
        baseline.training,
        warmup_steps=job["warmup_steps"],
        seed=job["seed"],
        max_time=job["max_time"],
        max_steps=max_steps,
        num_threads=job["threads"],
    )
    baseline = dataclasses.replace(baseline, run_dir=job["run_dir"], training=training)
    train(baseline, quiet=True, overwrite=True)


def scratch_job(
    args: argparse.Namespace, run: Path, seed: int, warmup: int, horizon: int = 0, probe_steps: int = 0
) -> list[str]:
    job = {
        "horizon": horizon,
        "pretrained": args.pretrained,
        "config": args.config,
        "overrides": args.overrides,
        "run_dir": str(run),
        "seed": seed,
        "warmup_steps": warmup,
        "max_time": 0.0 if probe_steps else args.budget,
        "max_steps": probe_steps,
        "threads": args.threads,
    }
    return [sys.executable, __file__, "--scratch-worker", json.dumps(job)]


def derive_scratch_warmup(args: argparse.Namespace) -> dict[str, Any]:
    """Probe the scratch baseline's wall seconds per update; warmup = share × expected updates."""
    from yiyan.config import load_config
    from yiyan.io import read_json

    eval_every = load_config(args.config, args.overrides).training.eval_every
    probe = Path(f"{args.run_prefix}-scratch-probe")
    shutil.rmtree(probe, ignore_errors=True)
    probe_steps = args.probe_updates or eval_every
    run_child(scratch_job(args, probe, args.seeds[0], warmup=1, probe_steps=probe_steps), env=args.env)
    summary = read_json(probe / "train_summary.json")
    seconds_per_update = summary["wall_seconds"] / summary["steps"]
    expected = args.budget / seconds_per_update
    return {
        "probe_updates": summary["steps"],
        "probe_wall_s": summary["wall_seconds"],
        "seconds_per_update": round(seconds_per_update, 3),
        "expected_updates": round(expected, 1),
        "warmup_share": args.scratch_warmup_share,
        "warmup_steps": max(1, math.floor(args.scratch_warmup_share * expected)),
    }


# ------------------------------------------------------------------ fine-tuning runs


def finetune_command(args: argparse.Namespace, run: Path, seed: int, *extra: str) -> list[str]:
    sets = [item for override in args.overrides for item in ("--set", override)]
    return [
        *(sys.executable, "-m", "yiyan", "finetune", args.pretrained, args.config),
        *("--run-dir", str(run), "--max-time", str(args.budget)),
        *("--set", f"training.num_threads={args.threads}", "--set", f"training.seed={seed}"),
        *("--beam", str(args.beam)),
        *sets,
        *extra,
        "--quiet",
    ]


def score_scratch(run: Path, in_domain: dict[str, str], beam: int, output: Path) -> dict[str, Any]:
    """The scratch model on the fine-tuned run's in-domain test set (the same split: same corpus,
    same split_seed), as yiyan.finetune.build_report scores it."""
    from yiyan.evaluate import evaluate_run
    from yiyan.translator import Translator

    result = evaluate_run(
        Translator.load(run, device="cpu"),
        src=in_domain["src"],
        ref=in_domain["ref"],
        output=str(output),
        beam=beam,
    )
    return {"bleu": result["bleu"], "chrf": result["chrf"]}


def one_seed(args: argparse.Namespace, seed: int, warmup: int, horizon: int) -> dict[str, Any]:
    """Train the three models of one seed; return per model its in-domain / general scores and training.

    The fine-tuned runs' scores come from the reports `yiyan finetune` writes (pretrained and
    fine-tuned model, in-domain and general-domain test sets); the scratch model is scored here."""
    from yiyan.io import read_json

    runs = {
        "fine-tuned": Path(f"{args.run_prefix}-s{seed}"),
        "fine-tuned + mixing": Path(f"{args.run_prefix}-mix{round(args.mix_ratio * 100)}-s{seed}"),
        "scratch": Path(f"{args.run_prefix}-scratch-s{seed}"),
    }
    for run in runs.values():
        shutil.rmtree(run, ignore_errors=True)  # a fresh run each time (no resume, no overwrite prompt)
    commands = [
        finetune_command(args, runs["fine-tuned"], seed),
        finetune_command(
            args, runs["fine-tuned + mixing"], seed, "--set", f"finetune.mix_ratio={args.mix_ratio}"
        ),
        scratch_job(args, runs["scratch"], seed, warmup, horizon),
    ]
    for model, command in zip(runs, commands):
        print(f"seed {seed}: {model} …", flush=True)
        run_child(command, env=args.env)
    plain = read_json(runs["fine-tuned"] / "finetune_report.json")
    mixed = read_json(runs["fine-tuned + mixing"] / "finetune_report.json")
    scratch_output = runs["scratch"] / "eval" / "scratch.in_domain.hyp"
    scratch_scores = score_scratch(
        runs["scratch"], plain["test_sets"]["in_domain"], args.beam, scratch_output
    )
    summary = read_json(runs["scratch"] / "train_summary.json")
    models = {
        model: {
            "in_domain": report["in_domain_test"].get(label),
            "general": (report["general_test"] or {}).get(label),
            "training": report["training"].get(label),
        }
        for model, (report, label) in {
            "pretrained": (plain, "pretrained"),
            "fine-tuned": (plain, "finetuned"),
            "fine-tuned + mixing": (mixed, "finetuned"),
        }.items()
    }
    models["scratch"] = {
        "in_domain": scratch_scores,
        "general": None,  # its own vocabulary, trained on the in-domain data only
        "training": {
            k: summary.get(k) for k in ("steps", "epochs", "best_step", "stopped_by", "train_seconds")
        },
    }
    return {
        "seed": seed,
        "runs": {k: str(v) for k, v in runs.items()},
        "models": models,
        "in_domain_sentences": plain["in_domain_test"]["sentences"],
        "general_sentences": (plain["general_test"] or {}).get("sentences"),
        "settings": {"fine-tuned": plain["settings"], "fine-tuned + mixing": mixed["settings"]},
    }


# ------------------------------------------------------------------ aggregation


def mean_std(values: list[float]) -> dict[str, Any]:
    """Mean and sample standard deviation (n − 1; 0 for one value) of per-seed figures."""
    return {
        "mean": round(statistics.fmean(values), 2),
        "std": round(statistics.stdev(values), 2) if len(values) > 1 else 0.0,
        "n": len(values),
        "values": [round(v, 2) for v in values],
    }


def aggregate(seeds: list[dict[str, Any]]) -> dict[str, Any]:
    models: dict[str, dict[str, Any]] = {}
    for model in MODELS:
        models[model] = {}
        for test in ("in_domain", "general"):
            for metric in ("bleu", "chrf"):
                values = [s["models"][model][test][metric] for s in seeds if s["models"][model][test]]
                if values:
                    models[model][f"{test}_{metric}"] = mean_std(values)
        steps = [s["models"][model]["training"]["steps"] for s in seeds if s["models"][model]["training"]]
        if steps:
            models[model]["updates"] = mean_std([float(x) for x in steps])
    deltas = {}
    for name, (a, b, test) in DELTAS.items():
        values = [
            s["models"][a][test]["bleu"] - s["models"][b][test]["bleu"]
            for s in seeds
            if s["models"][a][test] and s["models"][b][test]
        ]
        if values:
            deltas[name] = mean_std(values)
    return {"models": models, "deltas": deltas}


def markdown(result: dict[str, Any]) -> str:
    def cell(entry: dict[str, Any] | None) -> str:
        return f"{entry['mean']:.2f} ± {entry['std']:.2f}" if entry else "–"

    lines = [
        f"{len(result['seeds'])} seeds, budget {result['budget_s']:g} s per training, scratch warmup "
        f"{result['scratch_schedule']['warmup_steps']} updates; mean ± std",
        "",
        "| model | in-domain BLEU | in-domain chrF | general BLEU | general chrF | updates |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for model, f in result["summary"]["models"].items():
        lines.append(
            f"| {model} | {cell(f.get('in_domain_bleu'))} | {cell(f.get('in_domain_chrf'))} | "
            f"{cell(f.get('general_bleu'))} | {cell(f.get('general_chrf'))} | {cell(f.get('updates'))} |"
        )
    lines += ["", "| BLEU delta | mean ± std |", "|---|---:|"]
    lines += [f"| {name} | {cell(entry)} |" for name, entry in result["summary"]["deltas"].items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pretrained", help="the pretrained run directory")
    parser.add_argument("--config", default="configs/finetune-hsk.yaml")
    parser.add_argument(
        "--budget", type=parse_duration, default=180.0, help="wall clock per training (default 3m)"
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[1, 2, 3], help="training seeds (default 1 2 3)"
    )
    parser.add_argument("--mix-ratio", type=float, default=0.2, help="general-domain share (default 0.2)")
    parser.add_argument(
        "--scratch-warmup-share",
        type=float,
        default=0.1,
        help="scratch warmup as a share of its expected updates in the budget (default 0.1)",
    )
    parser.add_argument(
        "--probe-updates",
        type=int,
        default=0,
        help="updates of the scratch speed probe (default: eval_every)",
    )
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--run-prefix", default="runs/finetune-hsk", help="run directories start with this")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--name", default="finetune-recipe", help="result name: benchmarks/results/NAME.json")
    parser.add_argument("--scratch-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scratch_worker:
        scratch_worker(json.loads(args.scratch_worker))
        return
    if not args.pretrained:
        parser.error("--pretrained is required")
    if not 0 < args.scratch_warmup_share <= 1:
        parser.error("--scratch-warmup-share must be in (0, 1]")
    args.env = {"OMP_NUM_THREADS": str(args.threads)}

    schedule = derive_scratch_warmup(args)
    print(
        f"scratch baseline: {schedule['seconds_per_update']} s/update → {schedule['expected_updates']} updates "
        f"expected in {args.budget:g} s → warmup {schedule['warmup_steps']}",
        flush=True,
    )
    horizon = max(schedule["warmup_steps"] + 1, round(schedule["expected_updates"]))
    seeds = [one_seed(args, seed, schedule["warmup_steps"], horizon) for seed in args.seeds]
    result: dict[str, Any] = {
        "pretrained": args.pretrained,
        "config": args.config,
        "budget_s": args.budget,
        "mix_ratio": args.mix_ratio,
        "beam": args.beam,
        "threads": args.threads,
        "scratch_schedule": schedule,
        "seeds": seeds,
        "summary": aggregate(seeds),
    }
    result["table"] = markdown(result)
    print(result["table"])
    write_result(args.name, result)


if __name__ == "__main__":
    main()
