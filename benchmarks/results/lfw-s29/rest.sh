#!/usr/bin/env bash
# rest.sh NAME: the strong attacks VERIFY4 and plg-gan leave out (gmi, ppa, adaptive-trapdoor) on .cache/s29/e-NAME
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
D=.cache/s29/e-$1
bash "$HERE/../lfw-s27/verify.sh" $D/out $D/rest --preset gmi --preset ppa --preset adaptive-trapdoor
