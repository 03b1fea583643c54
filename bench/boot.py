#!/usr/bin/env python3
"""Boot-to-ready benchmark: `shakeout up --detach` for 3 and 10 nodes with 1 and 3
etcd members (and 1 node + 1 member for reference).

For each size it runs several boots and reports the median of
  ready     - what shakeout reports (first process started -> every component
              ready and every Node Ready)
  command   - wall time of the whole `shakeout up --detach` command
and, as the baseline measured in the same run, a bare etcd member started by
this script with the same flags and polled until it serves a linearizable
read. Ratios are shakeout / baseline. Prints a table, writes JSON.

Usage: bench/boot.py [--runs N] [--binary PATH] [--out FILE]
Targets on the 2-core machine: 3 nodes + 1 member <= 0.5 s, 3 nodes + 3 members
<= 1.5 s. Beside them, the published cluster-creation times of kind (about 33 s)
and k3d (about 20 s) for a comparable local cluster.
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
# (nodes, etcd members) -> target, None where the issue sets none.
SIZES = [(1, 1, None), (3, 1, 500), (3, 3, 1500), (10, 1, None), (10, 3, None)]
PUBLISHED_MS = {"kind": 33000, "k3d": 20000}


def parse_ms(text):
    m = re.search(r"ready in ([0-9.]+)(ms|s|µs)", text)
    if not m:
        raise RuntimeError(f"no 'ready in' in output: {text!r}")
    value, unit = float(m.group(1)), m.group(2)
    return value * {"ms": 1, "s": 1000, "µs": 0.001}[unit]


def shakeout_boot(binary, nodes, members, runtime_dir, index):
    name = f"bench-{os.getpid()}-{nodes}-{members}-{index}"
    env = dict(os.environ, SHAKEOUT_RUNTIME_DIR=runtime_dir)
    begin = time.monotonic()
    up = subprocess.run([binary, "up", "--detach", "--name", name, "--etcd-members", str(members),
                         "--nodes", str(nodes)], env=env, capture_output=True, text=True, timeout=120)
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
        for nodes, members, target in SIZES:
            samples = [shakeout_boot(args.binary, nodes, members, runtime_dir, i) for i in range(args.runs)]
            ready = statistics.median(s[0] for s in samples)
            command = statistics.median(s[1] for s in samples)
            results["sizes"].append({
                "nodes": nodes, "etcdMembers": members, "readyMedianMs": round(ready, 1),
                "commandMedianMs": round(command, 1),
                "readyMinMs": round(min(s[0] for s in samples), 1), "readyMaxMs": round(max(s[0] for s in samples), 1),
                "baselineBareEtcdMs": round(baseline, 1), "readyVsBaseline": round(ready / baseline, 2),
                "targetMs": target, "meetsTarget": None if target is None else ready <= target,
                "vsKind": round(PUBLISHED_MS["kind"] / ready, 1), "vsK3d": round(PUBLISHED_MS["k3d"] / ready, 1)})
    results["publishedMs"] = PUBLISHED_MS

    print(f"{'nodes':>5} {'etcd':>4} {'ready (median)':>15} {'min':>8} {'max':>8} {'command':>9} "
          f"{'bare etcd':>10} {'ratio':>6} {'target':>7} {'kind 33 s':>10} {'k3d 20 s':>9}")
    for s in results["sizes"]:
        verdict = "-" if s["meetsTarget"] is None else ("ok" if s["meetsTarget"] else "MISS")
        print(f"{s['nodes']:>5} {s['etcdMembers']:>4} {s['readyMedianMs']:>12.1f} ms {s['readyMinMs']:>8.1f} "
              f"{s['readyMaxMs']:>8.1f} {s['commandMedianMs']:>9.1f} {s['baselineBareEtcdMs']:>10.1f} "
              f"{s['readyVsBaseline']:>6.2f} {verdict:>7} {s['vsKind']:>9.0f}x {s['vsK3d']:>8.0f}x")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
