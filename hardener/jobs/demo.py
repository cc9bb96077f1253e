"""`hardener demo`: the whole story on the embedded synthetic faces, in a few minutes on 2 CPU cores.

Private identities train a target and an evaluation model; protect's public identities train the public
classifier; the two GANs ship with the package (hardener.gan.packaged): protect uses one, and the undefended
target and the release gate are attacked with the other, which protect never saw. Two classes are protected and
the gate runs with enough reconstructions an attack and held-out photos that its checks can pass. Every step is
the same library call the commands use, so each step's report and grid is in --out.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from hardener.progress import ProgressFn, no_progress


PROTECTED = ("0", "1")  # the classes the demo protects and gates
GATE_PRESETS = ("gmi", "plg-margin", "lomma-logit")  # the demo gate's attacks: CE, max-margin and logit losses
MODEL_FILE = "model.safetensors"  # each model's file in its folder (train classifier's --out)


@dataclass(frozen=True)
class DemoSize:
    identities: int = 10
    images_per_identity: int = 30  # training photos (the target, the evaluation model; the public classifier's)
    # held-out photos per private identity: the gate's accuracy checks are paired intervals whose width falls with
    # the number of photos, and with 60 a drop of 0 still failed the 1-point check (docs/MEASUREMENTS.md)
    held_out_per_identity: int = 150
    public_identities: int = 20  # of protect's GAN's people: the public classifier, whose classes are the decoys
    # the target's, the evaluation model's and the public classifier's ResNet. ResNet-10 has half ResNet-18's
    # compute, and on these 300 training photos it generalised better too (held-out 92.8 % against 84.8 %)
    variant: str = "resnet10"
    classifier_epochs: int = 8
    attack_steps: int = 200
    restarts: int = 4  # the attack on the undefended target, for its grid
    gate_restarts: int = 37  # 2 classes x 37 = 74 reconstructions an attack: 0 of 74 has a 95 % upper bound of 4.9 %
    protect_rounds: int = 3
    protect_steps: int = 60
    protect_samples: int = 8  # inverted samples per class and preset in each protect round
    protect_inversion_steps: int | None = None  # None: the recipe's own


# 3 classifier epochs: after 1 the ResNet-10 target was at chance on the 8 held-out photos (12.5 %), and protect's
# input-spec check took another normalisation's 62.5 % for a sign that the spec was wrong (exit 2)
QUICK = DemoSize(identities=4, images_per_identity=10, held_out_per_identity=2, public_identities=4,
                 classifier_epochs=3, attack_steps=5, restarts=2, gate_restarts=2, protect_rounds=1, protect_steps=3,
                 protect_samples=2, protect_inversion_steps=5)


def one_process() -> None:
    """The demo writes its data files on rank 0 and reads them back, so under torchrun the other ranks wait for
    files they never see (measured: the run hangs); refused instead."""
    from hardener import ranks
    from hardener.errors import InputError

    if ranks.world_size() > 1:
        raise InputError(f"hardener demo runs as one process, not {ranks.world_size()} (torchrun)",
                         where="torchrun", fix="run `hardener demo` without torchrun; torchrun serves attack, "
                                               "verify, protect, scan, audit-mia and train classifier")


def run_demo(out: Path, *, size: DemoSize = DemoSize(), seed: int = 0, device: str = "auto",
             progress: ProgressFn = no_progress, say=print) -> dict:
    from hardener.data import subset
    from hardener.data.splits import save_npz, split_by_image
    from hardener.data.synthetic import synthetic_faces
    from hardener.files import prepare_out_dir, write_json
    from hardener.gan import packaged
    from hardener.jobs.attack import AttackJob, run_attack
    from hardener.jobs.protect import run_protect
    from hardener.jobs.train_classifier import ClassifierJob, run_classifier_job
    from hardener.jobs.verify import run_verify
    from hardener.train import TrainConfig

    one_process()
    started = time.perf_counter()

    def step(line: str) -> None:  # each step's line says when it ended: where the minutes go
        say(f"{line} [{time.perf_counter() - started:.0f} s]")

    out = prepare_out_dir(out)
    data = out / "data"
    data.mkdir(exist_ok=True)
    gans = {role: packaged.packaged_gan_path(gan) for role, gan in packaged.ROLES.items()}
    per_identity = size.images_per_identity + size.held_out_per_identity
    private = synthetic_faces(size.identities, per_identity, packaged.IMAGE_SIZE, seed=seed)
    public = packaged.DEFENDER.faces(size.public_identities, size.images_per_identity)
    train_rows, test_rows = split_by_image(private.labels, size.held_out_per_identity / per_identity, seed=seed)
    paths = {"train": save_npz(subset(private, train_rows), data / "private_train.npz"),
             "test": save_npz(subset(private, test_rows), data / "private_test.npz"),
             "public": save_npz(public, data / "public.npz")}
    step(f"1/6 synthetic faces: {size.identities} private identities, {size.images_per_identity} training images each "
        f"(+{size.held_out_per_identity} held out), and {size.public_identities} public ones, "
        f"{packaged.IMAGE_SIZE} px -> {data}")

    config = TrainConfig(epochs=size.classifier_epochs, batch_size=32, seed=seed)
    models = {}
    for name, model_seed, train, val, label in (("target", seed, "train", "test", "2/6"),
                                                ("eval", seed + 1, "train", "test", "2/6"),
                                                ("public", seed + 2, "public", None, "3/6")):
        report = run_classifier_job(ClassifierJob(
            data=str(paths[train]), val=None if val is None else str(paths[val]), arch="resnet",
            variant=size.variant, image_size=packaged.IMAGE_SIZE, out=out / name, device=device,
            config=TrainConfig(**{**config.__dict__, "seed": model_seed})), progress)
        models[name] = Path(report["model"]["path"])
        step(f"{label} {name} model: held-out accuracy "
            f"{report['final'].get('val_acc', 0):.1%}")
    step(f"3/6 the packaged GANs: protect's {gans['defender']}, the attacker's {gans['attacker']}")

    attack = run_attack(AttackJob(model=models["target"], gan=gans["attacker"], classes=",".join(PROTECTED),
                                  eval_model=models["eval"], data=str(paths["train"]), out=out / "attack_before",
                                  preset="gmi", steps=size.attack_steps, restarts=size.restarts, seed=seed + 11,
                                  device=device), progress)
    step(f"4/6 GMI attack on the undefended target: top-1 {attack['metrics']['top1']:.0%} on classes 0 and 1")
    protected = run_protect(protect_job(out, size, seed, device), progress)
    step(f"5/6 protected classes 0 and 1 -> {out / 'hardened'} (decoys {protected['decoys']})")
    gate, verify = run_verify(gate_job(out, out / "hardened", out / "verify", size, seed, device), progress)
    step(f"6/6 release gate: {'PASSED' if gate.passed else 'FAILED'} ({len(gate.failures)} failed checks) -> {out / 'verify'}")

    table = [{"measure": "held-out accuracy (all classes)", "before": verify["natural_accuracy"]["baseline"]["all"],
              "after": verify["natural_accuracy"]["hardened"]["all"]},
             {"measure": "held-out accuracy (protected classes)", "before": verify["natural_accuracy"]["baseline"]["protected"],
              "after": verify["natural_accuracy"]["hardened"]["protected"]}]
    table += [{"measure": f"attack top-1 {row['preset']} (protected)", "before": row["baseline"]["top1"],
               "after": row["hardened"]["top1"]} for row in verify["attacks"]]
    named = verify["strangers_named"]["share"]  # the gate's: random faces of the attacker's GAN
    table.append({"measure": "random faces named as a protected person", "before": named["baseline"],
                  "after": named["hardened"]})
    summary = {"command": "demo", "table": table, "gate_passed": gate.passed,
               "failed_checks": [c.name for c in gate.failures],
               "gate_note": verify["sample_size_note"],
               "size": size.__dict__,
               "gans": {role: str(path) for role, path in gans.items()},
               "grids": {"attack": attack["grid"], "protect": protected["grid"]}}
    write_json(out / "report.json", summary)
    return summary


def protect_job(folder: Path, size: DemoSize, seed: int, device: str = "auto", out: Path | None = None,
                **changes):
    """The demo's protect of the target in `folder` (a demo's --out), into `out` (default folder/hardened);
    `changes`: DecoyConfig fields over the demo's (benchmarks/demo_seeds.py)."""
    from hardener.defenses.decoy import DecoyConfig
    from hardener.gan import packaged
    from hardener.jobs.protect import ProtectJob

    config = DecoyConfig(rounds=size.protect_rounds, steps_per_round=size.protect_steps,
                         samples_per_class=size.protect_samples, inversion_steps=size.protect_inversion_steps,
                         seed=seed, **changes)
    return ProtectJob(model=folder / "target" / MODEL_FILE, gan=packaged.packaged_gan_path(packaged.DEFENDER),
                      public_model=folder / "public" / MODEL_FILE, protect=list(PROTECTED),
                      out=out or folder / "hardened", data=str(folder / "data" / "private_train.npz"), device=device,
                      config=config)


def gate_job(folder: Path, hardened: Path, out: Path, size: DemoSize, seed: int, device: str = "auto",
             baseline_report: Path | None = None):
    """The demo's release gate of `hardened` against the target in `folder`, with the attacker's GAN, into `out`;
    `baseline_report`: an earlier gate's report.json whose baseline rows are reused."""
    from hardener.gan import packaged
    from hardener.jobs.verify import VerifyJob

    return VerifyJob(hardened=hardened, baseline=folder / "target" / MODEL_FILE,
                     data=str(folder / "data" / "private_test.npz"), gan=packaged.packaged_gan_path(packaged.ATTACKER),
                     eval_model=folder / "eval" / MODEL_FILE, protect=list(PROTECTED), out=out,
                     presets=GATE_PRESETS, steps=size.attack_steps, restarts=size.gate_restarts, seed=seed,
                     device=device, baseline_report=baseline_report)
