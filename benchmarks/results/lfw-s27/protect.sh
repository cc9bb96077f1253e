#!/usr/bin/env bash
# protect.sh OUT LOG SEED [protect options]: STACK, the protect every script here runs (the LFW benchmark target and
# protect's GAN, the five protected classes, TL-DMI from the public classifier on the private training split)
# --seed SEED [options] --out OUT, timed by /usr/bin/time, logged to LOG; one thread. Run from the repository root,
# or REPO=it; PY=the venv's python.
set -u
cd "${REPO:-.}"; export OMP_NUM_THREADS=1; PY=${PY:-python}
OUT=$1; LOG=$2; SEED=$3; shift 3
B=.cache/benchmarks
P="--protect 6 --protect 18 --protect 27 --protect 31 --protect 67"
{ echo "start $(date +%T)"; /usr/bin/time -v $PY -m hardener protect $B/target/model.safetensors --gan $B/gan/gan.safetensors $P \
  --data $B/splits/private/train.npz --pretrained $B/public/model.safetensors --seed $SEED "$@" --out $OUT; echo "protect end $(date +%T)"; } > $LOG 2>&1
