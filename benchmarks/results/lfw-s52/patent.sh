#!/usr/bin/env bash
# patent.sh [SEED]: session 52. The patent's recipe as the patent states it (`protect --recipe patent`, on the target,
# no TL-DMI step) at protect seed SEED (default 0) into .cache/s52/patent-sSEED, then the nine `strong` attacks at
# attack seed 0 as lfw-s30/suite.sh runs them, the undefended target's rows lent from session 33's reports of the
# same baseline (their measurement key matches: same target, GAN, evaluation model, held-out split, torch), so only
# the hardened model is attacked. One thread; run from the repository root (PY=the venv's python).
set -u
cd "${REPO:-.}"; export OMP_NUM_THREADS=1; PY=${PY:-.venv/bin/python}
SEED=${1:-0}; D=.cache/s52/patent-s$SEED; B=.cache/benchmarks; S27=benchmarks/results/lfw-s27
R=benchmarks/results/lfw-s33/reports
mkdir -p $D
{ echo "start $(date +%T)"; /usr/bin/time -v $PY -m hardener protect $B/target/model.safetensors --gan $B/gan/gan.safetensors \
  --protect 6 --protect 18 --protect 27 --protect 31 --protect 67 --data $B/splits/private/train.npz --recipe patent \
  --seed $SEED --out $D/out; echo "protect end $(date +%T)"; } > $D/protect.log 2>&1
PY=$PY bash $S27/verify.sh $D/out $D/plggan-a0 --preset plg-gan --seed 0 --baseline-report $R/q4s0-plggan-a0.json
PY=$PY bash $S27/verify4.sh $D/out $D/verify4 --baseline-report $R/q4s0-verify4.json
PY=$PY bash $S27/verify.sh $D/out $D/plgad-a0 --preset plg-gan-adaptive --seed 0 --baseline-report $R/q4s0-plgad-a0.json
PY=$PY bash $S27/verify.sh $D/out $D/rest --preset gmi --preset ppa --preset adaptive-trapdoor --baseline-report $R/q4s0-rest.json
echo "end $(date +%T)"
