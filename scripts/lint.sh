#!/usr/bin/env bash
# clang-format check and clang-tidy over src/ (or the files given).
# clang-tidy cannot read g++'s precompiled headers, so it gets its own
# compile database from a configure without them (build-lint/, not built).
set -euo pipefail
cd "$(dirname "$0")/.."
files=("$@")
if ((${#files[@]} == 0)); then mapfile -t files < <(find src -name '*.cc' | sort); fi
cmake -S . -B build-lint -G Ninja -DCMAKE_DISABLE_PRECOMPILE_HEADERS=ON -DSHAKEOUT_TESTS=OFF >/dev/null
clang-format --dry-run --Werror "${files[@]}"
# Boost 1.74 does not detect clang 14's C++20 coroutines on its own.
clang-tidy -p build-lint --quiet --extra-arg=-DBOOST_ASIO_HAS_CO_AWAIT --extra-arg=-DBOOST_ASIO_HAS_STD_COROUTINE "${files[@]}"
