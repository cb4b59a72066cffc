#!/usr/bin/env bash
# Installs everything the project needs on a fresh machine (idempotent, a minute or two):
#   - Debian: graphviz (cell drawings), dataset-fashion-mnist (real offline images for MetaD2A / DARTS demos)
#   - a virtual environment .venv with the pinned requirements (torch 2.13.0 CPU wheel from local disk)
set -euo pipefail
cd "$(dirname "$0")/.."
apt_packages="graphviz dataset-fashion-mnist"
missing=""
command -v dot >/dev/null 2>&1 || missing="$missing graphviz"
[ -d /usr/share/fashion-mnist ] || dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || missing="$missing dataset-fashion-mnist"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages:$missing"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing) >/dev/null
  else
    echo "setup: please install the Debian packages:$missing (sudo apt-get install $apt_packages)" >&2
    exit 2
  fi
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -r requirements.txt
echo "setup: ready (.venv)"
