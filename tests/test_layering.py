"""services/ works without a window: it never imports QtWidgets (a checked contract, as napari does it)."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_services_source_never_imports_qtwidgets_or_ui():
    offenders = []
    for path in (ROOT / "services").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if any("QtWidgets" in n or n == "ui" or n.startswith("ui.") for n in names):
                offenders.append(path.name)
    assert offenders == []


def test_cli_runs_without_loading_qtwidgets():
    code = (
        "import sys, main; main.main(['models', '--endpoint', 'demo', '--json']); "
        "print('QtWidgets' in ' '.join(sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, text=True, timeout=60)
    assert out.stdout.strip().endswith("False"), out.stderr


def test_a_module_over_400_lines_says_why_at_its_top():
    long = []
    for path in [*(ROOT / "ui").rglob("*.py"), *(ROOT / "services").rglob("*.py")]:
        text = path.read_text()
        if text.count("\n") > 400 and "Over 400 lines:" not in (ast.get_docstring(ast.parse(text)) or ""):
            long.append(str(path.relative_to(ROOT)))
    assert long == []
