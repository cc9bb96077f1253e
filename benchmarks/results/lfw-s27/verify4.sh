#!/usr/bin/env bash
# verify4.sh MODEL OUT [verify options]: VERIFY4 (the four attacks that leaked most from the stack before leak caps)
set -u
exec bash "$(dirname "$0")/verify.sh" "$1" "$2" --preset plg-margin --preset adaptive-decoy --preset lomma-aug --preset lomma-logit "${@:3}"
