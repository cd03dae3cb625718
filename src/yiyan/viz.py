"""Look inside: draw what the model attended to while it translated one sentence.

    yiyan attention RUN_DIR "I love you." -o attn.png [--layer N|all] [--head N|all] [--beam K]

`select_attention` reduces the model's attention [target steps, layers, heads, source tokens]
to one [target, source] matrix: by default the heads of the last layer averaged (the last
decoder layer's cross-attention is the one that feeds the output); `layer=None` averages over
all layers, `head=None` over all heads. `plot_attention` draws it as a heatmap (PNG or SVG,
matplotlib without pyplot, so no display and no global backend switch); `attention_to_json`
writes it for other tools. Chinese labels need a CJK font: `find_cjk_font` looks for one and
the plot warns once (and draws boxes) when the system has none.
"""

from __future__ import annotations

import argparse
import functools
import json
import textwrap
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from yiyan.errors import YiyanError

FORMATS = ("png", "svg", "json")
CJK_SAMPLE = "我爱你"
# Well-known CJK families, most preferred first (Simplified Chinese variants before others).
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "PingFang SC",
    "SimHei",
    "Hiragino Sans GB",
    "Noto Sans CJK JP",
    "Noto Sans CJK TC",
    "Source Han Sans",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "AR PL UKai CN",
    "Arial Unicode MS",
)
NO_CJK_FONT = (
    "no CJK font found: Chinese characters will be drawn as boxes "
    "(install one, e.g. `apt-get install fonts-wqy-microhei` or `fonts-noto-cjk`)"
)


def parse_index(value: str) -> int | None:
    """argparse type for --layer/--head: an integer (negative counts from the end) or 'all' (average)."""
    if value.lower() in ("all", "avg", "average", "mean"):
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'all', got {value!r}") from None


def resolve_index(index: int | None, size: int, name: str) -> int | None:
    """`index` made non-negative and checked against `size`; None (= average) stays None."""
    if index is None:
        return None
    if not -size <= index < size:
        raise YiyanError(f"{name} {index} out of range: the model has {size} {name}s (0..{size - 1})")
    return index % size


def select_attention(attention: np.ndarray, layer: int | None = -1, head: int | None = None) -> np.ndarray:
    """[T, L, H, S] → [T, S]: pick `layer`/`head` (negative counts from the end) or average (None)."""
    if attention.ndim != 4:
        raise ValueError(f"attention must be [target, layers, heads, source], got shape {attention.shape}")
    _, layers, heads, _ = attention.shape
    selected = attention.astype(np.float32)
    li, hi = resolve_index(layer, layers, "layer"), resolve_index(head, heads, "head")
    selected = selected[:, li : li + 1] if li is not None else selected
    selected = selected[:, :, hi : hi + 1] if hi is not None else selected
    return selected.mean(axis=(1, 2))


# --- fonts ---------------------------------------------------------------------------------


def covers(path: str | Path, text: str = CJK_SAMPLE) -> bool:
    """Whether the font file at `path` (first face of a .ttc) has a glyph for every char of `text`."""
    from fontTools.ttLib import TTFont  # ships with matplotlib

    try:
        with TTFont(str(path), fontNumber=0, lazy=True) as font:
            cmap = font.getBestCmap() or {}
    except Exception:  # unreadable or exotic font files are simply not candidates
        return False
    return all(ord(char) in cmap for char in text)


@functools.lru_cache(maxsize=1)
def find_cjk_font() -> str | None:
    """Family name of an installed font that covers Chinese, registered with matplotlib; or None.

    Known families first (from matplotlib's font list), then any system font file whose cmap
    covers '我爱你' — which also finds fonts installed after matplotlib built its font cache.
    """
    manager = font_manager.fontManager
    by_name = {entry.name: entry.fname for entry in manager.ttflist}
    for family in CJK_FAMILIES:
        if family in by_name and covers(by_name[family]):
            return family
    registered = {entry.fname for entry in manager.ttflist}
    files = sorted(registered | set(font_manager.findSystemFonts()), key=_cjk_name_first)
    for path in files:
        if covers(path):
            if path not in registered:
                manager.addfont(path)
            return str(font_manager.FontProperties(fname=path).get_name())
    return None


def _cjk_name_first(path: str) -> tuple[bool, str]:
    hints = ("cjk", "han", "wqy", "hei", "song", "ming", "kai", "fallback", "yahei", "msyh", "pingfang", "zh")
    return (not any(hint in Path(path).name.lower() for hint in hints), path)


def _needs_cjk(texts: Iterable[str]) -> bool:
    """Any character from the CJK, kana, CJK punctuation or full-width blocks."""
    return any(
        "\u2e80" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff" or "\uff00" <= char <= "\uffef"
        for text in texts
        for char in text
    )


def _font_for(texts: Iterable[str]) -> dict[str, Any] | None:
    """Text properties that draw `texts`; None (after one warning) when they need a CJK font and there is none."""
    if not _needs_cjk(texts):
        return {}
    family = find_cjk_font()
    if family is None:
        warnings.warn(NO_CJK_FONT, stacklevel=3)
        return None
    # The CJK font first, DejaVu Sans as per-glyph fallback (e.g. for the "▁" word-start marker).
    return {"fontfamily": [family, "DejaVu Sans"]}


# --- output --------------------------------------------------------------------------------


def format_for(path: str | Path, fmt: str | None = None) -> str:
    """The output format: `fmt` if given, else from the file extension."""
    chosen = (fmt or Path(path).suffix.lstrip(".")).lower()
    if chosen not in FORMATS:
        raise YiyanError(f"{path}: unknown output format {chosen or '(none)'!r}; use {', '.join(FORMATS)}")
    return chosen


def plot_attention(
    matrix: np.ndarray,
    src_tokens: Sequence[str],
    tgt_tokens: Sequence[str],
    title: str,
    path: str | Path,
    fmt: str = "png",
) -> Path:
    """Heatmap of `matrix` [target, source]: source pieces on x, target pieces on y, a colorbar."""
    rows, cols = matrix.shape
    if (rows, cols) != (len(tgt_tokens), len(src_tokens)):
        raise ValueError(
            f"matrix {matrix.shape} does not match {len(tgt_tokens)} target × {len(src_tokens)} source tokens"
        )
    if fmt not in ("png", "svg"):
        raise ValueError(f"plot format must be png or svg, got {fmt!r}")
    width = min(3.0 + 0.42 * cols, 40.0)
    height = min(2.2 + 0.36 * rows, 40.0)
    path = Path(path)
    font = _font_for([title, *src_tokens, *tgt_tokens])
    with warnings.catch_warnings():
        if font is None:  # already warned once; not again for every missing glyph
            warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure = Figure(figsize=(width, height), layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        image = axes.imshow(matrix, cmap="viridis", vmin=0.0, aspect="auto", interpolation="nearest")
        axes.set_xticks(
            range(cols), list(src_tokens), rotation=60, ha="right", rotation_mode="anchor", **(font or {})
        )
        axes.set_yticks(range(rows), list(tgt_tokens), **(font or {}))
        axes.set_xlabel("source")
        axes.set_ylabel("target (generated)")
        axes.set_title(
            "\n".join(textwrap.wrap(title, width=max(int(width * 9), 30))), fontsize=10, **(font or {})
        )
        figure.colorbar(image, ax=axes, label="attention", shrink=0.9)
        figure.savefig(path, format=fmt, dpi=150)
    return path


def attention_to_json(
    matrix: np.ndarray,
    *,
    source: str,
    translation: str,
    src_tokens: Sequence[str],
    tgt_tokens: Sequence[str],
    layer: int | None,
    head: int | None,
) -> str:
    """The selected attention as JSON; `layer`/`head` null mean averaged."""
    return json.dumps(
        {
            "source": source,
            "translation": translation,
            "src_tokens": list(src_tokens),
            "tgt_tokens": list(tgt_tokens),
            "layer": layer,
            "head": head,
            "attention": np.round(matrix.astype(np.float64), 6).tolist(),
            "shape": list(matrix.shape),
        },
        ensure_ascii=False,
    )


def attention_command(
    run_dir: str,
    text: str,
    output: str,
    *,
    layer: int | None,
    head: int | None,
    beam: int | None,
    fmt: str | None,
    device: str,
) -> Path:
    """`yiyan attention`: translate `text` with the run in `run_dir` and write its attention to `output`."""
    from yiyan.translator import Translator  # torch and the model only when actually translating

    fmt = format_for(output, fmt)
    [result] = Translator.load(run_dir, device=device).translate_detailed([text], attention=True, beam=beam)
    if result.attention is None:
        raise YiyanError("no attention to show: the input is empty or the model returned none")
    _, layers, heads, _ = result.attention.shape
    layer, head = resolve_index(layer, layers, "layer"), resolve_index(head, heads, "head")
    matrix = select_attention(result.attention, layer, head)
    path = Path(output)
    if fmt == "json":
        path.write_text(
            attention_to_json(
                matrix,
                source=result.source,
                translation=result.text,
                src_tokens=result.src_tokens,
                tgt_tokens=result.tgt_tokens,
                layer=layer,
                head=head,
            )
            + "\n",
            encoding="utf-8",
        )
        return path
    which = f"layer {'avg' if layer is None else layer}, head {'avg' if head is None else head}"
    return plot_attention(
        matrix,
        result.src_tokens,
        result.tgt_tokens,
        f"{result.source}  →  {result.text}   ({which})",
        path,
        fmt,
    )
