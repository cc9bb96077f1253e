#!/bin/bash
# lane A: wait for the eval model (lane A's training) and the default's TL-DMI step, then --feature-hold 4 resumed
# from that step, then judge it.
cd "${REPO:-.}"; export PY=.venv/bin/python OMP_NUM_THREADS=1
B=.cache/benchmarks
while [ ! -f $B/eval/report.json ] || pgrep -f "stages split target public eval" >/dev/null; do sleep 20; done
while [ ! -f .cache/s42/def0/out/tl-dmi/report.json ]; do sleep 20; done
sleep 5
echo "fh4 start $(date +%T)"
mkdir -p .cache/s42/fh4/out && cp -r .cache/s42/def0/out/tl-dmi .cache/s42/fh4/out/tl-dmi
bash benchmarks/results/lfw-s27/protect.sh .cache/s42/fh4/out .cache/s42/fh4/protect.log 0 --feature-hold 4 --resume
echo "fh4 protect end $(date +%T)"
$PY .cache/s42/judge.py .cache/s42/fh4/out .cache/s42/fh4/judge.json > .cache/s42/fh4/judge.log 2>&1
echo "fh4 judge end $(date +%T)"
