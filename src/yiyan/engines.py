"""Pick a translation engine for a directory: PyTorch for a training run, CTranslate2 for an export.

    translator = load_translator("runs/demo")          # a run: yiyan.translator.Translator
    translator = load_translator("exports/demo-ct2")   # yiyan_export.json: CT2Translator

Both engines are `yiyan.pipeline.TextPipeline`s: the same `translate` / `translate_detailed` /
`translate_document` interface and options; only the PyTorch engine returns attention weights
(`supports_attention`). Loading the CTranslate2
engine never imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from yiyan.errors import CheckpointError, YiyanError
from yiyan.export import EXPORT_FILE

if TYPE_CHECKING:
    from yiyan.ct2_engine import CT2Translator
    from yiyan.translator import Translator

Engine = Literal["torch", "ctranslate2"]
ENGINES = ("auto", "torch", "ctranslate2")


def detect_engine(path: str | Path) -> Engine:
    """ "ctranslate2" for a `yiyan export` directory, "torch" for a training run."""
    path = Path(path)
    if (path / EXPORT_FILE).is_file():
        return "ctranslate2"
    if (path / "model.json").is_file() or (path / "config.yaml").is_file():
        return "torch"
    if not path.is_dir():
        raise CheckpointError(f"{path}: not found — give a trained run or a CTranslate2 export directory")
    raise CheckpointError(
        f"{path}: neither a trained run (model.json) nor a CTranslate2 export ({EXPORT_FILE})"
    )


def load_translator(
    path: str | Path,
    engine: str = "auto",
    *,
    device: str = "auto",
    threads: int = 0,
    int8: bool = False,
    compute_type: str | None = None,
) -> Translator | CT2Translator:
    """A translator for `path` with `engine` ("auto": by what the directory holds).

    `threads`: torch intra-op threads, or CTranslate2 intra_threads (0 = the library's default).
    `int8`: PyTorch dynamic quantization, or CTranslate2 compute type int8 (unless
    `compute_type` names one; default: the exported weight type).
    """
    if engine not in ENGINES:
        raise YiyanError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    found = detect_engine(path)
    chosen = found if engine == "auto" else engine
    if chosen == "ctranslate2":
        if found != "ctranslate2":
            raise YiyanError(
                f"{path} is a training run; export it first: yiyan export {path} --to ctranslate2 -o OUT, "
                "then translate with OUT"
            )
        from yiyan.ct2_engine import CT2Translator

        return CT2Translator.load(
            path,
            device=device,
            compute_type=compute_type or ("int8" if int8 else "default"),
            intra_threads=threads,
        )
    if found != "torch":
        raise YiyanError(
            f"{path} is a CTranslate2 export, which holds no PyTorch weights; "
            "use --engine ctranslate2 (or auto), or the training run it came from"
        )
    if compute_type is not None:
        raise YiyanError("compute_type applies to the ctranslate2 engine only (use int8 with torch)")
    from yiyan.runtime import set_threads
    from yiyan.translator import Translator

    set_threads(threads)
    return Translator.load(path, device=device, int8=int8)
