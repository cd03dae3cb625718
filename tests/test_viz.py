"""yiyan.viz: attention selection, JSON, PNG/SVG heatmaps and the CJK font finder (no model needed)."""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from yiyan import viz
from yiyan.errors import YiyanError

SRC = ["▁I", "▁love", "▁you", ".", "</s>"]
TGT = ["▁我", "爱", "你", "。", "</s>"]


def attention(t: int = 5, layers: int = 3, heads: int = 4, s: int = 5) -> np.ndarray:
    """[T, L, H, S] whose value encodes its (layer, head): 10*layer + head, plus a source ramp."""
    layer_head = 10 * np.arange(layers)[:, None] + np.arange(heads)[None, :]
    ramp = np.arange(s) / 100
    return np.broadcast_to(layer_head[None, :, :, None] + ramp, (t, layers, heads, s)).astype(np.float32)


def test_select_attention_picks_and_averages() -> None:
    a = attention()
    assert viz.select_attention(a, 1, 2).shape == (5, 5)
    np.testing.assert_allclose(viz.select_attention(a, 1, 2)[0], 12 + np.arange(5) / 100, rtol=1e-6)
    np.testing.assert_allclose(viz.select_attention(a, -1, -1)[0, 0], 23)  # negative counts from the end
    np.testing.assert_allclose(viz.select_attention(a)[0, 0], 20 + 1.5)  # default: last layer, heads averaged
    np.testing.assert_allclose(viz.select_attention(a, None, 0)[0, 0], 10)  # layers averaged, head 0
    np.testing.assert_allclose(viz.select_attention(a, None, None)[0, 0], 11.5)  # everything averaged
    with pytest.raises(YiyanError, match="layer 3 out of range"):
        viz.select_attention(a, 3, None)
    with pytest.raises(ValueError, match="attention must be"):
        viz.select_attention(a[:, 0], 0, 0)


def test_parse_index_and_format() -> None:
    assert viz.parse_index("all") is None
    assert viz.parse_index("-1") == -1
    with pytest.raises(argparse.ArgumentTypeError):
        viz.parse_index("last")
    assert viz.format_for("a/attn.SVG") == "svg"
    assert viz.format_for("attn.png", "json") == "json"
    with pytest.raises(YiyanError, match="unknown output format"):
        viz.format_for("attn.pdf")


def test_json_has_shape_tokens_and_matrix() -> None:
    matrix = viz.select_attention(attention(t=5, s=5), None, None)
    text = viz.attention_to_json(
        matrix,
        source="I love you.",
        translation="我爱你。",
        src_tokens=SRC,
        tgt_tokens=TGT,
        layer=None,
        head=None,
    )
    data = json.loads(text)
    assert set(data) == {
        "source",
        "translation",
        "src_tokens",
        "tgt_tokens",
        "layer",
        "head",
        "attention",
        "shape",
    }
    assert data["shape"] == [5, 5] and len(data["attention"]) == 5 and len(data["attention"][0]) == 5
    assert data["src_tokens"] == SRC and data["tgt_tokens"] == TGT and data["translation"] == "我爱你。"
    assert data["layer"] is None and data["head"] is None
    np.testing.assert_allclose(np.array(data["attention"]), matrix, atol=1e-6)


def test_png_is_written_and_readable(tmp_path: Path) -> None:
    matrix = np.random.default_rng(0).random((len(TGT), len(SRC)))
    path = viz.plot_attention(matrix, SRC, TGT, "I love you. → 我爱你。", tmp_path / "attn.png", "png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 300
    # More tokens → a bigger figure.
    long_src = [f"▁w{i}" for i in range(30)]
    big = viz.plot_attention(np.zeros((12, 30)), long_src, TGT * 2 + ["a", "b"], "long", tmp_path / "big.png")
    big_image = matplotlib.image.imread(big)
    assert big_image.shape[1] > image.shape[1] and big_image.shape[0] > image.shape[0]


def test_svg_is_valid_xml(tmp_path: Path) -> None:
    matrix = np.eye(len(TGT), len(SRC))
    path = viz.plot_attention(matrix, SRC, TGT, "I love you. → 我爱你。", tmp_path / "attn.svg", "svg")
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")


def test_plot_rejects_mismatched_tokens(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not match"):
        viz.plot_attention(np.zeros((2, 3)), SRC, TGT, "t", tmp_path / "x.png")


def test_finder_returns_a_font_that_covers_chinese() -> None:
    viz.find_cjk_font.cache_clear()
    family = viz.find_cjk_font()
    if family is None:
        pytest.skip("no CJK font installed (e.g. apt-get install fonts-wqy-microhei)")
    from matplotlib import font_manager

    path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
    assert viz.covers(path, "我爱你翻译")


def test_no_cjk_font_warns_and_still_plots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(viz, "CJK_FAMILIES", ())
    monkeypatch.setattr(viz, "covers", lambda path, text=viz.CJK_SAMPLE: False)
    viz.find_cjk_font.cache_clear()
    try:
        assert viz.find_cjk_font() is None
        with pytest.warns(UserWarning, match="no CJK font found"):
            viz.plot_attention(np.zeros((len(TGT), len(SRC))), SRC, TGT, "我爱你", tmp_path / "a.png")
    finally:
        viz.find_cjk_font.cache_clear()


class StubTranslator:
    """Stands in for Translator: `load` gives one translation with [T, L=2, H=3, S] attention."""

    @classmethod
    def load(cls, run_dir: str, *, device: str = "auto") -> StubTranslator:
        return cls()

    def translate_detailed(self, texts: list[str], *, attention: bool, beam: int) -> list[SimpleNamespace]:
        assert attention and beam == 3
        weights = np.random.default_rng(1).random((len(TGT), 2, 3, len(SRC)))
        return [
            SimpleNamespace(
                source=texts[0], text="我爱你。", src_tokens=SRC, tgt_tokens=TGT, attention=weights
            )
        ]


@pytest.mark.parametrize("name", ["attn.json", "attn.png", "attn.svg"])
def test_attention_command_writes_each_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    # A stand-in yiyan.translator module: no torch, no trained run (the end-to-end test uses a real one).
    monkeypatch.setitem(sys.modules, "yiyan.translator", SimpleNamespace(Translator=StubTranslator))
    out = viz.attention_command(
        "run", "I love you.", str(tmp_path / name), layer=-1, head=None, beam=3, fmt=None, device="cpu"
    )
    assert out.exists() and out.stat().st_size > 100
    if name.endswith(".json"):
        data = json.loads(out.read_text(encoding="utf-8"))
        assert data["layer"] == 1 and data["head"] is None and data["shape"] == [len(TGT), len(SRC)]
