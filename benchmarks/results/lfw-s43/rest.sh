#!/bin/bash
# rest.sh NAME (session 43): the other four strong attacks on .cache/s43/NAME/out once its five have ended; one thread
cd "${REPO:-.}"; export OMP_NUM_THREADS=1; PY=${PY:-.venv/bin/python}
D=.cache/s43/$1
while ! grep -q "judge end" .cache/s43/$1.out 2>/dev/null; do sleep 20; done
$PY benchmarks/results/lfw-s42/judge.py $D/out $D/judge-rest.json ppa adaptive-decoy gmi lomma-aug > $D/judge-rest.log 2>&1
echo "$1 rest end $(date +%T)"
