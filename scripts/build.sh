#!/usr/bin/env bash
# Configures and builds shakeout into ${BUILD_DIR:-build}.
#   SHAKEOUT_SANITIZE=1  ASan + UBSan build (default dir build-asan)
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=${SHAKEOUT_SANITIZE:-0}
if [[ "$sanitize" == 1 ]]; then
  build_dir=${BUILD_DIR:-build-asan}
  flags=(-DSHAKEOUT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
else
  build_dir=${BUILD_DIR:-build}
  flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
fi
cmake -S . -B "$build_dir" -G Ninja -DSHAKEOUT_WERROR=ON "${flags[@]}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
