"""The measurement `verify` gates on and `compare` lays side by side, written once for both.

Every model measured faces the same attack presets, at the same seeds (one fixed seed per preset), budget,
GAN and evaluation model, on the same held-out images and the same membership-inference sets. Because the
code is shared, `compare`'s baseline row is exactly what `verify` reports for the baseline, and a model
compared is gated exactly as `verify` would gate it. Only jobs/ call this; it reads no paths itself except
protect's output folder (`hardened_files`).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from hardener.checkpoint import CacheFolder, Checkpoint
from hardener.errors import InputError
from hardener.progress import ProgressEvent, ProgressFn, no_progress

DEFAULT_PRESETS = ("strong",)  # every attack a reviewer expects, lomma-logit and the adaptive attacker included
DEFAULT_BUDGET = "paper"  # the published lengths unless --budget or --steps/--restarts say otherwise
VERIFY_SEED_OFFSET = 90_001  # protect's inversions use seeds seed + 1000 * round; verify's are far from them
DEFAULT_PROTECTED = 5  # DESIGN.md's protocol: the 5 private identities with the most images unless stated
STRANGER_FACES = 2048  # random faces of the attacker's GAN for the strangers check: a rise of 0 has a 95 % upper
# bound near 0, and a real rise of 2 points is resolved
STRANGER_SEED = 90_777  # apart from protect's strangers (hardener.defenses.strangers) and verify's attack seeds

DECISION_RULE = ("Decision rule: a check passes only when the upper end of its 95% interval is within the limit "
                 "(attack top-1: Wilson interval over the reconstructions, classes x restarts; accuracy drops: "
                 "paired bootstrap over the held-out images, 10,000 resamples, seed 0; strangers named: the same over "
                 "the random faces). A difference the data cannot resolve fails the gate: to pass, add held-out "
                 "images or restarts. Restarts of one class are not independent, so the attack interval is if "
                 "anything too narrow.")


@dataclass
class GateLimits:
    """verify's limits, in the units its options take (points, %, AUC)."""

    max_acc_drop: float = 1.0
    max_protected_acc_drop: float = 2.0
    max_attack_acc: float = 5.0
    max_mia_auc: float | None = None
    max_strangers_rise: float = 2.0

    def validate(self) -> None:
        if not self.max_strangers_rise >= 0:
            raise InputError(f"--max-strangers-rise {self.max_strangers_rise:g} is negative",
                             where="--max-strangers-rise",
                             fix="e.g. --max-strangers-rise 2 (points of random faces named as a protected person)")
        if self.max_mia_auc is not None and not 0.5 <= self.max_mia_auc <= 1.0:
            raise InputError(f"--max-mia-auc {self.max_mia_auc:g} is not an AUC between 0.5 (chance) and 1",
                             where="--max-mia-auc", fix="e.g. --max-mia-auc 0.6 (a fraction, not a percentage)")


@dataclass
class AttackSuite:
    """What every measured model is attacked with; built by `load_suite`, so both commands check alike."""

    attacks: list  # Attack objects, in preset order
    skipped: list[dict]  # presets reached through a group whose inputs are missing, with the reason
    budget_name: str
    budget: Any  # attacks.presets.Budget
    steps: int | None  # --steps / --restarts overrides
    restarts: int | None
    seed: int
    gan: Any  # gan.LoadedGAN
    evaluator: Any  # loading.LoadedModel
    data: Any  # data.FaceDataset: the held-out private images
    protect: list[int]
    device: torch.device
    warnings: list[str] = field(default_factory=list)
    extra_judges: dict[str, Any] = field(default_factory=dict)  # verify --extra-eval-model: path -> LoadedModel

    def seed_for(self, attack) -> int:
        """One fixed seed per preset, the same whatever runs beside it."""
        from hardener.attacks.presets import PRESETS

        return VERIFY_SEED_OFFSET + self.seed * 100 + list(PRESETS).index(attack.name)

    @property
    def in_protected(self) -> np.ndarray:
        return np.isin(self.data.labels, self.protect)


def load_suite(*, presets: tuple[str, ...], budget: str, steps: int | None, restarts: int | None, seed: int,
               gan: Path, critic: Path | None, eval_model: Path, data: str, target, spec_model,
               protect: list[str] | None, device: str, force_spec: bool = False,
               allow_pickle: bool = False, extra_eval_models: tuple[Path, ...] = ()) -> AttackSuite:
    """Check and load what the attacks need: presets and budget, the GAN and evaluation model against `target`
    (a LoadedModel whose class names `protect` may use), the held-out data against `spec_model`'s declared
    input spec, and the protected classes, which the data must contain (None: the DESIGN protocol's rule, the
    DEFAULT_PROTECTED classes with the most held-out images, said in a warning), and any extra evaluation models
    (each file once, none the evaluation model itself). Bad input raises InputError."""
    from hardener.attacks.presets import expand_presets, get_budget
    from hardener.data import load_dataset
    from hardener.device import resolve_device
    from hardener.jobs.attack import load_attack_tools, load_evaluator
    from hardener.jobs.protect import check_declared_spec, parse_distinct

    resolved = resolve_device(device)
    chosen = expand_presets(presets)
    scaled = get_budget(budget)
    loaded_gan, evaluator = load_attack_tools(gan, critic, eval_model, target.model, allow_pickle=allow_pickle)
    extra_judges, seen = {}, {Path(eval_model).resolve()}
    for path in extra_eval_models:
        where = Path(path).resolve()
        if where in seen:
            raise InputError("an evaluation model is given twice", where=str(path),
                             fix="give each --extra-eval-model once, and not the --eval-model file again")
        seen.add(where)
        extra_judges[str(path)] = load_evaluator(path, target.model, allow_pickle=allow_pickle)
    attacks, skipped = [], []
    for attack, explicit in chosen:
        if attack.needs_public_classifier and loaded_gan.classifier is None:
            if explicit:
                attack.penalty(None)  # raises the InputError that says what is missing and how to fix it
            skipped.append({"preset": attack.name, "reason": "the GAN bundle has no public classifier"})
        else:
            attacks.append(attack)
    held_out = load_dataset(data)
    warnings = [w for w in [check_declared_spec(spec_model, held_out, force_spec, resolved)] if w] + loaded_gan.warnings
    warnings += [f"attack {s['preset']} skipped: {s['reason']}" for s in skipped]
    if protect is None:
        counts = np.bincount(held_out.labels, minlength=target.num_classes)
        protect = [str(c) for c in sorted(np.argsort(-counts, kind="stable")[:DEFAULT_PROTECTED].tolist())]
        warnings.append(f"no --protect: attacking the {len(protect)} classes with the most held-out images "
                        f"({', '.join(protect)})")
    classes = parse_distinct(protect, target.num_classes, target.class_names, "--protect")
    suite = AttackSuite(attacks, skipped, budget, scaled, steps, restarts, seed, loaded_gan, evaluator, held_out,
                        classes, resolved, warnings, extra_judges)
    if not suite.in_protected.any():
        raise InputError("the held-out data has no image of the protected classes", where=str(data),
                         fix="pass held-out data that includes the protected identities")
    return suite


def report_decoys(protect_report: dict | None) -> dict[int, list[int]]:
    """Per protected class, every decoy a protect report names (its decoy and any extra ones)."""
    report = protect_report or {}
    extra = report.get("extra_decoys", {})
    return {int(c): [int(d), *extra.get(c, [])] for c, d in report.get("decoys", {}).items()}


def attack_models(suite: AttackSuite, models: dict[str, Any], cache_dir: Path, *,
                  decoys: dict[str, dict[int, list[int]]] | None = None, known: dict[tuple, dict] | None = None,
                  progress: ProgressFn = no_progress) -> list[dict]:
    """Run every attack of the suite on every model (FaceModels by name), attack by attack at the attack's
    seed. One row per attack: preset, seed, steps, restarts, and per model name its top-1/top-5 (with the
    Wilson interval of top-1), top-1 per protected class, any-restart top-1, KNN distance, time, the lure escape
    rate (with a public classifier), where `decoys` gives that model's decoy classes the decoy hit rate, and with
    extra judges (verify --extra-eval-model) each one's figures for the same reconstructions under "judges".
    `known` (from `earlier_rows`) holds entries measured before, by `row_key` and model name: those are taken
    as they are, not attacked again."""
    from hardener.attacks.adaptive_decoy import escape_rate
    from hardener.attacks.engine import share_at_clamp
    from hardener.audit.metrics import attack_metrics
    from hardener.defenses.decoy import decoy_hits

    gan, device, decoys = suite.gan, suite.device, decoys or {}
    rows, done, total = [], 0, len(suite.attacks) * len(models)
    for attack in suite.attacks:
        seed = suite.seed_for(attack)
        steps, restarts = suite.budget.scale(attack, suite.steps, suite.restarts)
        row: dict[str, Any] = {"preset": attack.name, "seed": seed, "steps": steps, "restarts": restarts}
        earlier = (known or {}).get(row_key(row), {})
        for name, model in models.items():
            if name in earlier:
                row[name] = earlier[name]
                done += 1
                continue
            started = time.perf_counter()
            inverted = attack.prepare(model, gan.generator, gan.latent_dim, caches=CacheFolder(cache_dir),
                                      budget_fraction=suite.budget.steps_fraction, seed=seed, device=device,
                                      progress=progress, public_classifier=gan.classifier)
            result = attack.run(gan.generator, gan.critic, inverted, suite.protect, latent_dim=gan.latent_dim,
                                seed=seed, steps=steps, restarts=restarts, device=device, progress=progress,
                                public_classifier=gan.classifier)
            metrics = attack_metrics(result, suite.evaluator.model, suite.data, device=device)
            entry = {**judged(metrics), "any_restart_top1": metrics.any_restart_top1,
                     "knn_distance": metrics.knn_distance, "steps": result.steps_run,
                     "latent_steps": result.latent_steps,
                     "latent_at_clamp": share_at_clamp(result.z, attack.config.z_clamp),
                     "seconds": round(result.seconds, 2),
                     "seconds_with_preparation": round(time.perf_counter() - started, 2)}
            if suite.extra_judges:  # the same reconstructions, judged again by each extra evaluation model
                entry["judges"] = {path: judged(attack_metrics(result, judge.model, suite.data, device=device))
                                   for path, judge in suite.extra_judges.items()}
            if gan.classifier is not None:
                entry["lure_escape_rate"] = escape_rate(result, gan.classifier, device)
                own = {c: decoys[name][c] for c in suite.protect if c in decoys.get(name, {})}
                if own:
                    entry["decoy_hit_rate"] = decoy_hits(result, gan.classifier, own, device)
            row[name] = entry
            done += 1
            progress(ProgressEvent("attack suite", done, total, {f"{attack.name} top1 ({name})": entry["top1"]}))
        rows.append(row)
    return rows


def judged(metrics) -> dict:
    """What a judge says of an attack's reconstructions (an attack entry's own figures, and each extra judge's):
    top-1 with its Wilson interval, top-5, top-1 per protected class (who leaks), how many hits are sure and
    their median margin, and how often the judge names each class on the other classes' reconstructions (its floor;
    hardener.audit.metrics)."""
    from hardener.audit.intervals import wilson

    plain = metrics.to_dict()  # its JSON form: NaN (no hits, one class) already None
    return {"top1": metrics.top1, "top5": metrics.top5, "rows": metrics.rows,
            "top1_ci95": _bounds(wilson(round(metrics.top1 * metrics.rows), metrics.rows)),
            "top1_by_class": {c: v["top1"] for c, v in plain["per_class"].items()},
            "sure_top1": metrics.sure_top1, "recovered_margin": plain["recovered_margin"],
            "cross_top1": plain["cross_top1"],
            "cross_top1_by_class": {c: v["cross_top1"] for c, v in plain["per_class"].items()}}


def row_key(row: dict) -> tuple:
    """What makes two attack rows of one suite the same measurement: preset, seed, steps and restarts."""
    return row["preset"], row["seed"], row["steps"], row["restarts"]


def measurement_key(suite: AttackSuite, model) -> str:
    """sha256 of what a model's attack rows depend on besides the attack itself: the model's weights and input
    spec, the GAN's generator, critic and public classifier, the evaluation model, the held-out images and
    labels, the protected classes, the budget's share of preparation, the device type, the torch version and any
    extra evaluation models.
    Two verify runs whose baseline keys match measure the baseline alike, so one can lend its rows to the other
    (`earlier_rows`); the numbers are those the earlier run measured, on its machine."""
    import hashlib

    from hardener.attacks.base import weights_hash

    parts = [weights_hash(model), model.spec.describe(), suite.evaluator.model.spec.describe(),
             *(weights_hash(m) if m is not None else "-" for m in (suite.gan.generator, suite.gan.critic,
                                                                     suite.gan.classifier, suite.evaluator.model)),
             hashlib.sha256(np.ascontiguousarray(suite.data.images).tobytes()).hexdigest(),
             hashlib.sha256(np.ascontiguousarray(suite.data.labels, dtype=np.int64).tobytes()).hexdigest(),
             ",".join(map(str, suite.protect)), repr(suite.budget.steps_fraction), suite.device.type,
             torch.__version__, *(weights_hash(judge.model) for judge in suite.extra_judges.values())]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def earlier_rows(report_path: Path, name: str, key: str, where: str) -> dict[tuple, dict]:
    """Model `name`'s attack entries in an earlier verify report whose `measurement_keys[name]` is `key`, by
    `row_key`. A report that is not verify's, or was made with other inputs, is bad input."""
    try:
        report = json.loads(Path(report_path).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"the earlier report cannot be read ({exc})", where=str(report_path),
                         fix="pass the report.json an earlier `hardener verify` wrote") from None
    if not isinstance(report, dict) or report.get("command") != "verify":
        raise InputError("not a report of `hardener verify`", where=str(report_path),
                         fix="pass the report.json an earlier `hardener verify` wrote")
    keys = report.get("measurement_keys")
    if not isinstance(keys, dict) or keys.get(name) != key:
        raise InputError(f"the earlier report measured the {name} with other inputs (its weights or input spec, the "
                         "GAN, the evaluation model, the held-out data, the protected classes, the budget, the device "
                         "type or the torch version), or predates measurement keys", where=str(report_path),
                         fix=f"leave out {where}, or pass a report made with this command's inputs")
    try:  # every row a mapping with the row key's fields and this model's entry, itself a mapping
        return {row_key(r): {name: dict(r[name])} for r in report["attacks"]}
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"the earlier report's attack rows are malformed ({exc!r})", where=str(report_path),
                         fix=f"leave out {where}, or rerun the earlier verify") from None


def worst_attack(rows: list[dict], name: str) -> dict | None:
    """The attack row with the highest upper bound of `name`'s top-1 (then the highest top-1)."""
    return max(rows, key=lambda r: (r[name]["top1_ci95"][1], r[name]["top1"]), default=None)


def natural_hits(suite: AttackSuite, models: dict[str, Any]) -> dict[str, np.ndarray]:
    """Per model, per held-out image: does its top-1 name the label (the paired data both intervals need)."""
    from hardener.data import to_model_input
    from hardener.evaluate import logits

    y = torch.from_numpy(suite.data.labels)
    return {name: (logits(model, to_model_input(suite.data.images, model.spec.image_size), suite.device).argmax(1)
                   == y).numpy() for name, model in models.items()}


def stranger_hits(suite: AttackSuite, models: dict[str, Any]) -> dict[str, np.ndarray]:
    """Per model, per random face of the attacker's GAN (STRANGER_FACES, one fixed seed): does its top-1 name a
    protected person. The decoy defense's lift can spread over the whole face manifold, and a face service would
    then name strangers as the protected people, which held-out accuracy on the private people does not show
    (docs/MEASUREMENTS.md, "Session 37": 45 % of random faces named as one person after protect on the demo, 10 %
    before)."""
    from hardener.defenses.strangers import named_any, stranger_faces

    faces = stranger_faces(suite.gan.generator, suite.gan.latent_dim, STRANGER_FACES, STRANGER_SEED, suite.device)
    return {name: named_any(model, faces, suite.protect, suite.device) for name, model in models.items()}


def strangers_named(strangers: dict[str, np.ndarray]) -> dict:
    """report.json's figures: per model the share of the random faces named as a protected person."""
    return {"faces": len(next(iter(strangers.values()))), "gan": "the attacker's (--gan)",
            "share": {name: float(named.mean()) for name, named in strangers.items()}}


def natural_accuracy(hits: np.ndarray, in_protected: np.ndarray) -> dict:
    """Held-out accuracy overall and on the protected classes, each with its 95 % Wilson interval."""
    from hardener.audit.intervals import wilson

    return {"all": float(hits.mean()), "protected": float(hits[in_protected].mean()),
            "all_ci95": _bounds(wilson(int(hits.sum()), len(hits))),
            "protected_ci95": _bounds(wilson(int(hits[in_protected].sum()), int(in_protected.sum())))}


def membership(models: dict[str, Any], members, non_members, device, *, lira: tuple | None = None,
               progress: ProgressFn = no_progress, checkpoints: Callable[[int], Checkpoint] | None = None) -> dict:
    """The membership-inference threshold attacks on every model (members: private training images,
    non-members: the held-out ones); with `lira` = (plan, shadow_config) the same shadows add LiRA to each
    model, so they compare like for like, and the shadows' details go under "lira". With `checkpoints`
    (hardener.jobs.checkpoints.shadow_checkpoints) each shadow is saved once scored, and a resume keeps those an
    interrupted run finished."""
    from hardener.audit.lira import run_lira
    from hardener.audit.mia import mia_auc, strongest_attack

    mia: dict[str, Any] = {name: mia_auc(model, members, non_members, device=device) for name, model in models.items()}
    if lira is not None:
        plan, shadow_config = lira
        results, details = run_lira(models, members, non_members, plan, shadow_config, device, progress,
                                    checkpoints=checkpoints)
        for name, result in results.items():
            attacks = mia[name]["attacks"]
            attacks["lira"] = result.to_dict()
            mia[name]["max_auc_attack"], mia[name]["max_auc"] = strongest_attack(
                {attack: a["auc"] for attack, a in attacks.items()})
        mia["lira"] = details
    return mia


def gate_checks(suite: AttackSuite, limits: GateLimits, name: str, hits: dict[str, np.ndarray],
                accuracy: dict[str, dict], rows: list[dict], mia: dict | None = None, with_lira: bool = False,
                parity: tuple | None = None, strangers: dict[str, np.ndarray] | None = None) -> tuple[list, dict]:
    """verify's checks for model `name` against "baseline": accuracy drops, one check per attack, the rise in
    random faces named as a protected person (with `strangers`: stranger_hits), the membership-inference AUC
    (informational unless limits.max_mia_auc), ONNX parity when `parity` = (model, onnx file, bundle). Returns
    (checks, drops)."""
    from hardener.audit.intervals import paired_bootstrap_drop
    from hardener.report.gate import Check

    in_protected = suite.in_protected
    drops = {"all": paired_bootstrap_drop(hits["baseline"], hits[name]),
             "protected": paired_bootstrap_drop(hits["baseline"][in_protected], hits[name][in_protected])}
    checks = []
    for part, key, limit in (("all classes", "all", limits.max_acc_drop),
                             ("protected classes", "protected", limits.max_protected_acc_drop)):
        drop, high = drops[key], 100 * drops[key].high
        images = int(len(hits[name]) if key == "all" else in_protected.sum())
        checks.append(Check(f"natural accuracy drop (held-out, {part}), 95% upper bound", high <= limit, round(high, 3),
                            limit, "points",
                            f"drop {100 * drop.point:.1f} points (95% CI {100 * drop.low:.1f} to {high:.1f}, paired, "
                            f"{images} images): baseline {accuracy['baseline'][key]:.1%} -> hardened "
                            f"{accuracy[name][key]:.1%}"))
    for row in rows:
        entry = row[name]
        escape, at_wall = entry.get("lure_escape_rate"), entry.get("latent_at_clamp")
        checks.append(_attack_check(row["preset"], entry, row["baseline"]["top1"], limits.max_attack_acc, None,
                                    f"; {row['steps']} steps x {row['restarts']} restarts, seed {row['seed']}"
                                    + _sureness(entry)
                                    + ("" if escape is None else f"; lure escape {100 * escape:.0f}%")
                                    + ("" if at_wall is None else f"; latents at the box's wall {100 * at_wall:.0f}%")))
        for judge, figures in entry.get("judges", {}).items():
            baseline = row["baseline"].get("judges", {}).get(judge)
            checks.append(_attack_check(row["preset"], figures, None if baseline is None else baseline["top1"],
                                        limits.max_attack_acc, judge, _sureness(figures, judge)))
    if strangers is not None:
        checks.append(strangers_check(strangers["baseline"], strangers[name], limits.max_strangers_rise))
    if mia is not None:
        auc, limit = mia[name]["max_auc"], limits.max_mia_auc
        attacks_run = "threshold attacks and LiRA" if with_lira else "threshold attacks"
        checks.append(Check(f"membership inference AUC ({attacks_run}, strongest)", limit is None or auc <= limit,
                            round(auc, 4), limit, "",
                            f"{mia[name]['max_auc_attack']}; baseline {mia['baseline']['max_auc']:.3f}; "
                            f"{mia[name]['members']} members, {mia[name]['non_members']} non-members",
                            informational=limit is None))
    if parity is not None:
        checks.append(parity_check(*parity))
    return checks, drops


def _attack_check(preset: str, figures: dict, baseline_top1: float | None, limit: float, judge: str | None,
                  more: str) -> Any:
    """An attack's gate check on one judge's figures (`judge` None: the evaluation model), on the upper end of the
    Wilson interval of top-1; `more` ends the detail."""
    from hardener.report.gate import Check

    low, high = (100 * b for b in figures["top1_ci95"])
    by = "" if judge is None else f" judged by {judge}"
    return Check(f"attack accuracy {preset}{by} (protected classes, top-1, 95% upper bound)", high <= limit,
                 round(high, 2), limit, "%",
                 f"top-1 {100 * figures['top1']:.1f}% (95% CI {low:.1f}-{high:.1f}%, {figures['rows']} "
                 f"reconstructions), top-5 {100 * figures['top5']:.1f}%"
                 + ("" if baseline_top1 is None else f"; baseline {100 * baseline_top1:.1f}%") + more)


def _sureness(entry: dict, judge: str | None = None) -> str:
    """How sure the judge (`judge` None: the evaluation model) is of the hits, for a check's detail (rows of older
    reports lack it)."""
    if entry.get("sure_top1") is None:
        return ""
    margin, cross = entry.get("recovered_margin"), entry.get("cross_top1")
    who = "the evaluation model" if judge is None else judge
    return (f"; sure top-1 {100 * entry['sure_top1']:.1f}% ({who} as sure as of 9 in 10 of the "
            f"person's photos" + ("" if margin is None else f"; median margin of the hits {margin:.2f}") + ")"
            + ("" if cross is None else f"; named on the other protected people's reconstructions {100 * cross:.1f}%"))


def strangers_check(baseline: np.ndarray, hardened: np.ndarray, limit: float) -> Any:
    """The rise in random faces named as a protected person, gated on the upper end of its paired interval."""
    from hardener.audit.intervals import paired_bootstrap_drop
    from hardener.report.gate import Check

    rise = paired_bootstrap_drop(hardened, baseline)  # mean(hardened) - mean(baseline), faces resampled together
    high = 100 * rise.high
    return Check("random faces named as a protected person, rise, 95% upper bound", high <= limit, round(high, 3),
                 limit, "points",
                 f"rise {100 * rise.point:.1f} points (95% CI {100 * rise.low:.1f} to {high:.1f}, paired, "
                 f"{len(hardened)} random faces of the attacker's GAN): baseline {baseline.mean():.1%} -> hardened "
                 f"{hardened.mean():.1%}")


def parity_check(model, onnx_file: Path, bundle: Path) -> Any:
    """ONNX parity of the exported file against the bundle, at the worst batch."""
    from hardener.export import PARITY_TOLERANCE, measure_parity
    from hardener.report.gate import Check

    batches = measure_parity(model, onnx_file)[0]
    worst = next((p for p in batches if not p.ok), max(batches, key=lambda p: p.relative))
    return Check("ONNX parity", all(p.ok for p in batches), worst.relative, PARITY_TOLERANCE, "relative",
                 f"{onnx_file} vs {bundle}")


def worst_attack_note(rows: list[dict], name: str, budget: str, overridden: bool) -> str | None:
    worst = worst_attack(rows, name)
    if worst is None:
        return None
    w = worst[name]
    return (f"Worst attack: {worst['preset']}, top-1 {100 * w['top1']:.1f}% (95% CI {100 * w['top1_ci95'][0]:.1f}-"
            f"{100 * w['top1_ci95'][1]:.1f}%) on the hardened model, {100 * worst['baseline']['top1']:.1f}% on the "
            f"baseline ({budget} budget{', steps/restarts overridden' if overridden else ''}).{_leaking(w)}")


def _leaking(entry: dict) -> str:
    """' Recovered: class 18 13.3%, ...' for the protected classes the attack recovered, worst first, with the
    share of each class's reconstructions that the public classifier named its decoy (a protect report given).
    A class recovered although most of its reconstructions landed on its decoy is said apart: there the decoy
    fools the public classifier, which never saw the person, but not the evaluation model (on LFW, class 67 of
    the stack: docs/MEASUREMENTS.md, "Where the leak sits"), and protect's own hit rates cannot see that leak. Captured means
    the share at which protect's rounds stop (DecoyConfig.decoy_hit_target). Each class's `cross_top1` (how often the
    evaluation model names it on the other protected classes' reconstructions) is said beside it: a share near it is
    the judge's habit more than the person (docs/MEASUREMENTS.md, "Session 52")."""
    from hardener.defenses.decoy import DecoyConfig

    captured = DecoyConfig.decoy_hit_target
    found = sorted(((int(c), v) for c, v in entry.get("top1_by_class", {}).items() if v > 0),
                   key=lambda cv: (-cv[1], cv[0]))
    if not found:
        return ""
    hits = {int(c): h for c, h in entry.get("decoy_hit_rate", {}).items()}
    cross = {int(c): v for c, v in entry.get("cross_top1_by_class", {}).items() if v is not None}
    on_decoy = [c for c, _ in found if hits.get(c, 0.0) >= captured]

    def context(c: int) -> str:
        parts = ([f"on its decoy {100 * hits[c]:.0f}%"] if c in hits else []) + (
            [f"named on the others' {100 * cross[c]:.1f}%"] if c in cross else [])
        return f" ({'; '.join(parts)})" if parts else ""

    said = ", ".join(f"class {c} {100 * v:.1f}%{context(c)}" for c, v in found)
    classes = f"class{'es' if len(on_decoy) > 1 else ''} {', '.join(map(str, on_decoy))}"
    return f" Recovered: {said}." + (
        f" Recovered although on its decoy: {classes} (at least {100 * captured:.0f}% of its reconstructions "
        "named its decoy by the public classifier, yet the evaluation model named the person)." if on_decoy else "")


def sample_size_note(rows: list[dict], name: str, max_attack_acc: float) -> str | None:
    """Said when an attack check cannot pass at its size whatever the model does (0 hits still leaves a
    Wilson upper bound above the limit), so that a failed gate is not read as a failed defense."""
    from hardener.audit.intervals import rows_to_pass, wilson

    needed = rows_to_pass(max_attack_acc / 100)
    small = [] if needed is None else [r for r in rows if r[name]["rows"] < needed]
    if not small:
        return None
    sizes = sorted({r[name]["rows"] for r in small})
    count = f"{sizes[0]}" if len(sizes) == 1 else f"{sizes[0]}-{sizes[-1]}"
    return (f"Too few reconstructions for an attack check to pass: {', '.join(r['preset'] for r in small)} had "
            f"{count}, under {needed}; even 0 of {sizes[0]} leaves a 95% upper bound of "
            f"{100 * wilson(0, sizes[0]).high:.1f}%, above the {max_attack_acc:g}% limit. It needs "
            "more restarts (`hardener verify --restarts`; reconstructions = protected classes x restarts).")


def hardened_files(path: Path) -> tuple[Path, Path | None, dict | None]:
    """HARDENED may be protect's output folder (bundle, ONNX and report) or a model file:
    (model file, ONNX file or None, protect's report or None)."""
    path = Path(path)
    if path.is_dir():
        bundle = path / "hardened.safetensors"
        if not bundle.exists():
            raise InputError("no hardened.safetensors in the folder", where=str(path),
                             fix="pass protect's --out folder or a model file")
        onnx_file = path / "hardened.onnx"
        report = path / "report.json"
        try:
            protect_report = json.loads(report.read_text()) if report.exists() else None
        except (OSError, ValueError) as exc:
            raise InputError(f"protect's report.json cannot be read ({exc})", where=str(report),
                             fix="rerun protect, or pass the model file hardened.safetensors instead") from None
        return bundle, onnx_file if onnx_file.exists() else None, protect_report
    return path, None, None


def _bounds(interval) -> list[float]:
    return [interval.low, interval.high]
