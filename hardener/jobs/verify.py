"""The release gate: measure the hardened model against the baseline and an attacker it never saw.

Checks: natural accuracy (overall and on the protected classes) on held-out data, hardened vs baseline;
attack accuracy on the protected classes under each preset (default: the `strong` group) with fresh seeds
(never those protect used), judged by the independent evaluation model; ONNX parity of the exported file.
Accuracy drops and attack rates gate on the upper end of their 95 % interval (DECISION_RULE, written into
summary.md with the worst attack), so a verdict does not pass on a handful of lucky photos. Decoy hit rate and the
baseline's own attack accuracy are reported beside them for information. With `members` (the private
training images; `data` are the non-members) the membership-inference threshold attacks are run too (and
LiRA with `mia_shadows` shadow models), and gate on `max_mia_auc` when it is set.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from hardener.audit.intervals import paired_bootstrap_drop, wilson
from hardener.errors import InputError
from hardener.progress import ProgressFn, no_progress

DEFAULT_PRESETS = ("strong",)  # every attack a reviewer expects, lomma-logit and the adaptive attacker included
DEFAULT_BUDGET = "paper"  # the published lengths unless --budget or --steps/--restarts say otherwise
VERIFY_SEED_OFFSET = 90_001  # protect's inversions use seeds seed + 1000 * round; verify's are far from them


@dataclass
class VerifyJob:
    hardened: Path
    baseline: Path
    data: str
    gan: Path
    eval_model: Path
    protect: list[str]
    out: Path
    critic: Path | None = None
    presets: tuple[str, ...] = DEFAULT_PRESETS  # preset names and groups (strong, all)
    budget: str = DEFAULT_BUDGET  # quick | standard | paper: scales every preset's steps and restarts
    steps: int | None = None
    restarts: int | None = None
    seed: int = 0
    max_acc_drop: float = 1.0
    max_protected_acc_drop: float = 2.0
    max_attack_acc: float = 5.0
    members: str | None = None  # the private training images: enables the membership-inference check
    max_mia_auc: float | None = None
    mia_shadows: int = 0  # LiRA shadow models (0: threshold attacks only); trained like `mia_shadow_epochs`
    mia_shadow_epochs: int = 10
    device: str = "auto"
    spec_changes: dict = field(default_factory=dict)
    force_spec: bool = False
    arch: str | None = None
    allow_pickle: bool = False


def run_verify(job: VerifyJob, progress: ProgressFn = no_progress):
    """Returns (GateResult, report dict); writes report.json, junit.xml and summary.md into job.out."""
    from hardener.attacks.adaptive_decoy import escape_rate
    from hardener.attacks.presets import PRESETS, expand_presets, get_budget
    from hardener.audit.metrics import attack_metrics
    from hardener.audit.lira import VERIFY_OPTIONS, check_shadow_options, plan_shadows, run_lira
    from hardener.audit.mia import check_audit_sets, mia_auc, strongest_attack
    from hardener.classes import label
    from hardener.data import load_dataset, to_model_input
    from hardener.defenses.decoy import decoy_hits
    from hardener.device import resolve_device
    from hardener.export import PARITY_TOLERANCE, measure_parity
    from hardener.files import prepare_out_dir
    from hardener.jobs.attack import load_attack_tools
    from hardener.report.gate import Check, GateResult, write_gate_reports
    from hardener.loading import load_model
    from hardener.jobs.protect import check_declared_spec, parse_distinct
    from hardener.report.images import provenance
    from hardener.train import TrainConfig

    device = resolve_device(job.device)
    chosen = expand_presets(job.presets)
    budget = get_budget(job.budget)
    bundle, onnx_file, protect_report = _hardened_files(job.hardened)
    hardened = load_model(bundle, spec_changes=job.spec_changes)
    baseline = load_model(job.baseline, job.arch, spec_changes=job.spec_changes, allow_pickle=job.allow_pickle)
    if (hardened.arch, hardened.num_classes) != (baseline.arch, baseline.num_classes):
        raise InputError(f"the hardened model ({hardened.arch}, {hardened.num_classes} classes) is not a version of the "
                         f"baseline ({baseline.arch}, {baseline.num_classes} classes)", where=str(job.baseline),
                         fix="pass the model protect started from as --baseline")
    gan, evaluator = load_attack_tools(job.gan, job.critic, job.eval_model, hardened.model,
                                       allow_pickle=job.allow_pickle)
    attacks, skipped = [], []
    for attack, explicit in chosen:
        if attack.needs_public_classifier and gan.classifier is None:
            if explicit:
                attack.penalty(None)  # raises the InputError that says what is missing and how to fix it
            skipped.append({"preset": attack.name, "reason": "the GAN bundle has no public classifier"})
        else:
            attacks.append(attack)
    data = load_dataset(job.data)
    warnings = [w for w in [check_declared_spec(baseline, data, job.force_spec, device)] if w] + gan.warnings
    warnings += [f"attack {s['preset']} skipped: {s['reason']}" for s in skipped]
    if not hardened.spec.declared:
        warnings.append(f"input spec assumed from the plugin default ({hardened.spec.describe()})")
    protect = parse_distinct(job.protect, hardened.num_classes, hardened.class_names, "--protect")
    if job.max_mia_auc is not None and not 0.5 <= job.max_mia_auc <= 1.0:
        raise InputError(f"--max-mia-auc {job.max_mia_auc:g} is not an AUC between 0.5 (chance) and 1",
                         where="--max-mia-auc", fix="e.g. --max-mia-auc 0.6 (a fraction, not a percentage)")
    if (job.max_mia_auc is not None or job.mia_shadows) and job.members is None:
        raise InputError("--max-mia-auc and --mia-shadows need the training images to test membership of",
                         where="--members", fix="pass --members PRIVATE_TRAIN (--data is the non-member set)")
    shadow_config = TrainConfig(epochs=job.mia_shadow_epochs, seed=VERIFY_SEED_OFFSET + job.seed)
    check_shadow_options(job.mia_shadows, shadow_config, VERIFY_OPTIONS)
    members = load_dataset(job.members) if job.members else None
    if members is not None:  # overlap or foreign labels are bad input: say so before any attack runs
        check_audit_sets(members, data, hardened.num_classes)
    plan = (plan_shadows(hardened.model, members, data, None, job.mia_shadows, shadow_config.seed, VERIFY_OPTIONS)
            if job.mia_shadows else None)
    in_protected = np.isin(data.labels, protect)
    if not in_protected.any():
        raise InputError("the held-out data has no image of the protected classes", where=str(job.data),
                         fix="pass held-out data that includes the protected identities")
    if Path(job.out).resolve() == Path(job.hardened).resolve():
        raise InputError("--out is the hardened folder; verify would overwrite protect's report", where=str(job.out),
                         fix="choose another --out")
    out = prepare_out_dir(job.out, inputs=(bundle, job.baseline, job.gan, job.eval_model),
                          outputs=("report.json", "junit.xml", "summary.md"))

    x, y = to_model_input(data.images, hardened.spec.image_size), torch.from_numpy(data.labels)
    hits = {name: _hits(m.model, x, y, device) for name, m in (("baseline", baseline), ("hardened", hardened))}
    acc = {name: {"all": float(h.mean()), "protected": float(h[in_protected].mean()),
                  "all_ci95": _bounds(wilson(int(h.sum()), len(h))),
                  "protected_ci95": _bounds(wilson(int(h[in_protected].sum()), int(in_protected.sum())))}
           for name, h in hits.items()}
    drops = {"all": paired_bootstrap_drop(hits["baseline"], hits["hardened"]),
             "protected": paired_bootstrap_drop(hits["baseline"][in_protected], hits["hardened"][in_protected])}
    checks = [_drop_check(f"natural accuracy drop (held-out, {part})", drops[key], limit, acc, key,
                          int(len(y) if key == "all" else in_protected.sum()))
              for part, key, limit in (("all classes", "all", job.max_acc_drop),
                                       ("protected classes", "protected", job.max_protected_acc_drop))]
    decoys = {int(k): v for k, v in (protect_report or {}).get("decoys", {}).items()}
    attack_rows = []
    for attack in attacks:
        seed = VERIFY_SEED_OFFSET + job.seed * 100 + list(PRESETS).index(attack.name)  # same whatever runs beside it
        steps, restarts = budget.scale(attack, job.steps, job.restarts)
        row = {"preset": attack.name, "seed": seed, "restarts": restarts}
        for name, model in (("hardened", hardened), ("baseline", baseline)):
            started = time.perf_counter()
            inverted = attack.prepare(model.model, gan.generator, gan.latent_dim, cache_dir=out / "surrogates",
                                      budget_fraction=budget.steps_fraction, seed=seed, device=device, progress=progress)
            result = attack.run(gan.generator, gan.critic, inverted, protect, latent_dim=gan.latent_dim, seed=seed,
                                steps=steps, restarts=restarts, device=device, progress=progress,
                                public_classifier=gan.classifier)
            metrics = attack_metrics(result, evaluator.model, data, device=device)
            row[name] = {"top1": metrics.top1, "top5": metrics.top5, "any_restart_top1": metrics.any_restart_top1,
                         "knn_distance": metrics.knn_distance, "steps": result.steps_run, "rows": metrics.rows,
                         "seconds": round(result.seconds, 2),
                         "seconds_with_preparation": round(time.perf_counter() - started, 2)}
            if gan.classifier is not None:
                row[name]["lure_escape_rate"] = escape_rate(result, gan.classifier, device)
            if name == "hardened" and decoys and gan.classifier is not None:
                row["decoy_hit_rate"] = decoy_hits(result, gan.classifier, {c: decoys[c] for c in protect if c in decoys},
                                                   device)
        for name in ("hardened", "baseline"):
            n = row[name]["rows"]
            row[name]["top1_ci95"] = _bounds(wilson(round(row[name]["top1"] * n), n))
        attack_rows.append(row)
        low, high = (100 * b for b in row["hardened"]["top1_ci95"])
        escape = row["hardened"].get("lure_escape_rate")
        checks.append(Check(f"attack accuracy {attack.name} (protected classes, top-1, 95% upper bound)",
                            high <= job.max_attack_acc, round(high, 2), job.max_attack_acc, "%",
                            f"top-1 {100 * row['hardened']['top1']:.1f}% (95% CI {low:.1f}-{high:.1f}%, "
                            f"{row['hardened']['rows']} reconstructions), top-5 {100 * row['hardened']['top5']:.1f}%; "
                            f"baseline {100 * row['baseline']['top1']:.1f}%; {steps} steps x {restarts} restarts, "
                            f"seed {seed}" + ("" if escape is None else f"; lure escape {100 * escape:.0f}%")))
    worst = max(attack_rows, key=lambda r: (r["hardened"]["top1_ci95"][1], r["hardened"]["top1"]), default=None)
    mia = None
    if members is not None:
        mia = {name: mia_auc(m.model, members, data, device=device) for name, m in (("hardened", hardened),
                                                                                    ("baseline", baseline))}
        if plan is not None:  # one set of shadows scores both models, so they compare like for like
            lira, details = run_lira({"hardened": hardened.model, "baseline": baseline.model}, members, data, plan,
                                     shadow_config, device, progress)
            for name, result in lira.items():
                mia_attacks = mia[name]["attacks"]
                mia_attacks["lira"] = result.to_dict()
                (mia[name]["max_auc_attack"], mia[name]["max_auc"]) = strongest_attack(
                    {attack: a["auc"] for attack, a in mia_attacks.items()})
            mia["lira"] = details
        auc = mia["hardened"]["max_auc"]
        strongest = mia["hardened"]["max_auc_attack"]
        limit = job.max_mia_auc
        attacks_run = "threshold attacks and LiRA" if plan else "threshold attacks"
        checks.append(Check(f"membership inference AUC ({attacks_run}, strongest)",
                            limit is None or auc <= limit, round(auc, 4), limit, "",
                            f"{strongest}; baseline {mia['baseline']['max_auc']:.3f}; {len(members)} members, "
                            f"{len(data)} non-members", informational=limit is None))
    if onnx_file is not None:
        batches = measure_parity(hardened.model, onnx_file)[0]
        worst_batch = next((p for p in batches if not p.ok), max(batches, key=lambda p: p.relative))
        parity = worst_batch.relative
        checks.append(Check("ONNX parity", all(p.ok for p in batches), parity, PARITY_TOLERANCE,
                            "relative",
                            f"{onnx_file} vs {bundle}"))
    notes = [DECISION_RULE]
    if worst is not None:
        w = worst["hardened"]
        notes.append(f"Worst attack: {worst['preset']}, top-1 {100 * w['top1']:.1f}% (95% CI "
                     f"{100 * w['top1_ci95'][0]:.1f}-{100 * w['top1_ci95'][1]:.1f}%) on the hardened model, "
                     f"{100 * worst['baseline']['top1']:.1f}% on the baseline ({job.budget} budget"
                     f"{', steps/restarts overridden' if job.steps or job.restarts else ''}).")
    notes += [f"Attack {s['preset']} not run: {s['reason']}." for s in skipped]
    gate = GateResult(checks, title=f"hardener verify {job.hardened}", notes=notes)
    report = {
        "command": "verify",
        "protected": [label(c, hardened.class_names) for c in protect],
        "natural_accuracy": acc,
        "accuracy_drop": {k: {"points": 100 * d.point, "ci95_points": [100 * d.low, 100 * d.high]}
                          for k, d in drops.items()},
        "budget": job.budget,
        "attacks": attack_rows,
        "worst_attack": None if worst is None else worst["preset"],
        "skipped_attacks": skipped,
        "membership_inference": mia,
        "data": {"source": data.source, "images": len(data)},
        "warnings": warnings,
        "versions": provenance(),
    }
    write_gate_reports(gate, out, report)
    return gate, report


DECISION_RULE = ("Decision rule: a check passes only when the upper end of its 95% interval is within the limit "
                 "(attack top-1: Wilson interval over the reconstructions, classes x restarts; accuracy drops: "
                 "paired bootstrap over the held-out images, 10,000 resamples, seed 0). A difference the data "
                 "cannot resolve fails the gate: to pass, add held-out images or restarts. Restarts of one class "
                 "are not independent, so the attack interval is if anything too narrow.")


def _hits(model, x: torch.Tensor, y: torch.Tensor, device, batch_size: int = 256) -> np.ndarray:
    """Per image: does the model's top-1 name its label (the paired data both intervals need)."""
    from hardener.device import evaluating

    with evaluating(model, device):
        predictions = torch.cat([model(x[i:i + batch_size].to(device)).argmax(1).cpu()
                                 for i in range(0, len(y), batch_size)])
    return (predictions == y).numpy()


def _bounds(interval) -> list[float]:
    return [interval.low, interval.high]


def _drop_check(name: str, drop, limit: float, acc: dict, part: str, images: int):
    """The drop's upper 95 % bound, in points, against the limit."""
    from hardener.report.gate import Check

    high = 100 * drop.high
    return Check(f"{name}, 95% upper bound", high <= limit, round(high, 3), limit, "points",
                 f"drop {100 * drop.point:.1f} points (95% CI {100 * drop.low:.1f} to {high:.1f}, paired, {images} "
                 f"images): baseline {acc['baseline'][part]:.1%} -> hardened {acc['hardened'][part]:.1%}")


def _hardened_files(path: Path) -> tuple[Path, Path | None, dict | None]:
    """HARDENED may be protect's output folder (bundle, ONNX and report) or a model file."""
    path = Path(path)
    if path.is_dir():
        bundle = path / "hardened.safetensors"
        if not bundle.exists():
            raise InputError("no hardened.safetensors in the folder", where=str(path),
                             fix="pass protect's --out folder or a model file")
        onnx_file = path / "hardened.onnx"
        report = path / "report.json"
        protect_report = json.loads(report.read_text()) if report.exists() else None
        return bundle, onnx_file if onnx_file.exists() else None, protect_report
    return path, None, None
