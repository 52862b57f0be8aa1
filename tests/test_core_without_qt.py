"""The core imports and runs with PySide6 absent: only app/ui may import it."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import app

ROOT = Path(app.__file__).parent


def core_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages([str(ROOT)], prefix="app."):
        if info.name.startswith("app.ui"):
            continue
        names.append(info.name)
    return names


def test_core_imports_without_pyside6() -> None:
    script = textwrap.dedent(
        f"""
        import sys, importlib
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "PySide6" or name.startswith("PySide6."):
                    raise ImportError("PySide6 is blocked in this test")
                return None
        sys.meta_path.insert(0, Block())
        for name in {core_modules()!r}:
            importlib.import_module(name)
        assert not any(m.startswith("PySide6") for m in sys.modules), "PySide6 was loaded"
        from app.cli import build_parser
        build_parser()
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("ok")


def test_no_pyside6_import_outside_ui() -> None:
    offenders = []
    for path in ROOT.rglob("*.py"):
        if "ui" in path.relative_to(ROOT).parts[:1]:
            continue
        text = path.read_text()
        if "import PySide6" in text or "from PySide6" in text:
            offenders.append(str(path))
    assert offenders == []


def test_cli_help_does_not_import_heavy_libraries() -> None:
    script = (
        "import sys; from app.cli import build_parser; build_parser();"
        "heavy=[m for m in ('torch','llama_cpp','transformers','sentence_transformers','PySide6')"
        " if m in sys.modules]; print(heavy)"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
