# Sourced by every run_script right after `cd` to the repository root: makes `python` the project's
# interpreter without activating anything -- .venv/bin/python when run_scripts/setup.sh made it, else the
# `python` on PATH if it has the requirements (an environment you manage), else one error line and exit 2.
if [ -x .venv/bin/python ]; then
  PATH="$PWD/.venv/bin:$PATH"
  export PATH
elif ! command -v python >/dev/null 2>&1 || ! python -c 'import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in ("numpy", "torch", "tqdm", "pandas")))' 2>/dev/null; then
  echo "error: no .venv in $PWD and no python with the requirements on PATH; run: bash run_scripts/setup.sh (it creates .venv with the pinned requirements.txt)" >&2
  exit 2
fi
