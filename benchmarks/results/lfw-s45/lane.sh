#!/bin/bash
# lane.sh NAME SEED [protect options] (session 45): the whole protect (TL-DMI step included) at SEED with the options
# given, then the five attacks of rule R42 (lfw-s42/judge.py); one thread. Run from the repository root, or REPO=it.
cd "${REPO:-.}"; export PY=${PY:-.venv/bin/python} OMP_NUM_THREADS=1
N=$1; SEED=$2; shift 2; D=.cache/s45/$N
echo "$N start $(date +%T)"
mkdir -p $D
bash benchmarks/results/lfw-s27/protect.sh $D/out $D/protect.log $SEED "$@"
echo "$N protect end $(date +%T)"
$PY benchmarks/results/lfw-s42/judge.py $D/out $D/judge.json > $D/judge.log 2>&1
echo "$N judge end $(date +%T)"
