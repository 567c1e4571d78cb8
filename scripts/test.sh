#!/usr/bin/env bash
# Sets up, builds and runs netchan's test suites: a normal build with every suite, then an
# AddressSanitizer and UndefinedBehaviorSanitizer build with the C suites, the unit tests under
# valgrind, and each fuzz target for a bounded time.
# Exits non-zero if any test fails. Build folders: build/, build-asan/ and build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --tests

# The bindings suite runs the Python binding under pytest in a virtual environment, and the Go
# binding under go test (installing Debian's golang-go when no go is on PATH).
bash bindings/python/setup-venv.sh .venv
export NETCHAN_PYTHON="$PWD/.venv/bin/python"
bash bindings/go/setup.sh

if [ ! -d build ]; then
  meson setup build -Dwerror=true
else
  meson configure build -Dwerror=true # the demo may have set it up without
fi
ninja -C build
status=0
meson test -C build --print-errorlogs || status=1

if [ ! -d build-asan ]; then
  meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true
fi
ninja -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-asan --print-errorlogs --suite unit --suite integration --suite features \
  --suite security || status=1

meson test -C build --setup valgrind --suite unit --print-errorlogs || status=1

if [ ! -d build-fuzz ]; then
  CC=clang meson setup build-fuzz -Dfuzzing=true -Dfuzz_seconds=20
fi
ninja -C build-fuzz tests/fuzz/fuzz_frame tests/fuzz/fuzz_value
meson test -C build-fuzz --suite fuzz --no-rebuild --print-errorlogs || status=1

exit "$status"
