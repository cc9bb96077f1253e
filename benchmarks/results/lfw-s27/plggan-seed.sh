#!/usr/bin/env bash
# plggan-seed.sh MODEL_DIR OUT SEED: PLGGAN at attack seed SEED
set -u
cd "${REPO:-.}"; export OMP_NUM_THREADS=1; PY=${PY:-python}
B=.cache/benchmarks
P="--protect 6 --protect 18 --protect 27 --protect 31 --protect 67"
{ echo "start $(date +%T)"; /usr/bin/time -v $PY -m hardener verify $1 --baseline $B/target/model.safetensors --data $B/splits/private/test.npz \
  --gan $B/gan-attacker/gan.safetensors --eval-model $B/eval/model.safetensors $P --budget standard --restarts 15 \
  --preset plg-gan --seed $3 --out $2; echo "verify end $(date +%T)"; } > $2.log 2>&1
