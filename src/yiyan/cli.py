"""The `yiyan` command line: parses arguments and calls the modules, no logic of its own.

    yiyan prepare CONFIG            clean, split, train the tokenizer (or --tokenizer DIR), binarize
    yiyan train CONFIG              train (prepares first if needed); --resume continues;
                                    --nproc N: N data-parallel processes (torchrun)
    yiyan finetune PRETRAINED CONFIG  fine-tune a trained run on in-domain data; writes a report
    yiyan translate RUN_DIR         stdin (or -i FILE) → one translation per line
    yiyan evaluate RUN_DIR          BLEU / chrF with sacrebleu signatures
    yiyan score RUN_DIR --tsv F -o O  forced scoring of source<TAB>target pairs
    yiyan average RUN_DIR --last N -o OUT  average kept checkpoints (or --best N by dev BLEU) into a run
    yiyan export RUN_DIR -o OUT     convert to CTranslate2 (translate/evaluate/serve OUT then use it)
    yiyan import DIR -o RUN_DIR     a Hugging Face MarianMT (OPUS-MT) folder → a run directory

Errors caused by input (bad files, bad config keys, missing runs) print one line and exit
with status 2; they never show a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from yiyan.errors import YiyanError
from yiyan.io import atomic_text_writer

Handler = Callable[[argparse.Namespace], int]


def parse_duration(text: str) -> float:
    """'90', '90s', '20m', '1.5h' → seconds."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smh]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 90, 90s, 20m, 1.5h)")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"": 1, "s": 1, "m": 60, "h": 3600}[unit]


def check_options(args: argparse.Namespace) -> None:
    """Numeric options must be in the range of the config value they stand for (config.RANGES):
    `--beam 0` is refused like `decoding.beam: 0`, as a one-line ConfigError."""
    from yiyan.config import POSITIVE, RANGES, check_in_range

    ranges = {
        "beam": RANGES["decoding.beam"],
        "length_penalty": RANGES["decoding.length_penalty"],
        "max_length_ratio": RANGES["decoding.max_length_ratio"],
        "no_repeat_ngram_size": RANGES["decoding.no_repeat_ngram_size"],
        "batch_size": RANGES["decoding.batch_size"],
        "threads": RANGES["training.num_threads"],
        "max_steps": RANGES["training.max_steps"],
        "max_time": RANGES["training.max_time"],
        "nproc": POSITIVE,
        "workers": POSITIVE,
    }
    for dest, allowed in ranges.items():
        value = getattr(args, dest, None)
        if value is not None:
            check_in_range(value, allowed, f"--{dest.replace('_', '-')}")


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML config file (see configs/ for recipes)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set training.max_steps=100 (repeatable; VALUE is YAML)",
    )
    parser.add_argument("--run-dir", help="where the run directory goes (default: runs/<name>)")


def _load(args: argparse.Namespace) -> Any:
    from yiyan.config import load_config

    overrides = list(args.overrides)
    if getattr(args, "run_dir", None):
        overrides.append(f"run_dir={args.run_dir}")
    return load_config(args.config, overrides)


def _add_decoding_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("decoding (defaults: the run's config)")
    group.add_argument("--beam", type=int, help="beam size; 1 = greedy search")
    group.add_argument("--length-penalty", type=float, help="alpha in score / length**alpha")
    group.add_argument(
        "--max-length-ratio", type=float, help="max output tokens = ratio × source tokens + offset"
    )
    group.add_argument(
        "--no-repeat-ngram-size", type=int, help="forbid repeating any n-gram of this size (0 = off)"
    )
    group.add_argument("--batch-size", type=int, help="sentences decoded together")
    group.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    group.add_argument("--threads", type=int, default=0, help="CPU threads (0 = the engine's default)")
    group.add_argument(
        "--int8",
        action="store_true",
        help="int8: PyTorch dynamic quantization of linear layers (CPU), or CTranslate2 compute type int8",
    )
    group.add_argument(
        "--engine",
        choices=["auto", "torch", "ctranslate2"],
        default="auto",
        help="auto (default): ctranslate2 for a `yiyan export` directory, torch for a run",
    )


def _add_translate_io_args(parser: argparse.ArgumentParser) -> None:
    from yiyan.translate_io import BATCH_LINES, INPUT_FORMATS, MAX_WAIT_MS

    group = parser.add_argument_group("input (yiyan.translate_io)")
    group.add_argument(
        "--input-format",
        choices=INPUT_FORMATS,
        help="lines: one sentence per line (default); text: each line a paragraph, split into sentences "
        "and put back together; srt/vtt: subtitles, cues and timings kept (default for a .srt/.vtt file)",
    )
    group.add_argument(
        "--batch-lines",
        type=_positive_int,
        default=BATCH_LINES,
        help=f"lines read before a batch is translated (default {BATCH_LINES})",
    )
    group.add_argument(
        "--max-wait-ms",
        type=float,
        default=MAX_WAIT_MS,
        help=f"translate what has arrived after this long without a new line (default {MAX_WAIT_MS:g})",
    )
    group.add_argument(
        "--max-input-tokens",
        type=_positive_int,
        help="longer sentences are cut at clause boundaries and translated in parts (default: the run's)",
    )
    group.add_argument(
        "--zh-punctuation",
        action="store_true",
        help="Chinese output: ASCII , ? ! : ; between Chinese characters become full-width",
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _decoding_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "beam": args.beam,
        "length_penalty": args.length_penalty,
        "max_length_ratio": args.max_length_ratio,
        "no_repeat_ngram_size": args.no_repeat_ngram_size,
        "batch_size": args.batch_size,
    }


def _translator(args: argparse.Namespace) -> Any:
    from yiyan.engines import load_translator

    engine = getattr(args, "engine", "auto")
    return load_translator(args.run_dir, engine, device=args.device, threads=args.threads, int8=args.int8)


# ------------------------------------------------------------------------ commands


def cmd_prepare(args: argparse.Namespace) -> int:
    from yiyan.prepare import prepare

    prepare(_load(args), workers=args.workers, tokenizer_dir=args.tokenizer)
    return 0


def _add_training_args(parser: argparse.ArgumentParser) -> None:
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    start.add_argument(
        "--overwrite",
        action="store_true",
        help="delete the run's earlier training (checkpoints, metrics, logs; not its prepared data) "
        "and start again; without --resume or --overwrite, a run that has trained is not touched",
    )
    parser.add_argument(
        "--max-time", type=parse_duration, help="wall-clock budget, e.g. 20m; keeps the best model"
    )
    parser.add_argument("--max-steps", type=int, help="stop after this many updates")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_budget_overrides(args: argparse.Namespace) -> None:
    if args.max_time is not None:
        args.overrides.append(f"training.max_time={args.max_time}")
    if args.max_steps is not None:
        args.overrides.append(f"training.max_steps={args.max_steps}")


def cmd_train(args: argparse.Namespace) -> int:
    _add_budget_overrides(args)
    config = _load(args)
    if args.nproc != 1:
        from yiyan.training.launch import launch
        from yiyan.training.run_dir import claim_run_dir

        claim_run_dir(config.run_path, resume=args.resume, overwrite=args.overwrite)  # here, not per rank
        return launch(args.nproc, config, _rank_argv(args))
    from yiyan.training.trainer import train

    train(config, resume=args.resume, quiet=args.quiet, overwrite=args.overwrite)
    return 0


def _rank_argv(args: argparse.Namespace) -> list[str]:
    """The `yiyan train` arguments of each rank under --nproc (the budget options are overrides by now)."""
    argv = [*(["-v"] if args.verbose else []), "train", args.config]
    argv += [f"--set={item}" for item in args.overrides]
    if args.run_dir:
        argv.append(f"--run-dir={args.run_dir}")
    return argv + [flag for flag, on in (("--resume", args.resume), ("--quiet", args.quiet)) if on]


def cmd_finetune(args: argparse.Namespace) -> int:
    from yiyan.finetune import finetune

    _add_budget_overrides(args)
    args.overrides.append(f"finetune.init_from={json.dumps(args.pretrained)}")  # JSON is YAML: quoted
    finetune(
        args.pretrained,
        _load(args),
        scratch=args.scratch,
        resume=args.resume,
        overwrite=args.overwrite,
        quiet=args.quiet,
        beam=args.beam,
    )
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    from yiyan.translate_cli import jsonl_line, load_ensemble, toolbox_options
    from yiyan.translate_io import input_format, open_input, translate_stream

    options = {**_decoding_options(args), **toolbox_options(args)}
    options.update(max_input_tokens=args.max_input_tokens, zh_punctuation=args.zh_punctuation or None)
    fmt = input_format(args.input_format, args.input)  # a bad format fails before the model loads
    translator = load_ensemble(args) if args.ensemble else _translator(args)
    source = open_input(args.input, sys.stdin)
    try:
        with atomic_text_writer(args.output) as out:  # -o FILE: complete or untouched
            report = translate_stream(
                translator,
                source,
                out,
                fmt,
                options,
                name=args.input or "<stdin>",
                format_line=jsonl_line if args.output_format == "jsonl" else None,
                batch_lines=args.batch_lines,
                max_wait_ms=args.max_wait_ms,
            )
    finally:
        if args.input:
            source.close()
    for note in report.summary():
        print(f"yiyan: {note}", file=sys.stderr)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from yiyan.evaluate import evaluate_run
    from yiyan.metrics import format_scores

    result = evaluate_run(
        _translator(args),
        src=args.src,
        ref=args.ref,
        tsv=args.tsv,
        output=args.output,
        **_decoding_options(args),
    )
    print(format_scores(result))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from yiyan.scoring import score_tsv

    count = score_tsv(
        args.run_dir,
        args.tsv,
        args.output,
        batch_size=args.batch_size,
        length_penalty=args.length_penalty,
        device=args.device,
    )
    print(f"{args.output}  ({count} pairs scored)")
    return 0


def cmd_average(args: argparse.Namespace) -> int:
    from yiyan.averaging import average_run

    report = average_run(args.run_dir, args.output, last=args.last, best=args.best)
    steps = ", ".join(str(entry["step"]) for entry in report["checkpoints"])
    print(f"{args.output}  (mean of the {report['method']} checkpoints: steps {steps})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from yiyan.export.ctranslate2 import export_ctranslate2

    result = export_ctranslate2(args.run_dir, args.output, quantization=args.quantization, force=args.force)
    print(f"{result.path}  ({result.size_bytes / 2**20:.1f} MiB, {result.quantization}: {result.reason})")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from yiyan.importers.marian import download_from_hub, import_marian

    source = download_from_hub(args.source, args.cache_dir) if args.hub else args.source
    result = import_marian(
        source,
        args.output,
        src_lang=args.src_lang,
        tgt_lang=args.tgt_lang,
        target_code=args.target_code,
        force=args.force,
    )
    report = result.report
    print(
        f"{result.path}  ({report['architecture']}, {report['src_lang']}→{report['tgt_lang']}, "
        f"{report['parameters']:,} parameters)"
    )
    for note in report["notes"]:
        print(f"note: {note}")
    return 0


def cmd_attention(args: argparse.Namespace) -> int:
    from yiyan.viz import attention_command

    path = attention_command(
        args.run_dir,
        args.text,
        args.output,
        layer=args.layer,
        head=args.head,
        beam=args.beam,
        fmt=args.fmt,
        device=args.device,
    )
    print(path)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from yiyan.serve import serve_command, settings_from_args

    settings = settings_from_args(args)  # bad limits fail before the model loads
    return serve_command(_translator(args), settings)


# ------------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yiyan", description="yiyan (译言): build your own neural machine translation models."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("prepare", help="clean, split, tokenize and binarize a parallel corpus")
    _add_config_args(p)
    p.add_argument("--workers", type=int, default=1, help="processes that encode the corpus (default: 1)")
    p.add_argument(
        "--tokenizer",
        type=Path,
        metavar="DIR",
        help="reuse this tokenizer (a run's tokenizer/ directory) instead of training one: runs that "
        "share it have comparable dev losses",
    )
    p.set_defaults(handler=cmd_prepare)

    p = commands.add_parser("train", help="train a model (prepares the data first if needed)")
    _add_config_args(p)
    _add_training_args(p)
    p.add_argument(
        "--nproc",
        type=int,
        default=1,
        metavar="N",
        help="data-parallel training with N processes on this machine, started by torchrun "
        "(one per GPU; on CPU, gloo). Several machines: see docs/scaling.md",
    )
    p.set_defaults(handler=cmd_train)

    p = commands.add_parser(
        "finetune",
        help="fine-tune a trained run on in-domain data and report the gain",
        description="Start from the weights, tokenizer and architecture of PRETRAINED_RUN_DIR and train on "
        "the data of CONFIG with CONFIG's optimizer settings (finetune.freeze, freeze_layers and mix_ratio "
        "apply). Writes RUN/finetune_report.json and .md: in-domain test BLEU/chrF before and after "
        "(and of the --scratch baseline), general-domain test BLEU before and after.",
    )
    p.add_argument("pretrained", metavar="PRETRAINED_RUN_DIR", help="the trained run to start from")
    _add_config_args(p)
    _add_training_args(p)
    p.add_argument(
        "--scratch",
        action="store_true",
        help="also train the same config from scratch with the same budget (into RUN-scratch) for the report",
    )
    p.add_argument("--beam", type=int, help="beam size for the report's test sets (default: decoding.beam)")
    p.set_defaults(handler=cmd_finetune)

    p = commands.add_parser("translate", help="translate lines, documents or subtitles from stdin or a file")
    p.add_argument("run_dir", metavar="RUN_DIR|EXPORT_DIR", help="a trained run or a CTranslate2 export")
    p.add_argument("-i", "--input", help="input file (default: stdin, translated as it streams in)")
    p.add_argument("-o", "--output", help="output file (default: stdout)")
    _add_translate_io_args(p)
    _add_decoding_args(p)
    from yiyan.translate_cli import add_toolbox_arguments

    add_toolbox_arguments(p)
    p.set_defaults(handler=cmd_translate)

    p = commands.add_parser("evaluate", help="translate a test set and score it with sacrebleu")
    p.add_argument("run_dir", metavar="RUN_DIR|EXPORT_DIR", help="a trained run or a CTranslate2 export")
    p.add_argument("--src", help="source file, one sentence per line")
    p.add_argument("--ref", help="reference file, line-aligned with --src")
    p.add_argument("--tsv", help="or a TSV file: source<TAB>reference")
    p.add_argument("--output", help="where to save the hypotheses (default: RUN_DIR/eval/<name>.hyp)")
    _add_decoding_args(p)
    p.set_defaults(handler=cmd_evaluate)

    p = commands.add_parser(
        "score",
        help="forced scoring: the model's log-probability of given source<TAB>target pairs",
        description="Write, for every line of --tsv, the log-probability of the target given the source "
        "(summed, per token, and length-normalised as beam search ranks hypotheses) to -o, after a header line.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a trained run")
    p.add_argument("--tsv", required=True, help="pairs to score: source<TAB>target, one per line")
    p.add_argument("-o", "--output", required=True, help="the scores TSV to write")
    p.add_argument("--batch-size", type=int, default=64, help="pairs per forward pass (default: 64)")
    p.add_argument("--length-penalty", type=float, help="alpha of score / tokens**alpha (default: the run's)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.set_defaults(handler=cmd_score)

    p = commands.add_parser(
        "average",
        help="average the weights of kept checkpoints into a new run",
        description="Write OUT, a run directory like RUN_DIR whose weights are the mean of checkpoints that "
        "RUN_DIR kept while training (training.keep_checkpoints: N): the last N, or the N best by dev BLEU.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run trained with training.keep_checkpoints > 0")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--last", type=int, metavar="N", help="average the N newest kept checkpoints")
    which.add_argument("--best", type=int, metavar="N", help="average the N with the best dev BLEU")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the run directory to create")
    p.set_defaults(handler=cmd_average)

    p = commands.add_parser(
        "export",
        help="convert a Transformer run for deployment (CTranslate2)",
        description="Convert the Transformer run in RUN_DIR into a CTranslate2 model directory; "
        "`yiyan translate/evaluate/serve OUT` then decode with CTranslate2 (docs/deployment.md).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a trained Transformer run")
    p.add_argument(
        "--to", choices=["ctranslate2"], default="ctranslate2", help="format (default: ctranslate2)"
    )
    p.add_argument(
        "--quantization",
        choices=["auto", "int8", "int8_float32", "int8_float16", "float16", "float32"],
        default="auto",
        help="weight type; auto (default): float16 on a GPU, int8 on CPUs with VNNI/AVX-512, else float32",
    )
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the export directory to create")
    p.add_argument("--force", action="store_true", help="replace an earlier export in OUT")
    p.set_defaults(handler=cmd_export)

    p = commands.add_parser(
        "import",
        help="import a Hugging Face MarianMT (OPUS-MT) model folder as a run directory",
        description="Convert a local Hugging Face MarianMT folder (config.json, model.safetensors, "
        "source.spm, target.spm, vocab.json) into a run directory that translate, evaluate, "
        "attention, export, serve and finetune use (docs/usage.md).",
    )
    p.add_argument("source", metavar="DIR", help="the model folder (with --hub: a repository id)")
    p.add_argument("-o", "--output", required=True, metavar="RUN_DIR", help="the run directory to create")
    p.add_argument("--src-lang", help="source language code (default: from the folder)")
    p.add_argument("--tgt-lang", help="target language code (default: from the folder)")
    p.add_argument(
        "--target-code",
        metavar="'>>xx<<'",
        help="the target-language token a multilingual-target model expects (opus-mt-en-zh: '>>cmn_Hans<<'); "
        "added to every source",
    )
    p.add_argument("--force", action="store_true", help="replace a non-empty RUN_DIR")
    p.add_argument(
        "--hub",
        action="store_true",
        help="DIR is a Hugging Face Hub repository id: download it first (needs huggingface_hub and a network)",
    )
    p.add_argument("--cache-dir", help="with --hub: where downloads are cached (default: the Hub's cache)")
    p.set_defaults(handler=cmd_import)

    from yiyan.viz import parse_index

    p = commands.add_parser(
        "attention",
        help="draw the attention of one translation as a heatmap (PNG/SVG) or JSON",
        description="Translate TEXT with the run in RUN_DIR and show which source subwords each "
        "generated target subword attended to.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a trained run directory")
    p.add_argument("text", metavar="TEXT", help="one source sentence")
    p.add_argument("-o", "--output", required=True, help="output file: .png, .svg or .json")
    p.add_argument(
        "--layer",
        type=parse_index,
        default=-1,
        metavar="N|all",
        help="decoder layer (0-based, negative counts from the end; default -1 = last); 'all' averages all layers",
    )
    p.add_argument(
        "--head",
        type=parse_index,
        default=None,
        metavar="N|all",
        help="attention head (0-based); default: average",
    )
    p.add_argument("--beam", type=int, help="beam size (default: the run's decoding.beam; 1 = greedy)")
    p.add_argument(
        "--format",
        dest="fmt",
        choices=["png", "svg", "json"],
        help="output format (default: from the -o extension)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.set_defaults(handler=cmd_attention)

    from yiyan.serve import add_serve_arguments  # light: no fastapi/torch import

    p = commands.add_parser("serve", help="HTTP API + web page with dynamic batching (127.0.0.1 by default)")
    p.add_argument("run_dir", metavar="RUN_DIR|EXPORT_DIR", help="a trained run or a CTranslate2 export")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch's default)")
    p.add_argument(
        "--int8", action="store_true", help="PyTorch dynamic int8 quantization of linear layers (CPU)"
    )
    add_serve_arguments(p)
    p.set_defaults(handler=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s")
    warnings.formatwarning = lambda message, category, *rest: f"yiyan: warning: {message}\n"
    handler: Handler = args.handler
    try:
        check_options(args)
        return handler(args)
    except YiyanError as error:
        print(f"yiyan: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("yiyan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
