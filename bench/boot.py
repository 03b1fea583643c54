#!/usr/bin/env python3
"""Boot-to-ready benchmark: `shakeout up --detach` for 1 and 3 etcd members.

For each size it runs several boots and reports the median of
  ready     - what shakeout reports (first process started -> every member ready)
  command   - wall time of the whole `shakeout up --detach` command
and, as the baseline measured in the same run, a bare etcd member started by
this script with the same flags and polled until it serves a linearizable
read. Ratios are shakeout / baseline. Prints a table, writes JSON.

Usage: bench/boot.py [--runs N] [--binary PATH] [--out FILE]
Targets on the 2-core machine: 1 member <= 150 ms, 3 members <= 1.5 s.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_MS = {1: 150, 3: 1500}


def parse_ms(text):
    m = re.search(r"ready in ([0-9.]+)(ms|s|µs)", text)
    if not m:
        raise RuntimeError(f"no 'ready in' in output: {text!r}")
    value, unit = float(m.group(1)), m.group(2)
    return value * {"ms": 1, "s": 1000, "µs": 0.001}[unit]


def shakeout_boot(binary, members, runtime_dir, index):
    name = f"bench-{os.getpid()}-{members}-{index}"
    env = dict(os.environ, SHAKEOUT_RUNTIME_DIR=runtime_dir)
    begin = time.monotonic()
    up = subprocess.run([binary, "up", "--detach", "--name", name, "--etcd-members", str(members)],
                        env=env, capture_output=True, text=True, timeout=120)
    command_ms = (time.monotonic() - begin) * 1000
    try:
        if up.returncode != 0:
            raise RuntimeError(f"shakeout up failed: {up.stderr}")
        return parse_ms(up.stdout), command_ms
    finally:
        subprocess.run([binary, "down", "--name", name], env=env, capture_output=True, timeout=60)


def bare_etcd_boot(tmp, index):
    """One etcd member, same flags as shakeout's fast profile, polled until a
    linearizable range succeeds."""
    ip = f"127.253.{index % 250 + 1}.11"
    data = os.path.join(tmp, f"bare-{index}")
    url = f"http://{ip}:2379"
    args = ["etcd", "--name", "etcd-1", "--data-dir", data,
            "--listen-client-urls", url, "--advertise-client-urls", url,
            "--listen-peer-urls", f"http://{ip}:2380", "--initial-advertise-peer-urls", f"http://{ip}:2380",
            "--initial-cluster", f"etcd-1=http://{ip}:2380", "--initial-cluster-state", "new",
            "--heartbeat-interval", "10", "--election-timeout", "100", "--logger", "zap", "--log-outputs", "stderr"]
    begin = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        body = json.dumps({"key": "L3I="}).encode()
        while time.monotonic() - begin < 30:
            try:
                req = urllib.request.Request(url + "/v3/kv/range", data=body, method="POST")
                with urllib.request.urlopen(req, timeout=1) as r:
                    if r.status == 200:
                        return (time.monotonic() - begin) * 1000
            except OSError:
                time.sleep(0.001)
        raise RuntimeError("bare etcd did not become ready")
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(data, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "src", "cli", "shakeout"))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "boot.json"))
    args = ap.parse_args()

    results = {"benchmark": "boot-to-ready", "runs": args.runs, "unit": "ms", "sizes": []}
    with tempfile.TemporaryDirectory(prefix="shakeout-bench-", dir="/dev/shm") as tmp:
        runtime_dir = os.path.join(tmp, "runtime")
        baseline = statistics.median(bare_etcd_boot(tmp, i) for i in range(args.runs))
        for members in (1, 3):
            samples = [shakeout_boot(args.binary, members, runtime_dir, i) for i in range(args.runs)]
            ready = statistics.median(s[0] for s in samples)
            command = statistics.median(s[1] for s in samples)
            results["sizes"].append({
                "etcdMembers": members, "readyMedianMs": round(ready, 1), "commandMedianMs": round(command, 1),
                "readyMinMs": round(min(s[0] for s in samples), 1), "readyMaxMs": round(max(s[0] for s in samples), 1),
                "baselineBareEtcdMs": round(baseline, 1), "readyVsBaseline": round(ready / baseline, 2),
                "targetMs": TARGET_MS[members], "meetsTarget": ready <= TARGET_MS[members]})

    print(f"{'etcd members':>12} {'ready (median)':>15} {'min':>8} {'max':>8} {'command':>9} "
          f"{'bare etcd':>10} {'ratio':>6} {'target':>7}")
    for s in results["sizes"]:
        print(f"{s['etcdMembers']:>12} {s['readyMedianMs']:>12.1f} ms {s['readyMinMs']:>8.1f} {s['readyMaxMs']:>8.1f} "
              f"{s['commandMedianMs']:>9.1f} {s['baselineBareEtcdMs']:>10.1f} {s['readyVsBaseline']:>6.2f} "
              f"{'ok' if s['meetsTarget'] else 'MISS':>7}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
