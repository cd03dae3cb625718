"""Translate a test set with a Translator and score it; saves the hypotheses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yiyan.data.corpus import read_lines
from yiyan.errors import DataError, YiyanError
from yiyan.io import atomic_write, write_json
from yiyan.metrics import score


def load_test_set(src: str | None, ref: str | None, tsv: str | None) -> tuple[list[str], list[str]]:
    """Sources and untouched references from two line-aligned files or one TSV file."""
    if tsv:
        sources, refs = [], []
        for number, line in enumerate(read_lines(tsv), 1):
            columns = line.split("\t")
            if len(columns) < 2:
                raise DataError(tsv, number, "expected source<TAB>reference")
            sources.append(columns[0])
            refs.append(columns[1])
        return sources, refs
    if not (src and ref):
        raise YiyanError("evaluate: give --src and --ref, or --tsv")
    sources, refs = list(read_lines(src)), list(read_lines(ref))
    if len(sources) != len(refs):
        shorter = src if len(sources) < len(refs) else ref
        raise DataError(
            shorter,
            min(len(sources), len(refs)) + 1,
            f"{src} has {len(sources)} lines but {ref} has {len(refs)}",
        )
    return sources, refs


def evaluate_run(
    translator: Any,
    *,
    src: str | None = None,
    ref: str | None = None,
    tsv: str | None = None,
    output: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    sources, refs = load_test_set(src, ref, tsv)
    hypotheses = translator.translate(sources, **options)
    tgt_lang = translator.config.data.tgt_lang if translator.config else "zh"
    result = score(hypotheses, refs, tgt_lang)
    name = Path(tsv or src or "test").stem
    out = Path(output) if output else Path(translator.run_dir) / "eval" / f"{name}.hyp"
    with atomic_write(out) as handle:
        handle.writelines(f"{h}\n" for h in hypotheses)
    write_json(out.with_suffix(".scores.json"), {**result, "hypotheses": str(out)})
    result["hypotheses_file"] = str(out)
    return result
