"""yiyan, Joey NMT 2.3.0 and Hugging Face MarianMT side by side: same machine, same run, one at a
time, the same wall-clock training budget, for both learning-rate recipes.

    python benchmarks/peers_side_by_side.py --data ../shared/data/tatoeba-cmn --budget 20m

For each recipe (`reference`: Adam lr 5e-4 after 100 warmup updates, inverse square root, no
clipping — the runs of ../shared/reference/README.md; `tuned`: the training section of
configs/tatoeba-small.yaml, yiyan's recipe for a 20-minute CPU budget) and each toolkit, one after
another, never two at once:

1. train the reference model (Transformer 3+3, d_model 256, 4 heads, ff 1024, joint SentencePiece
   unigram 8,000, tied embeddings, 4,096-token batches, label smoothing 0.1) on Tatoeba for
   `--budget` of training-loop wall clock (start-up excluded: yiyan's `training.max_time` counts
   from its loop's start; Joey's from its "EPOCH 1" log line; Marian's from its "started" line),
   with no validation inside the budget;
2. read the toolkit's own counters: updates, target tokens, training seconds (→ tokens/s), and the
   peak RSS of the training process (wait4 on that child alone);
3. decode the Tatoeba test set greedy and with beam 5, batches of 64 sentences, `--threads`
   threads, after an untimed warm-up; score with sacrebleu (BLEU tok zh, chrF) against the same
   untouched references.

Target tokens are one definition for all (benchmarks/common.py `target_tokens`): non-padding
target pieces + one EOS per sentence, validation excluded.
  * yiyan: `train_summary.json` `target_tokens` = Σ (tgt_out ≠ pad) = pieces + EOS.
  * Joey 2.3.0: the checkpoint's `stats.total_tokens` = Σ `batch.ntokens` = Σ (trg ≠ pad), where
    trg is the EOS-terminated target without BOS (joeynmt/batch.py:77-81) = pieces + EOS. Its time is
    the wall clock from "EPOCH 1" to the stop signal (no validation runs: validation_freq 10⁹).
  * Marian: `(labels ≠ -100).sum()` of labels = pieces + </s> (benchmarks/peer_marian.py), time =
    the sum of its updates' wall clock.
  * Decoding: generated pieces without EOS, + 1 per sentence (yiyan, Marian: the generated ids;
    Joey writes only detokenised text, so its pieces are its output re-encoded with the joint model).

Peers run in their own venvs, created by this script under WORKDIR (default bench-out/peers):
Joey `torch==2.13.0 joeynmt==2.3.0 importlib_metadata sentencepiece==0.2.0` (Joey 2.3.0 imports
importlib_metadata without declaring it, and crashes with sentencepiece 0.2.3); Marian
`torch==2.13.0 transformers sentencepiece==0.2.0`. All toolkits learn from the same training
pairs: those `yiyan prepare` keeps (cleaned, simplified Chinese, pairs occurring in dev or test
removed), written to WORKDIR/data/train.{en,zh}; dev and test are the TSV files as given. The peers'
vocabulary follows the reference recipe (../shared/reference/make_joint_spm.py on those files);
yiyan trains its own joint 8,000-piece unigram model on the same pairs.

Each peer runs in its own process group; when the budget is over the script sends SIGINT to the
group (Joey and Marian save their model on it), then SIGTERM, then SIGKILL, each after
`--grace` seconds without exit. Figures go to benchmarks/results/<--name>.json (common.write_result);
the run directories and logs stay under WORKDIR. Two recipes × three toolkits × (budget + about
4 minutes of start-up and decoding): about 2 h 30 min with `--budget 20m`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, Child, generated_pieces, matmul_peak_gflops, target_tokens, write_result

TOOLKITS = ("yiyan", "joey", "marian")
SPLITS = ("train", "dev", "test")
LANGS = ("en", "zh")  # TSV column 0, column 1
BEAMS = (1, 5)
DECODE_BATCH = 64  # sentences per batch, every toolkit (Joey's default)
WARMUP_SENTENCES = 64
NO_VALIDATION = 1_000_000_000
VENVS = {
    "joey": ["torch==2.13.0", "joeynmt==2.3.0", "importlib_metadata", "sentencepiece==0.2.0"],
    "marian": ["torch==2.13.0", "transformers", "sentencepiece==0.2.0"],
}
VERSION_PACKAGES = {"joey": ("joeynmt", "torch", "sentencepiece"), "marian": ("transformers", "torch")}

RE_EPOCH_START = re.compile(r" - EPOCH 1$", re.MULTILINE)
RE_WINDOW = re.compile(r"Epoch\s+(\d+), Step:\s+(\d+), .*Tokens per Sec:\s+(\d+)")
RE_GENERATION = re.compile(r"Generation took ([\d.]+)\[sec\]")

JOEY_CHECKPOINT_STATS = """
import json, sys, torch
state = torch.load(sys.argv[1], map_location="cpu", weights_only=False)
print(json.dumps(state["stats_state"]))
"""


# ------------------------------------------------------------------ recipes, venvs, data


def recipes(tuned_config: Path) -> dict[str, dict[str, Any]]:
    """The two recipes as the hyper-parameters every toolkit takes (model and batches are fixed)."""
    from yiyan.config import load_config

    tuned = load_config(tuned_config).training
    if tuned.schedule != "inverse_sqrt":
        raise SystemExit(f"{tuned_config}: the peers implement inverse_sqrt only, not {tuned.schedule}")
    return {
        "reference": {"learning_rate": 5e-4, "warmup_steps": 100, "clip_norm": 0.0},
        "tuned": {
            "learning_rate": tuned.learning_rate,
            "warmup_steps": tuned.warmup_steps,
            "clip_norm": tuned.clip_norm,
        },
    }


def ensure_venv(path: Path, requirements: list[str]) -> Path:
    """A venv at `path` holding `requirements` (created once; reused while the list is unchanged)."""
    python, marker = path / "bin" / "python", path / ".requirements"
    wanted = "\n".join(requirements) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    print(f"creating {path} ({' '.join(requirements)}) …", file=sys.stderr, flush=True)
    if path.exists():
        shutil.rmtree(path)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(path)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *requirements], check=True)
    marker.write_text(wanted)
    return python


def package_versions(python: Path, packages: tuple[str, ...]) -> dict[str, str]:
    code = (
        f"import importlib.metadata as m, json; print(json.dumps({{p: m.version(p) for p in {packages!r}}}))"
    )
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    versions: dict[str, str] = json.loads(done.stdout)
    return versions


def read_tsv(path: Path, limit: int = 0) -> tuple[list[str], list[str]]:
    """Columns 0 and 1 of a TSV file (its first `limit` lines; 0: all), stripped; a line with fewer
    columns is an error."""
    sources, targets = [], []
    with open(path, encoding="utf-8-sig") as f:  # -sig strips a file BOM
        for number, line in enumerate(f, 1):
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) < 2:
                raise SystemExit(f"{path}:{number}: fewer than two columns")
            sources.append(fields[0].strip())
            targets.append(fields[1].strip())
            if len(sources) == limit:
                break
    return sources, targets


def write_peer_data(
    data: Path, prepared: Path, work: Path, reference: Path, python: Path, test_limit: int = 0
) -> dict[str, int]:
    """WORK/data/{split}.{en,zh} (+ warmup.{en,zh}: the first dev sentences) and the joint
    SentencePiece model of the reference recipe (make_joint_spm.py, run in the Joey venv).

    The training pairs are those yiyan trains on (`prepared`/data/train.{en,zh}: cleaned, Chinese
    converted to simplified, pairs that occur in dev or test removed), so that no toolkit sees test
    sentences in training and all learn from the same pairs; dev and test are the TSV files as given."""
    out = work / "data"
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split in SPLITS:
        if split == "train":
            sides = tuple(
                (prepared / "data" / f"train.{lang}").read_text(encoding="utf-8").splitlines()
                for lang in LANGS
            )
        else:
            sides = read_tsv(data / f"{split}.tsv", test_limit if split == "test" else 0)
        counts[split] = len(sides[0])
        for lang, lines in zip(LANGS, sides):
            (out / f"{split}.{lang}").write_text("\n".join(lines) + "\n", encoding="utf-8")
            if split == "dev":
                warm = lines[:WARMUP_SENTENCES]
                (out / f"warmup.{lang}").write_text("\n".join(warm) + "\n", encoding="utf-8")
    done = subprocess.run(
        [str(python), str(reference / "make_joint_spm.py")], cwd=work, capture_output=True, text=True
    )
    (work / "spm.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    if done.returncode != 0:
        raise SystemExit(f"make_joint_spm.py failed ({done.returncode}); see {work / 'spm.log'}")
    return counts


# ------------------------------------------------------------------ running one training


def run_for_budget(
    child: Child, started: Any, budget_s: float, grace_s: float, startup_timeout_s: float
) -> dict[str, Any]:
    """Wait until `started()` is true (the training loop began), let it train `budget_s`, then stop
    its process group. Returns the loop's wall clock until the stop signal, and how it stopped."""
    loop_start = None
    while loop_start is None:
        if child.poll():
            raise SystemExit(
                f"{child.command[0]} exited ({child.exit_code}) before training; see {child.log}"
            )
        if started():
            loop_start = time.monotonic()
        elif time.monotonic() - child.started > startup_timeout_s:
            child.stop(grace_s=10.0)
            raise SystemExit(f"no training after {startup_timeout_s:.0f} s; see {child.log}")
        else:
            time.sleep(0.2)
    startup_s = loop_start - child.started
    while not child.poll() and time.monotonic() - loop_start < budget_s:
        time.sleep(0.2)
    stop_at = time.monotonic()
    if child.exit_code is not None:
        raise SystemExit(f"{child.command[0]} exited ({child.exit_code}) inside the budget; see {child.log}")
    stopped_by = child.stop(grace_s)
    return {
        "startup_s": round(startup_s, 1),
        "loop_wall_s": round(stop_at - loop_start, 1),
        "shutdown_s": round(time.monotonic() - stop_at, 1),
        "stopped_by": stopped_by,
        "exit_code": child.exit_code,
        "peak_rss_gib": child.peak_rss_gib,
    }


def throughput(updates: int | None, tokens: int | None, seconds: float | None) -> dict[str, Any]:
    return {
        "updates": updates,
        "target_tokens": tokens,
        "train_s": round(seconds, 1) if seconds else None,
        "target_tokens_per_s": round(tokens / seconds, 1) if tokens and seconds else None,
    }


# ------------------------------------------------------------------ yiyan


def yiyan_overrides(
    data: Path, run: Path, recipe: dict[str, Any], budget_s: float, threads: int
) -> list[str]:
    return [
        "data.corpus=null",
        f"data.train={data / 'train.tsv'}",
        f"data.dev={data / 'dev.tsv'}",
        f"data.test={data / 'test.tsv'}",
        f"run_dir={run}",
        f"training.num_threads={threads}",
        f"training.max_time={budget_s}",
        f"training.eval_every={NO_VALIDATION}",  # no validation inside the budget, as the peers
        f"training.learning_rate={recipe['learning_rate']}",
        f"training.warmup_steps={recipe['warmup_steps']}",
        f"training.clip_norm={recipe['clip_norm']}",
    ]


def yiyan_sets(args: argparse.Namespace, recipe: dict[str, Any], run: Path) -> list[str]:
    overrides = yiyan_overrides(args.data, run, recipe, args.budget, args.threads)
    return [x for o in overrides for x in ("--set", o)]


def prepare_yiyan(args: argparse.Namespace, recipe: dict[str, Any], run: Path, env: dict[str, str]) -> None:
    """A fresh run directory `run`, prepared by `yiyan prepare` (cleaning, vocabulary, binarized data)."""
    if run.exists():
        shutil.rmtree(run)
    run.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "yiyan",
        "prepare",
        str(args.tuned_config),
        *yiyan_sets(args, recipe, run),
    ]
    with Child(command, env=env, log=run.parent / f"{run.name}.prepare.log") as child:
        child.wait()
    if child.exit_code != 0:
        raise SystemExit(f"yiyan prepare failed; see {child.log}")


def train_yiyan(
    args: argparse.Namespace, recipe: dict[str, Any], run: Path, env: dict[str, str]
) -> dict[str, Any]:
    prepare_yiyan(args, recipe, run, env)
    sets = yiyan_sets(args, recipe, run)
    cli = [sys.executable, "-m", "yiyan"]
    logs = run.parent / f"{run.name}.log"
    with Child([*cli, "train", str(args.tuned_config), "--quiet", *sets], env=env, log=logs) as child:
        # yiyan stops itself on `training.max_time`; the group is stopped only if it overruns
        if not child.wait(args.budget + args.startup_timeout + args.grace):
            child.stop(args.grace)
    if child.exit_code != 0:
        raise SystemExit(f"yiyan train failed ({child.exit_code}); see {logs}")
    summary = json.loads((run / "train_summary.json").read_text(encoding="utf-8"))
    return {
        **throughput(summary["steps"], summary["target_tokens"], summary["train_seconds"]),
        "loop_wall_s": summary["wall_seconds"],
        "stopped_by": summary["stopped_by"],
        "peak_rss_gib": child.peak_rss_gib,
        "log": str(logs),
    }


def decode_worker(run: str, sources_file: str, beam: int, threads: int, out: str) -> None:
    """(in a fresh process) yiyan's decoding of `sources_file`: warm-up, then one timed pass."""
    import torch

    from yiyan.translator import Translator

    torch.set_num_threads(threads)
    translator = Translator.load(Path(run), device="cpu")
    sources = Path(sources_file).read_text(encoding="utf-8").splitlines()
    options = {"beam": beam, "batch_size": DECODE_BATCH}
    translator.translate(sources[len(sources) // 2 :][:WARMUP_SENTENCES], **options)  # warm-up
    start = time.perf_counter()
    results = translator.translate_detailed(sources, **options)
    seconds = time.perf_counter() - start
    record = {
        "hypotheses": [r.text for r in results],
        "generated_pieces": [generated_pieces(r.tgt_tokens) for r in results],
        "seconds": seconds,
    }
    Path(out).write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")


def decode_yiyan(args: argparse.Namespace, run: Path, beam: int, env: dict[str, str]) -> dict[str, Any]:
    out = run.parent / f"{run.name}.beam{beam}.json"
    command = [sys.executable, __file__, "--decode-worker", str(run), str(args.work / "data" / "test.en")]
    with Child([*command, str(beam), str(args.threads), str(out)], env=env, log=out.with_suffix(".log")) as c:
        c.wait()
    if c.exit_code != 0:
        raise SystemExit(f"yiyan decoding failed; see {c.log}")
    record: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return record


# ------------------------------------------------------------------ Joey NMT


def joey_config(
    args: argparse.Namespace, recipe: dict[str, Any], model_dir: Path, beam: int | None = None
) -> Path:
    """The reference joey-small.yaml with paths under WORK, the recipe's learning rate, warmup and
    clipping, no validation inside the budget; with `beam`, a config for `joeynmt test` (its dev set
    is the 64-sentence warm-up set, decoded before the test set)."""
    cfg: dict[str, Any] = yaml.safe_load((args.reference / "joey-small.yaml").read_text(encoding="utf-8"))
    data = args.work / "data"
    cfg["model_dir"] = str(model_dir)
    cfg["data"]["train"], cfg["data"]["dev"], cfg["data"]["test"] = (
        str(data / "train"),
        str(data / "warmup"),
        str(data / "test"),
    )
    for side in ("src", "trg"):
        cfg["data"][side]["voc_file"] = str(data / "joey_vocab.txt")
        cfg["data"][side]["tokenizer_cfg"]["model_file"] = str(data / "spm.joint.model")
    training = cfg["training"]
    training["learning_rate"] = recipe["learning_rate"]
    training["learning_rate_warmup"] = recipe["warmup_steps"]
    if recipe["clip_norm"]:
        training["clip_grad_norm"] = recipe["clip_norm"]
    training["validation_freq"] = NO_VALIDATION
    training["logging_freq"] = 20
    cfg["testing"]["batch_size"] = DECODE_BATCH
    if beam is not None:  # a `joeynmt test` config: the model saved at the stop signal
        cfg["testing"]["beam_size"] = beam
        cfg["testing"]["load_model"] = str(model_dir / "latest.ckpt")
    path = model_dir.parent / f"{model_dir.name}.{f'beam{beam}' if beam else 'train'}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def train_joey(
    args: argparse.Namespace, python: Path, recipe: dict[str, Any], model_dir: Path, env: dict[str, str]
) -> dict[str, Any]:
    if model_dir.exists():  # else an old train.log's "EPOCH 1" would start the clock early
        shutil.rmtree(model_dir)
    config = joey_config(args, recipe, model_dir)
    log, console = model_dir / "train.log", model_dir.parent / f"{model_dir.name}.console.log"

    def started() -> bool:
        return log.exists() and bool(RE_EPOCH_START.search(log.read_text(encoding="utf-8", errors="replace")))

    command = [str(python), "-m", "joeynmt", "train", str(config), "--skip-test"]
    with Child(command, env=env, cwd=args.work, log=console) as child:
        run = run_for_budget(child, started, args.budget, args.grace, args.startup_timeout)
    text = log.read_text(encoding="utf-8", errors="replace")
    checkpoint = model_dir / "latest.ckpt"
    windows = [int(m[3]) for m in RE_WINDOW.finditer(text)]
    if checkpoint.exists():  # Joey saves it when SIGINT interrupts its loop
        done = subprocess.run(
            [str(python), "-c", JOEY_CHECKPOINT_STATS, str(checkpoint)],
            capture_output=True,
            text=True,
            check=True,
        )
        stats = json.loads(done.stdout.strip().splitlines()[-1])
        figures = throughput(stats["steps"], stats["total_tokens"], run["loop_wall_s"])
        figures["source"] = "checkpoint stats.total_tokens / loop wall clock"
    else:  # stopped by SIGTERM/SIGKILL: no checkpoint, so no BLEU; rate from its logged windows
        steps = [int(m[2]) for m in RE_WINDOW.finditer(text)]
        figures = throughput(steps[-1] if steps else None, None, run["loop_wall_s"])
        figures["target_tokens_per_s"] = statistics.median(windows) if windows else None
        figures["source"] = "median of train.log 'Tokens per Sec' windows (no checkpoint)"
    return {
        **run,
        **figures,
        "joey_logged_median_tokens_per_s": statistics.median(windows) if windows else None,
        "checkpoint": str(checkpoint) if checkpoint.exists() else None,
        "log": str(log),
    }


def decode_joey(
    args: argparse.Namespace,
    python: Path,
    recipe: dict[str, Any],
    model_dir: Path,
    beam: int,
    env: dict[str, str],
) -> dict[str, Any]:
    """`joeynmt test` decodes the warm-up set, then the test set; the test set's own "Generation
    took" time is the timing (model loading and the warm-up set excluded)."""
    import sentencepiece as spm

    config = joey_config(args, recipe, model_dir, beam)
    prefix = model_dir.parent / f"{model_dir.name}.hyp.beam{beam}"
    log = Path(f"{prefix}.log")
    command = [str(python), "-m", "joeynmt", "test", str(config), "--output-path", str(prefix)]
    with Child(command, env=env, cwd=args.work, log=log) as child:
        child.wait()
    if child.exit_code != 0:
        raise SystemExit(f"joeynmt test failed ({child.exit_code}); see {log}")
    times = [float(m[1]) for m in RE_GENERATION.finditer(log.read_text(encoding="utf-8", errors="replace"))]
    if len(times) < 2:
        raise SystemExit(f"{log}: expected the warm-up and the test set's 'Generation took' lines")
    hypotheses = Path(f"{prefix}.test").read_text(encoding="utf-8").splitlines()
    sp = spm.SentencePieceProcessor(model_file=str(args.work / "data" / "spm.joint.model"))
    return {
        "hypotheses": hypotheses,
        "generated_pieces": [len(sp.encode(h)) for h in hypotheses],  # re-encoded: Joey writes text
        "seconds": times[-1],
    }


# ------------------------------------------------------------------ Marian


def train_marian(
    args: argparse.Namespace, python: Path, recipe: dict[str, Any], out: Path, env: dict[str, str]
) -> dict[str, Any]:
    if out.exists():
        shutil.rmtree(out)
    log = out.parent / f"{out.name}.log"
    command = [
        str(python),
        str(Path(__file__).with_name("peer_marian.py")),
        "train",
        f"--data={args.work / 'data'}",
        f"--out={out}",
        f"--lr={recipe['learning_rate']}",
        f"--warmup={recipe['warmup_steps']}",
        f"--clip={recipe['clip_norm']}",
        f"--threads={args.threads}",
    ]

    def records() -> list[dict[str, Any]]:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.exists() else []
        return [json.loads(line) for line in lines if line.startswith("{") and line.endswith("}")]

    with Child(command, env=env, log=log) as child:
        run = run_for_budget(
            child,
            lambda: any(r.get("event") == "started" for r in records()),
            args.budget,
            args.grace,
            args.startup_timeout,
        )
    counters = [r for r in records() if "target_tokens" in r]
    last = counters[-1] if counters else {}
    return {
        **run,
        **throughput(last.get("step"), last.get("target_tokens"), last.get("train_s")),
        "saved": any(r.get("event") == "done" for r in counters),
        "log": str(log),
    }


def decode_marian(
    args: argparse.Namespace, python: Path, model: Path, beam: int, env: dict[str, str]
) -> dict[str, Any]:
    out = model.parent / f"{model.name}.beam{beam}.json"
    command = [str(python), str(Path(__file__).with_name("peer_marian.py")), "decode"]
    options = [f"--data={args.work / 'data'}", f"--model={model}", f"--beam={beam}"]
    options += [f"--threads={args.threads}", f"--batch-size={DECODE_BATCH}", f"--out={out}"]
    with Child([*command, *options], env=env, log=out.with_suffix(".log")) as child:
        child.wait()
    if child.exit_code != 0:
        raise SystemExit(f"Marian decoding failed ({child.exit_code}); see {child.log}")
    record: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return record


# ------------------------------------------------------------------ scoring and the report


def decoding_figures(decoded: dict[str, Any], references: list[str]) -> dict[str, Any]:
    from yiyan.metrics import score

    hypotheses, seconds = decoded["hypotheses"], decoded["seconds"]
    if len(hypotheses) != len(references):
        raise SystemExit(f"{len(hypotheses)} hypotheses for {len(references)} references")
    scores = score(hypotheses, references, "zh")
    return {
        "bleu": scores["bleu"],
        "chrf": scores["chrf"],
        "bleu_signature": scores["bleu_signature"],
        "seconds": round(seconds, 2),
        "sentences_per_s": round(len(hypotheses) / seconds, 1),
        "target_tokens_per_s": round(target_tokens(decoded["generated_pieces"]) / seconds, 1),
    }


def ratios(toolkits: dict[str, dict[str, Any]]) -> dict[str, float]:
    """yiyan ÷ peer for the figures where higher is better (tokens/s, sentences/s)."""
    out: dict[str, float] = {}
    ours = toolkits.get("yiyan")
    if not ours:
        return out
    for peer, figures in toolkits.items():
        if peer == "yiyan":
            continue
        pairs = {"train_tokens_per_s": (ours["train"], figures["train"], "target_tokens_per_s")}
        for beam in BEAMS:
            key = f"beam{beam}"
            if key in ours and key in figures:
                pairs[f"decode_{key}_sentences_per_s"] = (ours[key], figures[key], "sentences_per_s")
        for name, (a, b, field) in pairs.items():
            if a.get(field) and b.get(field):
                out[f"{name}_vs_{peer}"] = round(a[field] / b[field], 2)
    return out


def table(results: dict[str, Any]) -> str:
    rows = [
        "| recipe | toolkit | updates | target tokens/s | peak RSS GiB | BLEU greedy / beam 5 | "
        "greedy sent/s | beam 5 sent/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for recipe, block in results["recipes"].items():
        for toolkit, f in block["toolkits"].items():
            b1, b5 = f.get("beam1", {}), f.get("beam5", {})
            rows.append(
                f"| {recipe} | {toolkit} | {f['train'].get('updates')} | {f['train'].get('target_tokens_per_s')} | "
                f"{f['train'].get('peak_rss_gib')} | {b1.get('bleu')} / {b5.get('bleu')} | "
                f"{b1.get('sentences_per_s')} | {b5.get('sentences_per_s')} |"
            )
    return "\n".join(rows)


def main() -> None:
    from yiyan.cli import parse_duration

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, help="directory with train.tsv, dev.tsv, test.tsv")
    parser.add_argument(
        "--budget", type=parse_duration, default=1200.0, help="training wall clock (default 20m)"
    )
    parser.add_argument(
        "--recipes", nargs="+", choices=["reference", "tuned"], default=["reference", "tuned"]
    )
    parser.add_argument("--toolkits", nargs="+", choices=TOOLKITS, default=list(TOOLKITS))
    parser.add_argument("--threads", type=int, default=2, help="threads of every training and decoding")
    parser.add_argument(
        "--workdir", type=Path, default=REPO / "bench-out" / "peers", help="venvs, data, runs"
    )
    parser.add_argument("--reference", type=Path, default=REPO.parent / "shared" / "reference")
    parser.add_argument("--tuned-config", type=Path, default=REPO / "configs" / "tatoeba-small.yaml")
    parser.add_argument("--grace", type=float, default=120.0, help="seconds between SIGINT, SIGTERM, SIGKILL")
    parser.add_argument(
        "--startup-timeout", type=float, default=900.0, help="seconds until a loop must start"
    )
    parser.add_argument("--name", default="peers-side-by-side", help="benchmarks/results/NAME.json")
    parser.add_argument(
        "--test-limit",
        type=int,
        default=0,
        help="decode only the first N test sentences (smoke runs; 0 = all)",
    )
    parser.add_argument("--decode-worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.decode_worker:
        run, sources, beam, threads, out = args.decode_worker
        decode_worker(run, sources, int(beam), int(threads), out)
        return
    if args.data is None:
        parser.error("--data is required")
    args.data, args.reference = args.data.resolve(), args.reference.resolve()
    args.work = args.workdir.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    env = {"OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    peak = matmul_peak_gflops()

    pythons = {t: ensure_venv(args.work / f"{t}-venv", VENVS[t]) for t in VENVS if t in args.toolkits}
    extra_versions = {
        f"{t}:{p}": v
        for t, py in pythons.items()
        for p, v in package_versions(py, VERSION_PACKAGES[t]).items()
    }
    spm_python = pythons.get("joey") or ensure_venv(args.work / "joey-venv", VENVS["joey"])
    all_recipes = recipes(args.tuned_config)
    prepared = args.work / "yiyan-prepared"  # the training pairs every toolkit learns from
    prepare_yiyan(args, all_recipes["reference"], prepared, env)
    pairs = write_peer_data(args.data, prepared, args.work, args.reference, spm_python, args.test_limit)
    sources, references = read_tsv(args.data / "test.tsv", args.test_limit)
    results: dict[str, Any] = {
        "budget_s": args.budget,
        "threads": args.threads,
        "decode_batch_sentences": DECODE_BATCH,
        "pairs": pairs,
        "test_sentences": len(sources),
        "test_limit": args.test_limit,
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "recipes": {},
    }
    for name in args.recipes:
        recipe = all_recipes[name]
        block: dict[str, Any] = {"hyperparameters": recipe, "toolkits": {}}
        results["recipes"][name] = block
        for toolkit in args.toolkits:
            print(f"=== {name} recipe: {toolkit} ({time.strftime('%H:%M:%S')})", file=sys.stderr, flush=True)
            place = args.work / f"{toolkit}-{name}"
            decoded: dict[int, dict[str, Any]] = {}
            if toolkit == "yiyan":
                train = train_yiyan(args, recipe, place, env)
                decoded = {b: decode_yiyan(args, place, b, env) for b in BEAMS}
            elif toolkit == "joey":
                train = train_joey(args, pythons["joey"], recipe, place, env)
                if train["checkpoint"]:
                    decoded = {b: decode_joey(args, pythons["joey"], recipe, place, b, env) for b in BEAMS}
            else:
                train = train_marian(args, pythons["marian"], recipe, place, env)
                if train["saved"]:
                    decoded = {b: decode_marian(args, pythons["marian"], place, b, env) for b in BEAMS}
            figures: dict[str, Any] = {"train": train}
            for beam, record in decoded.items():
                figures[f"beam{beam}"] = decoding_figures(record, references)
            block["toolkits"][toolkit] = figures
            print(json.dumps(figures, indent=1), file=sys.stderr, flush=True)
        block["ratios"] = ratios(block["toolkits"])
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    results["table"] = table(results)
    print(results["table"])
    write_result(args.name, results, extra_versions=extra_versions, matmul_peak=peak)


if __name__ == "__main__":
    main()
