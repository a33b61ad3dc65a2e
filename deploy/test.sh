#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (GoogleTest under ctest, then the clinical
# safety check). Tests that need a server start the real engine on loopback themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
./deploy/build.sh
cd build
ctest --output-on-failure -j"$(nproc)"
