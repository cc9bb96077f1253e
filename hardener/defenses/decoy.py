"""The patent's decoy defense (CN115719085A, published as NetGuard), with what the patent leaves open.

Inverted private samples x_pri (the target inverted for protected class l_t) are pushed away from l_t,
inverted public samples x_pub (the public classifier inverted for decoy class l_p) are pulled into l_t,
and EWC keeps the rest of the model where it was:

    theta = argmin  alpha * L_pri + beta * CE(F(x_pub), l_t) + omega * EWC  [+ retain * CE(F(x_real), y)]

Our decisions, each measured by verify and the efficacy benchmark:
- the patent maximises CE(F(x_pri), l_t), which is unbounded; we minimise L_pri = -log(1 - p_t(x_pri)),
  which pushes the same way and is bounded below by 0, so it cannot run away;
- an attacker inverts the *updated* model, so after each round of fine-tuning we invert it again (fresh
  seeds) and repeat until those inversions land on the decoy (the public classifier names the decoy)
  or the round limit is reached;
- several protected classes run in one batched inversion, decoys mapped one to one;
- with real private data we add a retain term (CE on real photos of every class) so the protected
  person stays recognisable: hiding him, not forgetting him. Fine-tuning runs with BatchNorm
  statistics frozen, since GAN images must not redefine them.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hardener.arch import FaceModel
from hardener.attacks.presets import get_attack
from hardener.data import FaceDataset, to_model_input
from hardener.defenses.ewc import EWCPenalty, diagonal_fisher
from hardener.errors import InputError
from hardener.files import atomic_output
from hardener.attacks.engine import InversionResult, with_overrides
from hardener.progress import ProgressEvent, ProgressFn, no_progress
from hardener.evaluate import accuracy

TASK = "protect"


@dataclass(frozen=True)
class DecoyConfig:
    alpha: float = 1.0
    beta: float = 2.0
    omega: float = 5.0
    lambda2: float = 1.0
    retain: float = 1.0  # weight of CE on real private images (only when data is given)
    rounds: int = 3
    steps_per_round: int = 60
    lr: float = 1e-4
    batch_size: int = 32
    samples_per_class: int = 8  # inverted samples per protected class and per decoy
    preset: str = "patent"
    inversion_steps: int | None = None
    decoy_hit_target: float = 0.5  # stop once this share of re-inversions of every class lands on its decoy
    fisher_samples: int = 256
    seed: int = 0

    def validate(self) -> None:
        if min(self.alpha, self.beta, self.omega, self.lambda2, self.retain) < 0:
            raise InputError("alpha, beta, omega, lambda2 and retain must not be negative", fix="e.g. --alpha 1 --beta 2")
        if self.rounds < 1 or self.steps_per_round < 1 or self.samples_per_class < 1 or self.batch_size < 2:
            raise InputError("rounds, steps per round and samples per class must be at least 1, batch size 2",
                             fix="e.g. --rounds 3 --steps-per-round 60")
        get_attack(self.preset)


@dataclass
class DefenseResult:
    model: FaceModel
    decoys: dict[int, int]  # protected class -> public decoy class
    rounds: list[dict] = field(default_factory=list)
    before: InversionResult | None = None  # the first inversion of the protected classes (undefended)
    after: InversionResult | None = None  # the last inversion (of the hardened model)
    decoy_samples: torch.Tensor | None = None
    seconds: float = 0.0
    config: DecoyConfig = field(default_factory=DecoyConfig)


def protect_decoy(model: FaceModel, generator: nn.Module, critic: nn.Module, public_model: FaceModel,
                  protect: Sequence[int], decoys: Sequence[int] | None = None, *, latent_dim: int = 100,
                  data: FaceDataset | None = None, config: DecoyConfig = DecoyConfig(),
                  device: torch.device | str = "cpu", checkpoint_dir: Path | None = None, resume: bool = False,
                  progress: ProgressFn = no_progress) -> DefenseResult:
    """Return a hardened copy of `model`; the input model is never modified."""
    config.validate()
    started = time.perf_counter()
    device = torch.device(device)
    protect = [int(c) for c in protect]
    hardened = copy.deepcopy(model).to(device).eval()
    public_model = public_model.to(device).eval()
    invert = _inverter(generator, critic, latent_dim, config, device, progress)

    if decoys is None:
        decoys = choose_decoys(hardened, public_model, protect, invert)
    decoy_map = dict(zip(protect, (int(d) for d in decoys)))
    _check_decoys(decoy_map, public_model)

    public_inv = invert(public_model, list(decoy_map.values()), seed=config.seed, task="invert public decoys")
    decoy_to_protected = {d: p for p, d in decoy_map.items()}
    x_pub = public_inv.images.to(device)
    y_pub = torch.tensor([decoy_to_protected[int(d)] for d in public_inv.targets], device=device)

    fisher = diagonal_fisher(hardened, _fisher_batches(hardened, generator, latent_dim, data, config, device), device)
    ewc = EWCPenalty(hardened, fisher, config.lambda2)
    real = _real_batches(data, hardened.spec.image_size) if data is not None else None

    result = DefenseResult(hardened, decoy_map, decoy_samples=public_inv.images, config=config)
    start_round = _resume(checkpoint_dir, hardened, result) if resume else 0
    private_inv = invert(hardened, protect, seed=config.seed + 1000 * (start_round + 1), task="invert protected")
    result.before = private_inv if start_round == 0 else invert(
        model, protect, seed=config.seed + 1000, task="invert protected (undefended, for the report)")
    optimizer = torch.optim.Adam([p for p in hardened.parameters() if p.requires_grad], lr=config.lr)
    generator_rng = torch.Generator().manual_seed(config.seed)
    for round_index in range(start_round, config.rounds):
        x_pri = private_inv.images.to(device)
        y_pri = private_inv.targets.to(device)
        parts = _fine_tune(hardened, optimizer, x_pri, y_pri, x_pub, y_pub, real if config.retain > 0 else None, ewc,
                           config, generator_rng,
                           device, progress, round_index)
        private_inv = invert(hardened, protect, seed=config.seed + 1000 * (round_index + 2),
                             task=f"re-invert (round {round_index + 1})")
        hits = decoy_hits(private_inv, public_model, decoy_map, device)
        row = {"round": round_index + 1, **parts, "decoy_hit_rate": hits,
               "protected_confidence_after": float(private_inv.confidence.mean())}
        if data is not None:
            row["natural_accuracy"] = accuracy(hardened, *real, device=device)
        result.rounds.append(row)
        result.after = private_inv
        if checkpoint_dir is not None:
            _checkpoint(checkpoint_dir, hardened, result)
        progress(ProgressEvent(TASK, round_index + 1, config.rounds, {"decoy_hit": min(hits.values())},
                               message=_round_line(row)))
        if min(hits.values()) >= config.decoy_hit_target:
            break
    result.after = result.after or private_inv
    result.seconds = time.perf_counter() - started
    hardened.eval()
    return result


def choose_decoys(model: FaceModel, public_model: FaceModel, protect: list[int], invert,
                  candidates: int = 16) -> list[int]:
    """Per protected class, the public class whose inverted samples lie farthest from it in the model's
    feature space, among a seeded pool of `candidates` public classes (distinct decoys)."""
    if public_model.num_classes < len(protect):
        raise InputError(f"{len(protect)} protected classes but only {public_model.num_classes} public classes",
                         fix="protect fewer classes or give --decoy explicitly")
    candidates = max(candidates, len(protect))
    pool = torch.randperm(public_model.num_classes, generator=torch.Generator().manual_seed(0))[:candidates].tolist()
    public_inv = invert(public_model, pool, seed=7, restarts=2, task="invert decoy candidates")
    private_inv = invert(model, protect, seed=8, restarts=2, task="invert protected (decoy choice)")
    with torch.no_grad():
        pub = model.forward_features(public_inv.images.to(_device_of(model)))
        pri = model.forward_features(private_inv.images.to(_device_of(model)))
    pub_means = torch.stack([pub[public_inv.targets == c].mean(0) for c in pool])
    chosen: list[int] = []
    for c in protect:
        distance = torch.cdist(pri[private_inv.targets == c].mean(0, keepdim=True), pub_means)[0]
        for index in distance.argsort(descending=True).tolist():
            if pool[index] not in chosen:
                chosen.append(pool[index])
                break
    return chosen


def decoy_hits(inversion: InversionResult, public_model: FaceModel, decoys: dict[int, int],
               device: torch.device | str) -> dict[int, float]:
    """Per protected class: the share of its inversions the public classifier names as its decoy."""
    with torch.no_grad():
        named = public_model.eval()(inversion.images.to(device)).argmax(1).cpu()
    return {c: float((named[inversion.targets == c] == d).float().mean()) for c, d in decoys.items()}


def bounded_push_away(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-log(1 - p_target): falls as the target's probability falls, bounded below by 0 (the patent's
    -CE is unbounded and would let one term dominate the whole fine-tuning)."""
    p = logits.softmax(1).gather(1, target[:, None]).squeeze(1)
    return -torch.log1p(-p.clamp(max=1 - 1e-6))


def _fine_tune(model, optimizer, x_pri, y_pri, x_pub, y_pub, real, ewc, config, rng, device, progress,
               round_index) -> dict:
    model.eval()  # BatchNorm statistics stay those of the real training data
    sums = {"loss_private": 0.0, "loss_public": 0.0, "ewc": 0.0, "loss_retain": 0.0}
    for step in range(config.steps_per_round):
        pri = torch.randint(0, len(x_pri), (min(config.batch_size, len(x_pri)),), generator=rng)
        pub = torch.randint(0, len(x_pub), (min(config.batch_size, len(x_pub)),), generator=rng)
        loss_private = bounded_push_away(model(x_pri[pri]), y_pri[pri]).mean()
        loss_public = F.cross_entropy(model(x_pub[pub]), y_pub[pub])
        penalty = ewc.penalty(model)
        loss = config.alpha * loss_private + config.beta * loss_public + config.omega * penalty
        loss_retain = torch.zeros((), device=device)
        if real is not None:
            x_real, y_real = real
            rows = torch.randint(0, len(y_real), (min(config.batch_size, len(y_real)),), generator=rng)
            loss_retain = F.cross_entropy(model(x_real[rows].to(device)), y_real[rows].to(device))
            loss = loss + config.retain * loss_retain
        if not torch.isfinite(loss):
            raise InputError("the fine-tuning loss became non-finite", fix="lower --lr or --beta")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        for key, value in (("loss_private", loss_private), ("loss_public", loss_public), ("ewc", penalty),
                           ("loss_retain", loss_retain)):
            sums[key] += float(value.detach())
        progress(ProgressEvent(f"fine-tune (round {round_index + 1})", step + 1, config.steps_per_round,
                               {"loss": float(loss.detach())}))
    return {k: v / config.steps_per_round for k, v in sums.items()}


def _inverter(generator, critic, latent_dim, config: DecoyConfig, device, progress):
    attack = get_attack(config.preset)
    base = with_overrides(attack.config, steps=config.inversion_steps, restarts=config.samples_per_class)

    def invert(model, classes, *, seed: int, task: str, restarts: int | None = None) -> InversionResult:
        from hardener.attacks.engine import invert as run

        return run(generator, critic, model, classes, config=with_overrides(base, restarts=restarts),
                   latent_dim=latent_dim, seed=seed, device=device, progress=progress, task=task)

    return invert


def _check_decoys(decoys: dict[int, int], public_model: FaceModel) -> None:
    values = list(decoys.values())
    if len(set(values)) != len(values):
        raise InputError("two protected classes share a decoy", fix="give each --protect its own --decoy")
    bad = [d for d in values if not 0 <= d < public_model.num_classes]
    if bad:
        raise InputError(f"decoy {bad[0]} is out of range: the public classifier has {public_model.num_classes} classes",
                         fix=f"use 0..{public_model.num_classes - 1}")


def _fisher_batches(model, generator, latent_dim, data, config, device, batch: int = 8):
    """Real private images with their labels when given; otherwise generator samples labelled by the model."""
    if data is not None:
        order = torch.randperm(len(data.labels), generator=torch.Generator().manual_seed(config.seed))
        rows = order[: config.fisher_samples].numpy()
        x = to_model_input(data.images[rows], model.spec.image_size)
        y = torch.from_numpy(data.labels[rows])
        return [(x[i:i + batch], y[i:i + batch]) for i in range(0, len(y), batch)]
    z = torch.randn(config.fisher_samples, latent_dim, generator=torch.Generator().manual_seed(config.seed))
    with torch.no_grad():
        x = generator.eval()(z.to(device))
        y = model(x).argmax(1)
    return [(x[i:i + batch], y[i:i + batch]) for i in range(0, len(y), batch)]


def _real_batches(data: FaceDataset, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    return to_model_input(data.images, size), torch.from_numpy(data.labels)


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _round_line(row: dict) -> str:
    hits = ", ".join(f"{c}: {h:.0%}" for c, h in row["decoy_hit_rate"].items())
    natural = f", natural acc {row['natural_accuracy']:.1%}" if "natural_accuracy" in row else ""
    return (f"round {row['round']}: decoy hit rate {hits}; protected confidence after "
            f"{row['protected_confidence_after']:.2f}{natural}")


def _checkpoint(folder: Path, model: FaceModel, result: DefenseResult) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    state = {"model": model.state_dict(), "rounds": result.rounds,
             "decoys": {str(k): v for k, v in result.decoys.items()}, "config": _config_dict(result.config)}
    with atomic_output(folder / "protect_checkpoint.pt") as tmp:
        torch.save(state, tmp)


def _config_dict(config: DecoyConfig) -> dict:
    return {k: v for k, v in config.__dict__.items()}


def _resume(folder: Path | None, model: FaceModel, result: DefenseResult) -> int:
    path = folder / "protect_checkpoint.pt" if folder is not None else None
    if path is None or not path.exists():
        return 0
    from hardener.loading import torch_load_checked

    state, _ = torch_load_checked(path, allow_pickle=False)
    saved = state.get("config", {})
    changed = [f"{k} {saved.get(k)} -> {v}" for k, v in _config_dict(result.config).items()
               if k != "rounds" and saved.get(k) != v]
    if changed:
        raise InputError(f"--resume with other options than the interrupted run ({', '.join(changed)})", where=str(path),
                         fix="resume with the same options (only --rounds may grow), or use a new --out")
    if {int(k): v for k, v in state["decoys"].items()} != result.decoys:
        raise InputError("--resume with other protected classes or decoys than the interrupted run", where=str(path),
                         fix="resume with the same --protect/--decoy, or use a new --out")
    model.load_state_dict(state["model"])
    result.rounds = list(state["rounds"])
    return len(result.rounds)
