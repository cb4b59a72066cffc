"""run_scripts work after setup.sh without an activated venv (issue 14, class 6)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(p for p in (REPO / "run_scripts").glob("*.sh")
                 if p.name not in ("setup.sh", "quickstart.sh", "_python.sh"))


def test_every_runner_sources_the_python_lookup_right_after_cd():
    for script in SCRIPTS:
        lines = script.read_text().splitlines()
        cd = lines.index('cd "$(dirname "$0")/.."')
        assert lines[cd + 1] == "source run_scripts/_python.sh", script.name
        assert "activate" not in script.read_text(), script.name


def fake_repo(tmp_path, with_venv: bool) -> Path:
    root = tmp_path / "clone"
    (root / "run_scripts").mkdir(parents=True)
    for name in ("_python.sh", "run_nb201.sh"):
        shutil.copy(REPO / "run_scripts" / name, root / "run_scripts" / name)
    if with_venv:
        (root / ".venv" / "bin").mkdir(parents=True)
        os.symlink(sys.executable, root / ".venv" / "bin" / "python")
    return root


def bare_path(tmp_path) -> str:
    """A PATH whose `python` lacks the requirements (the system interpreter, isolated from site-packages)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text('#!/bin/sh\nexec /usr/bin/env python3 -S -I "$@"\n')
    (bin_dir / "python").chmod(0o755)
    return f"{bin_dir}:/usr/bin:/bin"


def test_without_a_venv_the_runner_says_how_to_set_it_up(tmp_path):
    root = fake_repo(tmp_path, with_venv=False)
    proc = subprocess.run(["bash", str(root / "run_scripts" / "run_nb201.sh"), "random"], capture_output=True,
                          text=True, env={"PATH": bare_path(tmp_path), "HOME": str(tmp_path)}, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1 and "run_scripts/setup.sh" in proc.stderr


def test_with_a_venv_python_is_the_venv_interpreter(tmp_path):
    root = fake_repo(tmp_path, with_venv=True)
    proc = subprocess.run(["bash", "-c", "set -eu; cd \"$1\"; source run_scripts/_python.sh; command -v python",
                           "_", str(root)], capture_output=True, text=True,
                          env={"PATH": bare_path(tmp_path), "HOME": str(tmp_path)}, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == str(root / ".venv" / "bin" / "python")
