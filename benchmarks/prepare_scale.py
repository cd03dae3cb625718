"""SCALE TEST of `yiyan prepare`: time and peak memory on corpora of ~1M and ~10M pairs.

    python benchmarks/prepare_scale.py ../shared/data/tatoeba-cmn/train.tsv --workers 2 \\
        --sizes 1000000 10000000 --name prepare-scale

On the real JiYu corpus (500k pairs as they are, then a 5M-pair stream made from them), with the
pretraining recipe's tokenizer and filters, 1 and 2 encoding workers:

    python benchmarks/prepare_scale.py /work/shared/data/jiyu-en-zh/train.tsv --real \\
        --config configs/pretrain-jiyu.yaml --sizes 500000 5000000 --workers 1 2 \\
        --name prepare-scale-jiyu

With --real, a size up to the corpus's own is its first pairs unchanged (real data: real duplicates
and drops); a larger one cycles the corpus with the counter suffix below, so deduplication keeps the
repeats (a stream for scale, not more data).

The corpora are NOT real data: the Tatoeba pairs of the given TSV repeated over and over, each
source sentence given a counter suffix (" [17]") so that deduplication keeps every pair. They test
that preparation streams (memory must stay flat as the corpus grows ten-fold) and how fast it runs;
they say nothing about translation quality.

For each size the corpus is written to a temporary directory, then `yiyan prepare` runs in a child
process (`--workers` encoding processes) with the tokenizer of configs/tatoeba-small.yaml
(SentencePiece trains on a bounded sample of `tokenizer.max_sentences` sentences). Reported: wall
seconds, peak RSS (ru_maxrss from wait4: the largest of the prepare process and its workers,
each counted alone) and the sizes of the text and binarized output. Everything is deleted afterwards
unless --keep. Never run two benchmarks at once on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from itertools import cycle
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import write_result

LABEL = "scale test: Tatoeba pairs repeated with a counter suffix (not real data)"
REAL_LABEL = "real data: the corpus's own pairs (larger sizes cycle it with a counter suffix)"


def read_pairs(path: Path) -> list[tuple[str, str]]:
    pairs = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            columns = line.rstrip("\n").split("\t")
            if len(columns) >= 2 and columns[0].strip() and columns[1].strip():
                pairs.append((columns[0], columns[1]))
    if not pairs:
        raise SystemExit(f"{path}: no source<TAB>target pairs")
    return pairs


def write_corpus(pairs: list[tuple[str, str]], size: int, path: Path, as_is: bool = False) -> int:
    """`size` pairs, streamed to `path` (`as_is` and no more than there are: unchanged); returns
    the bytes written."""
    with open(path, "w", encoding="utf-8") as handle:
        for i, (src, tgt) in zip(range(size), cycle(pairs)):
            handle.write(f"{src}\t{tgt}\n" if as_is and size <= len(pairs) else f"{src} [{i}]\t{tgt}\n")
    return path.stat().st_size


def run_prepare(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run `command`; (wall seconds, peak RSS in GiB of it and its workers)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"prepare failed with exit status {process.returncode}: {' '.join(command)}")
    return wall, usage.ru_maxrss / 1024**2  # KiB on Linux


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def prepare_one(
    args: argparse.Namespace,
    corpus: Path,
    corpus_bytes: int,
    size: int,
    workers: int,
    root: Path,
    env: dict[str, str],
) -> dict[str, Any]:
    """`yiyan prepare` of `corpus` with `workers` encoding processes in a child; its row."""
    run = root / f"run-{size}-w{workers}"
    overrides = [
        "data.corpus=" + json.dumps(str(corpus)),
        "data.train=null",
        "data.dev=null",
        "data.test=null",
        "data.dev_size=500",
        "data.test_size=500",
    ]
    if args.max_sentences:
        overrides.append(f"tokenizer.max_sentences={args.max_sentences}")
    command = [sys.executable, "-m", "yiyan", "prepare", args.config, "--workers", str(workers)]
    command += [item for o in overrides for item in ("--set", o)] + ["--run-dir", str(run)]
    wall, rss = run_prepare(command, env)
    report = json.loads((run / "prepare_report.json").read_text(encoding="utf-8"))
    meta = json.loads((run / "data" / "bin" / "meta.json").read_text(encoding="utf-8"))
    row = {
        "pairs": size,
        "workers": workers,
        "corpus_mb": round(corpus_bytes / 1e6, 1),
        "kept": report["sentences"]["train"],
        "dropped": report["cleaning"]["corpus"]["dropped"],
        "seconds": round(wall, 1),
        "pairs_per_s": round(size / wall),
        "peak_rss_gib": round(rss, 3),
        "bin_mb": round(directory_bytes(run / "data" / "bin") / 1e6, 1),
        "shards": len(meta["splits"]["train"]["shards"]),
    }
    print(f"  {workers} worker(s): prepared in {wall:.1f} s, peak RSS {rss:.3f} GiB", flush=True)
    if not args.keep:
        shutil.rmtree(run)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("source", help="TSV of source<TAB>target pairs to repeat, e.g. tatoeba-cmn/train.tsv")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[2], help="yiyan prepare --workers (default 2)"
    )
    parser.add_argument("--real", action="store_true", help="real data: sizes up to the corpus's unchanged")
    parser.add_argument("--config", default="configs/tatoeba-small.yaml", help="tokenizer settings")
    parser.add_argument(
        "--max-sentences",
        type=int,
        help="tokenizer.max_sentences: the SentencePiece sample (default: the config's, 2M); memory grows "
        "with the corpus until the sample is full, then stays flat",
    )
    parser.add_argument("--tmp", help="where the corpora and runs go (default: a new temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the corpora and runs")
    parser.add_argument("--name", default="prepare-scale", help="result name: benchmarks/results/NAME.json")
    parser.add_argument("--results-dir", type=Path, help="where the JSON goes (default benchmarks/results)")
    args = parser.parse_args()

    pairs = read_pairs(Path(args.source))
    label = REAL_LABEL if args.real else LABEL
    root = Path(tempfile.mkdtemp(prefix="yiyan-prepare-scale-", dir=args.tmp))
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    rows: list[dict[str, Any]] = []
    print(f"{label}: {len(pairs)} distinct pairs from {args.source}; working in {root}", flush=True)
    try:
        for size in sorted(args.sizes):
            corpus = root / f"corpus-{size}.tsv"
            started = time.perf_counter()
            corpus_bytes = write_corpus(pairs, size, corpus, as_is=args.real)
            print(
                f"  {size:,} pairs written ({corpus_bytes / 1e6:.0f} MB, {time.perf_counter() - started:.0f} s)"
            )
            for workers in args.workers:
                rows.append(prepare_one(args, corpus, corpus_bytes, size, workers, root, env))
            if not args.keep:
                corpus.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    print(f"\n{label}")
    header = f"{'pairs':>12} {'workers':>8} {'corpus MB':>10} {'seconds':>9} {'pairs/s':>9} {'peak RSS GiB':>13} {'bin MB':>8} {'shards':>7}"
    print(header)
    for row in rows:
        print(
            f"{row['pairs']:>12,} {row['workers']:>8} {row['corpus_mb']:>10} {row['seconds']:>9} {row['pairs_per_s']:>9,} "
            f"{row['peak_rss_gib']:>13} {row['bin_mb']:>8} {row['shards']:>7}"
        )
    write_result(
        args.name, {"label": label, "workers": args.workers, "rows": rows}, results_dir=args.results_dir
    )


if __name__ == "__main__":
    main()
