#!/usr/bin/env python3
"""Experiment-run benchmark: what a whole `shakeout run` costs.

1. Full run of the default experiment (experiments/pod-kill.yaml: boot 3 nodes,
   apply web, steady 1 s, SIGKILL a container, recover, teardown), wall time of
   the command, against the baseline measured in the same run: `shakeout up
   --detach --nodes 3` plus `shakeout down` (boot and teardown alone).
   Target: <= 5 s.
2. Probe overhead: the harness's CPU time (utime + stime of the `shakeout run`
   process, from /proc) over a 10 s steady window with a service probe at
   200/s, minus the same experiment with the probe at 1/s. Target: <= 5% of
   a core.

Prints a table, writes JSON. Run it on an idle machine.
Usage: bench/run.py [--runs N] [--binary PATH] [--out FILE]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")

STEADY = """apiVersion: shakeout/v1
kind: Experiment
metadata: {{name: probe-overhead-{rate}}}
spec:
  cluster: {{nodes: 3, profile: fast}}
  workload: [{web}]
  probes:
    - {{name: web, service: web, rate: {rate}}}
  steadyFor: {seconds}s
  steadyState: [{{probe: web, successRatio: 0.99}}]
  recovery: {{timeout: 10s, stableFor: 100ms}}
"""


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def timed_run(binary, args, env):
    """Wall seconds and the harness's own CPU seconds (sampled until exit)."""
    begin = time.monotonic()
    proc = subprocess.Popen([binary] + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cpu = 0.0
    while proc.poll() is None:
        try:
            cpu = cpu_seconds(proc.pid)
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
        time.sleep(0.02)
    out, err = proc.communicate()
    wall = time.monotonic() - begin
    if proc.returncode != 0:
        raise RuntimeError(f"{args}: exit {proc.returncode}\n{out}\n{err}")
    return wall, cpu


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--binary", default=os.path.join(ROOT, "build/src/cli/shakeout"))
    parser.add_argument("--out", default=os.path.join(ROOT, "bench/results/run.json"))
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="shakeout-bench-run-", dir="/dev/shm")
    env = dict(os.environ, SHAKEOUT_RUNTIME_DIR=os.path.join(tmp, "root"))
    results = {}

    # 1. Full run against boot + teardown.
    full, baseline = [], []
    for i in range(args.runs):
        wall, _ = timed_run(args.binary, ["run", os.path.join(ROOT, "experiments/pod-kill.yaml"), "-q",
                                          "-o", os.path.join(tmp, "out")], env)
        full.append(wall)
        name = f"bench-run-{os.getpid()}-{i}"
        begin = time.monotonic()
        subprocess.run([args.binary, "up", "--detach", "--nodes", "3", "--name", name], env=env, check=True,
                       capture_output=True, timeout=120)
        subprocess.run([args.binary, "down", "--name", name], env=env, check=True, capture_output=True, timeout=60)
        baseline.append(time.monotonic() - begin)
    results["full_run"] = {"median_s": statistics.median(full), "runs_s": full,
                           "baseline_up_down_median_s": statistics.median(baseline), "baseline_runs_s": baseline,
                           "target_s": 5.0}

    # 2. Probe overhead: 200/s against 1/s over the same 10 s steady window.
    seconds = 10
    web = os.path.join(ROOT, "experiments/manifests/web.yaml")
    cpu = {}
    for rate in (1, 200):
        path = os.path.join(tmp, f"steady-{rate}.yaml")
        with open(path, "w") as f:
            f.write(STEADY.format(rate=rate, web=web, seconds=seconds))
        samples = []
        for _ in range(max(1, args.runs // 2)):
            _, used = timed_run(args.binary, ["run", path, "-q", "-o", os.path.join(tmp, "out")], env)
            samples.append(used)
        cpu[rate] = statistics.median(samples)
    overhead = (cpu[200] - cpu[1]) / seconds
    results["probe_overhead"] = {"harness_cpu_s_at_1_per_s": cpu[1], "harness_cpu_s_at_200_per_s": cpu[200],
                                 "window_s": seconds, "share_of_a_core": overhead, "target": 0.05}

    print(f"{'benchmark':<40} {'value':>12} {'baseline':>12} {'target':>10}")
    print(f"{'full pod-kill run (median)':<40} {results['full_run']['median_s']:>11.2f}s "
          f"{results['full_run']['baseline_up_down_median_s']:>11.2f}s {'<= 5 s':>10}")
    print(f"{'probe overhead at 200/s (share of core)':<40} {overhead * 100:>11.2f}% "
          f"{'(1/s)':>12} {'<= 5%':>10}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {args.out}")
    subprocess.run(["rm", "-rf", tmp])
    return 0


if __name__ == "__main__":
    sys.exit(main())
