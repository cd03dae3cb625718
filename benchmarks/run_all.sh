#!/usr/bin/env bash
# Every benchmark of docs/benchmarks.md, one after another (never two at once on a 2-core machine).
#   bash benchmarks/run_all.sh ../shared/data/tatoeba-cmn [step ...]
# Steps: train-small joey finetune train-rnn decode serve prepare-scale (default: all, in this order).
# Figures go to bench-out/ (JSON + logs); docs/benchmarks.md records them.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?usage: run_all.sh TATOEBA_DIR [step ...]}
shift
STEPS=${*:-train-small joey finetune train-rnn decode serve prepare-scale}
PY=.venv/bin/python
export OMP_NUM_THREADS=2
mkdir -p bench-out
for step in $STEPS; do
  echo "=== $step $(date -u +%FT%TZ)"
  case $step in
    train-small) $PY benchmarks/train_tatoeba.py --data "$DATA" --config configs/tatoeba-small.yaml --budget 20m \
                   --out bench-out/train-small.json ;;
    joey)        $PY benchmarks/joey_side_by_side.py --data "$DATA" --minutes 4 --out bench-out/joey.json ;;
    finetune)    $PY benchmarks/finetune_recipe.py --pretrained runs/bench-tatoeba-small --budget 3m \
                   --out bench-out/finetune.json --md bench-out/finetune.md ;;
    train-rnn)   $PY benchmarks/train_tatoeba.py --data "$DATA" --config configs/tatoeba-rnn.yaml --budget 20m \
                   --out bench-out/train-rnn.json ;;
    decode)      $PY benchmarks/decode.py runs/bench-tatoeba-small --data "$DATA" --threads 2 --repeats 1 \
                   --out bench-out/decode.json ;;
    serve)       $PY benchmarks/serve_load.py runs/bench-tatoeba-small --sentences "$DATA/test.tsv" \
                   --clients 32 --requests 2000 --threads 2 --out bench-out/serve-load.json ;;
    prepare-scale) $PY benchmarks/prepare_scale.py "$DATA/train.tsv" --sizes 1000000 10000000 --workers 2 \
                   --out bench-out/prepare-scale.json ;;
    *) echo "unknown step: $step" >&2; exit 2 ;;
  esac 2>&1 | tee "bench-out/$step.log"
done
