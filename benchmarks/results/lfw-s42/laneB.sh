#!/bin/bash
# lane B: wait for the GANs and the public classifier, then the default stack at seed 0, then judge it.
cd "${REPO:-.}"; export PY=.venv/bin/python OMP_NUM_THREADS=1
B=.cache/benchmarks
while [ ! -f $B/gan-attacker/report.json ] || [ ! -f $B/public/report.json ] || pgrep -f "stages gan gan-attacker" >/dev/null; do sleep 20; done
OMP_NUM_THREADS=1 $PY benchmarks/train_models.py --stages gan gan-attacker > .cache/s42/addclf.log 2>&1
echo "def0 start $(date +%T)"
mkdir -p .cache/s42/def0
bash benchmarks/results/lfw-s27/protect.sh .cache/s42/def0/out .cache/s42/def0/protect.log 0
echo "def0 protect end $(date +%T)"
while [ ! -f $B/eval/report.json ]; do sleep 20; done
$PY .cache/s42/judge.py .cache/s42/def0/out .cache/s42/def0/judge.json > .cache/s42/def0/judge.log 2>&1
echo "def0 judge end $(date +%T)"
