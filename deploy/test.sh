#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (GoogleTest under ctest, then the clinical
# safety check). Tests that need a server start the real engine on loopback themselves.
# Then the fuzz build (clang, ASan + UBSan + libFuzzer, into build-fuzz/) runs each fuzz target for
# a bounded time (CC_FUZZ_SECONDS, default 15) as its own ctest run: see docs/fuzzing.md. The fuzz
# build is optimised lightly (-O1, line tables only) to keep the whole run within CI's time.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
./deploy/build.sh
cmake -S . -B build-fuzz -DCC_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DCC_FUZZ_SECONDS="${CC_FUZZ_SECONDS:-15}" >/dev/null
cmake --build build-fuzz -j"$(nproc)"

status=0
echo "== fuzz targets (ctest in build-fuzz/)"
rm -f build-fuzz/fuzz/*.summary
(cd build-fuzz && ctest --output-on-failure -j"$(nproc)") || status=1
cat build-fuzz/fuzz/*.summary 2>/dev/null || true
echo "== tests (ctest in build/)"
(cd build && ctest --output-on-failure -j"$(nproc)") || status=1
exit $status
