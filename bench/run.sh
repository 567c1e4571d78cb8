#!/usr/bin/env bash
# Compares netchan with raw libzmq, NATS JetStream and Redis Streams on this machine. Installs
# the Debian packages it needs when run as root, and lists the missing ones otherwise. Then builds
# a release build in build-peers and runs bench/peers.py, which starts nats-server and
# redis-server on 127.0.0.1 and prints the tables.
#
#   bash bench/run.sh            # a few minutes: 3 repeats, 1 s throughput runs
#   bash bench/run.sh --quick    # under a minute once built: 1 repeat, short runs
#
# Other options go to bench/peers.py (see `python3 bench/peers.py --help`). Results go to
# build-peers/bench-results/ (results.md, results.json, bench-throughput.png); docs/benchmarks.md
# records them.
set -euo pipefail

cd "$(dirname "$0")/.."
build=build-peers

build_packages=(
  build-essential pkg-config meson ninja-build
  libzmq3-dev libczmq-dev libprotobuf-c-dev protobuf-c-compiler python3
)
# Each peer is skipped, with a message, when its package is missing.
peer_packages=(nats-server libnats-dev redis-server libhiredis-dev gnuplot-nox)

missing_packages() {
  local package
  for package in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
      echo "$package"
    fi
  done
}

mapfile -t missing < <(missing_packages "${build_packages[@]}" "${peer_packages[@]}")
installed_now=false
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "run.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
    installed_now=true
  else
    echo "run.sh: missing Debian packages: ${missing[*]}" >&2
    echo "run.sh: install them with: sudo apt-get install ${missing[*]}" >&2
    mapfile -t missing_build < <(missing_packages "${build_packages[@]}")
    if [ "${#missing_build[@]}" -gt 0 ]; then
      echo "run.sh: cannot build without ${missing_build[*]}" >&2
      exit 1
    fi
    echo "run.sh: going on without them; the peers that need them are skipped" >&2
  fi
fi

# meson looks for the optional client libraries at setup time, so set up again after
# installing them.
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --buildtype=release
elif [ "$installed_now" = true ]; then
  meson setup --reconfigure "$build"
fi
ninja -C "$build" bench/netchan-bench-peers

python3 bench/peers.py --binary "$build/bench/netchan-bench-peers" --out "$build/bench-results" \
  --command "bash bench/run.sh${*:+ $*}" "$@"
