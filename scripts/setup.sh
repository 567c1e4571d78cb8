#!/usr/bin/env bash
# Installs the Debian packages netchan needs to build and test, when they are missing.
# Works on Debian 12; runs apt-get through sudo when not root.
set -euo pipefail

packages=(
  build-essential pkg-config meson ninja-build
  libzmq3-dev libczmq-dev libprotobuf-c-dev protobuf-c-compiler
  python3
)

# The test command also needs these: clang and its runtime for the fuzz targets, valgrind for
# the unit tests under memcheck, iproute2 for the network-namespace scenarios, and tcpdump for
# the capture that shows CURVE traffic carries no value in clear text.
if [ "${1:-}" = "--tests" ]; then
  packages+=(clang libclang-rt-14-dev valgrind iproute2 tcpdump)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
apt_get=(apt-get)
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "setup: missing packages ${missing[*]}; run as root or install sudo" >&2
    exit 1
  fi
  apt_get=(sudo apt-get)
fi
export DEBIAN_FRONTEND=noninteractive
"${apt_get[@]}" update -q
"${apt_get[@]}" install -y -q --no-install-recommends "${missing[@]}"
