#!/bin/bash
# lane.sh NAME WEIGHT (session 43): protect --feature-hold WEIGHT --feature-hold-on others, resumed from a copy of
# session 42's default TL-DMI step (.cache/s42/def0/out/tl-dmi), protect seed 0, then the five attacks of rule R42
# (lfw-s42/judge.py); one thread. Run from the repository root, or REPO=it.
cd "${REPO:-.}"; export PY=${PY:-.venv/bin/python} OMP_NUM_THREADS=1
N=$1; W=$2; D=.cache/s43/$N
echo "$N start $(date +%T)"
mkdir -p $D/out && cp -r .cache/s42/def0/out/tl-dmi $D/out/tl-dmi
bash benchmarks/results/lfw-s27/protect.sh $D/out $D/protect.log 0 --feature-hold $W --feature-hold-on others --resume
echo "$N protect end $(date +%T)"
$PY benchmarks/results/lfw-s42/judge.py $D/out $D/judge.json > $D/judge.log 2>&1
echo "$N judge end $(date +%T)"
