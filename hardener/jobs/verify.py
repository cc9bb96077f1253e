"""The release gate: measure the hardened model against the baseline and an attacker it never saw.

Checks: natural accuracy (overall and on the protected classes) on held-out data, hardened vs baseline;
attack accuracy on the protected classes under each preset (default: the `strong` group) with fresh seeds
(never those protect used), judged by the independent evaluation model; the rise in random faces of the
attacker's GAN named as a protected person (strangers a face service would misname); ONNX parity of the
exported file.
Accuracy drops and attack rates gate on the upper end of their 95 % interval (DECISION_RULE, written into
summary.md with the worst attack), so a verdict does not pass on a handful of lucky photos. Decoy hit rate and the
baseline's own attack accuracy are reported beside them for information. With `members` (the private
training images; `data` are the non-members) the membership-inference threshold attacks are run too (and
LiRA with `mia_shadows` shadow models), and gate on `max_mia_auc` when it is set. The measuring is
jobs/suite.py, which `compare` shares.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hardener.errors import InputError
from hardener.jobs.suite import (DECISION_RULE, DEFAULT_BUDGET, DEFAULT_PRESETS, VERIFY_SEED_OFFSET,
                                 GateLimits)
from hardener.progress import ProgressFn, no_progress


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
    budget: str = DEFAULT_BUDGET  # quick | standard | fast | paper: scales every preset's steps and restarts
    steps: int | None = None
    restarts: int | None = None
    seed: int = 0
    max_acc_drop: float = 1.0
    max_protected_acc_drop: float = 2.0
    max_attack_acc: float = 5.0
    members: str | None = None  # the private training images: enables the membership-inference check
    max_mia_auc: float | None = None
    max_strangers_rise: float = 2.0  # points: random faces of --gan named as a protected person (suite.stranger_hits)
    mia_shadows: int = 0  # LiRA shadow models (0: threshold attacks only); trained like `mia_shadow_epochs`
    mia_shadow_epochs: int = 10
    device: str = "auto"
    spec_changes: dict = field(default_factory=dict)
    force_spec: bool = False
    arch: str | None = None
    allow_pickle: bool = False
    resume: bool = False  # keep the LiRA shadows an interrupted verify finished (--out/checkpoints)
    baseline_report: Path | None = None  # an earlier verify's report.json: its baseline rows, not attacked again
    extra_eval_models: tuple[Path, ...] = ()  # more judges: every attack's check must hold by each of them too


def run_verify(job: VerifyJob, progress: ProgressFn = no_progress):
    """Returns (GateResult, report dict); writes report.json, junit.xml and summary.md into job.out."""
    from hardener.audit.lira import VERIFY_OPTIONS, check_shadow_options, plan_shadows
    from hardener.audit.mia import check_audit_sets
    from hardener.classes import label
    from hardener.data import load_dataset
    from hardener.files import prepare_out_dir
    from hardener.jobs.checkpoints import check_shadow_resume, shadow_checkpoints
    from hardener.jobs.suite import (attack_models, earlier_rows, gate_checks, hardened_files, load_suite,
                                     measurement_key, membership, natural_accuracy, natural_hits, report_decoys,
                                     row_key, sample_size_note, stranger_hits, strangers_named, worst_attack,
                                     worst_attack_note)
    from hardener.loading import load_model
    from hardener.report.gate import GateResult, write_gate_reports
    from hardener.report.images import provenance
    from hardener.train import TrainConfig

    bundle, onnx_file, protect_report = hardened_files(job.hardened)
    hardened = load_model(bundle, spec_changes=job.spec_changes)
    baseline = load_model(job.baseline, job.arch, spec_changes=job.spec_changes, allow_pickle=job.allow_pickle)
    if (hardened.arch, hardened.num_classes) != (baseline.arch, baseline.num_classes):
        raise InputError(f"the hardened model ({hardened.arch}, {hardened.num_classes} classes) is not a version of the "
                         f"baseline ({baseline.arch}, {baseline.num_classes} classes)", where=str(job.baseline),
                         fix="pass the model protect started from as --baseline")
    suite = load_suite(presets=job.presets, budget=job.budget, steps=job.steps, restarts=job.restarts, seed=job.seed,
                       gan=job.gan, critic=job.critic, eval_model=job.eval_model, data=job.data, target=hardened,
                       spec_model=baseline, protect=job.protect, device=job.device, force_spec=job.force_spec,
                       allow_pickle=job.allow_pickle, extra_eval_models=job.extra_eval_models)
    warnings = list(suite.warnings)
    if not hardened.spec.declared:
        warnings.append(f"input spec assumed from the plugin default ({hardened.spec.describe()})")
    limits = GateLimits(job.max_acc_drop, job.max_protected_acc_drop, job.max_attack_acc, job.max_mia_auc,
                        job.max_strangers_rise)
    limits.validate()
    if (job.max_mia_auc is not None or job.mia_shadows) and job.members is None:
        raise InputError("--max-mia-auc and --mia-shadows need the training images to test membership of",
                         where="--members", fix="pass --members PRIVATE_TRAIN (--data is the non-member set)")
    shadow_config = TrainConfig(epochs=job.mia_shadow_epochs, seed=VERIFY_SEED_OFFSET + job.seed)
    check_shadow_options(job.mia_shadows, shadow_config, VERIFY_OPTIONS)
    members = load_dataset(job.members) if job.members else None
    if members is not None:  # overlap or foreign labels are bad input: say so before any attack runs
        check_audit_sets(members, suite.data, hardened.num_classes)
    plan = (plan_shadows(hardened.model, members, suite.data, None, job.mia_shadows, shadow_config.seed,
                         VERIFY_OPTIONS) if job.mia_shadows else None)
    if Path(job.out).resolve() == Path(job.hardened).resolve():
        raise InputError("--out is the hardened folder; verify would overwrite protect's report", where=str(job.out),
                         fix="choose another --out")
    if job.resume:
        check_shadow_resume(job.out, job.mia_shadows, VERIFY_OPTIONS)
    keys = {"baseline": measurement_key(suite, baseline.model), "hardened": measurement_key(suite, hardened.model)}
    known = (earlier_rows(job.baseline_report, "baseline", keys["baseline"], "--baseline-report")
             if job.baseline_report is not None else None)
    inputs = ((bundle, job.baseline, job.gan, job.eval_model, *job.extra_eval_models)
              + ((job.baseline_report,) if known is not None else ()))
    out = prepare_out_dir(job.out, inputs=inputs,
                          outputs=("report.json", "junit.xml", "summary.md", "surrogates", "checkpoints"))

    models = {"hardened": hardened.model, "baseline": baseline.model}
    hits = natural_hits(suite, {"baseline": baseline.model, "hardened": hardened.model})
    acc = {name: natural_accuracy(h, suite.in_protected) for name, h in hits.items()}
    strangers = stranger_hits(suite, models)
    decoys = {"hardened": report_decoys(protect_report)}
    attack_rows = attack_models(suite, models, out / "surrogates", decoys=decoys, known=known, progress=progress)
    reused = [r["preset"] for r in attack_rows if known and "baseline" in known.get(row_key(r), {})]
    mia = None
    if members is not None:
        mia = membership(models, members, suite.data, suite.device,
                         lira=None if plan is None else (plan, shadow_config), progress=progress,
                         checkpoints=shadow_checkpoints(out, job.resume))
    checks, drops = gate_checks(suite, limits, "hardened", hits, acc, attack_rows, mia, with_lira=plan is not None,
                                parity=None if onnx_file is None else (hardened.model, onnx_file, bundle),
                                strangers=strangers)
    worst = worst_attack(attack_rows, "hardened")
    notes = [DECISION_RULE]
    note = worst_attack_note(attack_rows, "hardened", job.budget, bool(job.steps or job.restarts))
    notes += [note] if note else []
    size_note = sample_size_note(attack_rows, "hardened", limits.max_attack_acc)
    notes += [size_note] if size_note else []
    notes += [f"Attack {s['preset']} not run: {s['reason']}." for s in suite.skipped]
    if reused:
        notes.append(f"Baseline rows of {', '.join(reused)} taken from {job.baseline_report} (same measurement key), "
                     "not attacked again.")
    gate = GateResult(checks, title=f"hardener verify {job.hardened}", notes=notes)
    report = {
        "command": "verify",
        "protected": [label(c, hardened.class_names) for c in suite.protect],
        "natural_accuracy": acc,
        "accuracy_drop": {k: {"points": 100 * d.point, "ci95_points": [100 * d.low, 100 * d.high]}
                          for k, d in drops.items()},
        "strangers_named": strangers_named(strangers),
        "budget": job.budget,
        "attacks": attack_rows,
        "worst_attack": None if worst is None else worst["preset"],
        "skipped_attacks": suite.skipped,
        "measurement_keys": keys,  # an earlier report whose key matches can lend its rows (--baseline-report)
        "baseline_rows_from": None if known is None else {"report": str(job.baseline_report), "presets": reused},
        "sample_size_note": size_note,  # also among the gate's notes; the demo prints it under its verdict
        "membership_inference": mia,
        "data": {"source": suite.data.source, "images": len(suite.data)},
        "warnings": warnings,
        "versions": provenance(),
    }
    write_gate_reports(gate, out, report)
    return gate, report

