#!/usr/bin/env bash
# Quick start, step 1: install, build, and run the default experiment
# (experiments/pod-kill.yaml) on the embedded cluster; it prints its table and
# writes its reports under shakeout-results/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/src/cli/shakeout run experiments/pod-kill.yaml "$@"
