"""Back-translation recipe and its measured gain on the Tatoeba English→Chinese test set.

    python benchmarks/backtranslation.py --data ../shared/data/tatoeba-cmn \
        --mono ../shared/data/jiyu-en-zh/train.tsv --budget 6m --work bench-out/bt

1. Reverse model: `yiyan train configs/backtranslation-zh-en.yaml` (Tatoeba, columns swapped),
   or `--reverse RUN` to take a trained (or imported) zh→en run.
2. Monolingual Chinese (yiyan.backtranslation.monolingual_sample): the Chinese column of `--mono` (by default the noisy jiyu-en-zh corpus,
   whose English side is thrown away), sentences of 4 to `--max-chars` characters (Tatoeba's
   short conversational register; jiyu's long technical sentences are another domain), without
   any sentence whose letters (punctuation and spaces ignored) equal a Tatoeba test or dev
   sentence, de-duplicated, then a seeded random sample of `--mono-size`.
3. Synthetic sources: the reverse model translates them (`--decode beam`, beam 5, or
   `--decode sampling`, unrestricted sampling, which Edunov et al. 2018 found better for
   back-translation at scale), and each synthetic English source gets the tag `<BT> `.
4. Two en→zh runs of configs/backtranslation.yaml with the same budget, seed and config: the
   baseline on Tatoeba train alone, the other on Tatoeba train + the tagged synthetic pairs.
5. Both decode the Tatoeba test set (greedy and beam 5, untagged sources); BLEU/chrF side by side.

All runs share the machine one after the other (never two at once). Writes
benchmarks/results/backtranslation.json (or --name).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import matmul_peak_gflops, write_result
from yiyan.backtranslation import monolingual_sample, tagged_pairs
from yiyan.cli import parse_duration
from yiyan.data.corpus import read_tsv
from yiyan.metrics import score
from yiyan.translator import Translator


def yiyan(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "yiyan", *args], check=True)


def train(
    config: str, run: Path, train_tsv: Path, data: Path, budget: float, seed: int, overrides: list[str]
) -> dict[str, Any]:
    """One training run of `config` on `train_tsv` with Tatoeba dev/test, `budget` seconds."""
    from yiyan.io import read_json

    sets = [
        "data.corpus=null",
        f"data.train={train_tsv}",
        f"data.dev={data / 'dev.tsv'}",
        f"data.test={data / 'test.tsv'}",
        f"training.seed={seed}",
        f"training.max_time={budget}",
        *overrides,
    ]
    yiyan("train", config, "--quiet", "--overwrite", f"--run-dir={run}", *(f"--set={item}" for item in sets))
    summary: dict[str, Any] = read_json(run / "train_summary.json")
    return {key: summary[key] for key in ("steps", "best_step", "best_dev_score", "train_seconds")}


def test_scores(run: Path, data: Path) -> dict[str, Any]:
    """BLEU / chrF of `run` on the Tatoeba test set (untagged English sources), greedy and beam 5."""
    pairs = list(read_tsv(data / "test.tsv"))
    sources, refs = [p.src for p in pairs], [p.tgt for p in pairs]
    translator = Translator.load(run, device="cpu")
    results = {}
    for beam in (1, 5):
        hyps = translator.translate(sources, beam=beam)
        scores = score(hyps, refs, "zh")
        results[f"beam{beam}"] = {"bleu": scores["bleu"], "chrf": scores["chrf"]}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="Tatoeba directory (train/dev/test.tsv)")
    parser.add_argument("--mono", type=Path, required=True, help="TSV whose 2nd column is Chinese text")
    parser.add_argument("--work", type=Path, default=Path("bench-out/backtranslation"))
    parser.add_argument("--budget", type=parse_duration, default=360.0, help="each training (default 6m)")
    parser.add_argument("--reverse", type=Path, help="a trained zh→en run (default: train one)")
    parser.add_argument("--mono-size", type=int, default=20000)
    parser.add_argument("--max-chars", type=int, default=24)
    parser.add_argument("--decode", choices=["beam", "sampling"], default="beam")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="for every training"
    )
    parser.add_argument(
        "--name", default="backtranslation", help="result name (benchmarks/results/NAME.json)"
    )
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    peak = matmul_peak_gflops()
    results: dict[str, Any] = {"budget_s_per_training": args.budget, "decode": args.decode, "seed": args.seed}

    reverse = args.reverse
    if reverse is None:
        reverse = work / "zh-en"
        results["reverse_training"] = train(
            "configs/backtranslation-zh-en.yaml",
            reverse,
            args.data / "train.tsv",
            args.data,
            args.budget,
            args.seed,
            args.overrides,
        )
    results["reverse_run"] = str(reverse)

    # Chinese sentences of the Tatoeba test and dev sets may not be among the monolingual ones
    exclude = [pair.tgt for name in ("test.tsv", "dev.tsv") for pair in read_tsv(args.data / name)]
    mono = monolingual_sample(
        args.mono, column=1, exclude=exclude, size=args.mono_size, max_chars=args.max_chars, seed=args.seed
    )
    results["monolingual"] = {"source": str(args.mono), "max_chars": args.max_chars, **mono.counts}
    print(f"monolingual Chinese: {mono.counts}", flush=True)

    started = time.perf_counter()
    translator = Translator.load(reverse, device="cpu")
    options: dict[str, Any] = (
        {"beam": 5} if args.decode == "beam" else {"beam": 1, "sampling": True, "seed": args.seed}
    )
    english = translator.translate(mono.sentences, **options)
    results["back_translation_seconds"] = round(time.perf_counter() - started, 1)
    synthetic = tagged_pairs(english, mono.sentences)
    results["synthetic_pairs"] = len(synthetic)
    mixed = work / "train+bt.tsv"
    with open(mixed, "w", encoding="utf-8") as out:
        out.write((args.data / "train.tsv").read_text(encoding="utf-8"))
        out.writelines(f"{src}\t{tgt}\n" for src, tgt in synthetic)
    results["examples"] = synthetic[:5]

    arms = {"baseline": args.data / "train.tsv", "with_bt": mixed}
    for arm, tsv in arms.items():
        run = work / f"en-zh-{arm}"
        results[arm] = {
            "training": train(
                "configs/backtranslation.yaml", run, tsv, args.data, args.budget, args.seed, args.overrides
            )
        }
        results[arm]["test"] = test_scores(run, args.data)
        print(arm, results[arm], flush=True)
    results["gain_bleu"] = {
        beam: round(results["with_bt"]["test"][beam]["bleu"] - results["baseline"]["test"][beam]["bleu"], 2)
        for beam in ("beam1", "beam5")
    }
    print(results["gain_bleu"], flush=True)
    write_result(args.name, results, matmul_peak=peak)


if __name__ == "__main__":
    main()
