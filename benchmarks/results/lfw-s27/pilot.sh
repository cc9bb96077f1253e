#!/usr/bin/env bash
# pilot.sh NAME SEED TLDMI_FROM [protect options]: STACK --seed SEED --resume on TLDMI_FROM/out/tl-dmi (run from the repository root, or REPO=it), then PLGGAN
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
cd "${REPO:-.}"; export OMP_NUM_THREADS=1; PY=${PY:-python}
NAME=$1; SEED=$2; FROM=$3; shift 3
B=.cache/benchmarks; D=.cache/s27/e-$NAME
P="--protect 6 --protect 18 --protect 27 --protect 31 --protect 67"
mkdir -p $D/out && cp -r $FROM/out/tl-dmi $D/out/
{ echo "start $(date +%T)"; /usr/bin/time -v $PY -m hardener protect $B/target/model.safetensors --gan $B/gan/gan.safetensors $P \
  --data $B/splits/private/train.npz --pretrained $B/public/model.safetensors --seed $SEED "$@" --resume --out $D/out; echo "protect end $(date +%T)"; } > .cache/s27/protect-$NAME.log 2>&1
mkdir -p $D/plggan && cp -r .cache/s26/rest-lc2-s0/surrogates $D/plggan/
bash "$HERE/verify.sh" $D/out $D/plggan --preset plg-gan
