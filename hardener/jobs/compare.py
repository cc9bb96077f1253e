"""`hardener compare`: several hardened models and their baseline under one attacker, side by side.

"Which defense, at what cost, for my model?" needs every model measured the same way: verify's attack
suite (jobs/suite.py: same presets, seeds, GAN, budget, evaluation model and held-out data) and, with
`members`, the same membership-inference audit. Each hardened model is gated exactly as `verify` would
gate it against the baseline; the verdict is 0 when every hardened model passes, 1 when any fails.
Writes compare.json (every number), compare.md (the table) and compare.png (privacy against utility).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardener.errors import InputError
from hardener.jobs.suite import DECISION_RULE, DEFAULT_BUDGET, DEFAULT_PRESETS, GateLimits
from hardener.progress import ProgressFn, no_progress

OUTPUTS = ("compare.json", "compare.md", "compare.png")


@dataclass
class CompareJob:
    """Everything `hardener compare` needs; `run_compare` does the whole job."""

    hardened: list[Path]  # protect output folders or model files
    baseline: Path
    data: str  # held-out private images (the non-members of the membership audit)
    gan: Path
    eval_model: Path
    out: Path
    members: str | None = None  # private training images: adds the membership-inference audit
    protect: list[str] | None = None  # None: the classes protect's reports name, else the 5 most photographed
    critic: Path | None = None
    presets: tuple[str, ...] = DEFAULT_PRESETS
    budget: str = DEFAULT_BUDGET
    steps: int | None = None
    restarts: int | None = None
    seed: int = 0
    limits: GateLimits = field(default_factory=GateLimits)
    device: str = "auto"
    spec_changes: dict = field(default_factory=dict)
    force_spec: bool = False
    arch: str | None = None
    allow_pickle: bool = False


@dataclass
class _Candidate:
    """One hardened model as given: its key in the report, files, protect's report, the loaded model."""

    key: str
    given: Path
    bundle: Path
    onnx: Path | None
    protect_report: dict | None
    loaded: Any


def run_compare(job: CompareJob, progress: ProgressFn = no_progress) -> dict:
    """Check every input, attack every model, gate every hardened model; write compare.json, compare.md and
    compare.png into job.out and return the report (its "exit_code" is the command's)."""
    from hardener.audit.mia import check_audit_sets
    from hardener.classes import label
    from hardener.data import load_dataset
    from hardener.files import prepare_out_dir, write_json, write_text
    from hardener.gan import check_gan_matches
    from hardener.jobs.suite import (attack_models, gate_checks, load_suite, membership, natural_accuracy,
                                     natural_hits, report_decoys, stranger_hits, strangers_named)
    from hardener.loading import load_model
    from hardener.report.compare import markdown_table, privacy_utility_plot
    from hardener.report.gate import GateResult
    from hardener.report.images import provenance

    if not job.hardened:
        raise InputError("no hardened model to compare", where="HARDENED",
                         fix="give one or more protect output folders or model files")
    job.limits.validate()
    if job.limits.max_mia_auc is not None and job.members is None:
        raise InputError("--max-mia-auc needs the training images to test membership of", where="--members",
                         fix="pass --members PRIVATE_TRAIN (--data is the non-member set)")
    baseline = load_model(job.baseline, job.arch, spec_changes=job.spec_changes, allow_pickle=job.allow_pickle)
    candidates = _load_candidates(job, baseline)
    suite = load_suite(presets=job.presets, budget=job.budget, steps=job.steps, restarts=job.restarts, seed=job.seed,
                       gan=job.gan, critic=job.critic, eval_model=job.eval_model, data=job.data, target=baseline,
                       spec_model=baseline, protect=job.protect or _protected_by_reports(candidates),
                       device=job.device, force_spec=job.force_spec, allow_pickle=job.allow_pickle)
    for c in candidates:  # every model must take the GAN's images as they are
        check_gan_matches(suite.gan, c.loaded.model, str(job.gan))
    members = load_dataset(job.members) if job.members else None
    if members is not None:
        check_audit_sets(members, suite.data, baseline.num_classes)
    inputs = (job.baseline, job.gan, job.eval_model, *(c.bundle for c in candidates))
    out = prepare_out_dir(job.out, inputs=inputs, outputs=OUTPUTS)

    models = {"baseline": baseline.model, **{c.key: c.loaded.model for c in candidates}}
    hits = natural_hits(suite, models)
    accuracy = {name: natural_accuracy(h, suite.in_protected) for name, h in hits.items()}
    strangers = stranger_hits(suite, models)
    decoys = {c.key: report_decoys(c.protect_report) for c in candidates if c.protect_report}
    rows = attack_models(suite, models, out / "surrogates", decoys=decoys, progress=progress)
    mia = membership(models, members, suite.data, suite.device, progress=progress) if members is not None else None

    entries = [_entry("baseline", "baseline", job.baseline, None, accuracy, rows, mia)]
    for c in candidates:
        checks, drops = gate_checks(suite, job.limits, c.key, hits, accuracy, rows, mia,
                                    parity=None if c.onnx is None else (c.loaded.model, c.onnx, c.bundle),
                                    strangers=strangers)
        gate = GateResult(checks, title=f"hardener compare: {c.key} ({c.given})", notes=[DECISION_RULE])
        entry = _entry(c.key, "hardened", c.given, c.protect_report, accuracy, rows, mia)
        entry["accuracy_drop"] = {k: {"points": 100 * d.point, "ci95_points": [100 * d.low, 100 * d.high]}
                                  for k, d in drops.items()}
        entry["gate"] = gate.to_dict()
        entries.append(entry)
    failed = [e["name"] for e in entries if e["role"] == "hardened" and not e["gate"]["passed"]]
    plot = out / "compare.png"
    report = {
        "command": "compare",
        "passed": not failed,
        "exit_code": 1 if failed else 0,
        "failed": failed,
        "protected": [label(c, baseline.class_names) for c in suite.protect],
        "budget": job.budget,
        "presets": [r["preset"] for r in rows],
        "seeds": {r["preset"]: r["seed"] for r in rows},
        "skipped_attacks": suite.skipped,
        "limits": vars(job.limits),
        "models": entries,
        "strangers_named": strangers_named(strangers),
        "attacks": rows,
        "decision_rule": DECISION_RULE,
        "data": {"source": suite.data.source, "images": len(suite.data)},
        "members": None if members is None else {"source": members.source, "images": len(members)},
        "plot": str(plot),
        "warnings": suite.warnings,
        "versions": provenance(),
    }
    privacy_utility_plot(report, plot)
    write_json(out / "compare.json", report)
    write_text(out / "compare.md", markdown_table(report))
    return report


def _load_candidates(job: CompareJob, baseline) -> list[_Candidate]:
    """Load every hardened model; one with another class count than the baseline is bad input, named."""
    from hardener.jobs.suite import hardened_files
    from hardener.loading import load_model

    candidates: list[_Candidate] = []
    used = {"baseline"}
    for given in job.hardened:
        bundle, onnx_file, protect_report = hardened_files(given)
        loaded = load_model(bundle, spec_changes=job.spec_changes, allow_pickle=job.allow_pickle)
        if loaded.num_classes != baseline.num_classes:
            raise InputError(f"{bundle} has {loaded.num_classes} classes but the baseline {job.baseline} has "
                             f"{baseline.num_classes}", where="HARDENED",
                             fix="compare only models of the same private identities")
        base = _model_name(Path(given))
        key, n = base, 2
        while key in used:  # the same name twice (or "baseline"): number it, the path stays in the report
            key, n = f"{base}-{n}", n + 1
        used.add(key)
        candidates.append(_Candidate(key, Path(given), bundle, onnx_file, protect_report, loaded))
    return candidates


def _model_name(given: Path) -> str:
    """A folder's name; a file's stem, or its folder's name for the names hardener's own commands write
    (train classifier's model.safetensors, protect's hardened.safetensors), which say nothing."""
    if given.is_dir():
        return given.resolve().name
    return given.resolve().parent.name if given.stem in ("model", "hardened") else given.stem


def _protected_by_reports(candidates: list[_Candidate]) -> list[str] | None:
    """The classes the decoy folders protected, when they agree; None when no report names any."""
    named = {tuple(sorted(int(k) for k in c.protect_report["decoys"])): c.given for c in candidates
             if c.protect_report and c.protect_report.get("decoys")}
    if len(named) > 1:
        (a, first), (b, second) = list(named.items())[:2]
        raise InputError(f"{first} protects classes {list(a)} but {second} protects {list(b)}", where="HARDENED",
                         fix="pass --protect to choose the classes every model is attacked on")
    return [str(c) for c in next(iter(named))] if named else None


def _entry(key: str, role: str, given: Path, protect_report: dict | None, accuracy: dict, rows: list[dict],
           mia: dict | None) -> dict:
    """One model's row of the comparison: accuracy, every attack, the worst, membership, protect time."""
    from hardener.jobs.suite import worst_attack

    worst = worst_attack(rows, key)
    entry: dict[str, Any] = {
        "name": key, "role": role, "path": str(given),
        "natural_accuracy": accuracy[key],
        "attacks": {r["preset"]: r[key] for r in rows},
        "worst_attack": None if worst is None else {"preset": worst["preset"], "top1": worst[key]["top1"],
                                                    "top5": worst[key]["top5"], "top1_ci95": worst[key]["top1_ci95"]},
        "membership_inference": None,
        "protect_seconds": (protect_report or {}).get("seconds"),
        "protect_method": (protect_report or {}).get("method"),
    }
    if mia is not None:
        m = mia[key]
        strongest = m["attacks"][m["max_auc_attack"]]
        entry["membership_inference"] = {"max_auc": m["max_auc"], "max_auc_attack": m["max_auc_attack"],
                                         "tpr_at_1pct_fpr": strongest["tpr_at_fpr"]["0.01"], "details": m}
    return entry
