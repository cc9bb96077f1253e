#!/bin/bash
# lane.sh NAME SEED TLDMI_STEP [protect options] (session 44): protect at SEED resumed from a copy of TLDMI_STEP (a
# default TL-DMI step of that seed), with the options given, then the five attacks of rule R42 (lfw-s42/judge.py);
# one thread. Run from the repository root, or REPO=it.
cd "${REPO:-.}"; export PY=${PY:-.venv/bin/python} OMP_NUM_THREADS=1
N=$1; SEED=$2; STEP=$3; shift 3; D=.cache/s44/$N
echo "$N start $(date +%T)"
mkdir -p $D/out && cp -r $STEP $D/out/tl-dmi
bash benchmarks/results/lfw-s27/protect.sh $D/out $D/protect.log $SEED "$@" --resume
echo "$N protect end $(date +%T)"
$PY benchmarks/results/lfw-s42/judge.py $D/out $D/judge.json > $D/judge.log 2>&1
echo "$N judge end $(date +%T)"
