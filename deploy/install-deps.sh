#!/usr/bin/env bash
# Installs the Debian packages Connecting Care needs to build, test and run (as root; only what is missing).
set -euo pipefail
packages=(build-essential cmake pkg-config libboost-dev rapidjson-dev libcurl4-openssl-dev libssl-dev
          libsqlite3-dev libpq-dev libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev libspdlog-dev
          libvalijson-dev tzdata curl
          clang-14 libclang-rt-14-dev llvm-14)  # the fuzz build: clang, its ASan/UBSan/libFuzzer runtimes, llvm-symbolizer
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "run this as root (or with sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
