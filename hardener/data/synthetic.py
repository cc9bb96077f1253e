"""Procedural synthetic faces: the embedded default dataset (no face data needed on a fresh machine).

An identity is a fixed set of facial parameters (face shape, skin, hair, eyes, brows, nose, mouth,
ears, glasses, beard) drawn from a generator seeded by (seed, identity index + identity_offset), so
identity k renders the same whatever `num_identities` is. Each image of an identity varies pose
(in-plane rotation, shift, scale, a little yaw), expression (eye openness, gaze, mouth curvature,
brow raise), lighting (brightness, directional gradient, colour cast), pixel noise, and a background
and shirt that are drawn per image, so nothing outside the face tells identities apart.

Rendering is vectorised with torch on a coordinate grid: every part is an implicit shape whose
approximate signed distance becomes a one-pixel soft edge (antialiasing), and the parts are composed
back to front. Everything is deterministic in the arguments.
"""
from __future__ import annotations

import math
import operator

import numpy as np
import torch

from hardener.data.datasets import FaceDataset
from hardener.errors import InputError

MAX_IDENTITIES = 100_000
MAX_IMAGES_PER_IDENTITY = 10_000
MAX_OUTPUT_BYTES = 4 * 1024**3
MIN_SIZE, MAX_SIZE = 16, 256

# Skin tone line, light -> dark (RGB in [0, 1]).
_SKIN_LIGHT = np.array([0.97, 0.82, 0.71])
_SKIN_DARK = np.array([0.34, 0.21, 0.14])
# Hair colours: black, dark brown, brown, blond, auburn, grey.
_HAIR = np.array([[0.07, 0.06, 0.06], [0.22, 0.14, 0.09], [0.42, 0.28, 0.16],
                  [0.85, 0.70, 0.42], [0.60, 0.25, 0.10], [0.66, 0.65, 0.63]])
_HAIR_P_LIGHT = np.array([0.15, 0.25, 0.22, 0.18, 0.10, 0.10])
_HAIR_P_DARK = np.array([0.62, 0.28, 0.05, 0.0, 0.0, 0.05])
# Iris colours: dark brown, brown, hazel, green, blue, grey.
_IRIS = np.array([[0.18, 0.10, 0.05], [0.38, 0.22, 0.10], [0.48, 0.38, 0.16],
                  [0.25, 0.45, 0.25], [0.25, 0.42, 0.70], [0.48, 0.52, 0.56]])
_IRIS_P_LIGHT = np.array([0.15, 0.20, 0.15, 0.15, 0.25, 0.10])
_IRIS_P_DARK = np.array([0.70, 0.25, 0.05, 0.0, 0.0, 0.0])
# Glasses frames: black, dark brown, metal, red, blue.
_FRAME = np.array([[0.05, 0.05, 0.06], [0.30, 0.18, 0.10], [0.70, 0.70, 0.72],
                   [0.60, 0.10, 0.12], [0.12, 0.20, 0.55]])


def synthetic_faces(num_identities: int, images_per_identity: int, image_size: int = 64, seed: int = 0,
                    identity_offset: int = 0) -> FaceDataset:
    """Render `num_identities` x `images_per_identity` synthetic faces (uint8 RGB, square `image_size`).

    Images are grouped by identity (label 0's images first). Labels are 0..num_identities-1; names are
    "synthetic_<identity index + identity_offset>", one per label. Same arguments -> identical bytes.
    """
    num_identities = _int_arg(num_identities, "num_identities", 2, MAX_IDENTITIES)
    images_per_identity = _int_arg(images_per_identity, "images_per_identity", 1, MAX_IMAGES_PER_IDENTITY)
    image_size = _int_arg(image_size, "image_size", MIN_SIZE, MAX_SIZE)
    seed = _int_arg(seed, "seed", 0, 2**63 - 1)
    identity_offset = _int_arg(identity_offset, "identity_offset", 0, 2**62)
    total = num_identities * images_per_identity
    if total * image_size * image_size * 3 > MAX_OUTPUT_BYTES:
        raise InputError(f"{total} images of {image_size}x{image_size} would need more than "
                         f"{MAX_OUTPUT_BYTES // 1024**3} GiB", where="synthetic_faces",
                         fix="ask for fewer identities or images per identity, or a smaller image_size")

    gids = np.arange(num_identities, dtype=np.int64) + identity_offset
    ident = _identity_params(seed, gids)
    image = _image_params(seed, gids, images_per_identity)
    labels = np.repeat(np.arange(num_identities, dtype=np.int64), images_per_identity)
    params = {k: torch.from_numpy(np.ascontiguousarray(v[labels], dtype=np.float32)) for k, v in ident.items()}
    params.update({k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in image.items()
                   if k != "noise_seed"})
    noise_seeds = image["noise_seed"]

    out = np.empty((total, image_size, image_size, 3), dtype=np.uint8)
    chunk = max(1, (1 << 17) // (image_size * image_size))
    with torch.no_grad():
        for start in range(0, total, chunk):
            stop = min(total, start + chunk)
            part = {k: v[start:stop] for k, v in params.items()}
            pixels = _render(part, noise_seeds[start:stop], image_size)
            out[start:stop] = pixels.permute(0, 2, 3, 1).numpy()

    names = [f"synthetic_{g:04d}" for g in gids.tolist()]
    last = identity_offset + num_identities - 1
    source = (f"synthetic:seed={seed},ids={identity_offset}..{last},per_identity={images_per_identity},"
              f"size={image_size}")
    return FaceDataset(out, labels, names, source)


def _int_arg(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise InputError(f"{name} is a bool, expected an integer", where=name, fix=f"pass an integer {low}..{high}")
    try:
        number = operator.index(value)
    except TypeError:
        raise InputError(f"{name} is {value!r}, expected an integer", where=name,
                         fix=f"pass an integer {low}..{high}") from None
    if not low <= number <= high:
        raise InputError(f"{name} is {number}, outside {low}..{high}", where=name, fix=f"pass an integer {low}..{high}")
    return number


# ----------------------------------------------------------------------------------------- parameters


def _identity_params(seed: int, gids: np.ndarray) -> dict[str, np.ndarray]:
    """One row of raw draws per identity, each from its own stream, then vectorised transforms."""
    z = np.empty((len(gids), 24))
    u = np.empty((len(gids), 28))
    for row, gid in enumerate(gids.tolist()):
        rng = np.random.default_rng([seed, gid, 0])
        z[row] = rng.standard_normal(24)
        u[row] = rng.random(28)

    p: dict[str, np.ndarray] = {}
    # Face shape: width and height correlate, the jaw narrows more on narrow faces.
    a = np.clip(0.50 + 0.045 * z[:, 0], 0.40, 0.60)
    p["face_a"] = a
    p["face_b"] = np.clip(0.66 + 0.045 * (0.5 * z[:, 0] + 0.87 * z[:, 1]), 0.55, 0.78)
    p["jaw"] = np.clip(0.24 - 0.05 * z[:, 0] + 0.06 * z[:, 2], 0.02, 0.45)

    tone = u[:, 0] ** 1.2
    skin = _SKIN_LIGHT + tone[:, None] * (_SKIN_DARK - _SKIN_LIGHT)
    skin = skin + 0.015 * z[:, 3:6] + np.array([0.03, 0.0, -0.03]) * z[:, 6:7]  # tint: ruddy vs sallow
    p["skin"] = np.clip(skin, 0.05, 1.0)

    hair_probs = _HAIR_P_LIGHT + tone[:, None] * (_HAIR_P_DARK - _HAIR_P_LIGHT)
    hair = _HAIR[_categorical(hair_probs, u[:, 1])] * (1.0 + 0.12 * z[:, 7:8])
    p["hair"] = np.clip(hair + 0.02 * z[:, 8:11], 0.0, 1.0)
    p["brow"] = (0.55 * p["hair"] + 0.045) * (0.6 + 0.4 * tone[:, None]) + 0.05  # darker than the hair
    p["hair_freq"] = 25.0 + 35.0 * u[:, 2]
    bald = u[:, 3] < 0.10
    p["hair_alpha"] = np.where(bald, 0.0, 1.0)
    p["hair_thick"] = 0.04 + 0.12 * u[:, 4]
    p["fringe_y"] = -p["face_b"] * (0.35 + 0.55 * u[:, 5])  # where the fringe ends, above the brows..crown
    p["fringe_curve"] = -0.15 + 0.55 * u[:, 6]
    p["fringe_slope"] = 0.3 * (u[:, 7] - 0.5)
    long_hair = u[:, 8] < 0.35
    p["hair_len"] = np.where(long_hair, 0.35 + 0.75 * u[:, 9], -0.25 + 0.4 * u[:, 9])
    p["hair_len"] = np.where(bald, -2.0, p["hair_len"])

    p["ear_w"] = 0.05 + 0.04 * u[:, 10]
    p["ear_h"] = 0.10 + 0.06 * u[:, 11]

    p["eye_x"] = a * np.clip(0.42 + 0.05 * z[:, 11], 0.32, 0.52)
    p["eye_y"] = np.clip(-0.06 + 0.04 * z[:, 12], -0.16, 0.04)
    p["eye_w"] = np.clip(0.085 + 0.012 * z[:, 13] + 0.05 * (a - 0.5), 0.06, 0.115)
    iris_probs = _IRIS_P_LIGHT + tone[:, None] * (_IRIS_P_DARK - _IRIS_P_LIGHT)
    p["iris"] = np.clip(_IRIS[_categorical(iris_probs, u[:, 12])] + 0.03 * z[:, 14:17], 0.0, 1.0)
    p["iris_r"] = 0.50 + 0.12 * u[:, 13]

    p["brow_thick"] = 0.012 + 0.025 * u[:, 14]
    p["brow_angle"] = -0.25 + 0.55 * u[:, 15]
    p["brow_gap"] = 0.045 + 0.06 * u[:, 16]
    p["brow_len"] = 1.05 + 0.5 * u[:, 17]

    p["nose_len"] = np.clip(0.19 + 0.035 * z[:, 17] + 0.1 * (p["face_b"] - 0.66), 0.11, 0.28)
    p["nose_w"] = np.clip(0.055 + 0.012 * z[:, 18] + 0.03 * tone, 0.032, 0.09)

    p["mouth_w"] = a * np.clip(0.34 + 0.05 * z[:, 19], 0.22, 0.48)
    p["mouth_gap"] = np.clip(0.10 + 0.025 * z[:, 20], 0.05, 0.16)
    p["lip"] = 0.012 + 0.022 * u[:, 18]
    lip_colour = p["skin"] * np.array([0.85, 0.55, 0.55]) + np.array([0.12, 0.0, 0.02])
    p["lip_colour"] = np.clip(lip_colour * (0.9 + 0.15 * u[:, 19:20]), 0.0, 1.0)

    glasses = u[:, 20] < 0.30
    p["glasses"] = np.where(glasses, 1.0, 0.0)
    p["glass_r"] = 0.105 + 0.04 * u[:, 21]
    p["glass_square"] = np.where(z[:, 21] > 0, 0.0, 0.5)  # round or squarish lenses
    p["glass_t"] = 0.010 + 0.012 * u[:, 22]
    p["frame"] = _FRAME[np.minimum(u[:, 24] * len(_FRAME), len(_FRAME) - 1).astype(int)]

    # Beard: 0 none, 1 moustache, 2 goatee (with moustache), 3 full.
    style = np.select([u[:, 23] < 0.62, u[:, 23] < 0.72, u[:, 23] < 0.82], [0, 1, 2], 3)
    p["moustache"] = (style >= 1).astype(float)
    p["goatee"] = (style == 2).astype(float)
    p["full_beard"] = (style == 3).astype(float)
    p["beard_alpha"] = 0.65 + 0.3 * u[:, 25]
    p["shoulder_w"] = a * np.clip(2.6 + 0.3 * z[:, 23], 2.0, 3.2)
    return _split_colours(p)


def _image_params(seed: int, gids: np.ndarray, per_identity: int) -> dict[str, np.ndarray]:
    n = len(gids) * per_identity
    z = np.empty((n, 16))
    u = np.empty((n, 24))
    noise_seed = np.empty(n, dtype=np.int64)
    for row, gid in enumerate(gids.tolist()):
        rng = np.random.default_rng([seed, gid, 1])
        block = slice(row * per_identity, (row + 1) * per_identity)
        z[block] = rng.standard_normal((per_identity, 16))
        u[block] = rng.random((per_identity, 24))
        noise_seed[block] = rng.integers(0, 2**62, per_identity)

    p: dict[str, np.ndarray] = {"noise_seed": noise_seed}
    p["rot"] = np.clip(0.16 * z[:, 0], -0.4, 0.4)
    p["shift_x"] = np.clip(0.09 * z[:, 1], -0.2, 0.2)
    p["shift_y"] = np.clip(0.05 + 0.07 * z[:, 2], -0.12, 0.22)
    p["scale"] = np.exp(np.clip(-0.1 + 0.1 * z[:, 3], -0.35, 0.15))
    p["yaw"] = np.clip(0.45 * z[:, 4], -1.0, 1.0)
    p["open"] = np.clip(0.95 + 0.18 * z[:, 5], 0.35, 1.2)
    p["gaze_x"] = np.clip(0.25 * z[:, 6], -0.45, 0.45)
    p["gaze_y"] = np.clip(0.12 * z[:, 7], -0.25, 0.25)
    p["smile"] = np.clip(0.015 + 0.03 * z[:, 8], -0.05, 0.08)
    p["brow_raise"] = np.clip(0.012 * z[:, 9], -0.025, 0.03)
    p["bright"] = np.exp(np.clip(0.2 * z[:, 10], -0.5, 0.4))
    p["grad"] = 0.6 * u[:, 0]
    angle = 2 * math.pi * u[:, 1]
    p["grad_x"], p["grad_y"] = np.cos(angle), np.sin(angle)
    p["cast"] = np.exp(np.clip(0.05 * z[:, 11:14], -0.12, 0.12))
    p["noise"] = 0.008 + 0.03 * u[:, 2]
    p["bg1"] = 0.08 + 0.84 * u[:, 3:6]
    p["bg2"] = 0.08 + 0.84 * u[:, 6:9]
    bg_angle = 2 * math.pi * u[:, 9]
    p["bg_dx"], p["bg_dy"] = np.cos(bg_angle), np.sin(bg_angle)
    p["blob"] = 0.1 + 0.8 * u[:, 10:13]
    p["blob_x"] = 2.0 * u[:, 13] - 1.0
    p["blob_y"] = 2.0 * u[:, 14] - 1.0
    p["blob_r"] = 0.2 + 0.5 * u[:, 15]
    p["blob_alpha"] = 0.8 * u[:, 16]
    p["stripe_f"] = 3.0 + 12.0 * u[:, 17]
    p["stripe_a"] = 0.12 * u[:, 18] * (u[:, 19] < 0.5)
    p["shirt"] = 0.05 + 0.9 * u[:, 20:23]
    return _split_colours(p)


def _categorical(probs: np.ndarray, draw: np.ndarray) -> np.ndarray:
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    return np.minimum((draw[:, None] > cum).sum(axis=1), probs.shape[1] - 1)


def _split_colours(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Store (N, 3) colours as three (N,) channels so every parameter is a flat per-image value."""
    out = {}
    for key, value in p.items():
        if value.ndim == 2:
            for c in range(value.shape[1]):
                out[f"{key}.{c}"] = value[:, c]
        else:
            out[key] = value
    return out


# ----------------------------------------------------------------------------------------- rendering


def _render(p: dict[str, torch.Tensor], noise_seeds: np.ndarray, size: int) -> torch.Tensor:
    n = len(noise_seeds)

    def s(name: str) -> torch.Tensor:  # a scalar per image, broadcastable over (n, 1, H, W)
        return p[name].view(n, 1, 1, 1)

    def rgb(name: str) -> torch.Tensor:  # a colour per image, broadcastable over (n, 3, H, W)
        return torch.stack([p[f"{name}.{c}"] for c in range(3)], dim=1).view(n, 3, 1, 1)

    coords = (torch.arange(size, dtype=torch.float32) + 0.5) * (2.0 / size) - 1.0
    u = coords.view(1, 1, 1, size)
    v = coords.view(1, 1, size, 1)

    # Background: a two-colour gradient, one soft blob and sometimes stripes, all per image.
    t = (u * s("bg_dx") + v * s("bg_dy")) * 0.5 + 0.5
    canvas = rgb("bg1") + (rgb("bg2") - rgb("bg1")) * t
    canvas = canvas + s("stripe_a") * torch.sin(s("stripe_f") * (u * s("bg_dy") - v * s("bg_dx")))
    blob = _ramp(torch.sqrt((u - s("blob_x")) ** 2 + (v - s("blob_y")) ** 2) - s("blob_r"), 0.15)
    canvas = canvas.lerp(rgb("blob"), blob * s("blob_alpha")).contiguous()

    # Face-local coordinates: undo shift, rotation and scale. Pixel size in face units sets edge softness.
    scale = s("scale")
    cos, sin = torch.cos(s("rot")), torch.sin(s("rot"))
    du, dv = u - s("shift_x"), v - s("shift_y")
    x = (cos * du + sin * dv) / scale
    y = (cos * dv - sin * du) / scale
    edge = (2.0 / size) / scale
    ax = x.abs()

    a, b = s("face_a"), s("face_b")
    skin = rgb("skin")
    yaw = s("yaw")
    fx = 0.09 * yaw  # inner features slide sideways when the head turns
    xf = x - fx
    axf = xf.abs()

    # Shirt, shoulders and neck.
    shoulders = _ellipse(x, y - (b + 0.62), s("shoulder_w"), torch.full_like(b, 0.55), edge)
    canvas.lerp_(rgb("shirt"), shoulders)
    neck = _ramp(torch.maximum(ax - a * 0.55, -(y - 0.1)), edge)
    canvas.lerp_(skin * 0.78, neck)

    # Hair colour with strand texture; back hair (behind the head, sides down to hair_len).
    hair = rgb("hair") * (1.0 + 0.06 * torch.sin(s("hair_freq") * x + 9.0 * y))
    ht = s("hair_thick")
    hair_y = y + ht * 0.6
    head = _ellipse(x, hair_y, a + ht, b + ht, edge)
    back = head * _ramp(y - s("hair_len"), edge) * s("hair_alpha")
    long_part = _ramp(torch.maximum(ax - (a + ht * 0.9), y - s("hair_len")), edge) * _ramp(-y, edge * 4)
    back = torch.maximum(back, long_part * s("hair_alpha") * (s("hair_len") > 0.1).float())
    canvas.lerp_(hair, back)

    # Ears, then the face (shaded darker towards its sides and bottom).
    ear_shift = 0.35 * yaw * x.sign()  # the ear on the side the head turns towards shrinks
    ears = _ellipse(ax - a * 0.97, y - s("eye_y") - 0.06, s("ear_w") * (1.0 - ear_shift).clamp(0.2, 1.5),
                    s("ear_h"), edge)
    canvas.lerp_(skin * 0.88, ears)
    jaw_scale = 1.0 - s("jaw") * (y / b).clamp(0.0, 1.0) ** 2
    face = _ellipse(x / jaw_scale, y, a, b, edge)
    shade = 1.0 - 0.16 * ((xf / a) ** 2) - 0.06 * (y / b).clamp(min=0.0)
    canvas.lerp_(skin * shade, face)

    # Beard: moustache, goatee or full beard in the hair colour (mouth drawn on top).
    ey = s("eye_y")
    nose_end = ey + s("nose_len")
    mouth_y = nose_end + s("mouth_gap")
    mw = s("mouth_w")
    beard = s("moustache") * _ramp(torch.maximum((y - (nose_end + mouth_y) * 0.5).abs() - s("mouth_gap") * 0.32,
                                                 axf - mw * 0.95), edge)
    goatee = face * _ellipse(xf, y - mouth_y - (b - mouth_y) * 0.55, mw * 0.75, (b - mouth_y) * 0.45, edge)
    full = face * _ramp(nose_end + 0.02 - y + 0.15 * (axf / a) ** 2 - 0.1, edge)
    beard = torch.maximum(beard, torch.maximum(goatee * s("goatee"), full * s("full_beard")))
    canvas.lerp_(hair * 0.85, beard * s("beard_alpha"))

    # Nose: a side shadow along the ridge, a shadow under the tip, nostrils.
    nw = s("nose_w")
    side = 1.0 - 2.0 * (yaw > 0).float()
    ridge = _segment(xf - side * nw * 0.55, y, ey + 0.04, nose_end - 0.02, nw * 0.25, edge)
    canvas.lerp_(skin * 0.7, ridge * 0.35)
    tip = _ellipse(xf, y - nose_end, nw * 1.05, nw * 0.45, edge)
    canvas.lerp_(skin * 0.78, tip * 0.45)
    nostrils = _ellipse(axf - nw * 0.55, y - nose_end - nw * 0.08, nw * 0.32, nw * 0.18, edge)
    canvas.lerp_(skin * 0.35, nostrils * 0.85)

    # Mouth: lips along a curve (smile lifts the corners), a dark line between them.
    xm = (xf / mw).clamp(-1.0, 1.0)
    taper = 1.0 - xm * xm
    curve = mouth_y + s("smile") * taper - s("smile") * 0.5
    lips = _ramp(torch.maximum((y - curve).abs() - s("lip") * (0.35 + 0.65 * taper), axf - mw), edge)
    canvas.lerp_(rgb("lip_colour"), lips)
    line = _ramp(torch.maximum((y - curve).abs() - 0.006, axf - mw), edge)
    canvas.lerp_(rgb("lip_colour") * 0.35, line * 0.9)

    # Eyes (both at once through |x|): socket shading, lash outline, sclera, iris, pupil.
    ex, ew = s("eye_x"), s("eye_w")
    eh = ew * 0.5 * s("open")
    exd = axf - ex
    socket = _ellipse(exd, y - ey + 0.01, ew * 1.6, ew * 0.95, edge * 3)
    canvas.lerp_(skin * 0.8, socket * 0.35)
    lash = _ellipse(exd, y - ey + 0.005, ew * 1.1, eh * 1.1 + 0.014, edge)
    canvas.lerp_(rgb("brow") * 0.6, lash * 0.9)
    sclera = _ellipse(exd, y - ey, ew, eh, edge)
    canvas.lerp_(torch.tensor([0.94, 0.92, 0.88]).view(1, 3, 1, 1), sclera)
    ir = ew * s("iris_r")
    iris_x = (xf - s("gaze_x") * ew * 0.45).abs() - ex
    iris_y = y - ey - s("gaze_y") * eh
    iris_d = torch.sqrt(iris_x * iris_x + iris_y * iris_y)
    canvas.lerp_(rgb("iris"), _ramp(iris_d - ir, edge) * sclera)
    canvas.lerp_(torch.zeros(1, 3, 1, 1), _ramp(iris_d - ir * 0.45, edge) * sclera)

    # Brows: thick tilted segments above the eyes (mirrored), raised per image.
    bl = ew * s("brow_len")
    by = ey - ew * 0.5 - s("brow_gap") - s("brow_raise")
    tilt = s("brow_angle")
    bx = exd / bl
    brow_y = y - by - tilt * bl * bx.clamp(-1.0, 1.0) + 0.35 * s("brow_thick") * bx.clamp(-1.0, 1.0) ** 2
    brows = _ramp(torch.maximum(brow_y.abs() - s("brow_thick"), exd.abs() - bl), edge)
    canvas.lerp_(rgb("brow"), brows * 0.95)

    # Fringe: top hair over the forehead down to a curved, possibly slanted line.
    fringe_line = s("fringe_y") + s("fringe_curve") * x * x + s("fringe_slope") * x
    top = head * _ramp(y - fringe_line, edge) * s("hair_alpha")
    canvas.lerp_(hair, top)

    # Glasses: ring frames (round or squarish), bridge, arms, slight lens tint.
    gr = s("glass_r")
    lens_x, lens_y = exd.abs() / gr, (y - ey).abs() / (gr * 0.82)
    lens_r = torch.sqrt(lens_x * lens_x + lens_y * lens_y).lerp_(torch.maximum(lens_x, lens_y), s("glass_square"))
    gd = (lens_r - 1.0) * gr
    has = s("glasses")
    canvas.lerp_(rgb("frame") * 0.5 + 0.4, _ramp(gd, edge) * has * 0.12)
    frame = _ramp(gd.abs() - s("glass_t"), edge)
    bridge = _ramp(torch.maximum((y - ey + gr * 0.25).abs() - s("glass_t") * 0.8, axf - (ex - gr * 0.9)), edge)
    arms = _ramp(torch.maximum((y - ey + gr * 0.35).abs() - s("glass_t") * 0.7,
                               (ax - (a + ex + gr) * 0.5).abs() - (a - ex - gr) * 0.5), edge)
    canvas.lerp_(rgb("frame"), torch.maximum(frame, torch.maximum(bridge, arms)) * has)

    # Lighting: brightness, a directional gradient, a colour cast; then sensor noise.
    light = s("bright") * (1.0 + s("grad") * (u * s("grad_x") + v * s("grad_y")))
    canvas.mul_(light * rgb("cast"))
    noise = torch.empty(n, 3, size, size)
    gen = torch.Generator()
    for i, noise_seed in enumerate(noise_seeds.tolist()):
        gen.manual_seed(noise_seed)
        noise[i].normal_(generator=gen)
    canvas.add_(noise.mul_(s("noise")))
    return canvas.mul_(255.0).add_(0.5).clamp_(0.0, 255.0).to(torch.uint8)


def _ramp(sd: torch.Tensor, edge: torch.Tensor | float) -> torch.Tensor:
    """Coverage of a shape from its signed distance: 1 inside, 0 outside, linear over one `edge`."""
    return (0.5 - sd / edge).clamp_(0.0, 1.0)


def _ellipse(x: torch.Tensor, y: torch.Tensor, a: torch.Tensor, b: torch.Tensor, edge) -> torch.Tensor:
    """Soft axis-aligned ellipse with semi-axes a, b (first-order signed distance)."""
    xa, yb = x / a, y / b
    k0 = torch.sqrt(xa * xa + yb * yb)
    xa2, yb2 = xa / a, yb / b
    k1 = torch.sqrt(xa2 * xa2 + yb2 * yb2).clamp_(min=1e-6)
    return _ramp(k0 * (k0 - 1.0) / k1, edge)


def _segment(x: torch.Tensor, y: torch.Tensor, y0: torch.Tensor, y1: torch.Tensor, r: torch.Tensor,
             edge) -> torch.Tensor:
    """Soft vertical capsule from (0, y0) to (0, y1) with radius r."""
    dy = y - torch.minimum(torch.maximum(y, y0), y1)
    return _ramp(torch.sqrt(x * x + dy * dy) - r, edge)
