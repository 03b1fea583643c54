#!/usr/bin/env bash
# Quick start, step 1: install, build, and run the default job: boot the
# embedded cluster in the foreground (Ctrl-C stops it and removes everything).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/src/cli/shakeout up "$@"
