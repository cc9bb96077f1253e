#!/usr/bin/env bash
# lane.sh NAME SEED PHASE [protect options]: session 32's lane in .cache/s32/e-NAME (REPO=worktree, PY=venv python).
# PHASE 1: the decoy step resumed from session 30's seed-SEED TL-DMI step, then plg-gan and plg-gan-adaptive; PHASE 2:
# VERIFY4 and gmi+ppa+adaptive-trapdoor. Attack seed 0, baseline rows from lfw-s31's reports. STORE (default .cache/s32)
# holds the lanes; TLDMI (default session 30's .cache/s30/e-seedSEED/out/tl-dmi) the TL-DMI step to resume from,
# TLDMI=none: the whole protect, TL-DMI step included.
set -u
cd "${REPO:-.}"; export OMP_NUM_THREADS=1
NAME=$1; SEED=$2; PHASE=$3; shift 3
S27=benchmarks/results/lfw-s27; BR=benchmarks/results/lfw-s31/reports/rp1
D=${STORE:-.cache/s32}/e-$NAME
if [ "$PHASE" = 1 ]; then
  mkdir -p $D/out; RESUME=--resume
  if [ "${TLDMI:-}" = none ]; then RESUME=; else [ -d $D/out/tl-dmi ] || cp -r ${TLDMI:-.cache/s30/e-seed$SEED/out/tl-dmi} $D/out/tl-dmi; fi
  bash $S27/protect.sh $D/out $D/protect.log $SEED "$@" $RESUME
  bash $S27/verify.sh $D/out $D/plggan-a0 --preset plg-gan --seed 0 --baseline-report $BR-plggan-a0.json
  bash $S27/verify.sh $D/out $D/plgad-a0 --preset plg-gan-adaptive --seed 0 --baseline-report $BR-plgad-a0.json
else
  bash $S27/verify4.sh $D/out $D/verify4 --baseline-report $BR-verify4.json
  bash $S27/verify.sh $D/out $D/rest --preset gmi --preset ppa --preset adaptive-trapdoor --baseline-report $BR-rest.json
fi
echo "lane end $(date +%T)"
