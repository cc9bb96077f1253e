#!/usr/bin/env bash
# plggan-seed.sh MODEL_DIR OUT SEED: PLGGAN at attack seed SEED
set -u
exec bash "$(dirname "$0")/verify.sh" "$1" "$2" --preset plg-gan --seed "$3"
