"""How much of a test set a model could get right by memorising its training file:

    python benchmarks/overlap.py ../shared/data/tatoeba-cmn --name tatoeba-overlap

For dev.tsv and test.tsv (source<TAB>target): the share of pairs whose source (lower-cased,
whitespace collapsed), whose target, or whose whole pair also occurs in the raw train.tsv. These
are the pairs `prepare` decontaminates (data.decontaminate, on by default: a training pair whose
source or target occurs in dev or test is dropped); figures measured before it existed were
boosted by them.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import write_result


def read_pairs(path: Path) -> list[tuple[str, str]]:
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        if len(fields) >= 2:
            pairs.append((fields[0], fields[1]))
    return pairs


def normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path, help="directory with train.tsv, dev.tsv, test.tsv")
    parser.add_argument("--name", default="tatoeba-overlap")
    args = parser.parse_args()
    train = read_pairs(args.data / "train.tsv")
    sources = {normalised(s) for s, _ in train}
    targets = {t.strip() for _, t in train}
    whole = {(normalised(s), t.strip()) for s, t in train}
    report: dict[str, object] = {"train_pairs": len(train)}
    for split in ("dev", "test"):
        pairs = read_pairs(args.data / f"{split}.tsv")
        counts = {
            "pairs": len(pairs),
            "source_in_train": sum(normalised(s) in sources for s, _ in pairs),
            "target_in_train": sum(t.strip() in targets for _, t in pairs),
            "pair_in_train": sum((normalised(s), t.strip()) in whole for s, t in pairs),
        }
        counts["target_in_train_share"] = round(counts["target_in_train"] / max(len(pairs), 1), 4)
        report[split] = counts
        print(split, counts)
    write_result(args.name, report)


if __name__ == "__main__":
    main()
