#!/usr/bin/env bash
# pilot.sh: STACK --seed 0 --leak-seeker ensemble --leak-seeker plg --resume on seed 0's TL-DMI model, then verify
# with plg-gan and plg-margin only
set -u
cd REPO; export OMP_NUM_THREADS=1; PY=python
B=.cache/benchmarks; D=.cache/s26/e-plg-s0
P="--protect 6 --protect 18 --protect 27 --protect 31 --protect 67"
{ echo "start $(date +%T)"; /usr/bin/time -v $PY -m hardener protect $B/target/model.safetensors --gan $B/gan/gan.safetensors $P \
  --data $B/splits/private/train.npz --pretrained $B/public/model.safetensors --seed 0 --leak-seeker ensemble --leak-seeker plg \
  --resume --out $D/out; echo "protect end $(date +%T)"; } > .cache/s26/protect-plg-s0.log 2>&1
mkdir -p $D/verify && cp -r .cache/s26/rest-lc2-s0/surrogates $D/verify/
{ echo "start $(date +%T)"; /usr/bin/time -v $PY -m hardener verify $D/out --baseline $B/target/model.safetensors --data $B/splits/private/test.npz \
  --gan $B/gan-attacker/gan.safetensors --eval-model $B/eval/model.safetensors $P --budget standard --restarts 15 \
  --preset plg-gan --preset plg-margin --out $D/verify; echo "verify end $(date +%T)"; } > $D/verify.log 2>&1
