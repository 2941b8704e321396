#!/usr/bin/env bash
# Installs what alertnode needs on a Debian 12 machine: Debian packages (apt-get) and a virtualenv
# in .venv with the project and its Python dependencies. Safe to run again: it only installs what
# is missing. Usage: tools/setup.sh [runtime|test]
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-runtime}"

runtime_debs=(espeak-ng ca-certificates)
test_debs=(sip-tester kamailio baresip espeak-ng multimon-ng sox ffmpeg swaks chromium systemd postgresql stunnel4)
if [ "$profile" = test ]; then debs=("${runtime_debs[@]}" "${test_debs[@]}"); else debs=("${runtime_debs[@]}"); fi

missing=()
for pkg in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
py=""
for cand in python3.11 python3.12 python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(not ((3,11) <= sys.version_info[:2] < (3,13)))'; then
        py="$cand"; break
    fi
done
if [ -z "$py" ]; then missing+=(python3 python3-venv python3-dev); py=python3; fi
if ! "$py" -c 'import venv, ensurepip' 2>/dev/null; then missing+=(python3-venv); fi

if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $py"
    "$py" -m venv .venv
fi
extras="voice"; [ "$profile" = test ] && extras="voice,test"
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)-$extras"
if [ ! -f "$stamp" ]; then
    echo "setup: installing Python packages ($extras)"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[$extras]"
    rm -f .venv/.installed-*
    touch "$stamp"
fi
