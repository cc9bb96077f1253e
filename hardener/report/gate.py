"""Release-gate reporting for `hardener verify`: checks, verdict, JUnit XML, Markdown, report files.

Torch-free on purpose (standard library plus hardener.files): the verdict and its reports can be built,
tested and rendered without loading any model. Whether a check passed is decided by the caller; this
module only aggregates, renders and writes.

Exit codes follow the CLI contract: 0 = every gating check holds, 1 = a gate failed (2, bad input, is
raised elsewhere, before any GateResult exists).
"""
from __future__ import annotations

import html
import math
import os
import re
import warnings
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hardener.files import write_json, write_text

JUNIT_CLASSNAME = "hardener.verify"
REPORT_FILES = {"report": "report.json", "junit": "junit.xml", "summary": "summary.md"}

# Characters XML 1.0 cannot carry at all, even escaped (ElementTree would write them and break the parse).
_XML_INVALID = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass
class Check:
    """One gate check, e.g. ("natural accuracy drop", passed, 0.4, 1.0, "points").

    `passed` is the caller's decision. An informational check is shown but never gates: it counts as
    passed whatever `passed` says.
    """

    name: str
    passed: bool
    value: float | None
    limit: float | None
    unit: str = ""
    detail: str = ""
    informational: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("a gate check needs a non-empty name")
        self.passed = bool(self.passed)
        self.informational = bool(self.informational)
        for attr in ("value", "limit"):
            v = getattr(self, attr)
            if v is not None:
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    try:
                        v = float(v)  # numpy scalars, 0-d tensors converted by the caller, ...
                    except (TypeError, ValueError):
                        raise ValueError(f"check {self.name!r}: {attr} must be a number or None, got {v!r}") from None
                setattr(self, attr, float(v))
        if self.value is not None and not math.isfinite(self.value):
            # NaN compares false against every limit, so a caller's `value <= limit` could not catch it.
            self.passed = False
            self.detail = f"{self.detail}; not a finite number" if self.detail else "not a finite number"

    @property
    def gating(self) -> bool:
        return not self.informational

    @property
    def holds(self) -> bool:
        """Whether this check lets the gate pass (informational checks always do)."""
        return self.informational or self.passed

    @property
    def status(self) -> str:
        return "info" if self.informational else ("pass" if self.passed else "fail")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["value"] = _json_number(self.value)
        d["limit"] = _json_number(self.limit)
        d["status"] = self.status
        return d


@dataclass
class GateResult:
    """All checks of one verification run and the verdict they give."""

    checks: list[Check] = field(default_factory=list)
    title: str = "hardener verify"
    notes: list[str] = field(default_factory=list)  # lines under the table: the decision rule, the worst attack

    @property
    def gating_checks(self) -> list[Check]:
        return [c for c in self.checks if c.gating]

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.holds]

    @property
    def passed(self) -> bool:
        """Every gating check passed. A gate with no gating check at all fails: nothing was verified."""
        gating = self.gating_checks
        return bool(gating) and all(c.passed for c in gating)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "verdict": self.verdict,
            "passed": self.passed,
            "exit_code": self.exit_code,
            "failures": [c.name for c in self.failures],
            "checks": [c.to_dict() for c in self.checks],
            "notes": list(self.notes),
        }


# ----------------------------------------------------------------------------------------------- formatting

def _json_number(v: float | None) -> float | str | None:
    """JSON has no NaN/Infinity: keep them readable as strings instead of writing invalid JSON."""
    if v is None or math.isfinite(v):
        return v
    return str(v)  # "nan", "inf", "-inf"


def format_number(v: float | None) -> str:
    if v is None:
        return "—"
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.6g}"


def format_quantity(v: float | None, unit: str = "") -> str:
    text = format_number(v)
    if v is None or not unit:
        return text
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}"


def _describe(check: Check) -> str:
    """"value 0.4 points, limit 1 points" — the line CI shows beside a test case."""
    parts = [f"value {format_quantity(check.value, check.unit)}"]
    if check.limit is not None:
        parts.append(f"limit {format_quantity(check.limit, check.unit)}")
    if check.informational:
        parts.append("informational, not gating")
    return ", ".join(parts)


def _xml_text(s: str) -> str:
    return _XML_INVALID.sub("\ufffd", s)


# ----------------------------------------------------------------------------------------------- JUnit XML

def junit_xml(result: GateResult) -> str:
    """A JUnit XML document with one test case per check, failures only for failed gating checks."""
    n_fail = len(result.failures)
    counts = {"tests": str(len(result.checks)), "failures": str(n_fail), "errors": "0", "skipped": "0",
              "time": "0"}
    root = ET.Element("testsuites", {"name": _xml_text(result.title), **counts})
    suite = ET.SubElement(root, "testsuite", {"name": _xml_text(result.title), **counts})
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", {"name": "verdict", "value": result.verdict})
    ET.SubElement(props, "property", {"name": "exit_code", "value": str(result.exit_code)})
    for check in result.checks:
        case = ET.SubElement(suite, "testcase", {"classname": JUNIT_CLASSNAME, "name": _xml_text(check.name),
                                                 "time": "0"})
        if not check.holds:
            message = f"{check.name}: {_describe(check)}"
            failure = ET.SubElement(case, "failure", {"message": _xml_text(message), "type": "GateFailure"})
            failure.text = _xml_text(check.detail or message)
        out = _describe(check)
        if check.detail and check.holds:
            out += f"\n{check.detail}"
        ET.SubElement(case, "system-out").text = _xml_text(out)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# ----------------------------------------------------------------------------------------------- Markdown

def _md_cell(s: str) -> str:
    """Table-safe: a pipe, newline or HTML-looking text in a name or detail must not break the row."""
    text = html.escape(" ".join(str(s).split()), quote=False)
    return text.replace("\\", "\\\\").replace("|", "\\|")


def markdown_summary(result: GateResult) -> str:
    icon = "✅" if result.passed else "❌"
    lines = [f"## {icon} {result.verdict}: {_md_cell(result.title)}", ""]
    lines += ["| check | value | limit | result |", "| --- | ---: | ---: | :---: |"]
    for c in result.checks:
        mark = "ℹ️ info" if c.informational else ("✅" if c.passed else "❌")
        name = _md_cell(c.name)
        if c.detail:
            name += f"<br><sub>{_md_cell(c.detail)}</sub>"
        lines.append(f"| {name} | {_md_cell(format_quantity(c.value, c.unit))} | "
                     f"{_md_cell(format_quantity(c.limit, c.unit))} | {mark} |")
    lines.append("")
    n_gating = len(result.gating_checks)
    if result.failures:
        names = ", ".join(_md_cell(c.name) for c in result.failures)
        lines.append(f"**Failed ({len(result.failures)} of {n_gating}):** {names}")
    elif n_gating == 0:
        lines.append("**Failed:** no gating check was run, so nothing was verified.")
    else:
        lines.append(f"All {n_gating} gating checks passed.")
    if result.notes:
        lines += [""] + [f"- {_md_cell(note)}" for note in result.notes]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------- files

def append_github_step_summary(markdown: str) -> Path | None:
    """Append (never overwrite) to $GITHUB_STEP_SUMMARY when set; a failure to do so only warns."""
    target = os.environ.get("GITHUB_STEP_SUMMARY", "").strip()
    if not target:
        return None
    path = Path(target)
    try:
        with open(path, "a", encoding="utf-8") as fh:
            if fh.tell() > 0:
                fh.write("\n")
            fh.write(markdown if markdown.endswith("\n") else markdown + "\n")
    except OSError as exc:
        warnings.warn(f"could not append to GITHUB_STEP_SUMMARY ({path}): {exc}", RuntimeWarning, stacklevel=2)
        return None
    return path


def write_gate_reports(result: GateResult, out_dir: Path, extra_report: dict | None = None) -> dict[str, Path]:
    """Write report.json, junit.xml and summary.md atomically into out_dir; append to the GitHub step summary.

    report.json is `extra_report` with the gate's own keys (title, verdict, passed, exit_code, failures,
    checks) on top: the verdict written is always the one the checks give.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {**(extra_report or {}), **result.to_dict()}
    markdown = markdown_summary(result)
    paths = {
        "report": write_json(out_dir / REPORT_FILES["report"], report),
        "junit": write_text(out_dir / REPORT_FILES["junit"], junit_xml(result)),
        "summary": write_text(out_dir / REPORT_FILES["summary"], markdown),
    }
    step_summary = append_github_step_summary(markdown)
    if step_summary is not None:
        paths["github_step_summary"] = step_summary
    return paths
