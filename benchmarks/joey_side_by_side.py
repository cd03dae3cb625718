"""Train Joey NMT 2.3.0 on Tatoeba English→Chinese for a wall-clock budget, for a side-by-side with yiyan.

    python benchmarks/joey_side_by_side.py --data ../shared/data/tatoeba-cmn --minutes 20 \
        --joey-python /work/joey-venv/bin/python --out bench-out/joey-small.json

Follows ../shared/reference/README.md ("Reproducing Joey's run side by side"): writes
WORKDIR/data/{train,dev,test}.{en,zh} from the TSV files, runs the reference make_joint_spm.py
(joint SentencePiece unigram 8000) there, writes WORKDIR/joey-small.yaml (the reference config
with absolute paths, `validation_freq` and `logging_freq` set from the flags), then runs
`python -m joeynmt train --skip-test` with OMP_NUM_THREADS and stops it with SIGINT once the
budget has passed (Joey has no wall-clock option). The budget counts from Joey's "EPOCH 1" log
line, i.e. from the start of its training loop, as yiyan's `training.max_time` does; start-up
(data loading, vocabulary, model build) is reported separately.

The Joey venv is separate from yiyan's: `python3 -m venv /work/joey-venv && /work/joey-venv/bin/pip
install torch==2.13.0 joeynmt==2.3.0 importlib_metadata sentencepiece==0.2.0`. Nothing is written
inside the repository: the Tatoeba copy, the vocabulary and Joey's run live under --workdir.

Reported (JSON on stdout and in --out, then one summary line):
  updates            optimizer steps done when interrupted (from Joey's last checkpoint)
  target_tokens      non-pad target tokens Joey trained on (its own counter, `stats.total_tokens`)
  tokens_per_s       target_tokens / training seconds (training-loop wall clock minus validation);
                     the same definition as yiyan's `target_tokens_per_s` (pieces + EOS, no padding,
                     no BOS, validation excluded, batching and data loading included)
  joey_logged        Joey's own "Tokens per Sec" log figures, one per `logging_freq` updates
  peak_rss_gib       ru_maxrss of the Joey process (os.wait4 on that child alone)

What Joey's "Tokens per Sec" counts (joeynmt 2.3.0 source, installed site-packages/joeynmt/):
  * batch.py:77-81   `self.trg = trg[:, 1:]; self.trg_mask = (self.trg != pad_index)...;
                     self.ntokens = self.trg_mask.sum()`: target tokens without padding, BOS dropped,
                     EOS included: the pieces + 1 per sentence, as yiyan's `n_tgt_tokens`.
  * training.py:419-426 adds `batch.ntokens` of every batch to `stats.total_tokens`.
  * training.py:459  `elapsed_time = time.time() - start - total_valid_duration`: the window's wall
                     clock minus validation (training.py:479-487 times `_validate`, checkpoint saving
                     included); data loading, batching and on-the-fly SentencePiece are inside.
  * training.py:723,742  logs `elapsed_tok / elapsed_time` every `logging_freq` updates, then
                     restarts the window (training.py:466-470).
  * training.py:404-410  the window also restarts at every epoch start, so the partial window at the
                     end of an epoch is dropped from the logged figures (it is in the epoch summary
                     line, training.py:504-509, and in `stats.total_tokens`).
So each logged figure is one window's rate; their plain mean is not the run's rate. The run's rate
is reported as `tokens_per_s` from Joey's cumulative counter.

Validation: by default `validation_freq` is set to 1,000,000,000, so no validation runs inside the
budget and all of it is training (Joey's tokens/s excludes validation anyway). Use
`--validation-freq 200` to reproduce the reference table exactly (validation every 200 updates as
in joey-small.yaml and yiyan's configs/tatoeba-small.yaml); its time is then taken out of
`tokens_per_s` using Joey's "Generation took" lines (checkpoint saving stays in, a few 0.1 s).
Without validation Joey writes no best.ckpt; the interrupt saves `latest.ckpt`, so test BLEU can be
had afterwards with `joeynmt test WORKDIR/joey-small.yaml --ckpt WORKDIR/runs/joey-small/latest.ckpt`.

Never run this while another training runs on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

SPLITS = ("train", "dev", "test")
LANGS = ("en", "zh")  # TSV column 0, column 1
NO_VALIDATION = 1_000_000_000

RE_WINDOW = re.compile(
    r"Epoch\s+(\d+), Step:\s+(\d+), Batch Loss:\s+([\d.]+), Batch Acc: ([\d.]+), "
    r"Tokens per Sec:\s+(\d+), Lr: ([\d.eE+-]+)"
)
RE_EPOCH_SUMMARY = re.compile(
    r"Epoch\s+(\d+), total training loss: ([\d.]+), num\. of seqs: (\d+), "
    r"num\. of tokens: (\d+), ([\d.]+)\[sec\]"
)
RE_INTERRUPT = re.compile(r"Interrupt at epoch (\d+), step (\d+)\.")
RE_GENERATION = re.compile(r"Generation took ([\d.]+)\[sec\]")
RE_PARAMS = re.compile(r"Total params: (\d+)")
RE_EPOCH_START = re.compile(r" - EPOCH 1$", re.MULTILINE)

CHECKPOINT_STATS = """
import json, sys, torch
state = torch.load(sys.argv[1], map_location="cpu", weights_only=False)
print(json.dumps(state["stats_state"]))
"""

VERSIONS = """
import importlib.metadata as m, json
print(json.dumps({p: m.version(p) for p in ("joeynmt", "torch", "sentencepiece")}))
"""


def write_if_changed(path: Path, text: str) -> bool:
    """Write `text` to `path` unless it already holds exactly that; return whether it was written."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def write_data(data: Path, out: Path) -> tuple[dict[str, int], bool]:
    """WORK/data/{split}.{en,zh} from the first two TSV columns; return (pairs per split, changed)."""
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    changed = False
    for split in SPLITS:
        sides: list[list[str]] = [[], []]
        with open(data / f"{split}.tsv", encoding="utf-8-sig") as f:  # -sig strips a file BOM
            for number, line in enumerate(f, 1):
                fields = line.rstrip("\r\n").split("\t")
                if len(fields) < 2:
                    raise SystemExit(f"{data / f'{split}.tsv'}:{number}: fewer than two columns")
                for side, field in zip(sides, fields[:2]):
                    side.append(field.lstrip("\ufeff").strip())
        for lang, lines in zip(LANGS, sides):
            changed |= write_if_changed(out / f"{split}.{lang}", "\n".join(lines) + "\n")
        counts[split] = len(sides[0])
    return counts, changed


def make_vocab(work: Path, reference: Path, joey_python: str, rebuild: bool) -> list[str]:
    """Run the reference make_joint_spm.py in WORK (it reads and writes WORK/data)."""
    data = work / "data"
    outputs = [data / "spm.joint.model", data / "joey_vocab.txt"]
    if not rebuild and all(p.exists() for p in outputs):
        return [f"reused {outputs[0]} (data unchanged; --rebuild-vocab to rerun the recipe)"]
    result = subprocess.run(
        [joey_python, str(reference / "make_joint_spm.py")],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    (work / "spm.log").write_text(result.stdout + result.stderr, encoding="utf-8")
    if result.returncode != 0:
        raise SystemExit(f"make_joint_spm.py failed ({result.returncode}); see {work / 'spm.log'}")
    return result.stdout.strip().splitlines()  # the recipe's piece counts per split and side


def write_config(reference: Path, work: Path, validation_freq: int, logging_freq: int) -> tuple[Path, Path]:
    """The reference joey-small.yaml with absolute paths under WORK; return (config, model_dir)."""
    cfg: dict[str, Any] = yaml.safe_load((reference / "joey-small.yaml").read_text(encoding="utf-8"))
    data = work / "data"
    model_dir = work / cfg["model_dir"]
    cfg["model_dir"] = str(model_dir)
    for split in SPLITS:
        cfg["data"][split] = str(data / split)
    for side in ("src", "trg"):
        cfg["data"][side]["voc_file"] = str(data / "joey_vocab.txt")
        cfg["data"][side]["tokenizer_cfg"]["model_file"] = str(data / "spm.joint.model")
    cfg["training"]["validation_freq"] = validation_freq
    cfg["training"]["logging_freq"] = logging_freq
    path = work / "joey-small.yaml"
    header = (
        f"# {reference / 'joey-small.yaml'} with paths under {work}, validation_freq "
        f"{validation_freq}, logging_freq {logging_freq}; written by benchmarks/joey_side_by_side.py\n"
    )
    path.write_text(
        header + yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True, default_flow_style=None),
        encoding="utf-8",
    )
    return path, model_dir


def read_new(path: Path, offset: int) -> tuple[str, int]:
    """Text appended to `path` since byte `offset` (whole lines only), and the new offset."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            chunk = f.read()
    except FileNotFoundError:
        return "", offset
    end = chunk.rfind(b"\n") + 1
    return chunk[:end].decode("utf-8", errors="replace"), offset + end


def run_joey(
    joey_python: str,
    config: Path,
    model_dir: Path,
    work: Path,
    budget_s: float,
    threads: int,
    startup_timeout_s: float,
    shutdown_timeout_s: float,
) -> dict[str, Any]:
    """Run `joeynmt train` until `budget_s` after "EPOCH 1", then SIGINT; timings, exit, peak RSS."""
    if model_dir.exists():  # else an old train.log's "EPOCH 1" could start the clock early
        shutil.rmtree(model_dir)
    log = model_dir / "train.log"
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    console = work / "joey-console.log"
    with open(console, "wb") as out:
        proc = subprocess.Popen(
            [joey_python, "-m", "joeynmt", "train", str(config), "--skip-test"],
            cwd=work,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    launched = time.monotonic()
    train_started: float | None = None
    interrupted: float | None = None
    offset = 0
    reaped: tuple[int, int, Any] | None = None
    try:
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                reaped = (pid, status, rusage)
                break
            now = time.monotonic()
            if train_started is None:
                text, offset = read_new(log, offset)
                if RE_EPOCH_START.search(text):
                    train_started = now
                    print(f"joey: training loop started after {now - launched:.1f} s", file=sys.stderr)
                elif now - launched > startup_timeout_s:
                    proc.kill()
                    raise SystemExit(
                        f"joey did not start training in {startup_timeout_s:.0f} s; see {console}"
                    )
            elif interrupted is None and now - train_started >= budget_s:
                proc.send_signal(signal.SIGINT)
                interrupted = now
                print("joey: budget reached, SIGINT sent", file=sys.stderr)
            elif interrupted is not None and now - interrupted > shutdown_timeout_s:
                proc.kill()
            time.sleep(0.2)
    finally:
        if reaped is None:  # leaving on an error (or Ctrl-C): do not leave Joey training
            proc.kill()
            os.wait4(proc.pid, 0)
            proc.returncode = -signal.SIGKILL
    ended = time.monotonic()
    _, status, rusage = reaped
    proc.returncode = os.waitstatus_to_exitcode(status)
    if train_started is None:
        raise SystemExit(f"joey exited ({proc.returncode}) before training; see {console}")
    if interrupted is None:
        raise SystemExit(f"joey exited ({proc.returncode}) before the budget ran out; see {console}")
    return {
        "command": f"OMP_NUM_THREADS={threads} {joey_python} -m joeynmt train {config} --skip-test",
        "exit_code": proc.returncode,
        "startup_s": round(train_started - launched, 1),
        "train_wall_s": round(interrupted - train_started, 1),
        "shutdown_s": round(ended - interrupted, 1),
        "peak_rss_gib": round(rusage.ru_maxrss / 1024**2, 3),  # Linux: KiB
        "console_log": str(console),
    }


def parse_log(text: str) -> dict[str, Any]:
    windows = [
        {"epoch": int(m[1]), "step": int(m[2]), "loss": float(m[3]), "tokens_per_s": int(m[5])}
        for m in RE_WINDOW.finditer(text)
    ]
    epochs = [
        {"epoch": int(m[1]), "tokens": int(m[4]), "train_s": float(m[5])}
        for m in RE_EPOCH_SUMMARY.finditer(text)
    ]
    interrupt = RE_INTERRUPT.search(text)
    params = RE_PARAMS.search(text)
    return {
        "windows": windows,
        "epoch_summaries": epochs,
        "interrupt": {"epoch": int(interrupt[1]), "step": int(interrupt[2])} if interrupt else None,
        "validation_generation_s": [float(m[1]) for m in RE_GENERATION.finditer(text)],
        "parameters": int(params[1]) if params else None,
    }


def json_from(command: list[str]) -> Any:
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def summarise_windows(windows: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [w["tokens_per_s"] for w in windows]
    if not rates:
        return {"windows": 0}
    return {
        "windows": len(rates),
        "median": statistics.median(rates),
        "mean": round(statistics.fmean(rates), 1),
        "min": min(rates),
        "max": max(rates),
        "per_window": [[w["step"], w["tokens_per_s"]] for w in windows],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="directory with train.tsv, dev.tsv, test.tsv")
    parser.add_argument("--workdir", default="/tmp/joey-work", help="Joey's data and run (outside the repo)")
    parser.add_argument("--minutes", type=float, default=20.0, help="training wall clock (default 20)")
    parser.add_argument("--joey-python", default="/work/joey-venv/bin/python")
    parser.add_argument(
        "--reference", default="../shared/reference", help="holds joey-small.yaml, make_joint_spm.py"
    )
    parser.add_argument("--threads", type=int, default=2, help="OMP_NUM_THREADS for Joey")
    parser.add_argument(
        "--validation-freq", type=int, default=NO_VALIDATION, help="default: no validation in the budget"
    )
    parser.add_argument("--logging-freq", type=int, default=20, help="updates per logged window")
    parser.add_argument("--rebuild-vocab", action="store_true", help="rerun make_joint_spm.py")
    parser.add_argument("--startup-timeout", type=float, default=900.0, help="seconds")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()

    data, reference = Path(args.data).resolve(), Path(args.reference).resolve()
    work = Path(args.workdir).resolve()
    repo = Path(__file__).resolve().parent.parent
    if work == repo or repo in work.parents:
        raise SystemExit(f"--workdir {work} is inside the repository; the Tatoeba copy must stay out of it")
    work.mkdir(parents=True, exist_ok=True)
    budget_s = args.minutes * 60

    report: dict[str, Any] = {"toolkit": "joeynmt", "budget_s": budget_s, "threads": args.threads}
    report["versions"] = json_from([args.joey_python, "-c", VERSIONS])
    report["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    counts, changed = write_data(data, work / "data")
    report["pairs"] = counts
    report["vocab"] = make_vocab(work, reference, args.joey_python, args.rebuild_vocab or changed)
    config, model_dir = write_config(reference, work, args.validation_freq, args.logging_freq)
    report["config"] = {
        "path": str(config),
        "validation_freq": args.validation_freq,
        "logging_freq": args.logging_freq,
    }

    run = run_joey(
        args.joey_python,
        config,
        model_dir,
        work,
        budget_s,
        args.threads,
        args.startup_timeout,
        shutdown_timeout_s=600.0,
    )
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    log = parse_log((model_dir / "train.log").read_text(encoding="utf-8", errors="replace"))
    checkpoint = model_dir / "latest.ckpt"
    stats: dict[str, Any] = {}
    if checkpoint.exists():
        stats = json_from([args.joey_python, "-c", CHECKPOINT_STATS, str(checkpoint)])
    else:
        print(f"warning: no {checkpoint}; counts come from the log alone", file=sys.stderr)
    validation_s = sum(log["validation_generation_s"])
    train_s = run["train_wall_s"] - validation_s
    tokens = stats.get("total_tokens")
    updates = stats.get("steps") or (log["interrupt"] or {}).get("step")
    epoch_tokens = sum(e["tokens"] for e in log["epoch_summaries"])
    epoch_s = sum(e["train_s"] for e in log["epoch_summaries"])
    report["train"] = {
        **run,
        "updates": updates,
        "epochs_started": stats.get("epochs") or (log["interrupt"] or {}).get("epoch"),
        "parameters": log["parameters"],
        "validations": len(log["validation_generation_s"]),
        "validation_generation_s": round(validation_s, 1),
        "train_s": round(train_s, 1),
        "target_tokens": tokens,
        "tokens_per_s": round(tokens / train_s, 1) if tokens and train_s > 0 else None,
        "joey_logged": summarise_windows(log["windows"]),
        "joey_completed_epochs_tokens_per_s": round(epoch_tokens / epoch_s, 1) if epoch_s else None,
        "checkpoint": str(checkpoint) if checkpoint.exists() else None,
        "train_log": str(model_dir / "train.log"),
    }

    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    t, logged = report["train"], report["train"]["joey_logged"]
    median = (
        f"median of {logged['windows']} logged windows {logged['median']}"
        if logged["windows"]
        else "no logged window"
    )
    print(
        f"Joey NMT {report['versions']['joeynmt']}: {t['updates']} updates in {t['train_wall_s']:.0f} s "
        f"of training loop, {t['tokens_per_s']} non-pad target tokens/s ({median}), "
        f"peak RSS {t['peak_rss_gib']:.2f} GiB, start-up {t['startup_s']:.0f} s, "
        f"load average {report['load_average_before'][0]} → {report['load_average_after'][0]}"
    )


if __name__ == "__main__":
    main()
