#!/usr/bin/env bash
# Sets up and builds netchan, then runs the restart demo: an exporter kept running while
# importer processes come and go, some killed, ending with counts of values sent, received,
# lost and duplicated.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
if [ ! -d build ]; then
  meson setup build
fi
ninja -C build
exec python3 examples/restart_demo.py build/tools/netchan
