#!/bin/bash
# after the fresh-clone CI: the other four strong attacks on both models, one lane each (written before their runs, 16:41)
cd "${REPO:-.}"; export OMP_NUM_THREADS=1
for n in def0 fh4; do
  (${PY:-python} benchmarks/results/lfw-s42/judge.py .cache/s42/$n/out .cache/s42/$n/judge-rest.json ppa adaptive-decoy gmi lomma-aug > .cache/s42/$n/judge-rest.log 2>&1; echo "$n rest end $(date +%T)") &
done
wait
