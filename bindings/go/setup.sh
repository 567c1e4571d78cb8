#!/usr/bin/env bash
# Prepares the Go binding's tests: installs Debian's golang-go (Go 1.19 on Debian 12) with
# apt-get when no go command is on PATH, then downloads the Go modules that go.mod names.
# Needs root to install; otherwise it prints what to install and exits 1.
set -euo pipefail
cd "$(dirname "$0")"

go=${GO:-$(command -v go || true)}
if [ -z "$go" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: no go command found; install Debian's golang-go (apt-get install golang-go)" \
      "or another Go 1.19 or newer, then run this script again" >&2
    exit 1
  fi
  echo "setup.sh: installing golang-go" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends golang-go
  go=$(command -v go)
fi

echo "setup.sh: $("$go" version); downloading modules" >&2
GOTOOLCHAIN=local GOFLAGS=-mod=mod "$go" mod download
