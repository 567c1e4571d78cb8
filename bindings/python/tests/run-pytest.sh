#!/usr/bin/env bash
# Runs the Python binding's tests with pytest; meson's 'bindings' suite calls it with the
# environment that tests/conftest.py reads (NETCHAN_LIBRARY, NETCHAN_CLI and the rest).
#
# The interpreter is $NETCHAN_PYTHON, else .venv/bin/python at the repository root when
# bindings/python/setup-venv.sh created it, else python3. When that interpreter lacks pytest or
# protobuf, the script exits with 77, which meson reports as a skipped test, so that a build
# without those packages passes. An interpreter named in NETCHAN_PYTHON must have them, and the
# script fails without them, because setting the variable means the tests are expected to run.
# Extra arguments go to pytest.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
binding="$(cd "$here/.." && pwd)"
root="${NETCHAN_SOURCE_ROOT:-$(cd "$binding/../.." && pwd)}"

if [ -n "${NETCHAN_PYTHON:-}" ]; then
  python="$NETCHAN_PYTHON"
elif [ -x "$root/.venv/bin/python" ]; then
  python="$root/.venv/bin/python"
else
  python=python3
fi

# Exit status when the interpreter or its packages are missing: 77 (skip), or 1 when the
# interpreter was named explicitly.
missing_status=77
if [ -n "${NETCHAN_PYTHON:-}" ]; then
  missing_status=1
fi

if ! command -v "$python" >/dev/null; then
  echo "$([ "$missing_status" -eq 77 ] && echo SKIP || echo FAIL): no Python interpreter" \
    "$python; set NETCHAN_PYTHON or run bindings/python/setup-venv.sh"
  exit "$missing_status"
fi
missing="$("$python" - <<'PY'
import importlib.util
print(" ".join(name for name in ("pytest", "google.protobuf")
               if importlib.util.find_spec(name.split(".")[0]) is None
               or importlib.util.find_spec(name) is None))
PY
)"
if [ -n "$missing" ]; then
  echo "$([ "$missing_status" -eq 77 ] && echo SKIP || echo FAIL): $python lacks $missing;" \
    "run bindings/python/setup-venv.sh or set NETCHAN_PYTHON to an interpreter with pytest" \
    "and protobuf"
  exit "$missing_status"
fi

# Test the binding in this source tree, not a copy installed into the interpreter.
export PYTHONPATH="$binding/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
echo "python: $python ($("$python" --version 2>&1))"
exec "$python" -m pytest -p no:cacheprovider -ra "$here" "$@"
