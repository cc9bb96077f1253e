"""The house rules of README's Layout, checked on the source: imports point down, and only jobs/ (and the
file-format modules) touch files. Read with `ast`, so nothing is imported or run."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hardener"
# the loops and algorithms: they get a Checkpoint or a CacheFolder from their job and never name a file
NO_FILES = ("attacks", "defenses", "audit", "train.py", "gan/train.py")
# audit/fid.py reads the Inception weights the user points --fid-weights at, through the checked loaders
FILE_READERS = {"audit/fid.py"}
FILE_CALLS = {"open", "save_file", "load_file", "atomic_output", "write_json", "save_npz", "read_safetensors",
              "torch_load_checked", "write_text", "write_bytes", "read_text", "read_bytes", "mkdir", "unlink"}


def _modules() -> dict[str, ast.Module]:
    return {str(f.relative_to(PACKAGE)): ast.parse(f.read_text()) for f in sorted(PACKAGE.rglob("*.py"))}


def _imports(tree: ast.Module) -> set[str]:
    found = set()
    for node in ast.walk(tree):  # function-level imports too
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "hardener" or name.startswith("hardener.")}


def _layer(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def test_imports_point_down() -> None:
    upward = []
    for name, tree in _modules().items():
        here = name.split("/")[0] if "/" in name else ""
        for module in _imports(tree):
            target = _layer(module)
            if target == "cli" and here != "cli" and name != "__main__.py":
                upward.append(f"{name} imports {module}")
            if target == "jobs" and here not in ("jobs", "cli"):
                upward.append(f"{name} imports {module}")
    assert not upward, "imports that point up (only cli/ may import jobs/, nothing below cli/ imports it):\n" + \
        "\n".join(upward)


def test_the_loops_and_algorithms_touch_no_files() -> None:
    offenders = []
    for name, tree in _modules().items():
        if not name.startswith(NO_FILES) or name in FILE_READERS:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                called = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
                if called in FILE_CALLS or (called == "save" and _is_torch(node.func)):
                    offenders.append(f"{name}:{node.lineno} calls {called}")
    assert not offenders, "file I/O below jobs/ (take a Checkpoint or a CacheFolder from the job instead):\n" + \
        "\n".join(offenders)


def _is_torch(func: ast.expr) -> bool:
    return isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "torch"


def test_the_rule_checker_sees_a_violation(tmp_path: Path) -> None:
    """The two checks above must be able to fail: a planted upward import and file write are found."""
    tree = ast.parse("def f(p):\n    from hardener.jobs.verify import run_verify\n    torch.save({}, p)\n"
                     "    p.write_text('x')\n")
    assert "hardener.jobs.verify" in _imports(tree)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    names = [c.func.attr for c in calls if isinstance(c.func, ast.Attribute)]
    assert "write_text" in names and any(_is_torch(c.func) for c in calls)
