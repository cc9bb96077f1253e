#!/bin/bash
# seed 1: control lane (default stack) and arm lane (O4 on a copy of the control's TL-DMI step), then judges
cd "${REPO:-.}"; export PY=${PY:-.venv/bin/python} OMP_NUM_THREADS=1
S=.cache/s43
control() {
  mkdir -p $S/def1; echo "def1 start $(date +%T)"
  bash benchmarks/results/lfw-s27/protect.sh $S/def1/out $S/def1/protect.log 1
  echo "def1 protect end $(date +%T)"
  $PY benchmarks/results/lfw-s42/judge.py $S/def1/out $S/def1/judge.json > $S/def1/judge.log 2>&1
  echo "def1 judge end $(date +%T)"
}
arm() {
  while [ ! -f $S/def1/out/tl-dmi/report.json ]; do sleep 20; done; sleep 5
  mkdir -p $S/o4s1/out && cp -r $S/def1/out/tl-dmi $S/o4s1/out/tl-dmi; echo "o4s1 start $(date +%T)"
  bash benchmarks/results/lfw-s27/protect.sh $S/o4s1/out $S/o4s1/protect.log 1 --feature-hold 4 --feature-hold-on others --resume
  echo "o4s1 protect end $(date +%T)"
  $PY benchmarks/results/lfw-s42/judge.py $S/o4s1/out $S/o4s1/judge.json > $S/o4s1/judge.log 2>&1
  echo "o4s1 judge end $(date +%T)"
}
control & arm & wait
