#!/usr/bin/env bash
# Installs what shakeout needs to build, test and run, from Debian 12's
# packages only. Idempotent: installs only what is missing and does nothing
# (not even `apt-get update`) when everything is there.
set -euo pipefail

packages=(
  g++ cmake ninja-build ccache pkg-config
  libboost1.74-dev            # Asio, Beast, Process
  libssl-dev                  # TLS for the API server (Asio SSL), cluster certificates
  nlohmann-json3-dev prometheus-cpp-dev libfmt-dev libgtest-dev libyaml-cpp-dev libcli11-dev
  etcd-server etcd-client     # real etcd 3.4 and etcdctl
  procps curl                 # ps/pgrep for leftover checks; curl for the Pushgateway test
  prometheus prometheus-pushgateway  # promtool and a real Pushgateway for the metrics tests
  python3-junitparser         # the JUnit parser the report tests check junit.xml with
  clang-format clang-tidy     # scripts/lint.sh
)

missing=()
for p in "${packages[@]}"; do
  [[ "$p" == \#* ]] && continue
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# etcd-server's maintainer scripts try to start a system etcd on 127.0.0.1:2379;
# keep them from starting services (nothing of ours uses a system etcd).
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
fi
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
