"""The wheel ships every package: pyproject.toml lists them explicitly because plugins/ is remapped."""
from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "hardener").rglob("__init__.py")}
    on_disk.add("hardener.plugins")
    assert on_disk == listed, f"add to pyproject.toml: {sorted(on_disk - listed)}; remove: {sorted(listed - on_disk)}"
    assert config["package-dir"]["hardener.plugins"] == "plugins"


def test_the_packaged_files_are_package_data() -> None:
    """The demo's GANs (hardener/assets) reach the wheel only through [tool.setuptools.package-data]."""
    import fnmatch

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["hardener"]
    assets = [p.relative_to(ROOT / "hardener").as_posix() for p in (ROOT / "hardener" / "assets").iterdir()]
    assert assets and all(any(fnmatch.fnmatch(a, pattern) for pattern in patterns) for a in assets), assets
