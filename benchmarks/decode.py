"""Decoding speed, memory, size and quality of one run with every engine: PyTorch fp32 and int8
(dynamic quantization), CTranslate2 float32 and int8 (int8_float32), greedy and beam 5.

    python benchmarks/decode.py runs/tatoeba-small --data ../shared/data/tatoeba-cmn --threads 2 \
        --name decode-tatoeba-small

Decodes the Tatoeba test set (test.tsv: source, reference) once per engine and beam, each in a
fresh subprocess that reports its own peak RSS (VmHWM: model, runtime and decoding; the
CTranslate2 engine runs without importing torch). Timing is the median of --repeats full passes after a
warm-up; sentences/s and generated target tokens/s (common.target_tokens: generated pieces + one
EOS per sentence, as everywhere). Sizes are on disk:
model.safetensors + tokenizer for PyTorch fp32, the serialized quantized state_dict for
PyTorch int8, the export directory for CTranslate2. BLEU/chrF: yiyan.metrics.score against
the untouched references; "same" is the share of outputs identical to PyTorch fp32 at the
same beam. Figures: benchmarks/results/<--name>.json (common.write_result). Never run two
benchmarks at once on a 2-core machine.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import generated_pieces, target_tokens  # torch-free: the CTranslate2 worker imports it

ENGINES: dict[str, dict[str, Any]] = {  # name → how the worker loads it
    "pytorch-fp32": {"engine": "torch", "int8": False},
    "pytorch-int8": {"engine": "torch", "int8": True},
    "ct2-fp32": {"engine": "ctranslate2", "quantization": "float32"},
    "ct2-int8": {"engine": "ctranslate2", "quantization": "int8_float32"},
}


# ------------------------------------------------------------------ worker (one subprocess)


def peak_rss_mib() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries ru_maxrss over
    fork + exec, so a worker would report at least the parent's RSS at the time it started."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(job: dict[str, Any]) -> dict[str, Any]:
    """Load one engine, translate the sentences `repeats` times; imports torch only for PyTorch."""
    sources = Path(job["sources"]).read_text(encoding="utf-8").splitlines()
    start = time.perf_counter()
    if job["engine"] == "torch":
        from yiyan.engines import load_translator

        translator: Any = load_translator(
            job["model"], "torch", device="cpu", threads=job["threads"], int8=job["int8"]
        )
    else:
        from yiyan.export.ctranslate2 import CT2Translator

        translator = CT2Translator.load(
            job["model"], device="cpu", compute_type=job["quantization"], intra_threads=job["threads"]
        )
    load_s = time.perf_counter() - start
    options = {"beam": job["beam"], "batch_size": job["batch_size"]}
    translator.translate(sources[: min(len(sources), 64)], **options)  # warm-up (allocators, caches)
    times, results = [], []
    for _ in range(job["repeats"]):
        start = time.perf_counter()
        results = translator.translate_detailed(sources, **options)
        times.append(time.perf_counter() - start)
    return {
        "load_s": load_s,
        "times_s": times,
        "hypotheses": [r.text for r in results],
        "target_tokens": target_tokens(generated_pieces(r.tgt_tokens) for r in results),
        "peak_rss_mib": peak_rss_mib(),
        "torch_imported": "torch" in sys.modules,
    }


# ------------------------------------------------------------------ parent


def read_test_set(data: Path, limit: int) -> tuple[list[str], list[str]]:
    sources, references = [], []
    for line in (data / "test.tsv").read_text(encoding="utf-8").splitlines():
        columns = line.split("\t")
        if len(columns) >= 2:
            sources.append(columns[0])
            references.append(columns[1])
    return (sources[:limit], references[:limit]) if limit else (sources, references)


def directory_size(*paths: Path) -> int:
    return sum(f.stat().st_size for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file())


def pytorch_int8_size(run_dir: Path) -> int:
    """Bytes of the quantized model's state_dict serialized with torch.save (measurement only)."""
    import torch

    from yiyan.checkpoint import load_model
    from yiyan.translator import quantize_int8

    buffer = io.BytesIO()
    torch.save(quantize_int8(load_model(run_dir)).state_dict(), buffer)
    return buffer.tell() + directory_size(run_dir / "tokenizer")


def run_worker(job: dict[str, Any], threads: int) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(job)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"worker {job['name']} beam {job['beam']} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def markdown(rows: list[dict[str, Any]]) -> str:
    header = (
        "| engine | beam | sentences/s | target tokens/s | peak RSS (MiB) | size (MiB) | BLEU | chrF | "
        "same as PyTorch fp32 | load (s) |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    return header + "".join(
        f"| {r['engine']} | {r['beam']} | {r['sentences_per_s']:.1f} | {r['target_tokens_per_s']:.0f} | "
        f"{r['peak_rss_mib']:.0f} | {r['size_mib']:.2f} | {r['bleu']:.2f} | {r['chrf']:.2f} | "
        f"{r['same_as_pytorch_fp32']:.1%} | {r['load_s']:.2f} |\n"
        for r in rows
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", nargs="?", help="a trained Transformer run")
    parser.add_argument("--data", help="directory with test.tsv (source<TAB>reference)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of every engine (default: 2)")
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 5], help="beam sizes (default: 1 5)")
    parser.add_argument("--engines", nargs="+", choices=list(ENGINES), default=list(ENGINES))
    parser.add_argument("--repeats", type=int, default=3, help="timed passes; the median counts (default: 3)")
    parser.add_argument("--batch-size", type=int, default=64, help="sentences per batch (default: 64)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N test sentences (0 = all)")
    parser.add_argument("--name", help="result name: benchmarks/results/NAME.json (default decode-<run>)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    if not (args.run_dir and args.data):
        parser.error("give RUN_DIR and --data")

    from common import write_result
    from yiyan.errors import YiyanError
    from yiyan.export.ctranslate2 import export_ctranslate2
    from yiyan.metrics import score
    from yiyan.translator import load_run_config

    run_dir = Path(args.run_dir)
    config = load_run_config(run_dir)
    sources, references = read_test_set(Path(args.data), args.limit)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="yiyan-decode-bench-") as tmp:
        source_file = Path(tmp) / "sources.txt"
        source_file.write_text("".join(f"{s}\n" for s in sources), encoding="utf-8")
        models: dict[str, tuple[Path, int]] = {}
        for name, spec in ENGINES.items():
            if name not in args.engines:
                continue
            if spec["engine"] == "ctranslate2":
                try:
                    export = export_ctranslate2(run_dir, Path(tmp) / name, quantization=spec["quantization"])
                except YiyanError as error:  # e.g. an RNN run: PyTorch only
                    print(f"skipping {name}: {error}", file=sys.stderr)
                    continue
                models[name] = (export.path, export.size_bytes)
            elif spec["int8"]:
                models[name] = (run_dir, pytorch_int8_size(run_dir))
            else:
                models[name] = (run_dir, directory_size(run_dir / "model.safetensors", run_dir / "tokenizer"))
        for beam in args.beams:
            reference_outputs: list[str] | None = None
            for name in models:
                path, size = models[name]
                job = {
                    **ENGINES[name],
                    "name": name,
                    "model": str(path),
                    "sources": str(source_file),
                    "beam": beam,
                    "threads": args.threads,
                    "repeats": args.repeats,
                    "batch_size": args.batch_size,
                }
                print(f"{name} beam {beam} …", file=sys.stderr, flush=True)
                result = run_worker(job, args.threads)
                hypotheses = result.pop("hypotheses")
                if name == "pytorch-fp32":
                    reference_outputs = hypotheses
                seconds = statistics.median(result["times_s"])
                quality = score(hypotheses, references, config.data.tgt_lang)
                same = (
                    sum(a == b for a, b in zip(hypotheses, reference_outputs)) / len(hypotheses)
                    if reference_outputs is not None and hypotheses
                    else float("nan")
                )
                rows.append(
                    {
                        "engine": name,
                        "beam": beam,
                        "sentences_per_s": len(sources) / seconds,
                        "target_tokens_per_s": result["target_tokens"] / seconds,
                        "size_mib": size / 2**20,
                        "bleu": quality["bleu"],
                        "chrf": quality["chrf"],
                        "bleu_signature": quality["bleu_signature"],
                        "same_as_pytorch_fp32": same,
                        **result,
                    }
                )
    table = markdown(rows)
    print(table)
    report = {
        "run": str(run_dir),
        "model": config.model.type,
        "sentences": len(sources),
        "threads": args.threads,
        "repeats": args.repeats,
        "batch_size": args.batch_size,
        "results": rows,
        "table": table,
    }
    write_result(args.name or f"decode-{run_dir.name}", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
