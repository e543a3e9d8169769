"""`.ci/run` runs exactly the README's test command."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci_lines = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if "pytest" in ln]
    assert len(ci_lines) == 1
    command = ci_lines[0].strip()
    assert f"\n{command}\n" in readme, "the README's quick start must show the exact command .ci/run runs"
    assert "pip install torch==2.13.0" in command and "HF_HUB_OFFLINE=1" in command
