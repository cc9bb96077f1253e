"""Every defense `hardener protect --method NAME` runs, each declared once: its options (flag, type, default,
help), the inputs it cannot run without, whether it trains from scratch or fine-tunes, the published source,
and where its code is. `cli/protect.py` builds the command's options, the per-method defaults in `--help`,
the "needs ..." and "does not apply to ..." checks from these declarations and nothing else, so adding a
method is its defense file plus one `Method(...)` below.

Torch-free on purpose: `hardener --help` builds protect's options from here and must not import torch
(the defense and job modules named as strings are imported only when the method runs).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FROM_SCRATCH = "a new model from scratch on --data"
FINE_TUNES = "fine-tunes MODEL"
FROM_PRETRAINED = "from --pretrained (a model of PUBLIC identities) on --data"


@dataclass(frozen=True)
class Opt:
    """One option of one method. `dest` is the keyword its job or config receives; `default` the value when
    the option is not given (None: the method's own rule applies, and `help` says which)."""

    flag: str
    dest: str
    kind: type = float  # float, int, str, bool, Path, or list (a repeatable string option)
    default: Any = None
    help: str = ""

    @staticmethod
    def present(value: Any) -> bool:
        """Given on the command line: flags only when set, repeatable options only when repeated."""
        return value is not None and value is not False and value != []


@dataclass(frozen=True)
class Method:
    name: str
    summary: str  # one line for --help and reports
    trains: str  # FROM_SCRATCH, FINE_TUNES or FROM_PRETRAINED
    source: str  # the published method
    job: str  # "module:function(method, options, common, progress) -> report"
    options: tuple[Opt, ...] = ()
    required: tuple[str, ...] = ()  # flags, or "MODEL", the method cannot run without
    defense: str = ""  # "module:function" of the training entry (generic training job only)
    config: str = ""  # "module:Class" built from the options whose dest is one of its fields
    images: tuple[str, ...] = ()  # NAME.png files the defense writes beside the model

    def option(self, flag: str) -> Opt | None:
        return next((o for o in self.options if o.flag == flag), None)

    def resolve(self, given: dict[str, Any]) -> dict[str, Any]:
        """{dest: value} for every option of this method: what was given, else the declared default."""
        return {o.dest: given[o.flag] if Opt.present(given.get(o.flag)) else o.default for o in self.options}


@dataclass
class Common:
    """What every method takes; these options are never foreign to a method."""

    model: Path | None
    out: Path
    seed: int = 0
    device: str = "auto"
    resume: bool = False
    arch: str | None = None
    spec_changes: dict = field(default_factory=dict)
    allow_pickle: bool = False


DATA = Opt("--data", "data", str, None, "Private training images (npz, ImageFolder or synthetic:...).")
VAL = Opt("--val", "val", str, None, "Held-out private images for the accuracy in the report.")
PRETRAINED = Opt("--pretrained", "pretrained", Path, None,
                 "A model trained on PUBLIC identities (e.g. `hardener train classifier` on the public half).")


def training(epochs: int, batch_size: int = 64, lr: float = 1e-3) -> tuple[Opt, ...]:
    return (Opt("--epochs", "epochs", int, epochs, "Training epochs."),
            Opt("--batch-size", "batch_size", int, batch_size, "Batch size."),
            Opt("--lr", "lr", float, lr, "Learning rate (AdamW, cosine schedule)."))


def scratch(epochs: int = 30) -> tuple[Opt, ...]:
    """What a method that trains a new model from scratch takes: the data, the schedule, the architecture
    (MODEL, when given, is the model it replaces: its architecture, classes, names and input spec are kept)."""
    return (DATA, VAL, *training(epochs),
            Opt("--variant", "variant", str, None, "Variant of the new model (default: MODEL's, else the plugin's first)."),
            Opt("--image-size", "image_size", int, None, "Input size of the new model (default: MODEL's, else the data's)."))


TRAINING_JOB = "hardener.jobs.protect_train:run_training_defense"

METHODS: dict[str, Method] = {m.name: m for m in (
    Method("decoy", "inverting a protected class yields its public decoy, not the person (adaptive rounds)", FINE_TUNES,
           "patent CN115719085A / NetGuard; the margin recipe is ours", "hardener.jobs.protect:run_decoy_method",
           required=("MODEL", "--gan", "--protect"),
           config="hardener.defenses.decoy:DecoyConfig",
           options=(
               Opt("--gan", "gan", Path, None, "GAN bundle (holds the public classifier), or a GMI generator (then --critic, --public-model)."),
               Opt("--protect", "protect", list, None, "Class to protect: index, name, range or all; repeat for several."),
               Opt("--decoy", "decoy", list, None, "Public decoy class per --protect, in order; chosen automatically when left out."),
               Opt("--public-model", "public_model", Path, None, "Public classifier; default: the one in the GAN bundle."),
               Opt("--critic", "critic", Path, None, "Critic checkpoint when --gan is a bare generator."),
               Opt("--extra-gan", "extra_gans", list, None, "Another GAN bundle of your own (with its critic; "
                   "public faces, never the attacker's); repeatable. protect's inversions of the protected classes "
                   "run through each as well as --gan, pooled (README, \"More than one GAN\")."),
               Opt("--data", "data", str, None, "Private training images: Fisher information, the retain term, the spec check."),
               Opt("--recipe", "recipe", str, "margin", "margin: cap the attack family's endpoints, lift the decoys "
                   "above them (raw margins and logits); patent: the patent's CE objective."),
               Opt("--alpha", "alpha", float, None, "Weight of the term on inverted private samples (margin: the cap "
                   "on the attack endpoints, default 0: the decoys alone; patent: the bounded push-away, default 1)."),
               Opt("--beta", "beta", float, 2.0, "Weight of pulling inverted decoy samples into the protected class."),
               Opt("--omega", "omega", float, 5.0, "Weight of the EWC term."),
               Opt("--retain", "retain", float, 1.0, "Weight of CE on real private images, with --data."),
               Opt("--retain-augment", "retain_augment", bool, False, "With --data: the retain CE and the "
                   "distillation see the real photos flipped and shifted as training does, not as stored."),
               Opt("--retain-protected", "retain_protected", float, None, "With --data: weight of the protected "
                   "people's own photos in the retain CE and the distillation, against 1 for the others' (default 4 "
                   "with --pretrained, 1 without; docs/MEASUREMENTS.md, \"Session 33\")."),
               Opt("--rounds", "rounds", int, 3, "Maximum adaptive rounds, fine-tune then re-invert."),
               Opt("--steps-per-round", "steps_per_round", int, 60, "Fine-tuning steps per round."),
               Opt("--lr", "lr", float, 1e-4, "Learning rate."),
               Opt("--samples", "samples_per_class", int, 8, "Inverted samples per protected class and per decoy."),
               Opt("--preset", "preset", str, None, "Inversion that makes the samples (default margin: plg-margin, "
                   "lomma-logit and gmi at 120 steps; patent: its own, 100 steps at lr 1e-3)."),
               Opt("--inversion-steps", "inversion_steps", int, None, "Override the preset's steps."),
               Opt("--cap-quantile", "cap_quantile", float, 0.5, "margin: endpoints are capped at this quantile of "
                   "real photos' margin and logit."),
               Opt("--margin-gap", "margin_gap", float, 2.0, "margin: how far (logits) the decoys' floor sits above "
                   "every endpoint and photo."),
               Opt("--distill", "distill", float, 1.0, "margin: weight of KL to the original model on real photos."),
               Opt("--manifold", "manifold", float, 4.0, "margin: weight of KL to the original model on random images "
                   "of protect's GAN, over the unprotected classes: keeps the rest of the face manifold in place "
                   "(docs/MEASUREMENTS.md, \"Where the accuracy goes\"); 0 turns it off."),
               Opt("--anchor-caps", "anchor_caps", float, 0.0, "margin: weight of caps on the protected classes' "
                   "logits on the same random images, at the median of each class's real photos: the decoys' lift "
                   "stays off the rest of the face manifold (default 0; docs/MEASUREMENTS.md, \"Session 37\")."),
               Opt("--decoy-floor", "decoy_floor", str, "endpoints", "margin: the decoys' floors sit --margin-gap "
                   "above the highest of the first attack endpoints and the real photos (endpoints), or of the real "
                   "photos alone (photos; needs --data)."),
               Opt("--decoy-slopes", "decoy_slopes", float, 0.0, "margin: weight of slopes on lines in protect's "
                   "GAN's latent box from random faces to the decoys, the protected logit and margin rising along "
                   "each to the decoys' floors: an attack's climb leads to the decoy (default 0; docs/MEASUREMENTS.md, "
                   "\"Session 38\")."),
               Opt("--photo-caps", "photo_caps", float, 0.0, "margin: weight of caps on the protected classes' "
                   "logits on the other people's --data photos, at the original model's: the softmax distillation "
                   "does not see a protected logit that rises below a photo's top class (default 0)."),
               Opt("--feature-hold", "feature_hold", float, 0.0, "margin: weight of the --data photos' penultimate "
                   "features held where the original model put them (their squared change over their squared size): "
                   "the distillation holds the photos' softmax, not what lies behind it (default 0; "
                   "docs/MEASUREMENTS.md, \"Session 41\")."),
               Opt("--feature-hold-on", "feature_hold_on", str, "all", "margin: whose photos --feature-hold holds: "
                   "all, or others (only the people not protected; on LFW the protected people's features still "
                   "moved little more, and it traded leaks for accuracy: docs/MEASUREMENTS.md, \"Session 43\")."),
               Opt("--decoy-photos", "decoy_photos", str, None, "Real photos of public identities (npz, ImageFolder; "
                   "by the public classifier's names or classes): decoys are chosen among them and their photos join "
                   "the GAN decoys (README, \"Decoy photos\"). Never the protected people or the attacker's data."),
               Opt("--photos-per-decoy", "photos_per_decoy", int, None, "With --decoy-photos: at most this many "
                   "photos of each decoy (default 32)."),
               Opt("--decoy-choice", "decoy_choice", str, None, "Without --decoy: farthest (the public class whose "
                   "inversions lie farthest from the protected class in the model's feature space), nearest, or "
                   "common: farthest among those protect's GAN makes at least 1 % of the time, or unlike: those the "
                   "public classifier least takes the other people's --data photos for (default common with "
                   "--pretrained, farthest without; docs/MEASUREMENTS.md, \"Session 33\", \"Session 39\")."),
               Opt("--decoy-pool-seed", "decoy_pool_seed", int, 0, "Without --decoy: the seed of the 16 public "
                   "classes the automatic decoys are ranked from (default 0, whatever --seed is: on LFW the protected "
                   "people kept the same decoys at every protect seed; docs/MEASUREMENTS.md, \"Session 53\")."),
               Opt("--extra-decoys", "extra_decoys", int, 0, "Before each round after the first, one more decoy "
                   "(the next candidate) for every class whose decoy hit rate was under half, up to this many per "
                   "class (README, \"Extra decoys\")."),
               Opt("--leak-caps", "leak_caps", float, None, "margin: each round, also invert the hardened and the "
                   "original model together and cap the hardened model's margin on the images the original still "
                   "names the person, with this weight (default 2 with --pretrained, 0 without; "
                   "docs/MEASUREMENTS.md, \"Leak caps\"); 0 turns it off."),
               Opt("--leak-seeker", "leak_seekers", list, None, "With leak caps, repeatable: how their endpoints "
                   "are found: ensemble (invert the hardened and the original model together; the default), mix (the "
                   "public classifier's decoy margin plus the original's person margin: images that look like the "
                   "decoy and like the person), plg (PLG-MI's conditional generator on the hardened model, protect's "
                   "GAN), pseudo (protect's GAN images the hardened model is surest of, PLG-MI's pseudo-labels); plg "
                   "and pseudo are capped below the decision boundary (docs/MEASUREMENTS.md, \"Leak seekers\")."),
               Opt("--leak-boundary", "leak_boundary", list, None, "With leak caps, repeatable: the seekers whose "
                   "endpoints are capped below the decision boundary (another class leads by a logit) instead of at "
                   "the real photos' median margin (default: plg and pseudo)."),
               Opt("--force-spec", "force_spec", bool, False, "Go on although --data says the input spec is wrong."),
               Opt("--pretrained", "pretrained", Path, None, "Stack on TL-DMI: first train a model from this PUBLIC "
                   "classifier on --data, its first layer groups frozen (OUT/tl-dmi, replacing MODEL), then protect "
                   "that model; verify it against MODEL (docs/MEASUREMENTS.md, \"Stacked on TL-DMI\")."),
               Opt("--freeze-until", "freeze_until", str, None, "With --pretrained: freeze every layer group up to "
                   "and including this one (default: all but the last three, layer2 on a ResNet)."),
               Opt("--transfer-epochs", "transfer_epochs", int, None,
                   "With --pretrained: epochs of the TL-DMI step (default 25)."),
               Opt("--transfer-smoothing", "transfer_smoothing", float, None, "With --pretrained: train the TL-DMI "
                   "step with negative label smoothing, this factor (e.g. -0.05) after a plain first half."))),
    Method("tl-dmi", "only the last layer groups learn from private data; the first keep a public model's weights",
           FROM_PRETRAINED, "Ho et al., CVPR 2024", "hardener.jobs.protect_transfer:run_transfer_method",
           required=("--pretrained", "--data"),
           options=(PRETRAINED, DATA, VAL, *training(20),
                    Opt("--freeze", "freeze", int, None, "Freeze the first K layer groups (see `hardener info`)."),
                    Opt("--freeze-until", "freeze_until", str, None,
                        "Freeze every layer group up to and including this one, e.g. layer3."))),
    Method("negls", "negative label smoothing: plain CE for the first half, then a negative factor ramps in",
           FROM_SCRATCH, "Struppek et al., ICLR 2024", TRAINING_JOB, required=("--data",),
           defense="hardener.defenses.negls:train_negls", config="hardener.defenses.negls:NegLSConfig",
           options=(*scratch(),
                    Opt("--smoothing", "smoothing", float, -0.05,
                        "Label smoothing factor reached after the warm-up; negative pushes other classes down."))),
    Method("random-erasing", "most training images get one large random rectangle of noise, so no whole face is seen",
           FROM_SCRATCH, "MIDRE, Tran, Nguyen et al., TMLR 2025", TRAINING_JOB, required=("--data",),
           defense="hardener.defenses.random_erasing:train_random_erasing",
           config="hardener.defenses.random_erasing:ErasingConfig",
           options=(*scratch(),
                    Opt("--erase-prob", "erase_prob", float, 0.8, "Share of training images erased."),
                    Opt("--erase-area", "erase_area", str, "0.2-0.5",
                        "Share of the image one erased rectangle covers, as a range LOW-HIGH."))),
    Method("mid", "variational information bottleneck on the features (CE + beta KL), folded into the head for release",
           FROM_SCRATCH, "Wang et al., AAAI 2021", TRAINING_JOB, required=("--data",),
           defense="hardener.defenses.mid:train_mid", config="hardener.defenses.mid:MIDConfig",
           options=(*scratch(),
                    Opt("--beta", "beta", float, 0.01, "Weight of the KL term (published 0.003-0.1)."),
                    Opt("--bottleneck", "bottleneck", int, None,
                        "Dimension of the bottleneck z (default: half the feature dimension)."))),
    Method("bido", "HSIC bottleneck: features keep little dependence on the image and much on the label",
           FROM_SCRATCH, "Peng et al., KDD 2022 (HSIC variant, one layer: the features)", TRAINING_JOB,
           required=("--data",), defense="hardener.defenses.bido:train_bido", config="hardener.defenses.bido:BiDOConfig",
           options=(*scratch(),
                    Opt("--lambda-x", "lambda_x", float, 0.05, "Weight of HSIC(image, features), minimised."),
                    Opt("--lambda-y", "lambda_y", float, 0.5, "Weight of HSIC(label, features), maximised."),
                    Opt("--hsic-sigma", "sigma", float, 5.0,
                        "Gaussian kernel bandwidth per dimension; 0 = median heuristic."))),
    Method("trap-mid", "a trapdoor trigger per class lures inversion attacks; triggers kept natural by a discriminator",
           FROM_SCRATCH, "Liu & Chen, NeurIPS 2024", TRAINING_JOB, required=("--data",),
           defense="hardener.defenses.trap_mid:train_trap_mid", config="hardener.defenses.trap_mid:TrapConfig",
           images=("triggers",),
           options=(*scratch(),
                    Opt("--blend", "blend", float, 0.02, "Share of the trigger in a triggered image."),
                    Opt("--trap-weight", "trap_weight", float, 0.2, "Weight of the trapdoor loss."),
                    Opt("--trigger-step", "trigger_step", float, 0.01, "Signed-gradient step on the triggers per step."))),
    Method("dp-sgd", "differentially private fine-tuning (opacus): clipped, noised per-example gradients; "
                     "BatchNorm frozen, only the last layer groups train; epsilon from the RDP accountant",
           FROM_PRETRAINED, "Abadi et al., CCS 2016; opacus", TRAINING_JOB, required=("--pretrained", "--data"),
           defense="hardener.defenses.dp_sgd:train_dp_sgd", config="hardener.defenses.dp_sgd:DPConfig",
           options=(PRETRAINED, DATA, VAL, *training(20),
                    Opt("--noise-multiplier", "noise_multiplier", float, 1.0, "Noise std as a multiple of --max-grad-norm."),
                    Opt("--max-grad-norm", "max_grad_norm", float, 1.0, "Per-example gradient clipping norm."),
                    Opt("--delta", "delta", float, None, "Target delta of the (epsilon, delta) guarantee (default 1/N)."),
                    Opt("--trainable-groups", "trainable_groups", int, 1,
                        "Last layer groups trained with DP (1: the head); BatchNorm stays frozen in them."))),
)}


def get_method(name: str) -> Method:
    from hardener.errors import InputError

    if name not in METHODS:
        raise InputError(f"unknown --method {name!r}", fix=f"use one of: {', '.join(METHODS)}")
    return METHODS[name]


def load(target: str) -> Any:
    """The object a "module:name" string names (imported only when a method runs)."""
    from importlib import import_module

    module, name = target.split(":")
    return getattr(import_module(module), name)
