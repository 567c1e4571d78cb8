#!/usr/bin/env bash
# Creates a Python virtual environment for the netchan binding and installs pytest, protobuf
# and the binding into it, with pyzmq too when --bench is given (for bench/python_throughput.py).
#
# Usage: bindings/python/setup-venv.sh [--bench] [VENV_DIR]
#
# VENV_DIR defaults to .venv at the repository root, where the meson test of the binding looks
# for it. The interpreter is $PYTHON, else python3. Debian's python3 needs the python3-venv
# package for `python3 -m venv`; when it is missing and this runs as root, apt-get installs it.
# Installing the binding needs network access to PyPI for pip's build dependencies.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

bench=0
venv=""
for argument in "$@"; do
  case "$argument" in
    --bench) bench=1 ;;
    -h | --help)
      sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*)
      echo "setup-venv: unknown option $argument; usage: $0 [--bench] [VENV_DIR]" >&2
      exit 2
      ;;
    *) venv="$argument" ;;
  esac
done
venv="${venv:-$root/.venv}"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; assert sys.version_info >= (3, 9)' 2>/dev/null; then
  echo "setup-venv: cannot run $python as Python 3.9 or newer; install it or set PYTHON" >&2
  exit 1
fi

# Debian splits venv and ensurepip off python3 into python3-venv; without them `python3 -m venv`
# fails with a message about ensurepip. apt-get can only help Debian's own interpreter.
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  executable="$("$python" -c 'import sys; print(sys.executable)')"
  if [[ "$executable" == /usr/bin/* ]] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "setup-venv: $executable has no venv module; installing python3-venv python3-pip" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # Waits for another apt-get that holds the lock instead of failing at once.
    apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
      python3-venv python3-pip
  elif [[ "$executable" == /usr/bin/* ]]; then
    echo "setup-venv: $executable has no venv module; install it with" \
      "'sudo apt-get install python3-venv python3-pip' and run this again" >&2
    exit 1
  else
    echo "setup-venv: $executable has no venv or ensurepip module; use an interpreter that" \
      "has them (set PYTHON)" >&2
    exit 1
  fi
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "setup-venv: creating $venv with $python ($("$python" --version 2>&1))" >&2
  "$python" -m venv "$venv"
fi

packages=(pytest protobuf)
if [ "$bench" -eq 1 ]; then
  packages+=(pyzmq)
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${packages[@]}"
# Install from a copy, because setuptools would leave build/ and an .egg-info folder in the
# source tree.
staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
cp -r "$here/pyproject.toml" "$here/README.md" "$here/src" "$staging/"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$staging"

echo "setup-venv: ready; run the binding's tests with NETCHAN_PYTHON=$venv/bin/python" \
  "meson test -C BUILDDIR --suite bindings" >&2
