"""protect options judged on demo folders: one protect and the demo's gate per folder, paired with its default.

    hardener demo --out d0 --seed 0                 # one folder per seed, each with its default run and gate
    python benchmarks/demo_seeds.py d0 d1 d2 --set decoy_choice=unlike --out variants/unlike
    python benchmarks/demo_seeds.py d0 d1 --protect-seed-offset 100 --out variants/reseed   # the default again

Each folder's target is protected as `hardener demo` protects it (DemoSize's rounds, steps and samples, the
folder's seed, protect's GAN) with the DecoyConfig fields of --set, then judged by the demo's gate (the attacker's
GAN, GMI / PLG-margin / LOMMA-logit, 74 reconstructions each) with the baseline's rows reused from the folder's
own verify. Prints one row per folder, the folder's default and the variant, then the mean of each column and the
mean paired difference: seeds move these figures more than most options (docs/MEASUREMENTS.md, "Session 39"),
so judge on many folders, never on one. `--protect-seed-offset` protects with another seed and no other change:
how far the default moves by chance alone.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

COLUMNS = ("all", "protected", "gmi", "plg-margin", "lomma-logit", "recovered", "strangers")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="`hardener demo --out` folders")
    parser.add_argument("--set", nargs="*", default=[], help="DecoyConfig fields, e.g. decoy_choice=unlike")
    parser.add_argument("--protect-seed-offset", type=int, default=0, help="protect with the folder's seed + this")
    parser.add_argument("--out", type=Path, required=True, help="one subfolder per demo folder")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    from worlds import config_fields

    changes = config_fields(args.set)
    pairs = []
    for folder in args.folders:
        default = gate_figures(folder / "verify" / "report.json")
        variant = gate_figures(judge_variant(folder, args.out / folder.name, changes, args.protect_seed_offset,
                                             args.device))
        pairs.append((folder.name, default, variant))
        print(f"{folder.name}: {row(default)}  ->  {row(variant)}", flush=True)
    print(table(pairs, " ".join(args.set) or "default", args.protect_seed_offset))


def judge_variant(folder: Path, out: Path, changes: dict, seed_offset: int, device: str) -> Path:
    """Protect the folder's target as the demo does, with `changes`, and run the demo's gate; the gate's report."""
    from hardener.jobs.demo import DemoSize, gate_job, protect_job
    from hardener.jobs.protect import run_protect
    from hardener.jobs.verify import run_verify

    size, seed = DemoSize(), json.loads((folder / "hardened" / "report.json").read_text())["config"]["seed"]
    run_protect(protect_job(folder, size, seed + seed_offset, device, out=out / "hardened", **changes))
    run_verify(gate_job(folder, out / "hardened", out / "verify", size, seed, device,
                        baseline_report=folder / "verify" / "report.json"))
    return out / "verify" / "report.json"


def gate_figures(report_path: Path) -> dict[str, float]:
    """The hardened model's figures in a gate report, in percent (recovered: reconstructions, of all attacks),
    with the baseline's held-out accuracy and strangers under `base_*`."""
    report = json.loads(report_path.read_text())
    natural, strangers = report["natural_accuracy"], report["strangers_named"]["share"]
    top1 = {row["preset"]: row["hardened"]["top1"] for row in report["attacks"]}
    reconstructions = {row["preset"]: row["hardened"]["rows"] for row in report["attacks"]}
    figures = {"all": 100 * natural["hardened"]["all"], "protected": 100 * natural["hardened"]["protected"],
               **{preset: 100 * top1[preset] for preset in COLUMNS[2:5]},
               "recovered": sum(round(top1[p] * reconstructions[p]) for p in top1),
               "strangers": 100 * strangers["hardened"]}
    return {**figures, "base_all": 100 * natural["baseline"]["all"],
            "base_protected": 100 * natural["baseline"]["protected"], "base_strangers": 100 * strangers["baseline"]}


def row(figures: dict[str, float]) -> str:
    return " ".join(f"{name} {figures[name]:.1f}" for name in COLUMNS)


def table(pairs: list[tuple[str, dict, dict]], label: str, seed_offset: int) -> str:
    """Markdown: per folder the default and the variant (held-out accuracy as before -> after), then means."""
    lines = ["| folder | run | held-out all | protected | GMI | PLG-margin | LOMMA-logit | recovered | strangers |",
             "|---|---|---|---|---|---|---|---|---|"]
    name = label + (f", protect seed +{seed_offset}" if seed_offset else "")
    for folder, default, variant in pairs:
        for run, figures in (("default", default), (name, variant)):
            lines.append(f"| {folder} | {run} | {figures['base_all']:.1f} -> {figures['all']:.1f} % | "
                         f"{figures['base_protected']:.1f} -> {figures['protected']:.1f} % | "
                         + " | ".join(f"{figures[c]:.1f} %" for c in COLUMNS[2:5])
                         + f" | {figures['recovered']:.0f} | {figures['base_strangers']:.1f} -> "
                         f"{figures['strangers']:.1f} % |")
    for run, index in (("default", 1), (name, 2)):
        lines.append(f"| mean | {run} | " + " | ".join(
            f"{statistics.mean(p[index][c] for p in pairs):.1f}" for c in COLUMNS) + " |")
    lines.append("| mean difference | variant - default | " + " | ".join(
        f"{statistics.mean(p[2][c] - p[1][c] for p in pairs):+.1f}" for c in COLUMNS) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
