#!/usr/bin/env bash
# lane.sh NAME SEED [protect options]: STACK --seed SEED [options] into .cache/s29/e-NAME, then plg-gan at attack
# seed 0, VERIFY4, plg-gan at attack seed 1, plg-gan-adaptive at attack seed 0 (one lane a core; run from the
# repository root, or REPO=it)
set -u
HERE=$(cd "$(dirname "$0")" && pwd); S27=$HERE/../lfw-s27
cd "${REPO:-.}"; export OMP_NUM_THREADS=1; PY=${PY:-python}
NAME=$1; SEED=$2; shift 2
D=.cache/s29/e-$NAME
mkdir -p $D
REPO=. PY=$PY bash "$S27/protect.sh" $D/out $D/protect.log $SEED "$@"
bash "$S27/verify.sh" $D/out $D/plggan-a0 --preset plg-gan --seed 0
bash "$S27/verify4.sh" $D/out $D/verify4
bash "$S27/verify.sh" $D/out $D/plggan-a1 --preset plg-gan --seed 1
bash "$S27/verify.sh" $D/out $D/plgad-a0 --preset plg-gan-adaptive --seed 0
