"""The profile scripts' bookkeeping: operators into groups, GEMM shapes into FLOPs."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from common import self_cpu_shares  # noqa: E402
from profile_decode import GROUPS as DECODE_GROUPS  # noqa: E402
from profile_decode import OTHER as DECODE_OTHER  # noqa: E402
from profile_step import gemm_dims  # noqa: E402


@dataclass
class Event:  # the two fields of torch.profiler's key_averages() entries that the scripts read
    key: str
    self_cpu_time_total: float


def test_operators_go_to_the_first_matching_group_and_shares_sum_to_one() -> None:
    events = [
        Event("aten::addmm", 500.0),
        Event("aten::_log_softmax", 100.0),  # "softmax" holds "max": log-softmax must not count as top-k
        Event("aten::topk", 150.0),
        Event("aten::index_select", 50.0),
        Event("aten::mul", 200.0),
        Event("Optimizer.step#AdamW.step", 999.0),  # not an aten operator: left out unless asked
    ]
    shares, whole = self_cpu_shares(events, DECODE_GROUPS, DECODE_OTHER)
    assert whole == 1000.0
    assert shares == {
        "matrix products (linear layers, output projection)": 0.5,
        DECODE_OTHER: 0.2,
        "top-k / sort": 0.15,
        "log-softmax": 0.1,
        "cache reorder and copies (index_select, gather, copy_, cat)": 0.05,
    }
    assert list(shares) == sorted(shares, key=lambda group: -shares[group])  # largest first

    with_optimizer, whole = self_cpu_shares(events, {"optimizer": ("adam",)}, "rest", extra="Optimizer")
    assert whole == 1999.0 and with_optimizer["optimizer"] == round(999 / 1999, 4)


def test_gemm_dims_read_the_profilers_input_shapes() -> None:
    assert gemm_dims("aten::mm", [[4096, 256], [256, 1024]]) == (1, 4096, 256, 1024)
    assert gemm_dims("aten::addmm", [[1024], [4096, 256], [256, 1024], [], []]) == (1, 4096, 256, 1024)
    assert gemm_dims("aten::bmm", [[16, 32, 64], [16, 64, 48]]) == (16, 32, 64, 48)
