"""Training at scale on the real corpus: where a step's time goes, 2-process DDP, and resume after
kill -9 in the middle of an epoch — on a run prepared from the 500k JiYu pairs.

    python benchmarks/pretrain_scale.py --prepared bench-out/pretrain-curve --steps 300

--prepared is a run directory `yiyan prepare` (or pretrain_curve.py) filled with the recipe's data;
its data/, tokenizer/ and prepare_report.json are copied into fresh run directories under --out-dir,
so the prepared run is never touched. Three parts, one after another (never two at once):
  1. straight: `yiyan train` for --steps updates, one process with --threads threads. Its train
     records (every --log-every updates) give target tokens/s and the step-time split: `data_share`,
     the share of each step spent building batches (sampler + collate) — the rest is forward,
     backward and optimizer. Data loading is "never the bottleneck" when that share stays small.
  2. ddp: the same with `yiyan train --nproc 2` (torchrun, gloo, --threads / 2 threads per rank):
     tokens/s of both ranks together against part 1.
  3. kill -9: the straight run again, killed with SIGKILL (its whole process group) once a
     checkpoint exists (`eval_every` = --steps / 3) and some updates past it — in the middle of the
     first epoch of ~500k pairs — then `--resume` to --steps. Reported: the step it resumed from,
     the epoch, seconds to restart, and whether every train loss logged after the resume equals
     part 1's at the same step (the resume is exact, not merely "it continued").
Writes benchmarks/results/<--name>.json. Duration ≈ 3.5 × (--steps × seconds/update) + start-up.
Smoke test: --prepared bench-out/smoke-curve --steps 30 --name smoke --results-dir bench-out
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import REPO, Child, write_result
from pretrain_common import RECIPE, sets, yiyan

PREPARED = ("data", "tokenizer", "prepare_report.json")


def fresh_run(prepared: Path, run: Path) -> Path:
    """A new run directory holding a copy of `prepared`'s prepared data and tokenizer."""
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    for name in PREPARED:
        source = prepared / name
        if source.is_dir():
            shutil.copytree(source, run / name)
        elif source.is_file():
            shutil.copy2(source, run / name)
        else:
            raise SystemExit(f"{source}: not found — is {prepared} a prepared run?")
    return run


def train_records(run: Path) -> list[dict[str, Any]]:
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [record for record in map(json.loads, lines) if record.get("kind") == "train"]


def throughput(run: Path) -> dict[str, Any]:
    """Tokens/s of the whole run and the step-time split of its train records."""
    summary = json.loads((run / "train_summary.json").read_text(encoding="utf-8"))
    shares = [float(record["data_share"]) for record in train_records(run) if "data_share" in record]
    return {
        "steps": summary["steps"],
        "world_size": summary["world_size"],
        "target_tokens_per_s": summary["target_tokens_per_s"],
        "train_seconds": summary["train_seconds"],
        "peak_rss_gib": summary["peak_rss_gib"],
        "data_share_median": round(statistics.median(shares), 4) if shares else None,
        "data_share_max": round(max(shares), 4) if shares else None,
    }


def checkpoint_step(run: Path) -> int:
    try:
        state = json.loads((run / "checkpoints" / "last" / "state.json").read_text(encoding="utf-8"))
        return int(state["train_state"]["step"])
    except (OSError, ValueError, KeyError):
        return 0


def last_logged_step(run: Path) -> int:
    try:
        records = train_records(run)
    except (OSError, ValueError):
        return 0
    return int(records[-1]["step"]) if records else 0


def kill_and_resume(
    base: list[str], run: Path, threads: int, reference: Path, timeout: float
) -> dict[str, Any]:
    """Train, SIGKILL once past a checkpoint, resume; compare the losses with `reference`."""
    env = {"OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO / "src")}
    log = run.parent / f"{run.name}.log"
    with Child([sys.executable, "-m", "yiyan", *base], env=env, log=log) as child:
        deadline = time.monotonic() + timeout
        while not child.poll() and time.monotonic() < deadline:
            saved = checkpoint_step(run)
            if saved and last_logged_step(run) > saved:
                os.killpg(child.proc.pid, signal.SIGKILL)
                child.wait()
                break
            time.sleep(0.2)
    if child.exit_code != -signal.SIGKILL:
        raise SystemExit(f"the run was not killed mid-run (exit {child.exit_code}); see {log}")
    state = json.loads((run / "checkpoints" / "last" / "state.json").read_text(encoding="utf-8"))[
        "train_state"
    ]
    killed_after = last_logged_step(run)
    started = time.monotonic()
    yiyan([*base, "--resume"], run.parent / f"{run.name}-resume.log", threads)
    restart_seconds = time.monotonic() - started
    ours = {int(r["step"]): r["loss"] for r in train_records(run) if int(r["step"]) > state["step"]}
    theirs = {int(r["step"]): r["loss"] for r in train_records(reference)}
    common = sorted(set(ours) & set(theirs))
    return {
        "resumed_from_step": state["step"],
        "epoch_at_checkpoint": state["epoch"],
        "killed_after_step": killed_after,
        "resume_wall_seconds": round(restart_seconds, 1),
        "losses_compared": len(common),
        "losses_equal_to_straight_run": bool(common) and all(ours[s] == theirs[s] for s in common),
        "max_abs_loss_difference": max((abs(ours[s] - theirs[s]) for s in common), default=None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prepared", type=Path, required=True, help="a run prepared with the recipe's data")
    parser.add_argument("--config", type=Path, default=RECIPE)
    parser.add_argument("--steps", type=int, default=300, help="updates per part (default 300)")
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up waiting to kill after this")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="extra config override")
    parser.add_argument("--out-dir", type=Path, default=REPO / "bench-out" / "pretrain-scale")
    parser.add_argument("--name", default="pretrain-scale", help="result name: <results-dir>/NAME.json")
    parser.add_argument("--results-dir", type=Path, help="where the JSON goes (default benchmarks/results)")
    args = parser.parse_args()

    report = json.loads((args.prepared / "prepare_report.json").read_text(encoding="utf-8"))
    overrides = [
        f"training.max_steps={args.steps}",
        f"training.eval_every={max(args.steps // 3, 1)}",
        "training.eval_bleu=false",
        "training.max_time=0",
        f"training.log_every={args.log_every}",
        *args.overrides,
    ]
    results: dict[str, Any] = {"prepared": str(args.prepared), "train_pairs": report["sentences"]["train"]}
    runs = {name: args.out_dir / name for name in ("straight", "ddp", "killed")}

    def command(run: Path, *extra: str) -> list[str]:
        threads = [f"training.num_threads={args.threads // (2 if extra else 1) or 1}"]
        return [
            "train",
            *extra,
            str(args.config),
            *sets([*overrides, *threads]),
            "--run-dir",
            str(run),
            "--quiet",
        ]

    print(f"1. straight: {args.steps} updates, {args.threads} threads", flush=True)
    yiyan(command(fresh_run(args.prepared, runs["straight"])), args.out_dir / "straight.log", args.threads)
    results["straight"] = throughput(runs["straight"])
    print(f"   {results['straight']}", flush=True)
    print("2. ddp: 2 processes", flush=True)
    yiyan(
        command(fresh_run(args.prepared, runs["ddp"]), "--nproc", "2"), args.out_dir / "ddp.log", args.threads
    )
    results["ddp"] = throughput(runs["ddp"])
    print(f"   {results['ddp']}", flush=True)
    print("3. kill -9 mid-epoch, then --resume", flush=True)
    killed = fresh_run(args.prepared, runs["killed"])
    results["kill_resume"] = kill_and_resume(
        command(killed), killed, args.threads, runs["straight"], args.timeout
    )
    print(f"   {results['kill_resume']}", flush=True)
    write_result(args.name, results, results_dir=args.results_dir)


if __name__ == "__main__":
    main()
