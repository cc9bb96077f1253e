#!/bin/bash
# lane_audit.sh NAME SEED [protect options] (session 49): the whole default stack at SEED (lfw-s27/protect.sh, one
# thread) into .cache/s45/NAME, then the defender's audit of it (audit.sh). Run from the repository root.
export PY=${PY:-.venv/bin/python} OMP_NUM_THREADS=1
N=$1; SEED=$2; shift 2; D=.cache/s45/$N
echo "$N start $(date +%T)"; mkdir -p $D
bash benchmarks/results/lfw-s27/protect.sh $D/out $D/protect.log $SEED "$@"
echo "$N protect end $(date +%T)"
bash benchmarks/results/lfw-s49/audit.sh $N $D/out
