"""Decoding toolbox on Tatoeba: a 2-model ensemble vs its members, a glossary's term accuracy and
BLEU, and the speed of n-best, sampling, ensembles and glossaries vs plain beam search.

    python benchmarks/toolbox_decode.py runs/tatoeba-ref-s1 runs/tatoeba-ref-s2

The two runs must share a vocabulary (trained from the same prepared data). Sources and
references are RUN_A's prepared test set (data/test.en, data/test.ref.zh).

- Ensemble: test BLEU (sacrebleu, beam 5) of A, B and A+B (`--ensemble`: the mean of the two
  models' log-probabilities at every step).
- Glossary: a synthetic glossary from the test pairs that A (beam 5) gets wrong: for each test
  pair, a CC-CEDICT entry (one-word English gloss → simplified headword of ≥ 2 characters) whose
  English word is in the source and whose headword is in the reference but not in A's output.
  English words given different headwords by different sentences are left out (a glossary maps a
  term to one translation). The glossary is then applied to those sentences (every entry whose
  source term occurs fires, not only the one a sentence was picked for), with A, beam 5: term
  accuracy (target terms present / expected) and BLEU with and without it, on those sentences
  and on the whole test set (the other sentences translated as without it).
- Speed: sentences/s on the first --speed-sentences test sentences (glossary: on the glossary
  sentences, vs plain beam on the same sentences), one thread, batch 64; each timed after a
  warm-up call; ratio = time / plain beam 5's time.

Writes benchmarks/results/toolbox-decode.json.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR as RESULTS
from common import matmul_peak_gflops, write_result
from yiyan.data.embedded import read_cedict
from yiyan.ensemble import ensemble_translator
from yiyan.glossary import Glossary, glossary_from_pairs, term_accuracy
from yiyan.metrics import score
from yiyan.translator import Translator

BEAM = 5
PARTS = ("ensemble", "glossary", "speed")
WORD = re.compile(r"[a-z]+")


def read_test(run: Path) -> tuple[list[str], list[str]]:
    sources = (run / "data" / "test.en").read_text(encoding="utf-8").splitlines()
    refs = (run / "data" / "test.ref.zh").read_text(encoding="utf-8").splitlines()
    return sources, refs


def cedict_words() -> dict[str, list[str]]:
    """One-word lower-case English gloss (≥ 3 letters) → simplified headwords of ≥ 2 characters."""
    words: dict[str, list[str]] = {}
    for pair in read_cedict("en", "zh"):
        gloss, headword = pair.src.lower(), pair.tgt
        if WORD.fullmatch(gloss) and len(gloss) >= 3 and len(headword) >= 2:
            words.setdefault(gloss, []).append(headword)
    return words


def synthetic_glossary(
    sources: list[str], refs: list[str], outputs: list[str], words: dict[str, list[str]]
) -> tuple[Glossary, list[int], list[tuple[str, str]]]:
    """(glossary, indices of the sentences it was built from, its pairs) — module docstring."""
    picked: dict[int, tuple[str, str]] = {}
    for i, (source, ref, output) in enumerate(zip(sources, refs, outputs, strict=True)):
        candidates = [
            (word, headword)
            for word in dict.fromkeys(WORD.findall(source.lower()))
            for headword in words.get(word, [])
            if headword in ref and headword not in output
        ]
        if candidates:
            picked[i] = max(candidates, key=lambda c: len(c[1]))  # the most specific headword
    targets: dict[str, set[str]] = {}
    for word, headword in picked.values():
        targets.setdefault(word, set()).add(headword)
    kept = {i: pair for i, pair in picked.items() if len(targets[pair[0]]) == 1}
    pairs = sorted(set(kept.values()))
    return glossary_from_pairs(pairs), sorted(kept), pairs


def timed(translator: Translator, sources: list[str], **options: Any) -> tuple[list[str], float]:
    translator.translate(sources[:8], **options)  # warm-up
    start = time.perf_counter()
    outputs = translator.translate(sources, **options)
    return outputs, time.perf_counter() - start


def bleu(outputs: list[str], refs: list[str]) -> float:
    return float(score(outputs, refs, "zh")["bleu"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_a", type=Path)
    parser.add_argument(
        "run_b", type=Path, nargs="?", help="the ensemble's second run (needed by 'ensemble')"
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=PARTS,
        default=list(PARTS),
        help="what to measure (default: all); results of parts not run are kept from an earlier JSON",
    )
    parser.add_argument("--test-sentences", type=int, default=0, help="first N test sentences (0 = all)")
    parser.add_argument("--speed-sentences", type=int, default=400)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default="toolbox-decode")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    peak = matmul_peak_gflops()
    sources, refs = read_test(args.run_a)
    if args.test_sentences:
        sources, refs = sources[: args.test_sentences], refs[: args.test_sentences]
    a = Translator.load(args.run_a, device="cpu")
    previous = RESULTS / f"{args.name}.json"
    results: dict[str, Any] = json.loads(previous.read_text())["results"] if previous.is_file() else {}
    results.update({"test_sentences": len(sources), "beam": BEAM, "threads": args.threads})
    outputs_a, _ = timed(a, sources, beam=BEAM)
    print(f"a: BLEU {bleu(outputs_a, refs):.2f}", file=sys.stderr)

    ensemble = None
    if "ensemble" in args.parts or "speed" in args.parts:
        if args.run_b is None:
            parser.error("the ensemble and speed parts need RUN_B")
        ensemble = ensemble_translator(args.run_a, [args.run_b], device="cpu")
    if "ensemble" in args.parts:
        results["ensemble"] = measure_ensemble(args, a, ensemble, sources, refs, outputs_a)
    glossary_run = None
    if "glossary" in args.parts or "speed" in args.parts:
        glossary_run = measure_glossary(a, sources, refs, outputs_a)
        if "glossary" in args.parts:
            results["glossary"] = glossary_run["results"]
    if "speed" in args.parts:
        assert ensemble is not None and glossary_run is not None
        results["speed"] = measure_speed(a, ensemble, sources[: args.speed_sentences], glossary_run)
    for part in args.parts:  # each part's own command (a later run may add the other parts)
        results[part]["command"] = shlex.join(getattr(sys, "orig_argv", sys.argv))
    print(json.dumps(results, ensure_ascii=False, indent=1), file=sys.stderr)
    write_result(args.name, results, matmul_peak=peak)


def measure_ensemble(
    args: argparse.Namespace,
    a: Translator,
    ensemble: Translator | None,
    sources: list[str],
    refs: list[str],
    outputs_a: list[str],
) -> dict[str, Any]:
    assert ensemble is not None
    b = Translator.load(args.run_b, device="cpu")
    outputs = {
        "a": outputs_a,
        "b": timed(b, sources, beam=BEAM)[0],
        "ensemble": timed(ensemble, sources, beam=BEAM)[0],
    }
    scores = {name: bleu(out, refs) for name, out in outputs.items()}
    best_member = max(("a", "b"), key=lambda n: scores[n])
    return {
        "runs": {"a": str(args.run_a), "b": str(args.run_b)},
        "bleu": scores,
        "best_member": best_member,
        "gain_over_best_member": round(scores["ensemble"] - scores[best_member], 2),
        "signature": score(outputs_a, refs, "zh")["bleu_signature"],
    }


def measure_glossary(
    a: Translator, sources: list[str], refs: list[str], outputs_a: list[str]
) -> dict[str, Any]:
    glossary, chosen, pairs = synthetic_glossary(sources, refs, outputs_a, cedict_words())
    g_sources, g_refs = [sources[i] for i in chosen], [refs[i] for i in chosen]
    g_plain = [outputs_a[i] for i in chosen]
    g_outputs, g_seconds = timed(a, g_sources, beam=BEAM, glossary=glossary)
    _, g_plain_seconds = timed(a, g_sources, beam=BEAM)
    with_glossary = list(outputs_a)
    for i, output in zip(chosen, g_outputs, strict=True):
        with_glossary[i] = output
    results = {
        "entries": len(pairs),
        "sentences": len(chosen),
        "examples": pairs[:10],
        "term_accuracy_without": term_accuracy(glossary, g_sources, g_plain),
        "term_accuracy_with": term_accuracy(glossary, g_sources, g_outputs),
        "bleu_glossary_sentences": {"without": bleu(g_plain, g_refs), "with": bleu(g_outputs, g_refs)},
        "bleu_test_set": {"without": bleu(outputs_a, refs), "with": bleu(with_glossary, refs)},
    }
    return {
        "results": results,
        "sentences": g_sources,
        "seconds": g_seconds,
        "plain_seconds": g_plain_seconds,
    }


def measure_speed(
    a: Translator, ensemble: Translator, sources: list[str], glossary_run: dict[str, Any]
) -> dict[str, Any]:
    _, plain = timed(a, sources, beam=BEAM)
    variants: dict[str, tuple[Translator, dict[str, Any]]] = {
        "greedy": (a, {"beam": 1}),
        "nbest5_beam5": (a, {"beam": BEAM, "nbest": 5}),
        "sampling_1": (a, {"sampling": True, "seed": 1}),
        "sampling_5_topp0.9": (a, {"sampling": True, "nbest": 5, "top_p": 0.9, "seed": 1}),
        "ensemble2_beam5": (ensemble, {"beam": BEAM}),
    }
    speed: dict[str, Any] = {
        "sentences": len(sources),
        "beam5": {"seconds": round(plain, 2), "sentences_per_s": round(len(sources) / plain, 1)},
    }
    for name, (translator, options) in variants.items():
        _, took = timed(translator, sources, **options)
        speed[name] = {
            "seconds": round(took, 2),
            "sentences_per_s": round(len(sources) / took, 1),
            "ratio_to_beam5": round(took / plain, 2),
        }
    speed["glossary_beam5"] = {
        "sentences": len(glossary_run["sentences"]),
        "seconds": round(glossary_run["seconds"], 2),
        "plain_beam5_seconds_same_sentences": round(glossary_run["plain_seconds"], 2),
        "ratio_to_beam5": round(glossary_run["seconds"] / glossary_run["plain_seconds"], 2),
    }
    return speed


if __name__ == "__main__":
    main()
