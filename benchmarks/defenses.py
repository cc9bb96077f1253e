"""Every defense hardener has, at its published default strength and one stronger setting, then `hardener
compare` over all of them against the undefended target: one attacker (GAN, seeds, budget, evaluation model),
one table, one privacy-utility plot.

    OMP_NUM_THREADS=1 python benchmarks/defenses.py --world synthetic      # the tests' world, minutes
    python benchmarks/defenses.py --world lfw                              # after benchmarks/train_models.py

Each method is one entry of METHODS: a name, how it is made (`protect`: a `hardener protect` output folder;
`train`: `hardener train classifier`, the training-time regularisers, which retrain from scratch), and its
arguments. A `protect --method` value this hardener does not know is skipped with a line saying so, and a run
that fails prints its one-line error and is left out of the comparison, so the script runs before and after
new methods land. Outputs are kept in --work; a method whose output exists is not rerun (delete it to redo).

Worlds (benchmarks/worlds.py, shared by every benchmark): synthetic, the tests' world (8 private identities,
ResNet-18 target and evaluation model at 32 px, a width-16 GAN with its public classifier) plus the
attacker's GAN on other public identities; lfw, ../shared/DESIGN.md's protocol as benchmarks/train_models.py
builds it under .cache/benchmarks, the attacker's GAN on the other identity half of public. No defense sees
the attacker's GAN.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HARDENER = [sys.executable, "-m", "hardener"]

# (name, kind, arguments). Placeholders: {target} {gan} {public} {train} {test} {epochs} {size}; PROTECT
# expands to --protect C for each protected class. Defaults: the published ones where a paper gives one (decoy
# patent: alpha 1, beta 2, omega 5; NegLS -0.05 with the paper's schedule; MID beta 0.01; BiDO 0.05/0.5;
# Trap-MID blend 0.02, weight 0.2) and ours otherwise (the margin recipe; TL-DMI up to layer2; erasing 0.8 of
# the images); the "strong" row of a method is one stronger setting. negls, random-erasing, mid, bido and
# trap-mid train a new model from scratch (the target names the architecture they replace; they do not start
# from its weights) with the target's recipe (WORLDS: 8 epochs at batch 32 on synthetic, 25 at 64 on lfw), so
# `ce (train)`, plain cross-entropy trained the same way, is their control.
TRAIN = ["{train}", "--arch", "resnet", "--variant", "resnet18", "--image-size", "{size}", "--epochs", "{epochs}",
         "--batch-size", "{batch}", "--val", "{test}", "--seed", "0"]
REPLACING_TARGET = ["{target}", "--data", "{train}", "--val", "{test}", "--epochs", "{epochs}", "--batch-size",
                    "{batch}"]
DP_SGD = ["{target}", "--method", "dp-sgd", "--pretrained", "{public}", "--data", "{train}", "--val", "{test}",
          "--epochs", "{epochs}"]
METHODS: list[tuple[str, str, list[str]]] = [
    ("decoy (margin)", "protect", ["{target}", "--gan", "{gan}", "PROTECT", "--data", "{train}"]),
    ("decoy (patent)", "protect", ["{target}", "--gan", "{gan}", "PROTECT", "--data", "{train}", "--recipe", "patent"]),
    ("tl-dmi", "protect", ["{target}", "--method", "tl-dmi", "--pretrained", "{public}", "--freeze-until", "layer2",
                           "--data", "{train}", "--val", "{test}", "--epochs", "{epochs}"]),
    ("ce (train)", "train", TRAIN),
    ("negls", "protect", REPLACING_TARGET + ["--method", "negls"]),
    ("negls strong", "protect", REPLACING_TARGET + ["--method", "negls", "--smoothing", "-0.2"]),
    ("random-erasing", "protect", REPLACING_TARGET + ["--method", "random-erasing"]),
    ("random-erasing strong", "protect", REPLACING_TARGET + ["--method", "random-erasing", "--erase-prob", "1.0",
                                                             "--erase-area", "0.3-0.6"]),
    ("mid", "protect", REPLACING_TARGET + ["--method", "mid"]),
    ("mid strong", "protect", REPLACING_TARGET + ["--method", "mid", "--beta", "0.1"]),
    ("bido", "protect", REPLACING_TARGET + ["--method", "bido"]),
    ("bido strong", "protect", REPLACING_TARGET + ["--method", "bido", "--lambda-x", "0.1", "--lambda-y", "2"]),
    ("trap-mid", "protect", REPLACING_TARGET + ["--method", "trap-mid"]),
    ("dp-sgd", "protect", DP_SGD),
    ("dp-sgd strong", "protect", DP_SGD + ["--noise-multiplier", "3"]),
]
WORLDS = {"synthetic": {"epochs": 8, "batch": 32, "size": 32}, "lfw": {"epochs": 25, "batch": 64, "size": 64}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", choices=sorted(WORLDS), default="synthetic")
    parser.add_argument("--work", type=Path, default=None, help="default .cache/benchmarks/defenses-<world>")
    parser.add_argument("--cache", type=Path, default=None,
                        help="the world's cache (default: benchmarks/worlds.py's, .cache/benchmarks[/mi_world])")
    parser.add_argument("--budget", default="standard")
    parser.add_argument("--restarts", default="4")
    parser.add_argument("--preset", action="append", default=None, help="default: strong")
    parser.add_argument("--only", action="append", default=None, help="run only these METHODS names")
    parser.add_argument("--make-only", action="store_true",
                        help="make the models and stop before compare: two such runs with disjoint --only lists "
                             "share the two cores, then one run without it compares them all")
    args = parser.parse_args()
    from worlds import load_world

    setting = WORLDS[args.world]
    work = args.work or ROOT / ".cache" / "benchmarks" / f"defenses-{args.world}"
    work.mkdir(parents=True, exist_ok=True)
    world = load_world(args.world, args.cache)
    protect = [str(c) for c in world.pop("protect_classes")]
    values = {**{k: str(v) for k, v in world.items()}, "epochs": str(setting["epochs"]),
              "batch": str(setting["batch"]), "size": str(setting["size"])}

    known = {}
    hardened, times = [], {}
    for name, kind, template in METHODS:
        if args.only and name not in args.only:
            continue
        method = template[template.index("--method") + 1] if "--method" in template else "decoy"
        if kind == "protect" and method not in known:
            known[method] = method_known(method)
        if kind == "protect" and not known[method]:
            print(f"skipped {name}: this hardener has no `protect --method {method}`", flush=True)
            continue
        out = work / slug(name)
        command = ([*HARDENER, "protect", *expand(template, values, protect), "--out", str(out)] if kind == "protect"
                   else [*HARDENER, "train", "classifier", *expand(template, values, protect), "--out", str(out)])
        seconds = run_once(name, command, out)
        if seconds is None:
            continue
        times[name] = seconds
        hardened.append(out if kind == "protect" else out / "model.safetensors")
    if args.make_only:
        return

    compare_out = work / "compare"
    command = [*HARDENER, "compare", *map(str, hardened), "--baseline", str(world["target"]), "--data",
               str(world["test"]), "--gan", str(world["attack_gan"]), "--eval-model", str(world["eval"]), "--members",
               str(world["train"]), *[a for c in protect for a in ("--protect", c)], "--budget", args.budget,
               "--restarts", args.restarts, *[a for p in (args.preset or ["strong"]) for a in ("--preset", p)],
               "--out", str(compare_out)]
    print("$ " + " ".join(command[2:]), flush=True)
    started = time.perf_counter()
    result = subprocess.run(["env", "COLUMNS=250", *command], text=True, capture_output=True)
    print(result.stdout, result.stderr, sep="\n", flush=True)
    print(f"compare: exit {result.returncode}, {time.perf_counter() - started:.0f} s wall", flush=True)
    print("\nwall time to make each model (s): " + ", ".join(f"{n} {s:.0f}" for n, s in times.items()))
    if (compare_out / "compare.md").exists():
        print(f"table: {compare_out / 'compare.md'}, plot: {compare_out / 'compare.png'}")


def method_known(method: str) -> bool:
    """Ask the installed hardener: an unknown --method is refused before anything else is checked."""
    probe = subprocess.run([*HARDENER, "protect", "--method", method, "--out", "/nonexistent/probe"], text=True,
                           capture_output=True)
    return not re.search(r"unknown --method|invalid value for '--method'", probe.stderr + probe.stdout, re.I)


def run_once(name: str, command: list[str], out: Path) -> float | None:
    """Run a method unless its output exists; the wall time (now or from the earlier run), None on failure."""
    stamp = out / "benchmark-wall.json"
    if stamp.exists():
        seconds = json.loads(stamp.read_text())["seconds"]
        print(f"{name}: kept from an earlier run ({seconds:.0f} s then)", flush=True)
        return seconds
    print(f"$ {' '.join(command[2:])}", flush=True)
    started = time.perf_counter()
    result = subprocess.run(command + ["--json"], text=True, capture_output=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        line = (result.stderr.strip().splitlines() or ["(no message)"])[-1]
        print(f"skipped {name}: exit {result.returncode}: {line}", flush=True)
        return None
    stamp.write_text(json.dumps({"seconds": seconds, "command": command[2:]}))
    print(f"{name}: {seconds:.0f} s", flush=True)
    return seconds


def expand(template: list[str], values: dict[str, str], protect: list[str]) -> list[str]:
    args = []
    for item in template:
        args += [a for c in protect for a in ("--protect", c)] if item == "PROTECT" else [item.format(**values)]
    return args


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-")


if __name__ == "__main__":
    main()
