"""SCALE TEST of `yiyan prepare`: time and peak memory on corpora of ~1M and ~10M pairs.

    python benchmarks/prepare_scale.py ../shared/data/tatoeba-cmn/train.tsv --workers 2 \\
        --sizes 1000000 10000000 --name prepare-scale

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


def write_corpus(pairs: list[tuple[str, str]], size: int, path: Path) -> int:
    """`size` pairs, streamed to `path`; returns the bytes written."""
    with open(path, "w", encoding="utf-8") as handle:
        for i, (src, tgt) in zip(range(size), cycle(pairs)):
            handle.write(f"{src} [{i}]\t{tgt}\n")
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("source", help="TSV of source<TAB>target pairs to repeat, e.g. tatoeba-cmn/train.tsv")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--workers", type=int, default=2, help="yiyan prepare --workers (default 2)")
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
    args = parser.parse_args()

    pairs = read_pairs(Path(args.source))
    root = Path(tempfile.mkdtemp(prefix="yiyan-prepare-scale-", dir=args.tmp))
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    rows: list[dict[str, Any]] = []
    print(f"{LABEL}: {len(pairs)} distinct pairs from {args.source}; working in {root}", flush=True)
    try:
        for size in sorted(args.sizes):
            corpus = root / f"corpus-{size}.tsv"
            started = time.perf_counter()
            corpus_bytes = write_corpus(pairs, size, corpus)
            print(
                f"  {size:,} pairs written ({corpus_bytes / 1e6:.0f} MB, {time.perf_counter() - started:.0f} s)"
            )
            run = root / f"run-{size}"
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
            command = [sys.executable, "-m", "yiyan", "prepare", args.config, "--workers", str(args.workers)]
            command += [item for o in overrides for item in ("--set", o)] + ["--run-dir", str(run)]
            wall, rss = run_prepare(command, env)
            report = json.loads((run / "prepare_report.json").read_text(encoding="utf-8"))
            meta = json.loads((run / "data" / "bin" / "meta.json").read_text(encoding="utf-8"))
            rows.append(
                {
                    "pairs": size,
                    "corpus_mb": round(corpus_bytes / 1e6, 1),
                    "kept": report["sentences"]["train"],
                    "seconds": round(wall, 1),
                    "pairs_per_s": round(size / wall),
                    "peak_rss_gib": round(rss, 3),
                    "bin_mb": round(directory_bytes(run / "data" / "bin") / 1e6, 1),
                    "shards": len(meta["splits"]["train"]["shards"]),
                }
            )
            print(f"  prepared in {wall:.1f} s, peak RSS {rss:.3f} GiB", flush=True)
            if not args.keep:
                shutil.rmtree(run)
                corpus.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    print(f"\n{LABEL}, --workers {args.workers}")
    header = f"{'pairs':>12} {'corpus MB':>10} {'seconds':>9} {'pairs/s':>9} {'peak RSS GiB':>13} {'bin MB':>8} {'shards':>7}"
    print(header)
    for row in rows:
        print(
            f"{row['pairs']:>12,} {row['corpus_mb']:>10} {row['seconds']:>9} {row['pairs_per_s']:>9,} "
            f"{row['peak_rss_gib']:>13} {row['bin_mb']:>8} {row['shards']:>7}"
        )
    write_result(args.name, {"label": LABEL, "workers": args.workers, "rows": rows})


if __name__ == "__main__":
    main()
