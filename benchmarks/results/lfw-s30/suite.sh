#!/usr/bin/env bash
# suite.sh NAME SEED [protect options]: STACK --seed SEED [options] into .cache/s30/e-NAME, then every `strong`
# attack at attack seed 0 (plg-gan, VERIFY4, plg-gan-adaptive, then gmi, ppa, adaptive-trapdoor): the whole gate
# on one model, one lane (a core). Run from the repository root, or REPO=it; PY=the venv's python.
# With PROTECTED=DIR (a finished protect output), the protect run is skipped and DIR is judged; RUNS=FOLDER puts
# the run in FOLDER/e-NAME instead (a `tl-dmi` folder already there, with --resume, is kept: the decoy step alone).
set -u
HERE=$(cd "$(dirname "$0")" && pwd); S27=$HERE/../lfw-s27
cd "${REPO:-.}"; export OMP_NUM_THREADS=1; PY=${PY:-python}
NAME=$1; SEED=$2; shift 2
D=${RUNS:-.cache/s30}/e-$NAME
mkdir -p $D
if [ -z "${PROTECTED:-}" ]; then
  REPO=. PY=$PY bash "$S27/protect.sh" $D/out $D/protect.log $SEED "$@"
  MODEL=$D/out
else
  MODEL=$PROTECTED
fi
bash "$S27/verify.sh" $MODEL $D/plggan-a0 --preset plg-gan --seed 0
bash "$S27/verify4.sh" $MODEL $D/verify4
bash "$S27/verify.sh" $MODEL $D/plgad-a0 --preset plg-gan-adaptive --seed 0
bash "$S27/verify.sh" $MODEL $D/rest --preset gmi --preset ppa --preset adaptive-trapdoor
