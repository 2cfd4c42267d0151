"""The resource layer keeps modules small: each stays within its code-line target (docs/development.md)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_modules_within_their_code_line_targets():
    process = subprocess.run([sys.executable, str(ROOT / "docs" / "module_sizes.py"), "--check"],
                             capture_output=True, text=True, check=False)
    assert process.returncode == 0, process.stderr
    assert "| `ai_deployment` |" in process.stdout


def test_the_development_guide_shows_the_current_table():
    table = subprocess.run([sys.executable, str(ROOT / "docs" / "module_sizes.py")], capture_output=True, text=True,
                           check=True).stdout.strip()
    assert table in (ROOT / "docs" / "development.md").read_text(), "regenerate the table: python3 docs/module_sizes.py"
