#!/usr/bin/env bash
# pilot.sh NAME SEED TLDMI_FROM [protect options]: STACK --seed SEED --resume on TLDMI_FROM/out/tl-dmi (run from the repository root, or REPO=it), then PLGGAN
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
cd "${REPO:-.}"; export OMP_NUM_THREADS=1; PY=${PY:-python}
NAME=$1; SEED=$2; FROM=$3; shift 3
D=.cache/s27/e-$NAME
mkdir -p $D/out && cp -r $FROM/out/tl-dmi $D/out/
REPO=. PY=$PY bash "$HERE/protect.sh" $D/out .cache/s27/protect-$NAME.log $SEED "$@" --resume
mkdir -p $D/plggan && cp -r .cache/s26/rest-lc2-s0/surrogates $D/plggan/
bash "$HERE/verify.sh" $D/out $D/plggan --preset plg-gan
