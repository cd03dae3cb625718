"""Fine-tuning a pretrained run on in-domain data, and a report that says whether it helped.

finetune(pretrained_dir, config, scratch=True)
  1. trains `config` with finetune.init_from = pretrained_dir: the trainer prepares the
     in-domain data with the pretrained tokenizer, checks that the architecture and
     vocabulary match, loads the weights, freezes the chosen parts and mixes in
     general-domain pairs (training/transfer.py, data/mixing.py); the optimizer, learning
     rate, warmup and schedule are the config's own, starting fresh
  2. with `scratch`: the baseline — the same config without init_from, the same budget,
     its own run directory (RUN-scratch) and its own tokenizer trained on the in-domain data
  3. build_report: BLEU / chrF on the in-domain test set (the fine-tune run's data/test.*)
     of the pretrained, fine-tuned and scratch models, and on the general-domain test set
     (the pretrained run's data/test.*) before and after fine-tuning; steps, wall time,
     data sizes and vocabulary fit. Written to RUN/finetune_report.json and .md.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from yiyan.checkpoint import has_training_checkpoint, load_model_config
from yiyan.config import Config, FinetuneConfig
from yiyan.errors import ConfigError
from yiyan.evaluate import evaluate_run
from yiyan.io import atomic_write, read_json, write_json
from yiyan.prepare import REPORT, is_prepared, prepare, reference_file
from yiyan.training.run_dir import claim_run_dir
from yiyan.training.trainer import train
from yiyan.training.transfer import freeze_parameters
from yiyan.translator import Translator, load_run_config
from yiyan.vocab import DEFAULT_SPECIAL_IDS, SPECIAL_ROLES

__all__ = ["build_report", "finetune", "format_report", "freeze_parameters", "scratch_config", "write_report"]

REPORT_JSON = "finetune_report.json"
REPORT_MD = "finetune_report.md"
MODELS = ("pretrained", "finetuned", "scratch")


def with_pretrained(config: Config, pretrained_dir: str | Path) -> Config:
    """`config` fine-tuning from `pretrained_dir` (its finetune.init_from, set when empty)."""
    pretrained = Path(pretrained_dir)
    given = config.finetune.init_from
    if given is not None and Path(given).resolve() != pretrained.resolve():
        raise ConfigError(f"finetune.init_from is {given}, but the pretrained run given is {pretrained}")
    return dataclasses.replace(
        config, finetune=dataclasses.replace(config.finetune, init_from=str(pretrained))
    )


def scratch_config(config: Config, pretrained: Config | None = None) -> Config:
    """The baseline: the same model trained from scratch on the in-domain data alone (no init_from,
    freezing or mixing), in its own run directory RUN-scratch, with the same budget.

    A model trained from scratch needs a from-scratch learning-rate schedule, not the gentle one of
    fine-tuning: with the pretrained run's config given, its optimizer and schedule are used (the
    recipe that made the pretrained model), with the fine-tune run's budget and evaluation settings.
    """
    run = config.run_path
    training = config.training
    if pretrained is not None:
        keep = ("max_steps", "max_epochs", "max_time", "eval_every", "eval_max_sentences", "patience", "seed")
        training = dataclasses.replace(
            pretrained.training, **{name: getattr(config.training, name) for name in keep}
        )
    return dataclasses.replace(
        config,
        name=f"{config.name}-scratch",
        run_dir=str(run.with_name(f"{run.name}-scratch")),
        # the baseline trains its own tokenizer, with yiyan's special ids (not an imported model's)
        model=dataclasses.replace(
            config.model, **{f"{r}_id": getattr(DEFAULT_SPECIAL_IDS, r) for r in SPECIAL_ROLES}
        ),
        training=training,
        finetune=FinetuneConfig(min_char_coverage=config.finetune.min_char_coverage),
    )


def low_coverage(prepare_report: dict[str, Any], minimum: float) -> list[dict[str, Any]]:
    """The splits and sides of a prepare report whose character coverage is below `minimum`."""
    return [
        {
            "split": split,
            "side": side,
            **{k: stats[k] for k in ("char_coverage", "unk_rate", "unknown_chars")},
        }
        for split, sides in prepare_report["statistics"].items()
        for side, stats in sides.items()
        if stats["char_coverage"] < minimum
    ]


def coverage_warning(entries: list[dict[str, Any]], minimum: float) -> str:
    """One message about the entries of `low_coverage`."""
    shown = ", ".join(
        f"{e['split']} {e['side']} {e['char_coverage']:.2%} (unk rate {e['unk_rate']:.2%})" for e in entries
    )
    return (
        f"the pretrained vocabulary covers less than {minimum:.2%} (finetune.min_char_coverage) of the "
        f"in-domain characters: {shown}; uncovered: {entries[0]['unknown_chars']}"
    )


def finetune(
    pretrained_dir: str | Path,
    config: Config,
    *,
    scratch: bool = False,
    resume: bool = False,
    overwrite: bool = False,
    quiet: bool = False,
    beam: int | None = None,
    device: str = "auto",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Fine-tune the run in `pretrained_dir` as `config` says (and train the scratch baseline
    when `scratch`); write and return the report (see module doc)."""
    pretrained = Path(pretrained_dir)
    load_model_config(pretrained)  # a missing or corrupt pretrained run fails before any work
    config = with_pretrained(config, pretrained)
    baseline = scratch_config(config, load_run_config(pretrained)) if scratch else None
    # both runs are claimed before either trains: a refusal must not come after an hour of training;
    # resuming a baseline that never reached a checkpoint restarts it
    resume_baseline = (
        resume and baseline is not None and has_training_checkpoint(baseline.run_path / "checkpoints")
    )
    claim_run_dir(config.run_path, resume=resume, overwrite=overwrite)
    if baseline is not None:
        claim_run_dir(baseline.run_path, resume=resume_baseline, overwrite=overwrite or resume)
    if not is_prepared(config.run_path):
        prepare(config, tokenizer_dir=pretrained / "tokenizer", log=(lambda _: None) if quiet else log)
    minimum = config.finetune.min_char_coverage
    low = low_coverage(read_json(config.run_path / REPORT), minimum)
    if low:
        warnings.warn(coverage_warning(low, minimum), stacklevel=2)

    train(config, resume=resume, quiet=quiet)
    scratch_dir = None
    if baseline is not None:
        train(baseline, resume=resume_baseline, quiet=quiet)
        scratch_dir = baseline.run_path

    report = build_report(pretrained, config.run_path, scratch_dir, beam=beam, device=device)
    write_report(config.run_path, report)
    for line in format_report(report).splitlines():
        log(line)
    return report


# ------------------------------------------------------------------------ report


def _test_files(run: Path, config: Config) -> tuple[Path, Path] | None:
    """(normalized sources, untouched references) of a prepared run's test split, if any."""
    src = run / "data" / f"test.{config.data.src_lang}"
    ref = reference_file(run, "test", config.data.tgt_lang)
    return (src, ref) if src.is_file() and ref.is_file() else None


def _training(run: Path) -> dict[str, Any] | None:
    path = run / "train_summary.json"
    if not path.is_file():
        return None
    summary = read_json(path)
    keys = ("steps", "epochs", "best_step", "stopped_by", "train_seconds", "wall_seconds")
    return {key: summary.get(key) for key in keys}


def _sizes(run: Path) -> dict[str, int] | None:
    path = run / REPORT
    return dict(read_json(path)["sentences"]) if path.is_file() else None


def build_report(
    pretrained_dir: str | Path,
    finetuned_dir: str | Path,
    scratch_dir: str | Path | None = None,
    *,
    beam: int | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Score the runs on the in-domain and general-domain test sets (hypotheses are saved in
    FINETUNED/eval/) and collect training figures and data sizes into one report."""
    runs = {"pretrained": Path(pretrained_dir), "finetuned": Path(finetuned_dir)}
    if scratch_dir is not None:
        runs["scratch"] = Path(scratch_dir)
    ft_config = load_run_config(runs["finetuned"])
    pre_config = load_run_config(runs["pretrained"])
    test_sets = {"in_domain": _test_files(runs["finetuned"], ft_config)}
    test_sets["general"] = _test_files(runs["pretrained"], pre_config)
    if test_sets["in_domain"] is None:
        raise ConfigError(f"{runs['finetuned']}: no prepared test split (data/test.*) to score")

    scores: dict[str, dict[str, Any]] = {name: {} for name in test_sets}
    signatures: dict[str, str] = {}
    for label, run in runs.items():
        translator = Translator.load(run, device=device)
        for name, files in test_sets.items():
            if files is None or (name == "general" and label == "scratch"):
                continue
            output = runs["finetuned"] / "eval" / f"{label}.{name}.hyp"
            result = evaluate_run(
                translator, src=str(files[0]), ref=str(files[1]), output=str(output), beam=beam
            )
            scores[name][label] = {"bleu": result["bleu"], "chrf": result["chrf"]}
            scores[name]["sentences"] = result["sentences"]
            signatures = {"bleu": result["bleu_signature"], "chrf": result["chrf_signature"]}

    in_domain, general = scores["in_domain"], scores["general"]
    gains: dict[str, float | None] = {
        "finetuned_minus_pretrained_bleu": _diff(in_domain, "finetuned", "pretrained"),
        "finetuned_minus_scratch_bleu": _diff(in_domain, "finetuned", "scratch"),
        "general_bleu_drop": _diff(general, "pretrained", "finetuned"),
    }
    ft = ft_config.finetune
    mix_corpus = (ft.mix_corpus or ft.init_from) if ft.mix_ratio > 0 else None
    mixed_sizes = _sizes(Path(mix_corpus)) if mix_corpus else None
    prepared = read_json(runs["finetuned"] / REPORT)
    training = ft_config.training
    return {
        "runs": {label: str(run) for label, run in runs.items()},
        "test_sets": {
            name: {"src": str(files[0]), "ref": str(files[1])} if files else None
            for name, files in test_sets.items()
        },
        "in_domain_test": in_domain,
        "general_test": general or None,
        "gains": gains,
        "training": {label: _training(run) for label, run in runs.items() if label != "pretrained"},
        "data": {
            "in_domain": _sizes(runs["finetuned"]),
            "pretrained": _sizes(runs["pretrained"]),
            "mix_corpus": mix_corpus,
            "mix_corpus_train_pairs": mixed_sizes["train"] if mixed_sizes else None,
        },
        "vocabulary": {
            split: {
                side: {k: stats[k] for k in ("unk_rate", "char_coverage")} for side, stats in sides.items()
            }
            for split, sides in prepared["statistics"].items()
        },
        "min_char_coverage": ft.min_char_coverage,
        "low_coverage": low_coverage(prepared, ft.min_char_coverage),
        "settings": {
            "freeze": ft.freeze,
            "freeze_layers": ft.freeze_layers,
            "mix_ratio": ft.mix_ratio,
            "learning_rate": training.learning_rate,
            "schedule": training.schedule,
            "warmup_steps": training.warmup_steps,
            "max_steps": training.max_steps,
            "max_time": training.max_time,
            "patience": training.patience,
            "beam": beam if beam is not None else ft_config.decoding.beam,
        },
        "signatures": signatures,
    }


def _diff(scores: dict[str, Any], a: str, b: str) -> float | None:
    if a not in scores or b not in scores:
        return None
    return round(scores[a]["bleu"] - scores[b]["bleu"], 2)


def _cell(scores: dict[str, Any] | None, label: str, key: str) -> str:
    if not scores or label not in scores:
        return "–"
    return f"{scores[label][key]:.2f}"


def format_report(report: dict[str, Any]) -> str:
    """The report as Markdown: one table, the gains, and the figures behind them."""
    runs, settings = report["runs"], report["settings"]
    in_domain, general = report["in_domain_test"], report["general_test"]
    lines = [
        f"# Fine-tuning report: {runs['finetuned']}",
        "",
        "Runs: " + ", ".join(f"{label} `{run}`" for label, run in runs.items()) + ".",
        "",
        f"In-domain test: {in_domain['sentences']} sentences; "
        + (
            f"general-domain test: {general['sentences']} sentences"
            if general
            else "no general-domain test set"
        )
        + f"; beam {settings['beam']}.",
        "",
        "| model | in-domain BLEU | in-domain chrF | general BLEU | general chrF | steps | train s | wall s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label in MODELS:
        if label not in runs:
            continue
        trained = report["training"].get(label) or {}
        lines.append(
            f"| {label} | {_cell(in_domain, label, 'bleu')} | {_cell(in_domain, label, 'chrf')} "
            f"| {_cell(general, label, 'bleu')} | {_cell(general, label, 'chrf')} "
            f"| {trained.get('steps', '–')} | {trained.get('train_seconds', '–')} | {trained.get('wall_seconds', '–')} |"
        )
    gains = report["gains"]
    shown = {
        "in-domain BLEU, fine-tuned − pretrained": gains["finetuned_minus_pretrained_bleu"],
        "in-domain BLEU, fine-tuned − scratch": gains["finetuned_minus_scratch_bleu"],
        "general-domain BLEU lost by fine-tuning": gains["general_bleu_drop"],
    }
    lines += ["", *(f"- {name}: {value:+.2f}" for name, value in shown.items() if value is not None)]
    data = report["data"]
    sizes = data["in_domain"] or {}
    lines.append(
        "- in-domain data: " + ", ".join(f"{split} {count}" for split, count in sizes.items()) + " pairs"
    )
    if data["mix_corpus"]:
        lines.append(
            f"- mixed in: {settings['mix_ratio']:.0%} of every batch from {data['mix_corpus']} "
            f"({data['mix_corpus_train_pairs']} training pairs)"
        )
    train_fit = report["vocabulary"].get("train", {})
    if train_fit:
        lines.append(
            "- pretrained vocabulary on in-domain train: "
            + "; ".join(
                f"{side} unk {fit['unk_rate']:.2%}, char coverage {fit['char_coverage']:.2%}"
                for side, fit in train_fit.items()
            )
        )
    if report["low_coverage"]:
        lines.append(f"- warning: {coverage_warning(report['low_coverage'], report['min_char_coverage'])}")
    lines.append(
        f"- settings: lr {settings['learning_rate']:g} ({settings['schedule']}, warmup {settings['warmup_steps']}), "
        f"max_steps {settings['max_steps']}, max_time {settings['max_time']:g} s, patience {settings['patience']}, "
        f"freeze {settings['freeze'] or 'nothing'}, freeze_layers {settings['freeze_layers']}"
    )
    for name, signature in report["signatures"].items():
        lines.append(f"- {name}: `{signature}`")
    return "\n".join(lines) + "\n"


def write_report(run_dir: str | Path, report: dict[str, Any]) -> None:
    """RUN/finetune_report.json and RUN/finetune_report.md, each written atomically."""
    run = Path(run_dir)
    write_json(run / REPORT_JSON, report)
    with atomic_write(run / REPORT_MD) as handle:
        handle.write(format_report(report))
