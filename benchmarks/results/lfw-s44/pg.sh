#!/bin/bash
# pg.sh NAME... (session 44): plg-gan as the judge runs it but with protect's own GAN (JUDGE_GAN), on the protect
# outputs .cache/s44/NAME/out (or .cache/s42/NAME/out, .cache/s43/NAME/out), one after another; one thread.
# Does what the defender's GAN shows of each class's decoy hit rate match what the attacker's GAN found?
cd "${REPO:-.}"; export PY=${PY:-.venv/bin/python} OMP_NUM_THREADS=1 JUDGE_GAN=.cache/benchmarks/gan/gan.safetensors
for N in "$@"; do
  OUT=$(ls -d .cache/s4[234]/$N/out | head -1)
  echo "$N start $(date +%T) $OUT"
  $PY benchmarks/results/lfw-s42/judge.py $OUT .cache/s44/pg/$N.json plg-gan > .cache/s44/pg/$N.log 2>&1
  echo "$N end $(date +%T)"
done
