"""`hardener protect --method tl-dmi` as one library call: check the inputs, train the private model from a
public pretrained one with its first layer groups frozen, export it like the decoy defense (safetensors +
ONNX with parity) and write report.json and report.md, so `hardener verify` gates both the same way."""
from __future__ import annotations

import json

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from hardener.errors import InputError
from hardener.jobs.checkpoints import CLASSIFIER_CHECKPOINT, checkpoint
from hardener.progress import ProgressFn, no_progress
from hardener.train import TrainConfig
from hardener.export import worst_parity

TLDMI_DEFAULTS = TrainConfig(epochs=20, batch_size=64, lr=1e-3)


@dataclass
class TransferJob:
    pretrained: Path
    data: str
    out: Path
    freeze: int | None = None
    freeze_until: str | None = None
    trainable_by_default: int | None = None  # neither freeze option given: train this many last groups
    model: Path | None = None  # the undefended private model this one replaces: same architecture and classes
    val: str | None = None  # held-out private images for the accuracy in the report
    config: TrainConfig = field(default_factory=lambda: TrainConfig(**asdict(TLDMI_DEFAULTS)))
    device: str = "auto"
    resume: bool = False
    arch: str | None = None
    spec_changes: dict = field(default_factory=dict)
    allow_pickle: bool = False


def run_transfer(job: TransferJob, progress: ProgressFn = no_progress) -> dict:
    from hardener.data import load_dataset
    from hardener.evaluate import held_out_accuracy
    from hardener.defenses.tldmi import TransferConfig, freeze_depth, frozen_parameter_names, transfer_learn
    from hardener.device import resolve_device
    from hardener.export import export_model
    from hardener.files import prepare_out_dir, write_json, write_text
    from hardener.loading import load_model
    from hardener.report.images import provenance
    from hardener.summary import model_summary

    device = resolve_device(job.device)
    pretrained = load_model(job.pretrained, job.arch, spec_changes=job.spec_changes, allow_pickle=job.allow_pickle)
    warnings = list(pretrained.warnings)
    baseline = load_model(job.model, job.arch, allow_pickle=job.allow_pickle) if job.model else None
    if baseline is not None:
        _require_same_architecture(baseline, pretrained, job)
    freeze = freeze_depth(pretrained.model, job.freeze, job.freeze_until, job.trainable_by_default)
    data = load_dataset(job.data)
    val = load_dataset(job.val) if job.val else None
    num_classes = baseline.num_classes if baseline is not None else data.num_classes
    for part in (data, val):
        if part is not None and part.num_classes > num_classes:
            raise InputError(f"labels go up to {part.num_classes - 1} but the model to replace has {num_classes} classes",
                             where=part.source, fix="pass the private data that model was trained on")
    names = _class_names(baseline, data, num_classes)
    if not pretrained.spec.declared:
        warnings.append(f"{job.pretrained}: input spec assumed from the plugin default ({pretrained.spec.describe()}); "
                        "the private model inherits it, declare it if the public model was trained otherwise")
    inputs = tuple(p for p in (job.pretrained, job.model) if p)
    run_checkpoint = checkpoint(job.out, CLASSIFIER_CHECKPOINT, job.resume)
    out = prepare_out_dir(job.out, inputs=inputs + tuple(d for d in (job.data, job.val) if d and Path(d).exists()),
                          outputs=("hardened.safetensors", "hardened.onnx", "report.json", "report.md", "grid.png",
                                   "checkpoints"))

    result = transfer_learn(pretrained.model, data, num_classes, TransferConfig(freeze, job.config), val=val,
                            device=device, checkpoint=run_checkpoint,
                            run_identity={"pretrained_sha256": pretrained.source_sha256}, progress=progress)
    model = result.model.cpu().eval()
    frozen_keys = frozen_parameter_names(model, freeze)
    before, after = pretrained.model.state_dict(), model.state_dict()
    changed = [k for k in frozen_keys if not torch.equal(after[k], before[k])]
    if changed:  # a guarantee of the method, so a broken freeze must never ship silently
        raise RuntimeError(f"frozen tensor {changed[0]} changed during training")
    exported = export_model(model, out, stem="hardened", class_names=names, source_sha256=pretrained.source_sha256,
                            produced_by="hardener protect --method tl-dmi", seed=job.config.seed, inputs=inputs)
    groups = [name for name, _ in model.layer_groups()]
    natural = held_out_accuracy(model, baseline.model if baseline else None, val, device)
    frozen_set = set(frozen_keys)
    trainable = sum(p.numel() for name, p in model.named_parameters() if name not in frozen_set)
    report = {
        "command": "protect",
        "method": "tl-dmi (Ho et al., CVPR 2024): public pretraining, first layer groups frozen, the rest trained on private data",
        "frozen_groups": groups[:freeze],
        "trained_groups": groups[freeze:],
        "frozen_tensors_unchanged": len(frozen_keys),
        "parameters": {"total": sum(p.numel() for p in model.parameters()), "trained_on_private_data": trainable},
        "pretrained": model_summary(pretrained),
        "baseline": model_summary(baseline) if baseline is not None else None,
        "data": {"source": data.source, "images": len(data), "classes": num_classes},
        "config": asdict(job.config) | {"device": str(device), "freeze": freeze},
        "history": result.history,
        "natural_accuracy": natural,
        "hardened": exported.to_report(),
        "seconds": round(result.seconds, 2),
        "warnings": warnings,
        "versions": provenance(),
    }
    write_json(out / "report.json", report)
    write_text(out / "report.md", markdown_report(report))
    return report


def markdown_report(report: dict) -> str:
    params = report["parameters"]
    lines = ["# hardener protect --method tl-dmi", "", f"Method: {report['method']}", "",
             f"- frozen (public weights kept): {', '.join(report['frozen_groups']) or 'none'}",
             f"- trained on private data: {', '.join(report['trained_groups'])} "
             f"({params['trained_on_private_data']:,} of {params['total']:,} parameters)",
             f"- epochs: {report['config']['epochs']}, final train accuracy {report['history'][-1]['train_acc']:.1%}"]
    natural = report["natural_accuracy"]
    if natural:
        baseline = f" (model replaced: {natural['baseline']:.1%})" if "baseline" in natural else ""
        lines.append(f"- held-out accuracy: {natural['hardened']:.1%}{baseline} on {natural['data']}")
    if report["warnings"]:
        lines += ["", "Warnings:", *[f"- {w}" for w in report["warnings"]]]
    lines += ["", "Run `hardener verify` on this folder before release.", ""]
    return "\n".join(lines)


def _require_same_architecture(baseline, pretrained, job: TransferJob) -> None:
    if (baseline.arch, baseline.variant) != (pretrained.arch, pretrained.variant):
        raise InputError(f"the pretrained model is {pretrained.arch}/{pretrained.variant} but the model it replaces is "
                         f"{baseline.arch}/{baseline.variant}", where=str(job.pretrained),
                         fix="pretrain the same architecture on public data (`hardener train classifier`)")
    if baseline.spec.image_size != pretrained.spec.image_size:
        raise InputError(f"the pretrained model takes {pretrained.spec.image_size} px, the model it replaces "
                         f"{baseline.spec.image_size} px", where=str(job.pretrained),
                         fix="pretrain at the released model's image size")


def _class_names(baseline, data, num_classes: int) -> list[str] | None:
    if baseline is not None and baseline.class_names:
        return baseline.class_names
    if data.names and len(data.names) == num_classes:
        return list(data.names)
    return None


def run_transfer_method(method, options: dict, common, progress: ProgressFn = no_progress) -> dict:
    """`protect --method tl-dmi`: the declared options (`hardener.defenses.methods`) into a TransferJob."""
    config = TrainConfig(epochs=options["epochs"], batch_size=options["batch_size"], lr=options["lr"], seed=common.seed)
    job = TransferJob(pretrained=options["pretrained"], data=options["data"], out=common.out, freeze=options["freeze"],
                      freeze_until=options["freeze_until"], model=common.model, val=options["val"], config=config,
                      device=common.device, resume=common.resume, arch=common.arch, spec_changes=common.spec_changes,
                      allow_pickle=common.allow_pickle)
    report = run_transfer(job, progress)
    params, natural = report["parameters"], report["natural_accuracy"]
    lines = [f"TL-DMI: froze {', '.join(report['frozen_groups']) or 'nothing'}; trained "
             f"{', '.join(report['trained_groups'])} ({params['trained_on_private_data']:,} of {params['total']:,} "
             "parameters) on private data"]
    if natural:
        baseline = f" (model replaced: {natural['baseline']:.1%})" if "baseline" in natural else ""
        lines.append(f"held-out accuracy {natural['hardened']:.1%}{baseline}")
    parity = worst_parity(report["hardened"])
    lines.append(f"ONNX parity: max relative diff {parity:.1e}; wrote {common.out}; run `hardener verify` before release")
    return report | {"display": {"lines": lines}}


STAGE_FOLDER = "tl-dmi"  # in a stacked decoy run's --out: the TL-DMI model the decoy defense then protects
STAGE_TRAINABLE_GROUPS = 3  # on a ResNet: layer3, layer4 and the head learn, as measured on LFW (README)
STAGE_EPOCHS = 25  # as measured on LFW


def run_transfer_stage(options: dict, common, progress: ProgressFn = no_progress) -> dict:
    """`protect --method decoy --pretrained PUBLIC`, first step: TL-DMI from PUBLIC on --data, replacing MODEL,
    into OUT/tl-dmi with its own report. A finished step is reused by --resume when its options match."""
    out = Path(common.out) / STAGE_FOLDER
    epochs = options["transfer_epochs"] or STAGE_EPOCHS
    config = TrainConfig(**{**asdict(TLDMI_DEFAULTS), "epochs": epochs, "seed": common.seed})
    if options["transfer_smoothing"] is not None:  # NegLS in the step: plain CE first, then the factor ramps in
        from hardener.defenses.negls import negative_factor

        config = replace(config, label_smoothing=negative_factor(options["transfer_smoothing"], "--transfer-smoothing"),
                         smoothing_schedule="negls")
    job = TransferJob(pretrained=options["pretrained"], data=options["data"], out=out,
                      freeze_until=options["freeze_until"], trainable_by_default=STAGE_TRAINABLE_GROUPS,
                      model=common.model, config=config, device=common.device, arch=common.arch,
                      spec_changes=common.spec_changes, allow_pickle=common.allow_pickle)
    finished = out / "report.json"
    if common.resume and finished.exists():
        report = json.loads(finished.read_text())
        _require_same_stage(report, job)
        return _files_in(report, out)
    return run_transfer(replace(job, resume=common.resume), progress)  # unfinished: resumes from its checkpoint


def _files_in(report: dict, out: Path) -> dict:
    """A finished step's report with its files where they are now (OUT may have been moved or copied since), each
    checked against the digest it was written with, so the decoy step protects the very model the step made."""
    from hardener.files import sha256_file

    files = {}
    for kind, entry in report["hardened"]["files"].items():
        here = out / Path(entry["path"]).name
        if not here.is_file() or sha256_file(here) != entry["sha256"]:
            raise InputError(f"the finished TL-DMI step's {here.name} is missing or changed since it was written",
                             where=str(here), fix="drop --resume (the step trains again) or restore the file")
        files[kind] = {**entry, "path": str(here)}
    return report | {"hardened": report["hardened"] | {"files": files}}


def _require_same_stage(report: dict, job: TransferJob) -> None:
    """--resume of a stacked run whose TL-DMI step finished: that step must be the one these options make."""
    from hardener.data import load_dataset
    from hardener.files import sha256_file

    groups = report["frozen_groups"] + report["trained_groups"]
    freeze = (groups.index(job.freeze_until) + 1 if job.freeze_until in groups
              else max(len(groups) - (job.trainable_by_default or 0), 0))
    saved = {"pretrained": report["pretrained"]["sha256"], "MODEL": report["baseline"]["sha256"],
             "data": report["data"]["source"],
             **{key: report["config"][key] for key in ("epochs", "seed", "freeze", "label_smoothing")}}
    asked = {"pretrained": sha256_file(job.pretrained), "MODEL": sha256_file(job.model),
             "data": load_dataset(job.data).source, "epochs": job.config.epochs, "seed": job.config.seed,
             "freeze": freeze, "label_smoothing": job.config.label_smoothing}
    changed = [key for key in saved if saved[key] != asked[key]]
    if changed:
        raise InputError(f"--resume with other options or inputs than the interrupted run's TL-DMI step "
                         f"({', '.join(changed)})", where=str(job.out / "report.json"),
                         fix="resume with the same options and inputs, or use a new --out")
