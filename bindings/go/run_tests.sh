#!/usr/bin/env bash
# Runs the Go binding's tests (go vet, then go test -race) against the C library of a meson
# build. meson test calls it as: run_tests.sh SOURCE_ROOT BUILD_ROOT NETCHAN_CLI.
# Exits 77, which meson counts as skipped, when no Go toolchain is found. GO may name the go
# command to use, for example GO=/usr/lib/go-1.19/bin/go.
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 SOURCE_ROOT BUILD_ROOT NETCHAN_CLI" >&2
  exit 2
fi
source_root=$1
build_root=$2
cli=$3

go=${GO:-$(command -v go || true)}
if [ -z "$go" ] || [ ! -x "$go" ]; then
  echo "SKIP: no Go toolchain found (install Debian's golang-go, or run bindings/go/setup.sh)" >&2
  exit 77
fi

# cgo finds netchan.h and libnetchan through the build's uninstalled pkg-config file; the
# tests load the library from the build folder.
export PKG_CONFIG_PATH="$build_root/meson-uninstalled${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$build_root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export CGO_ENABLED=1
# A go.mod with no toolchain line and GOTOOLCHAIN=local keep the Go found above.
export GOTOOLCHAIN=local
export GOFLAGS=-mod=mod
export NETCHAN_CLI="$cli"
# For the test against a Python exporter, which skips when the Python binding is unavailable.
export NETCHAN_LIBRARY="$build_root/lib/libnetchan.so"

cd "$source_root/bindings/go"
echo "$("$go" version)"
"$go" vet ./...
"$go" test -race -count=1 -timeout 8m ./...
