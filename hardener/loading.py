"""Reading model files (untrusted input) and writing hardener bundles.

Accepted: our safetensors bundle; any safetensors state_dict; a torch `.pt`/`.pth` state_dict or
checkpoint dict (`state_dict`, `model`, `model_state_dict`, ... with `module.` prefixes); a
TorchScript archive. Files are loaded with `weights_only=True`: a pickled whole module, and any
TorchScript archive (its code is compiled on load), is refused unless the caller opts in with
`allow_pickle=True`.
"""
from __future__ import annotations

import json
import pickle
import re
import struct
import warnings
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from hardener import __version__, registry
from hardener.arch import ArchitecturePlugin, Detection, FaceModel
from hardener.errors import InputError, ModelFormatError, PickleRefusedError
from hardener.files import atomic_output, require_file, sha256_file
from hardener.spec import InputSpec, apply_changes

BUNDLE_FORMAT = "hardener-bundle/1"
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "net", "module", "weights")
PREFIXES = ("module.", "_orig_mod.")
RESAVE_HINT = ("re-save only the weights with torch.save(model.state_dict(), 'weights.pt'), "
               "or pass --allow-pickle if you trust this file (loading it can run code from it)")


@dataclass
class LoadedModel:
    """A model ready to use, with where it came from."""

    model: FaceModel
    arch: str
    variant: str
    num_classes: int
    spec: InputSpec
    source: Path
    source_sha256: str
    source_format: str
    class_names: list[str] | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def load_model(path: str | Path, arch: str | None = None, *, variant: str | None = None,
               image_size: int | None = None, spec_changes: dict | None = None,
               allow_pickle: bool = False) -> LoadedModel:
    """Load any accepted model file into a FaceModel in eval mode; strict about every key.

    `spec_changes` (from `hardener.spec.spec_changes`) declares the input spec the model was trained
    with, on top of the one stored in the bundle or the plugin's default.
    """
    path = require_file(path)
    digest = sha256_file(path)
    state_dict, metadata, source_format, notes = _read_state_dict(path, allow_pickle)
    state_dict, stripped = strip_prefixes(state_dict)
    if stripped:
        source_format += f", '{stripped}' prefix stripped"

    if metadata.get("hardener.format") == BUNDLE_FORMAT:
        plugin, detection, stored_spec = _from_metadata(metadata, arch, str(path))
    else:
        plugin, detection = _detect(state_dict, arch, path)
        stored_spec = None
    state_dict = plugin.adapt_state_dict(state_dict)

    variant = plugin.check_variant(variant or detection.variant)
    size = _choose_image_size(plugin, detection, image_size, stored_spec, path)
    model = plugin.build(variant, detection.num_classes, size)
    base_spec = stored_spec.with_size(size) if stored_spec is not None else model.spec
    spec = apply_changes(base_spec, spec_changes or {})
    if spec != model.spec:
        model.set_spec(spec)
    _load_model_strict(model, state_dict, path)
    model.eval()

    names = _stored_class_names(metadata, detection.num_classes, path)
    return LoadedModel(model=model, arch=plugin.name, variant=variant, num_classes=detection.num_classes,
                       spec=model.spec, source=path, source_sha256=digest, source_format=source_format,
                       class_names=names, metadata=metadata, warnings=notes)


def _stored_class_names(metadata: Mapping[str, str], num_classes: int, path: Path) -> list[str] | None:
    if not metadata.get("class_names"):
        return None
    try:
        names = json.loads(metadata["class_names"])
    except ValueError:
        names = None
    if not isinstance(names, list) or len(names) != num_classes or not all(isinstance(n, str) for n in names):
        raise ModelFormatError(f"the bundle's class names are not a list of {num_classes} strings", where=str(path),
                               fix="re-import the model with `hardener import --class-names FILE`")
    return names


def save_bundle(model: FaceModel, path: str | Path, *, class_names: list[str] | None = None,
                source_sha256: str | None = None, produced_by: str = "hardener",
                extra: Mapping[str, str] | None = None) -> Path:
    """Write weights plus everything needed to rebuild the model as one safetensors file, atomically."""
    from safetensors.torch import save_file

    metadata = model_metadata(model, class_names=class_names, source_sha256=source_sha256, produced_by=produced_by)
    metadata.update(extra or {})
    with atomic_output(path) as tmp:
        save_file(cpu_tensors(model.state_dict()), str(tmp), metadata=metadata)
    return Path(path)


def cpu_tensors(state_dict: Mapping[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
    """A state_dict as safetensors wants it: contiguous CPU tensors, keys optionally prefixed."""
    return {prefix + k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}


def model_from_metadata(metadata: Mapping[str, str], state_dict: dict[str, torch.Tensor], where: str) -> FaceModel:
    """Rebuild a FaceModel from bundle metadata and its weights (also used for models embedded in
    other bundles, e.g. the public classifier inside a GAN bundle)."""
    plugin, detection, spec = _from_metadata(metadata, None, where)
    model = plugin.build(detection.variant, detection.num_classes, spec.image_size)
    model.set_spec(spec)
    _load_model_strict(model, state_dict, Path(where))
    return model.eval()


def _from_metadata(metadata: Mapping[str, str], arch: str | None,
                   where: str) -> tuple[ArchitecturePlugin, Detection, InputSpec]:
    try:
        plugin = registry.get(arch or metadata["arch"])
        spec = InputSpec.from_json(metadata["input_spec"])
        return plugin, Detection(metadata["variant"], stored_class_count(metadata["num_classes"]), spec.image_size), spec
    except (KeyError, ValueError) as exc:
        raise ModelFormatError(f"incomplete bundle metadata ({exc})", where=where,
                               fix="re-create the bundle with hardener") from exc
    except InputError as exc:
        if exc.where is None:
            exc.where = where
            exc.args = (exc.line(),)
        raise


MAX_CLASSES = 1_000_000  # more identities than any face set; a larger stored count is a corrupt file


def stored_class_count(text: str) -> int:
    """A class count read from a file, checked before anything of that size is allocated."""
    count = int(text)
    if not 2 <= count <= MAX_CLASSES:
        raise ModelFormatError(f"the bundle says the model has {count} classes (allowed 2 to {MAX_CLASSES:,})",
                               fix="the metadata is corrupt; re-create the bundle with `hardener import`")
    return count


def model_metadata(model: FaceModel, *, class_names: list[str] | None = None, source_sha256: str | None = None,
                   produced_by: str = "hardener") -> dict[str, str]:
    """Everything needed to rebuild `model`, as safetensors string metadata."""
    if class_names is not None and len(class_names) != model.num_classes:
        raise InputError(f"{len(class_names)} class names for a model with {model.num_classes} classes",
                         fix="give one name per class, in label order")
    metadata = {
        "hardener.format": BUNDLE_FORMAT,
        "arch": model.arch,
        "variant": model.variant,
        "num_classes": str(model.num_classes),
        "input_spec": model.spec.to_json(),
        "hardener_version": __version__,
        "produced_by": produced_by,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if class_names is not None:
        metadata["class_names"] = json.dumps(list(class_names))
    if source_sha256:
        metadata["source_sha256"] = source_sha256
    return metadata


# --- reading -------------------------------------------------------------------------------------

def sniff_format(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(16)
    size = path.stat().st_size
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if len(head) >= 9:  # before the pickle check: a header length's low byte may be 0x80
        (header_len,) = struct.unpack("<Q", head[:8])
        if 0 < header_len <= size - 8 and head[8:9] == b"{":
            return "safetensors"
    if head[:1] == b"\x80":
        return "pickle"
    raise ModelFormatError("not a model file (neither safetensors, a torch checkpoint nor TorchScript)",
                           where=str(path), fix="pass a .safetensors, .pt/.pth or TorchScript file")


def _read_state_dict(path: Path, allow_pickle: bool) -> tuple[dict[str, torch.Tensor], dict[str, str], str, list[str]]:
    kind = sniff_format(path)
    if kind == "safetensors":
        return (*read_safetensors(path), "safetensors", [])
    if kind == "zip" and is_torchscript(path):
        if not allow_pickle:
            raise PickleRefusedError("TorchScript archives carry code that runs when loaded", where=str(path),
                                     fix="save the weights with torch.save(model.state_dict(), 'weights.pt'), or pass "
                                         "--allow-pickle if you trust this file")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # "deprecated upstream": we only read weights
                module = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:
            raise ModelFormatError(f"unreadable TorchScript archive ({_short(exc)})", where=str(path),
                                   fix="re-export it, or save the state_dict instead") from exc
        # Traced hardener models carry their preprocessing buffers; they are rebuilt from the spec.
        weights = {k: v for k, v in module.state_dict().items() if not k.startswith("preprocess.")}
        return weights, {}, "TorchScript", [f"{path}: loaded a TorchScript archive because --allow-pickle was given; "
                                            "its code was compiled and could run"]
    obj, notes = torch_load_checked(path, allow_pickle)
    state_dict, container = extract_state_dict(obj, path)
    fmt = "torch state_dict" if container is None else f"torch checkpoint ['{container}']"
    return state_dict, {}, fmt, notes


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            metadata = dict(fh.metadata() or {})
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:
        raise ModelFormatError(f"corrupt or truncated safetensors file ({_short(exc)})", where=str(path),
                               fix="re-save or re-download it") from exc
    return tensors, metadata


def is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return any("/code/" in n or n.endswith("constants.pkl") for n in zf.namelist())
    except zipfile.BadZipFile as exc:
        raise ModelFormatError("corrupt or truncated torch file (bad zip archive)", where=str(path),
                               fix="re-save or re-download it") from exc


def torch_load_checked(path: Path, allow_pickle: bool) -> tuple[Any, list[str]]:
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True), []
    except pickle.UnpicklingError as exc:
        if "Unsupported global" not in str(exc) and "GLOBAL" not in str(exc):
            raise ModelFormatError(f"corrupt or truncated torch file ({_short(exc)})", where=str(path),
                                   fix="re-save or re-download it") from exc
        if not allow_pickle:
            match = re.search(r"GLOBAL ([\w.]+)", str(exc))
            found = f" ({match.group(1)})" if match else ""
            raise PickleRefusedError(f"the file holds pickled Python objects{found}, not plain weights",
                                     where=str(path), fix=RESAVE_HINT) from exc
    except Exception as exc:
        raise ModelFormatError(f"corrupt or truncated torch file ({_short(exc)})", where=str(path),
                               fix="re-save or re-download it") from exc
    warning = f"{path}: loaded pickled Python objects because --allow-pickle was given; this can run code"
    try:
        return torch.load(str(path), map_location="cpu", weights_only=False), [warning]
    except Exception as exc:
        raise ModelFormatError(f"the pickled file could not be loaded ({_short(exc)})", where=str(path),
                               fix="load it where it was made and save its state_dict") from exc


def extract_state_dict(obj: Any, path: Path) -> tuple[dict[str, torch.Tensor], str | None]:
    if isinstance(obj, nn.Module):
        return dict(obj.state_dict()), None
    if is_tensor_dict(obj):
        return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}, None
    if isinstance(obj, Mapping):
        for key in CHECKPOINT_KEYS:
            inner = obj.get(key)
            if isinstance(inner, nn.Module):
                return dict(inner.state_dict()), key
            if is_tensor_dict(inner):
                return {k: v for k, v in inner.items() if isinstance(v, torch.Tensor)}, key
        keys = ", ".join(map(str, list(obj)[:6]))
        raise ModelFormatError(f"no weights found in the checkpoint (top-level keys: {keys})", where=str(path),
                               fix=f"save the weights under one of: {', '.join(CHECKPOINT_KEYS)}")
    raise ModelFormatError(f"the file holds a {type(obj).__name__}, not weights", where=str(path),
                           fix="save a state_dict with torch.save(model.state_dict(), path)")


def is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(k, str) for k in obj) \
        and sum(isinstance(v, torch.Tensor) for v in obj.values()) >= max(1, len(obj) // 2)


def strip_prefixes(state_dict: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    """Remove DataParallel / torch.compile prefixes shared by every key."""
    stripped = ""
    changed = True
    while changed and state_dict:
        changed = False
        for prefix in PREFIXES:
            if all(k.startswith(prefix) for k in state_dict):
                state_dict = {k[len(prefix):]: v for k, v in state_dict.items()}
                stripped += prefix
                changed = True
    return state_dict, stripped


def _detect(state_dict: dict[str, torch.Tensor], arch: str | None, path: Path) -> tuple[ArchitecturePlugin, Detection]:
    def try_plugin(plugin: ArchitecturePlugin) -> Detection | None:
        adapted = plugin.adapt_state_dict(state_dict)
        return plugin.detect({k: tuple(v.shape) for k, v in adapted.items()})

    if arch is not None:
        plugin = registry.get(arch)
        found = try_plugin(plugin)
        if found is None:
            others = [p.name for p in registry.all_plugins() if p is not plugin and try_plugin(p)]
            hint = f"it looks like {others[0]}: use --arch {others[0]}" if others else "check --arch"
            raise ModelFormatError(f"the weights do not have the {plugin.name} layout", where=str(path), fix=hint)
        return plugin, found
    for plugin in registry.all_plugins():
        found = try_plugin(plugin)
        if found is not None:
            return plugin, found
    keys = ", ".join(list(state_dict)[:4])
    raise ModelFormatError(f"no installed architecture recognises these weights (first keys: {keys})",
                           where=str(path), fix="pass --arch, or install the plugin for this architecture")


def _choose_image_size(plugin: ArchitecturePlugin, detection: Detection, requested: int | None,
                       stored: InputSpec | None, path: Path) -> int:
    fixed = detection.image_size if stored is None else None  # a layout that fixes the size
    if requested and fixed and requested != fixed:
        raise InputError(f"this {plugin.name} layout is built for {fixed}px input, not {requested}px",
                         where=str(path), fix=f"drop --image-size or use --image-size {fixed}")
    return requested or detection.image_size or plugin.default_image_size


def load_strict(module: nn.Module, state_dict: Mapping[str, torch.Tensor], *, what: str, where: str,
                fix: str) -> None:
    """Load every key or fail naming the first few missing, unexpected and wrongly shaped ones.
    `what` completes "the weights do not fit ..." (e.g. "the resnet resnet18 layout")."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state_dict and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
                  if k in state_dict and state_dict[k].shape != v.shape]
    problems = [(name, items) for name, items in
                (("missing", missing), ("unexpected", unexpected), ("wrong shape", mismatched)) if items]
    if problems:
        detail = "; ".join(f"{len(items)} {name}: {', '.join(items[:3])}{' ...' if len(items) > 3 else ''}"
                           for name, items in problems)
        raise ModelFormatError(f"the weights do not fit {what} ({detail})", where=where, fix=fix)
    require_finite(state_dict, where=where)
    full = {**{k: v for k, v in expected.items() if k.endswith("num_batches_tracked")}, **state_dict}
    module.load_state_dict(full, strict=True)


def require_finite(state_dict: Mapping[str, torch.Tensor], *, where: str) -> None:
    """NaN or Inf weights make every output NaN, and NaN compares false against any limit, so a check
    downstream would pass it: refuse such a file where it is read."""
    bad = [k for k, v in state_dict.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ModelFormatError(f"{len(bad)} weight tensor(s) hold NaN or Inf values (first: {', '.join(bad[:3])})",
                               where=where, fix="the model diverged or the file is corrupt; use an earlier checkpoint")


def _load_model_strict(model: FaceModel, state_dict: dict[str, torch.Tensor], path: Path) -> None:
    load_strict(model, state_dict, what=f"the {model.arch} {model.variant} layout", where=str(path),
                fix="check --arch/--variant/--image-size, or re-save the full state_dict")


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:160] + ("..." if len(text) > 160 else "")
