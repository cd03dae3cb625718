#!/usr/bin/env bash
# Every benchmark of docs/benchmarks.md and README.md's "Measured" table, one after another (never two
# at once on a 2-core machine), on a quiet machine:
#   bash benchmarks/run_all.sh ../shared/data/tatoeba-cmn [step ...]
# Steps: peers marian-gap marian-loop train-small overlap recipe16 finetune train-rnn decode serve prepare-scale precision profile
# toolbox-train toolbox-decode backtranslation documents
# (default: all, in this order; about 6 hours, `peers` alone about 1 h 30 min).
# Not in the default: pretraining (JiYu and FLORES-200 dev beside DATA, ../jiyu-en-zh and
# ../flores200-dev; about 3 hours: the 40-minute curve, pretrain → fine-tune, the filter comparison).
# Each writes benchmarks/results/<--name>.json (commit them); then
#   python benchmarks/check_docs.py --fill    # write the results into the docs' pending cells, and check
# Run directories and logs are scratch: runs/bench-*, bench-out/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?usage: run_all.sh TATOEBA_DIR [step ...]}
shift
STEPS=${*:-peers marian-gap marian-loop train-small overlap recipe16 finetune train-rnn decode serve prepare-scale precision profile toolbox-train toolbox-decode backtranslation documents}
PY=.venv/bin/python
export OMP_NUM_THREADS=2
mkdir -p bench-out
for step in $STEPS; do
  echo "=== $step $(date -u +%FT%TZ)"
  case $step in
    peers)       $PY benchmarks/peers_side_by_side.py --data "$DATA" --budget 10m --name peers-side-by-side ;;
    train-small) $PY benchmarks/train_tatoeba.py --data "$DATA" --config configs/tatoeba-small.yaml --budget 20m \
                   --run-dir runs/bench-tatoeba-small --name train-tatoeba-small ;;
    finetune)    $PY benchmarks/finetune_recipe.py --pretrained runs/r16-pn-s1 --budget 3m --seeds 1 2 3 \
                   --name finetune-recipe ;;  # pretrained: step recipe16's budget recipe, seed 1
    train-rnn)   $PY benchmarks/train_tatoeba.py --data "$DATA" --config configs/tatoeba-rnn.yaml --budget 20m \
                   --run-dir runs/bench-tatoeba-rnn --name train-tatoeba-rnn ;;
    decode)      $PY benchmarks/decode.py runs/bench-tatoeba-small --data "$DATA" --threads 2 --repeats 3 \
                   --name decode-tatoeba-small ;;
    serve)       $PY benchmarks/serve_load.py runs/bench-tatoeba-small --sentences "$DATA/test.tsv" \
                   --clients 32 --requests 2000 --threads 2 --name serve-load ;;
    prepare-scale) $PY benchmarks/prepare_scale.py "$DATA/train.tsv" --sizes 1000000 10000000 --workers 2 \
                   --name prepare-scale ;;
    precision)   $PY benchmarks/precision_cpu.py --warmup 2 --steps 5 --name precision-cpu
                 # eager against torch.compile, one shape, same process
                 $PY benchmarks/train_step.py --size small --device cpu --precision fp32 --compile --vocab 8000 \
                   --batch-tokens 4096 --length 16 --threads 2 --name train-step-compile-cpu ;;
    profile)     $PY benchmarks/profile_step.py runs/bench-tatoeba-small --steps 8 --name profile-step
                 # the share of the matmul peak split into padding, GEMM speed and non-GEMM time (step recipe16's run)
                 $PY benchmarks/profile_step.py runs/r16-small-s1 --steps 8 --name profile-step-factors
                 for beam in 5 1; do  # where PyTorch decoding's time goes (step recipe16's budget model)
                     $PY benchmarks/profile_decode.py runs/r16-pn-s1 --data "$DATA" --beam $beam --limit 640 \
                       --name profile-decode-beam$beam
                 done ;;
    toolbox-decode) $PY benchmarks/toolbox_decode.py runs/r16-pn-s1 runs/r16-pn-s2 --threads 2 \
                   --name toolbox-decode ;;  # recipe16's two seeds: the same data, so one vocabulary
    toolbox-train) $PY benchmarks/toolbox_train.py runs/r16-pn-s1 runs/r16-pn-s2 --average 2 3 5 --threads 2 \
                   --name toolbox-train ;;  # the two seeds of step recipe16 (EMA + 5 kept checkpoints)
    backtranslation) $PY benchmarks/backtranslation.py --data "$DATA" --mono "$DATA/../jiyu-en-zh/train.tsv" \
                   --budget 600 --work bench-out/bt --name backtranslation \
                   --set training.batch_tokens=2048 --set training.learning_rate=0.001 --set training.warmup_steps=200 \
                   --set training.schedule=linear --set training.max_steps=850 --set training.eval_every=100 \
                   --set training.eval_max_sentences=300 --set training.eval_beam=1 --set training.ema_decay=0 ;;
    recipe16)    # issue 16's compute-normalised budget; the reference config, then the budget recipe, 2 seeds
                 $PY benchmarks/train_tatoeba.py --data "$DATA" --config configs/tatoeba-small.yaml --budget 20m \
                   --normalise-to 210 --run-dir runs/r16-small-s1 --name recipe16-small-s1
                 $PY benchmarks/train_tatoeba.py --data "$DATA" --config configs/tatoeba-budget.yaml --budget 20m \
                   --normalise-to 210 --run-dir runs/r16-pn-s1 --set training.seed=1 --name recipe16-postnorm-s1
                 # seed 2 gets seed 1's budget in seconds (the measured peak moves with the shared host)
                 $PY benchmarks/train_tatoeba.py --data "$DATA" --config configs/tatoeba-budget.yaml --budget 866 \
                   --run-dir runs/r16-pn-s2 --set training.seed=2 --name recipe16-postnorm-s2
                 # a third seed with its own normalised budget
                 $PY benchmarks/train_tatoeba.py --data "$DATA" --config configs/tatoeba-budget.yaml --budget 20m \
                   --normalise-to 210 --run-dir runs/r16-pn-s3 --set training.seed=3 --name recipe16-postnorm-s3 ;;
    pretraining) JIYU="$DATA/../jiyu-en-zh"; FLORES="$DATA/../flores200-dev/dev.tsv"
                 LINEAR=(--set training.batch_tokens=1024 --set training.schedule=linear)
                 $PY benchmarks/pretrain_curve.py --data-dir "$JIYU" --flores "$FLORES" --budget 40m --points 5 \
                   --eval-every 1150 --run-dir bench-out/pretrain-b1024 --plot docs/img/pretrain-b1024.png \
                   "${LINEAR[@]}" --set training.max_steps=6000 --set training.warmup_steps=300 --name pretrain-b1024
                 $PY benchmarks/pretrain_finetune.py --pretrained bench-out/pretrain-b1024 --tatoeba "$DATA" \
                   --flores "$FLORES" --finetune-budget 10m --name pretrain-finetune
                 # the same fine-tuning with the Tatoeba recipe's optimizer, beside the scratch baseline above
                 $PY benchmarks/pretrain_finetune.py --pretrained bench-out/pretrain-b1024 --tatoeba "$DATA" \
                   --flores "$FLORES" --finetune-budget 10m --models tatoeba-ft --set model.dropout=0.1 \
                   --set training.learning_rate=0.001 --set training.schedule=linear --set training.warmup_steps=70 \
                   --set training.max_steps=720 --set training.patience=0 --out-dir bench-out/pretrain-finetune-lr1e3 \
                   --name pretrain-finetune-lr1e3
                 # the recipe against + model-score filtering: 16 minutes each on a uniform 100k-pair sample, one tokenizer
                 $PY benchmarks/pretrain_filters.py --data-dir "$JIYU" --flores "$FLORES" --budget 16m \
                   --train-lines 100000 --tokenizer bench-out/pretrain-b1024/tokenizer --eval-every 700 "${LINEAR[@]}" \
                   --set training.max_steps=2800 --set training.warmup_steps=300 \
                   --sets recipe+score recipe --score-run bench-out/pretrain-b1024 --name pretrain-filters
                 # language ID's drops on the same sample (a data figure: prepare only)
                 $PY benchmarks/pretrain_drops.py --data-dir "$JIYU" --flores "$FLORES" --train-lines 100000 \
                   --set data.langid=true --run-dir bench-out/pretrain-langid-100k --name pretrain-jiyu-drops-langid-100k ;;
    overlap)     $PY benchmarks/overlap.py "$DATA" --name tatoeba-overlap ;;
    marian-gap)  # step peers' tuned yiyan run with one difference from Marian's model removed, same updates
                 $PY benchmarks/train_tatoeba.py --data "$DATA" --config configs/tatoeba-small.yaml --budget 40m \
                   --run-dir runs/gap-norm-post --set model.norm=post --set training.max_steps=476 \
                   --set training.eval_every=1000000000 --name marian-gap-norm-post
                 $PY benchmarks/train_tatoeba.py --data "$DATA" --config configs/tatoeba-small.yaml --budget 40m \
                   --run-dir runs/gap-init-normal --set model.init=normal --set training.max_steps=476 \
                   --set training.eval_every=1000000000 --name marian-gap-init-normal
                 # after d0ee714: batches cut from a random order within each cost (no target-length sort)
                 $PY benchmarks/train_tatoeba.py --data "$DATA" --config configs/tatoeba-small.yaml --budget 40m \
                   --run-dir runs/gap-cost-sort --set training.max_steps=476 \
                   --set training.eval_every=1000000000 --name marian-gap-cost-sort ;;
    marian-loop) # yiyan's model inside Marian's loop and batches (step peers' data); only the model differs
                 $PY benchmarks/marian_loop.py --data bench-out/peers/data --steps 300 --eval-every 150 \
                   --norm post --init normal --name marian-loop-yiyan-post-normal
                 $PY benchmarks/marian_loop.py --data bench-out/peers/data --steps 300 --eval-every 150 \
                   --norm pre --init xavier_uniform --name marian-loop-yiyan-pre-xavier
                 $PY benchmarks/marian_loop.py --data bench-out/peers/data --steps 300 --eval-every 150 \
                   --model marian --name marian-loop-marian ;;
    documents)   $PY benchmarks/documents.py runs/bench-tatoeba-small --dev "$DATA/dev.tsv" --threads 2 \
                   --name documents ;;
    *) echo "unknown step: $step" >&2; exit 2 ;;
  esac 2>&1 | tee "bench-out/$step.log"
done
