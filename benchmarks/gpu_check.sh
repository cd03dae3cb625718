#!/usr/bin/env bash
# GPU check of yiyan's training path (issue 7, "Scale out").
#
# NOT RUN YET: no GPU was lent to the session that wrote it; everything here was only run on
# CPU. A session with a CUDA GPU runs it once from the repository root (about 3 minutes):
#
#     bash benchmarks/gpu_check.sh            # figures and logs go to bench-out/gpu-check/
#
# 1. environment: GPU, driver, torch, CUDA, bf16 support;
# 2. training-step speed of a base-size Transformer (6+6 layers, d 512, vocab 32k, 8k-token
#    batches) in bf16 autocast, fp16 + GradScaler and fp32: tokens/s, model TFLOP/s and MFU
#    against the GPU's peak dense bf16 FLOP/s (benchmarks/train_step.py, table in common.py);
# 3. end to end on the GPU: `yiyan train` 40 steps of the demo config (precision auto → bf16),
#    then `--resume` to 60 steps (checkpoint with CUDA RNG state);
# 4. with 2 or more GPUs: `yiyan train --nproc 2` (torchrun, NCCL, one rank per GPU).
# Any failure stops the script (set -e); send the whole output and bench-out/gpu-check/*.json.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"  # works without an editable install too
OUT=${OUT:-bench-out/gpu-check}
mkdir -p "$OUT"

echo "== 1. environment"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "(no nvidia-smi)"
GPUS=$("$PY" - <<'EOF'
import torch
assert torch.cuda.is_available(), "torch sees no CUDA GPU"
name = torch.cuda.get_device_name(0)
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU(s), "
      f"{name}, bf16 {torch.cuda.is_bf16_supported()}", file=__import__("sys").stderr)
print(torch.cuda.device_count())
EOF
)

echo "== 2. training step, base Transformer"
"$PY" benchmarks/train_step.py --size base --device cuda --precision bf16 fp16 fp32 \
    --vocab 32000 --batch-tokens 8192 --length 32 --warmup 5 --steps 20 --name gpu-train-step-base
cp benchmarks/results/gpu-train-step-base.json "$OUT/train_step.json"  # the committed result, and a copy here

echo "== 3. yiyan train on the GPU, then --resume"
RUN="$OUT/run"
rm -rf "$RUN"
COMMON=(--run-dir "$RUN" --quiet --set training.device=cuda --set training.eval_every=20
        --set data.corpus=hsk --set data.exclude=null  # no network there: the HSK package, not Tatoeba
        --set training.eval_max_sentences=50 --set training.log_every=10)
"$PY" -m yiyan train configs/demo.yaml "${COMMON[@]}" --max-steps 40
"$PY" -m yiyan train configs/demo.yaml "${COMMON[@]}" --max-steps 60 --resume
grep -h "training transformer\|done" "$RUN/train.log"
cp "$RUN/train_summary.json" "$OUT/train_summary.json"

if [ "$GPUS" -ge 2 ]; then
    echo "== 4. yiyan train --nproc 2 (NCCL)"
    RUN2="$OUT/run-2gpu"
    rm -rf "$RUN2"
    "$PY" -m yiyan train configs/demo.yaml --run-dir "$RUN2" --quiet --set training.device=cuda \
        --set data.corpus=hsk --set data.exclude=null --set training.eval_every=20 --set training.eval_max_sentences=50 --max-steps 40 --nproc 2
    grep -h "training transformer\|done" "$RUN2/train.log"
    cp "$RUN2/train_summary.json" "$OUT/train_summary_2gpu.json"
else
    echo "== 4. skipped: one GPU"
fi
echo "gpu_check: all steps passed; figures in $OUT"
