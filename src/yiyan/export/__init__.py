"""Export a trained run for deployment.

    yiyan export RUN_DIR --to ctranslate2 [--quantization auto|int8|...] -o OUT

`export_run` dispatches on the format; today there is one, CTranslate2 (`yiyan.export.ctranslate2`),
a C++ inference engine with int8/float16 kernels that needs neither PyTorch nor a GPU.
"""

from __future__ import annotations

from pathlib import Path

from yiyan.errors import YiyanError

FORMATS = ("ctranslate2",)
EXPORT_FILE = "yiyan_export.json"  # marks an export directory; what it holds: yiyan.export.ctranslate2

__all__ = ["EXPORT_FILE", "FORMATS", "export_run"]


def export_run(
    run_dir: str | Path,
    out_dir: str | Path,
    *,
    to: str = "ctranslate2",
    quantization: str = "auto",
    force: bool = False,
) -> Path:
    """Convert the run in `run_dir` to format `to` in `out_dir`; returns `out_dir`."""
    if to != "ctranslate2":
        raise YiyanError(f"unknown export format {to!r}; supported: {', '.join(FORMATS)}")
    from yiyan.export.ctranslate2 import export_ctranslate2

    return export_ctranslate2(run_dir, out_dir, quantization=quantization, force=force).path
