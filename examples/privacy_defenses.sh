#!/usr/bin/env bash
# TL-DMI, VAE + metric-privacy synthetic data and a membership-inference audit, end to end on the embedded
# synthetic faces (no data set, no GPU). Usage:
#   bash examples/privacy_defenses.sh [OUT_DIR]        # EPOCHS=2 IDS=8 VARIANT=resnet10 for a quick look
# Each step is one hardener command; the audits at the end print AUC and TPR at low FPR per model.
set -euo pipefail
OUT=${1:-privacy-example}
EPOCHS=${EPOCHS:-15}
IDS=${IDS:-16}                   # identities in all: half private, half public
HARDENER=${HARDENER:-hardener}   # e.g. HARDENER=".venv/bin/hardener"
VARIANT=${VARIANT:-resnet18}     # or resnet10: half the compute
RESNET=(--arch resnet --variant "$VARIANT" --image-size 32 --epochs "$EPOCHS")

# 1. Data: even identities private, odd public; the private ones split 80/20 per identity into train/test.
$HARDENER data split "synthetic:ids=$IDS,per=20,size=32" --by identity --out "$OUT/split"
$HARDENER data split "$OUT/split/private.npz" --by image --out "$OUT/private"

# 2. The undefended private model, and a model pretrained on the PUBLIC identities for TL-DMI.
$HARDENER train classifier "$OUT/private/train.npz" "${RESNET[@]}" --val "$OUT/private/test.npz" --out "$OUT/target"
$HARDENER train classifier "$OUT/split/public.npz" "${RESNET[@]}" --out "$OUT/public"

# 3. TL-DMI: keep the public stem..layer3, train layer4 and a new head on the private data.
$HARDENER protect "$OUT/target/model.safetensors" --method tl-dmi --pretrained "$OUT/public/model.safetensors" \
  --freeze-until layer3 --data "$OUT/private/train.npz" --val "$OUT/private/test.npz" --epochs "$EPOCHS" --out "$OUT/tl-dmi"

# 4. VAE + metric privacy: a synthetic twin of every private training image at epsilon 10 (the noise seed
#    is secret), and the model to release trained on the synthetic set alone.
$HARDENER synthesize "$OUT/private/train.npz" --epsilon 10 --epochs "$EPOCHS" --out "$OUT/synthetic"
$HARDENER train classifier "$OUT/synthetic/synthetic.npz" "${RESNET[@]}" --val "$OUT/private/test.npz" --out "$OUT/on-synthetic"

# 5. Membership inference against each: were the private training faces used? (--shadows 4 adds LiRA)
for model in target/model.safetensors tl-dmi/hardened.safetensors on-synthetic/model.safetensors; do
  $HARDENER audit-mia "$OUT/$model" --members "$OUT/private/train.npz" --non-members "$OUT/private/test.npz" \
    --out "$OUT/mia/$(dirname "$model")"
done
