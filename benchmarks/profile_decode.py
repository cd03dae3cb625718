"""Where the time of PyTorch decoding goes: torch.profiler over one pass of a run's test set.

    python benchmarks/profile_decode.py runs/r16-b-s1 --data ../shared/data/tatoeba-cmn --beam 5 \
        --limit 640 --name profile-decode-beam5

Loads the run with the PyTorch engine (as `yiyan translate` does), translates the first --limit
sentences of test.tsv once as a warm-up and once under the profiler, and prints the operators
by self CPU time in groups: matrix products, attention, top-k, log-softmax, the key/value cache
reorder of beam search (index_select / gather on the cache), and the rest. A second pass without
the profiler gives sentences/s. Figures: benchmarks/results/<--name>.json.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).parent))
from common import matmul_peak_gflops, print_shares, profile_parser, self_cpu_shares, write_result
from decode import read_test_set
from yiyan.engines import load_translator

GROUPS = {  # the first group whose key occurs in an operator's name takes it
    "matrix products (linear layers, output projection)": ("addmm", "aten::mm", "bmm", "matmul", "linear"),
    "attention kernel (SDPA)": ("scaled_dot_product", "_flash", "attention"),
    "log-softmax": ("log_softmax", "logsumexp", "softmax"),  # before top-k: "softmax" holds "max"
    "top-k / sort": ("topk", "sort", "argmax", "max"),
    "cache reorder and copies (index_select, gather, copy_, cat)": (
        "index_select",
        "gather",
        "copy_",
        "cat",
        "clone",
    ),
    "layer norm": ("layer_norm",),
    "embedding": ("embedding",),
}
OTHER = "other (elementwise, masks, indexing, bookkeeping)"


def main() -> None:
    parser = profile_parser(__doc__, "a trained run", "profile-decode")
    parser.add_argument("--data", required=True, help="folder with test.tsv (source<TAB>reference)")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--limit", type=int, default=640, help="test sentences to translate (0 = all)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    peak = matmul_peak_gflops()
    sources, _ = read_test_set(Path(args.data), args.limit)
    translator = load_translator(args.run_dir, "torch", device="cpu", threads=args.threads, int8=False)
    options = {"beam": args.beam, "batch_size": args.batch_size}
    translator.translate(sources, **options)  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        translator.translate(sources, **options)
    start = time.perf_counter()
    translator.translate(sources, **options)
    seconds = time.perf_counter() - start

    shares, _ = self_cpu_shares(prof.key_averages(), GROUPS, OTHER)
    print(f"{len(sources)} sentences, beam {args.beam}: {len(sources) / seconds:.1f} sentences/s")
    print_shares(shares)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
    write_result(
        args.name,
        {
            "run": args.run_dir,
            "sentences": len(sources),
            "beam": args.beam,
            "batch_size": args.batch_size,
            "threads": args.threads,
            "sentences_per_s": round(len(sources) / seconds, 1),
            "share_of_self_cpu_time": shares,
        },
        matmul_peak=peak,
    )


if __name__ == "__main__":
    main()
