#!/usr/bin/env bash
# plggan.sh NAME: verify e-NAME's model with plg-gan only (VERIFY4's options otherwise), baseline generator cached
set -u
cd REPO; export OMP_NUM_THREADS=1; PY=python
B=.cache/benchmarks; D=.cache/s26/e-$1
P="--protect 6 --protect 18 --protect 27 --protect 31 --protect 67"
mkdir -p $D/plggan && cp -r .cache/s26/rest-lc2-s0/surrogates $D/plggan/
{ echo "start $(date +%T)"; /usr/bin/time -v $PY -m hardener verify $D/out --baseline $B/target/model.safetensors --data $B/splits/private/test.npz \
  --gan $B/gan-attacker/gan.safetensors --eval-model $B/eval/model.safetensors $P --budget standard --restarts 15 \
  --preset plg-gan --out $D/plggan; echo "verify end $(date +%T)"; } > $D/plggan.log 2>&1
