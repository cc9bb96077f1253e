"""How long the test suite takes on two pytest-xdist workers, from one run's per-test durations: a model of
`--dist loadfile`'s hand-out, to try a file order before spending a 10-minute CI run on it.

    python -m pytest -p no:cacheprovider -n 2 --dist loadfile --no-loadscope-reorder --durations=0 -v > LOG
    python benchmarks/suite_schedule.py LOG          # from the repository root: the two workers' ends now

pytest-xdist (LoadScopeScheduling) gives each worker a file, and another whenever it has two tests or fewer
left, in the order tests/conftest.py sorts them. Each test costs what LOG measured (setup, call and teardown;
a setup that waited on the world's file lock includes the wait). The model reproduced session 44's run at a
doubled load (993 s and 1,170 s modelled, against 1,016 s and 1,182 s measured). Collection uses the work
tree's tests/conftest.py, so an edited order is modelled on the old run's durations.
"""
from __future__ import annotations

import collections
import re
import subprocess
import sys
from pathlib import Path

PHASE = re.compile(r"^([\d.]+)s (?:setup|call|teardown)\s+(tests/\S+)$", re.M)


def durations(log: str) -> dict[str, float]:
    """Seconds per test id, setup, call and teardown together (`--durations=0` lists every phase)."""
    seconds: dict[str, float] = collections.defaultdict(float)
    for match in PHASE.finditer(log):
        seconds[match.group(2)] += float(match.group(1))
    return seconds


def collected() -> list[str]:
    """The test ids in the order the work tree's conftest hands them out."""
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q"],
                         capture_output=True, text=True, check=False)
    if run.returncode != 0:  # an empty schedule would read as a suite that takes no time
        sys.exit(f"collection failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
    return [line for line in run.stdout.splitlines() if "::" in line]


def schedule(ids: list[str], seconds: dict[str, float], workers: int = 2) -> list[tuple[float, list[str]]]:
    """Each worker's end (seconds) and its files, handing out whole files as LoadScopeScheduling does."""
    files: dict[str, list[float]] = {}
    for test in ids:
        files.setdefault(test.split("::")[0], []).append(seconds.get(test, 0.0))
    queue = list(files)
    nodes = [{"pending": [], "clock": 0.0, "files": []} for _ in range(workers)]

    def top_up(node: dict) -> None:
        if queue and len(node["pending"]) <= 2:
            name = queue.pop(0)
            node["pending"] += files[name]
            node["files"].append(name)

    for _ in range(2):  # a file each, then each topped up once, as LoadScopeScheduling starts
        for node in nodes:
            top_up(node)
    while any(node["pending"] for node in nodes):
        node = min((n for n in nodes if n["pending"]), key=lambda n: n["clock"])
        node["clock"] += node["pending"].pop(0)
        top_up(node)
    return [(node["clock"], node["files"]) for node in nodes]


def main() -> None:
    seconds = durations(Path(sys.argv[1]).read_text())
    for index, (end, files) in enumerate(schedule(collected(), seconds)):
        print(f"worker {index}: ends at {end:7.1f} s, {len(files)} files, last {', '.join(files[-3:])}")


if __name__ == "__main__":
    main()
