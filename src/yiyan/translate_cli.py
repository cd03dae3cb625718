"""The practitioner's options of `yiyan translate` (parsing and output only; the work is in
search, ensemble, glossary and decoding_options):

    --nbest N --output-format jsonl      one JSON object per input line with the N best
    --sampling --temperature T --top-k K --top-p P --seed S
    --ensemble RUN2 [RUN3 …]             average the runs' log-probabilities at every step
    --glossary terms.tsv                 source term<TAB>target term, forced by constrained beam search

JSONL output, one object per input line:
    {"source": "...", "text": "<best>", "nbest": [{"text": "...", "log_prob": -3.1,
     "normalised_score": -0.44}, ...]}
`log_prob` is the summed log-probability of the output pieces and EOS (for an ensemble: of the
averaged log-probabilities); `normalised_score` is log_prob / (pieces + 1) ** length_penalty,
the score the list is ranked by.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from yiyan.results import Translation


def add_toolbox_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("n-best, sampling, ensembles, terminology (PyTorch engine)")
    group.add_argument(
        "--nbest", type=int, help="keep the N best hypotheses (N <= --beam; sampling: N samples)"
    )
    group.add_argument(
        "--output-format",
        choices=["text", "jsonl"],
        default="text",
        help="text (default): the best translation per line; jsonl: one JSON object per line with the n-best "
        "list and scores",
    )
    group.add_argument("--sampling", action="store_true", help="sample instead of beam search")
    group.add_argument("--temperature", type=float, help="sampling temperature, > 0 (default 1)")
    group.add_argument(
        "--top-k", type=int, help="sample among the K most probable tokens (0 = all; default 0)"
    )
    group.add_argument(
        "--top-p", type=float, help="nucleus sampling: the smallest set of mass >= P, in (0, 1]"
    )
    group.add_argument("--seed", type=int, help="random seed for --sampling (same seed, same samples)")
    group.add_argument(
        "--ensemble", nargs="+", metavar="RUN", default=[], help="more runs sharing RUN_DIR's vocabulary"
    )
    group.add_argument("--glossary", metavar="TSV", help="terms file: source term<TAB>target term per line")


def toolbox_options(args: argparse.Namespace) -> dict[str, Any]:
    """The search options the arguments ask for (None = not given, so the defaults apply)."""
    from yiyan.glossary import load_glossary

    nbest = args.nbest if args.nbest is not None else (1 if args.output_format == "jsonl" else None)
    options: dict[str, Any] = {
        "nbest": nbest,
        "sampling": True if args.sampling else None,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "seed": args.seed,
        "glossary": load_glossary(args.glossary) if args.glossary else None,
    }
    if not args.sampling:
        for name in ("temperature", "top_k", "top_p", "seed"):
            if options[name] is not None:
                raise _usage(f"--{name.replace('_', '-')} needs --sampling")
    return {name: value for name, value in options.items() if value is not None}


def load_ensemble(args: argparse.Namespace) -> Any:
    from yiyan.ensemble import ensemble_translator

    if args.engine == "ctranslate2" or args.int8:
        raise _usage(
            "--ensemble decodes with the PyTorch engine in fp32 (no --engine ctranslate2, no --int8)"
        )
    return ensemble_translator(args.run_dir, args.ensemble, device=args.device)


def jsonl_line(translation: Translation) -> str:
    record = {
        "source": translation.source,
        "text": translation.text,
        "nbest": [
            {
                "text": a.text,
                "log_prob": round(a.log_prob, 6),
                "normalised_score": round(a.normalised_score, 6),
            }
            for a in translation.nbest
        ],
    }
    return json.dumps(record, ensure_ascii=False)


def _usage(message: str) -> Exception:
    from yiyan.errors import ConfigError

    return ConfigError(message)
