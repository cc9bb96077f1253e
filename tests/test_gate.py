"""The release gate's reporting layer: verdict, exit code, JUnit XML, Markdown, report files."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hardener.report.gate import Check, GateResult, junit_xml, markdown_summary, write_gate_reports

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _passing() -> GateResult:
    return GateResult(title="verify hardened/", checks=[
        Check("natural accuracy drop", True, 0.4, 1.0, "points"),
        Check("attack accuracy gmi (protected classes)", True, 0.0, 5.0, "%"),
        Check("ONNX parity", True, 3e-7, 1e-4, "relative"),
        Check("attack accuracy gmi (other classes)", False, 41.0, None, "%", "for reference", informational=True),
    ])


def _failing() -> GateResult:
    return GateResult(title="verify hardened/", checks=[
        Check("natural accuracy drop", False, 2.5, 1.0, "points", "dropped 2.5 points on private_test.npz"),
        Check("attack accuracy gmi (protected classes)", True, 0.0, 5.0, "%"),
        Check("ONNX parity", False, 3e-3, 1e-4, "relative", "batch 8 diverges"),
    ])


def _cases(xml_text: str) -> dict[str, ET.Element]:
    root = ET.fromstring(xml_text)
    return {c.get("name"): c for c in root.iter("testcase")}


# ------------------------------------------------------------------------------------------ verdict

def test_passing_gate_exits_zero() -> None:
    result = _passing()
    assert result.passed and result.exit_code == 0 and result.failures == []
    assert result.verdict == "PASS"


def test_failing_gate_exits_one_and_names_its_failures() -> None:
    result = _failing()
    assert not result.passed and result.exit_code == 1
    assert [c.name for c in result.failures] == ["natural accuracy drop", "ONNX parity"]


def test_informational_checks_never_fail_the_gate() -> None:
    info_fail = Check("latency", False, 900.0, 10.0, "ms", informational=True)
    result = GateResult(title="t", checks=[Check("a", True, 1.0, 2.0), info_fail])
    assert result.passed and result.exit_code == 0 and result.failures == []
    assert "<failure" not in junit_xml(result)
    # ...but a single failed gating check still fails, whatever the informational ones say.
    result.checks.append(Check("b", False, 3.0, 2.0))
    assert result.exit_code == 1 and [c.name for c in result.failures] == ["b"]


def test_a_gate_with_nothing_to_gate_on_fails() -> None:
    assert GateResult(title="t", checks=[]).exit_code == 1
    assert GateResult(title="t", checks=[Check("x", True, 1.0, None, informational=True)]).exit_code == 1


def test_check_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        Check("", True, 1.0, 2.0)
    with pytest.raises(ValueError):
        Check("x", True, "lots", 2.0)  # type: ignore[arg-type]
    assert Check("x", True, 1, 2).value == 1.0  # ints become floats


# ------------------------------------------------------------------------------------------ JUnit

@pytest.mark.parametrize("make", [_passing, _failing])
def test_junit_has_one_testcase_per_check_and_failures_only_for_failed(make) -> None:
    result = make()
    text = junit_xml(result)
    root = ET.fromstring(text)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    assert int(suite.get("tests")) == len(result.checks)
    assert int(suite.get("failures")) == len(result.failures)
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [c.name for c in result.checks]
    for case, check in zip(cases, result.checks):
        assert case.get("classname") == "hardener.verify"
        assert (case.find("failure") is not None) == (not check.holds), check.name
        assert case.find("system-out") is not None and "value" in case.find("system-out").text


def test_junit_failure_carries_detail_and_numbers() -> None:
    case = _cases(junit_xml(_failing()))["ONNX parity"]
    failure = case.find("failure")
    assert failure.text == "batch 8 diverges"
    assert "0.003" in failure.get("message") and "0.0001" in failure.get("message")


def test_junit_escapes_markup_in_names_and_details() -> None:
    nasty_name = 'acc <drop> & "quotes" \'single\''
    nasty_detail = '</failure><injected a="1"/> & more'
    result = GateResult(title='suite <&>"', checks=[
        Check(nasty_name, False, 1.0, 0.5, detail=nasty_detail),
        Check("control\x00chars\x1b", True, 0.0, 1.0),
    ])
    text = junit_xml(result)
    root = ET.fromstring(text)  # parses at all: nothing broke out of its element
    assert root.find("testsuite").get("name") == 'suite <&>"'
    case = _cases(text)[nasty_name]
    assert case.find("failure").text == nasty_detail
    assert case.find("injected") is None and root.find(".//injected") is None
    assert "&lt;drop&gt;" in text and "&amp;" in text and "&quot;" in text


# ------------------------------------------------------------------------------------------ Markdown

def test_markdown_shows_pass_and_fail_rows() -> None:
    md = markdown_summary(_failing())
    assert md.splitlines()[0].startswith("#") and "FAIL" in md.splitlines()[0]
    assert "| check | value | limit | result |" in md
    rows = {line.split("|")[1].strip().split("<br>")[0]: line for line in md.splitlines()
            if line.startswith("| ") and "---" not in line and "check | value" not in line}
    assert rows["natural accuracy drop"].rstrip().endswith("❌ |")
    assert rows["attack accuracy gmi (protected classes)"].rstrip().endswith("✅ |")
    assert "2.5 points" in rows["natural accuracy drop"] and "5%" in rows["attack accuracy gmi (protected classes)"]
    failed_line = [line for line in md.splitlines() if "Failed" in line]
    assert failed_line and "natural accuracy drop" in failed_line[0] and "ONNX parity" in failed_line[0]


def test_markdown_passing_marks_informational_rows() -> None:
    md = markdown_summary(_passing())
    assert "PASS" in md.splitlines()[0] and "❌" not in md
    info_rows = [line for line in md.splitlines() if "other classes" in line]
    assert len(info_rows) == 1 and "info" in info_rows[0] and "✅" not in info_rows[0]
    assert "All 3 gating checks passed" in md


def test_markdown_table_survives_pipes_and_newlines() -> None:
    md = markdown_summary(GateResult(title="t", checks=[Check("a | b\nc", False, 1.0, 0.0, detail="x|y")]))
    row = [line for line in md.splitlines() if line.startswith("| a")][0]
    assert row.count(" | ") == 3 and "\n" not in row  # escaped pipes do not add columns
    assert "a \\| b c" in row


# ------------------------------------------------------------------------------------------ files

def test_write_gate_reports_writes_three_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    result = _failing()
    out = tmp_path / "verify"
    paths = write_gate_reports(result, out, {"model": "hardened/model.safetensors", "verdict": "PASS"})
    assert set(paths) == {"report", "junit", "summary"}
    assert {p.name for p in out.iterdir()} == {"report.json", "junit.xml", "summary.md"}  # no temp leftovers
    report = json.loads(paths["report"].read_text())
    assert report["model"] == "hardened/model.safetensors"
    assert report["verdict"] == "FAIL" and report["passed"] is False and report["exit_code"] == 1  # gate wins
    assert [c["name"] for c in report["checks"]] == [c.name for c in result.checks]
    assert report["checks"][0]["passed"] is False and report["checks"][0]["unit"] == "points"
    assert report["failures"] == ["natural accuracy drop", "ONNX parity"]
    ET.parse(paths["junit"])
    assert paths["summary"].read_text(encoding="utf-8") == markdown_summary(result)


def test_report_json_stays_valid_with_non_finite_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    result = GateResult(title="t", checks=[Check("nan loss", False, math.nan, math.inf)])
    paths = write_gate_reports(result, tmp_path, {})
    text = paths["report"].read_text()
    assert "NaN" not in text and "Infinity" not in text
    report = json.loads(text)
    assert report["checks"][0]["value"] == "nan" and report["checks"][0]["limit"] == "inf"


def test_github_step_summary_is_appended_not_overwritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "step_summary.md"
    prior = "# earlier step\nkeep me\n"
    summary.write_text(prior, encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    paths = write_gate_reports(_passing(), tmp_path / "a", {})
    assert paths["github_step_summary"] == summary
    first = summary.read_text(encoding="utf-8")
    assert first.startswith(prior) and markdown_summary(_passing()) in first
    write_gate_reports(_failing(), tmp_path / "b", {})
    second = summary.read_text(encoding="utf-8")
    assert second.startswith(first) and markdown_summary(_failing()) in second
    assert second.count("keep me") == 1


def test_unwritable_step_summary_only_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "missing-dir" / "summary.md"))
    with pytest.warns(RuntimeWarning):
        paths = write_gate_reports(_passing(), tmp_path / "out", {})
    assert "github_step_summary" not in paths and paths["junit"].exists()


def test_gate_module_does_not_import_torch() -> None:
    code = "import sys, hardener.report.gate; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------------------ examples

def test_example_workflow_runs_verify_in_one_step_and_publishes_reports() -> None:
    text = (EXAMPLES / "github-actions-gate.yml").read_text()
    assert text.count("hardener verify ") == 1
    assert "--out verify/" in text and "verify/junit.xml" in text
    assert "constraints.txt" in text and "upload-artifact" in text
    assert "\t" not in text  # YAML forbids tabs for indentation


def test_examples_readme_covers_every_example() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    for f in EXAMPLES.iterdir():
        if f.is_file() and f.name != "README.md" and not f.name.startswith("."):
            assert f.name in readme, f"examples/README.md does not describe {f.name}"
