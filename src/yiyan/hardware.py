"""What this machine offers for inference: CPU instruction sets, a CUDA device for CTranslate2."""

from __future__ import annotations

from pathlib import Path

from yiyan.errors import YiyanError

__all__ = ["cpu_flags", "cuda_available"]


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The instruction-set flags of the first CPU in /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cuda_available() -> bool:
    """Whether CTranslate2 sees a CUDA device (False without the ctranslate2 package)."""
    from yiyan.ct2_engine import import_ctranslate2

    try:
        return bool(import_ctranslate2().get_cuda_device_count() > 0)
    except (YiyanError, RuntimeError):
        return False
