#!/usr/bin/env bash
# verify.sh MODEL OUT [verify options]: the LFW verify every script here runs (the attacker's GAN, the evaluation
# model, the five protected classes, standard budget, 15 restarts) with the given presets and options; log OUT.log
set -u
cd "${REPO:-.}"; export OMP_NUM_THREADS=1; PY=${PY:-python}
MODEL=$1; OUT=$2; shift 2
B=.cache/benchmarks
P="--protect 6 --protect 18 --protect 27 --protect 31 --protect 67"
{ echo "start $(date +%T)"; /usr/bin/time -v $PY -m hardener verify $MODEL --baseline $B/target/model.safetensors --data $B/splits/private/test.npz \
  --gan $B/gan-attacker/gan.safetensors --eval-model $B/eval/model.safetensors $P --budget standard --restarts 15 \
  "$@" --out $OUT; echo "verify end $(date +%T)"; } > $OUT.log 2>&1
