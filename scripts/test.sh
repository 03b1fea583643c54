#!/usr/bin/env bash
# Quick start, step 2: install, build, and run every test through ctest.
#   SHAKEOUT_SANITIZE=1 scripts/test.sh   runs the suite under ASan + UBSan
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
if [[ "${SHAKEOUT_SANITIZE:-0}" == 1 ]]; then build_dir=${BUILD_DIR:-build-asan}; else build_dir=${BUILD_DIR:-build}; fi
cd "$build_dir"
ctest --output-on-failure -j "$(nproc)" "$@"
