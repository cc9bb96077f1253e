"""`hardener protect --method M` for every defense that trains (negls, random-erasing, mid, bido, trap-mid,
dp-sgd): check the inputs, build or load the starting model, call the defense's entry function (which
trains with the one loop in hardener.train), and export the result like every defense (safetensors + ONNX
with parity, report.json, report.md, plus the defense's own images), so `hardener verify` gates them alike."""
from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path

import torch

from hardener.defenses.methods import FROM_PRETRAINED, FROM_SCRATCH, Common, Method, load
from hardener.data.datasets import MIN_IMAGE_SIZE
from hardener.spec import MAX_IMAGE_SIZE
from hardener.errors import InputError
from hardener.jobs.checkpoints import CLASSIFIER_CHECKPOINT, checkpoint
from hardener.progress import ProgressFn, no_progress
from hardener.train import TrainConfig
from hardener.export import worst_parity

OUTPUTS = ("hardened.safetensors", "hardened.onnx", "report.json", "report.md", "checkpoints")


def run_training_defense(method: Method, options: dict, common: Common, progress: ProgressFn = no_progress) -> dict:
    """Train (or fine-tune) with `method`'s defense, export, and write the report; returns it."""
    from hardener.data import load_dataset
    from hardener.evaluate import held_out_accuracy
    from hardener.device import resolve_device
    from hardener.export import export_model
    from hardener.files import prepare_out_dir, write_json, write_text
    from hardener.loading import load_model
    from hardener.report.images import provenance, save_png
    from hardener.summary import model_summary

    device = resolve_device(common.device)
    config_class = load(method.config)
    config = config_class(**{f.name: options[f.name] for f in fields(config_class) if f.name in options})
    config.validate()
    train_config = TrainConfig(epochs=options["epochs"], batch_size=options["batch_size"], lr=options["lr"],
                               seed=common.seed)
    baseline = load_model(common.model, common.arch, spec_changes=common.spec_changes,
                          allow_pickle=common.allow_pickle) if common.model else None
    warnings = list(baseline.warnings) if baseline else []
    data = load_dataset(options["data"])
    val = load_dataset(options["val"]) if options.get("val") else None
    num_classes = baseline.num_classes if baseline is not None else data.num_classes
    for part in (data, val):
        if part is not None and part.num_classes > num_classes:
            raise InputError(f"labels go up to {part.num_classes - 1} but the model to replace has {num_classes} classes",
                             where=part.source, fix="pass the private data that model was trained on")
    start, pretrained = _starting_model(method, options, common, baseline, data, num_classes)
    names = baseline.class_names if baseline is not None and baseline.class_names else (
        list(data.names) if data.names and len(data.names) == num_classes else None)
    inputs = tuple(p for p in (common.model, options.get("pretrained")) if p)
    run_checkpoint = checkpoint(common.out, CLASSIFIER_CHECKPOINT, common.resume)
    out = prepare_out_dir(common.out, inputs=inputs + tuple(Path(d) for d in (options["data"], options.get("val"))
                                                            if d and Path(d).exists()),
                          outputs=OUTPUTS + tuple(f"{name}.png" for name in method.images))

    defense = load(method.defense)
    identity = {"method": method.name, "start_sha256": pretrained.source_sha256 if pretrained else None,
                "model_sha256": baseline.source_sha256 if baseline else None,  # MODEL: its names and spec carry over
                "start_model": f"{start.arch}/{start.variant}, {start.num_classes} classes, {start.spec.describe()}"}
    result = defense(start, data, config, train_config, val=val, device=device,
                     checkpoint=run_checkpoint, run_identity=identity,
                     progress=progress)
    model = result.model.cpu().eval()
    source_sha = pretrained.source_sha256 if pretrained else baseline.source_sha256 if baseline else None
    exported = export_model(model, out, stem="hardened", class_names=names, source_sha256=source_sha,
                            produced_by=f"hardener protect --method {method.name}", seed=common.seed, inputs=inputs)
    images = {name: str(save_png(grid, out / f"{name}.png")) for name, grid in result.images.items()}
    natural = held_out_accuracy(model, baseline.model if baseline else None, val, device)
    report = {
        "command": "protect",
        "method": method.name,
        "method_description": f"{method.summary} ({method.source})",
        "trains": method.trains,
        "model": {"arch": model.arch, "variant": model.variant, "classes": model.num_classes,
                  "image_size": model.spec.image_size, "input_spec": model.spec.describe()},
        "options": {k: v for k, v in options.items() if k not in ("data", "val", "pretrained")},
        "config": asdict(config), "training": asdict(train_config) | {"device": str(device)},
        "data": {"source": data.source, "images": len(data), "classes": num_classes},
        "defense": result.details,
        "history": result.history,
        "resumed_from_epoch": result.resumed_from_epoch,
        "natural_accuracy": natural,
        "images": images,
        "hardened": exported.to_report(),
        "baseline": model_summary(baseline) if baseline is not None else None,
        "pretrained": model_summary(pretrained) if pretrained is not None else None,
        "seconds": round(result.seconds, 2),
        "warnings": warnings,
        "versions": provenance(),
    }
    write_json(out / "report.json", report)
    write_text(out / "report.md", markdown_report(report))
    return report | {"display": {"lines": summary_lines(report)}}


def _starting_model(method: Method, options: dict, common: Common, baseline, data, num_classes: int):
    """(model to train, the loaded --pretrained or None). From scratch: MODEL's (or --arch's) architecture,
    freshly initialised; from --pretrained: that model with a new head; fine-tuning: a copy of MODEL."""
    import copy

    from hardener.loading import load_model
    from hardener.registry import build_model

    if method.trains == FROM_PRETRAINED:
        pretrained = load_model(options["pretrained"], common.arch, spec_changes=common.spec_changes,
                                allow_pickle=common.allow_pickle)
        if baseline is not None and (baseline.arch, baseline.variant) != (pretrained.arch, pretrained.variant):
            raise InputError(f"the pretrained model is {pretrained.arch}/{pretrained.variant} but the model it replaces "
                             f"is {baseline.arch}/{baseline.variant}", where=str(options["pretrained"]),
                             fix="pretrain the same architecture on public data (`hardener train classifier`)")
        model = copy.deepcopy(pretrained.model)
        torch.manual_seed(common.seed)
        model.reset_classifier(num_classes)
        return model, pretrained
    if method.trains != FROM_SCRATCH:
        return copy.deepcopy(baseline.model), None
    arch = common.arch or (baseline.arch if baseline is not None else None)
    if arch is None:
        raise InputError(f"--method {method.name} trains a new model and needs its architecture",
                         fix="pass MODEL (the model it replaces) or --arch, e.g. --arch resnet --variant resnet18")
    variant = options.get("variant") or (baseline.variant if baseline is not None and baseline.arch == arch else None)
    size = options.get("image_size")
    if size is not None and not MIN_IMAGE_SIZE <= size <= MAX_IMAGE_SIZE:
        raise InputError(f"--image-size {size} is outside {MIN_IMAGE_SIZE}..{MAX_IMAGE_SIZE} px", where="--image-size",
                         fix="use the size the model should take, e.g. --image-size 64, or leave it out")
    size = size or (baseline.spec.image_size if baseline is not None else data.images.shape[1])
    torch.manual_seed(common.seed)
    model = build_model(arch, variant, num_classes, size)
    if baseline is not None and baseline.arch == arch and baseline.spec.image_size == size:
        model.set_spec(baseline.spec)  # the replaced model's declared preprocessing
    elif common.spec_changes:
        from hardener.spec import apply_changes

        model.set_spec(apply_changes(model.spec, common.spec_changes))
    return model, None


def summary_lines(report: dict) -> list[str]:
    last = report["history"][-1] if report["history"] else {}
    lines = [f"{report['method']} ({report['trains']}): {report['training']['epochs']} epochs, final train accuracy "
             f"{last.get('train_acc', float('nan')):.1%}"]
    lines += [f"{key}: {value}" for key, value in report["defense"].items() if not isinstance(value, (dict, list))]
    natural = report["natural_accuracy"]
    if natural:
        baseline = f" (model replaced: {natural['baseline']:.1%})" if "baseline" in natural else ""
        lines.append(f"held-out accuracy {natural['hardened']:.1%}{baseline} on {natural['data']}")
    parity = worst_parity(report["hardened"])
    lines.append(f"ONNX parity: max relative diff {parity:.1e}; run `hardener verify` before release")
    return lines


def markdown_report(report: dict) -> str:
    lines = [f"# hardener protect --method {report['method']}", "", f"Method: {report['method_description']}", "",
             f"- {report['trains']}: {report['model']['arch']}/{report['model']['variant']}, "
             f"{report['model']['classes']} classes, {report['model']['image_size']} px",
             f"- options: {', '.join(f'{k}={v}' for k, v in report['options'].items())}"]
    lines += [f"- {key}: {value}" for key, value in report["defense"].items()]
    lines += ["", "| epoch | loss | train acc | held-out acc |", "| --- | --- | --- | --- |"]
    lines += [f"| {r['epoch']} | {r['loss']:.3f} | {r['train_acc']:.1%} | "
              f"{format(r['val_acc'], '.1%') if 'val_acc' in r else '-'} |" for r in report["history"]]
    if report["images"]:
        lines += ["", *[f"- {name}: `{path}`" for name, path in report["images"].items()]]
    if report["warnings"]:
        lines += ["", "Warnings:", *[f"- {w}" for w in report["warnings"]]]
    lines += ["", "Run `hardener verify` on this folder before release.", ""]
    return "\n".join(lines)
