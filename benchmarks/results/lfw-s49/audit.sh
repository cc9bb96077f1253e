#!/bin/bash
# audit.sh NAME PROTECT_OUT... (session 49, rule R49b): rule R42's five attacks with only what the defender owns,
# protect's GAN and the user's target as the judge, on each folder in turn; rows in .cache/s49/audit/NAME.json.
# Pairs of NAME DIR: audit.sh DX0 .cache/s45/DX0/out S34 .cache/s49/S34. One thread. Run from the repository root.
export OMP_NUM_THREADS=1 JUDGE_GAN=.cache/benchmarks/gan/gan.safetensors JUDGE_EVAL=.cache/benchmarks/target/model.safetensors
mkdir -p .cache/s49/audit
while [ $# -ge 2 ]; do
  echo "$1 start $(date +%T)"; .venv/bin/python benchmarks/results/lfw-s42/judge.py "$2" .cache/s49/audit/$1.json > .cache/s49/audit/$1.log 2>&1
  echo "$1 end $(date +%T)"; shift 2
done
