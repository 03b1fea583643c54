#!/usr/bin/env python3
"""API server benchmark against a 1-member etcd, with raw etcd as the baseline.

Boots `shakeout up --detach` (1 etcd member, 1 apiserver) and measures, in
the same run and with the same client code (Python, one keep-alive
connection each):
  etcd put / range      - raw etcd v3 JSON gateway calls: the baseline
  pod create            - POST at a paced 200 creates/s (latency per request)
  pod get / pod list    - GET one pod / LIST 100 pods
  watch fan-out         - 1,000 watch streams on one namespace; for each of
                          several changes, the delay until every watcher has
                          the event (per watcher, from the write's response)
Prints a table, writes JSON.

Usage: bench/api.py [--binary PATH] [--creates N] [--watchers N] [--out FILE]
Targets: pod create p99 <= 10 ms at 200/s; create p50 <= 2x raw etcd put
p50; 1,000 watchers see a change within 50 ms p99.
"""
import argparse
import base64
import http.client
import json
import os
import re
import shutil
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from stats import summary

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Api:
    def __init__(self, host, port, token):
        self.conn = http.client.HTTPConnection(host, port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method, path, body=None, content_type=None):
        headers = dict(self.headers)
        if content_type:
            headers["Content-Type"] = content_type
        begin = time.perf_counter()
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        took = (time.perf_counter() - begin) * 1000
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
        return took, data


class Etcd:
    def __init__(self, host, port):
        self.conn = http.client.HTTPConnection(host, port, timeout=30)

    def call(self, path, body):
        begin = time.perf_counter()
        self.conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"etcd {path}: {response.status} {data[:200]!r}")
        return (time.perf_counter() - begin) * 1000


def b64(text):
    return base64.b64encode(text.encode()).decode()


def pod(name, namespace="default"):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [{"name": "app", "image": "shakeout/app"}]}}


def paced(n, rate, fn):
    """Calls fn(i) n times at `rate` per second (open loop: the schedule does
    not wait for slow calls to catch up); returns latencies and wall time."""
    latencies = []
    begin = time.perf_counter()
    for i in range(n):
        due = begin + i / rate
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        latencies.append(fn(i))
    return latencies, time.perf_counter() - begin


def watch_fanout(host, port, token, api, watchers, changes):
    """Opens `watchers` raw watch connections and measures how long each
    change takes to reach all of them."""
    api.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                            "metadata": {"name": "fanout"}})
    api.call("POST", "/api/v1/namespaces/fanout/pods", pod("target", "fanout"))
    _, data = api.call("GET", "/api/v1/namespaces/fanout/pods")
    rv = json.loads(data)["metadata"]["resourceVersion"]
    sel = selectors.DefaultSelector()
    request = (f"GET /api/v1/namespaces/fanout/pods?watch=true&resourceVersion={rv} HTTP/1.1\r\n"
               f"Host: {host}\r\nAuthorization: Bearer {token}\r\n\r\n").encode()
    socks = []
    for _ in range(watchers):
        s = socket.create_connection((host, port))
        s.sendall(request)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, len(socks))
        socks.append(s)
    # Wait for every stream's response header.
    pending = set(range(watchers))
    deadline = time.time() + 30
    while pending and time.time() < deadline:
        for key, _ in sel.select(timeout=1):
            chunk = key.fileobj.recv(65536)
            if b"200 OK" in chunk:
                pending.discard(key.data)
    if pending:
        raise RuntimeError(f"{len(pending)} watchers never opened")
    delays = []
    for change in range(changes):
        marker = f"change-{change}".encode()
        got = set()
        sent = time.perf_counter()
        api.call("PATCH", "/api/v1/namespaces/fanout/pods/target",
                 {"metadata": {"labels": {"change": f"change-{change}"}}}, "application/merge-patch+json")
        deadline = time.time() + 10
        while len(got) < watchers and time.time() < deadline:
            for key, _ in sel.select(timeout=1):
                chunk = key.fileobj.recv(65536)
                if marker in chunk and key.data not in got:
                    got.add(key.data)
                    delays.append((time.perf_counter() - sent) * 1000)
        if len(got) < watchers:
            raise RuntimeError(f"change {change}: only {len(got)} of {watchers} watchers saw it")
        time.sleep(0.05)
    for s in socks:
        s.close()
    return delays


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "src", "cli", "shakeout"))
    parser.add_argument("--creates", type=int, default=1000)
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "api.json"))
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # Under /dev/shm, where shakeout puts its runtime root by default.
    runtime = tempfile.mkdtemp(prefix="shakeout-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    env = dict(os.environ, SHAKEOUT_RUNTIME_DIR=runtime)
    name = f"bench-api-{os.getpid()}"
    # The API server alone: no controller manager or scheduler writing
    # back (a scheduler would mark every unbound pod Unschedulable).
    up = subprocess.run([args.binary, "up", "--detach", "--name", name, "--controller-managers", "0",
                         "--schedulers", "0"], env=env, capture_output=True,
                        text=True, timeout=120)
    if up.returncode != 0:
        sys.exit(f"shakeout up failed: {up.stderr}")
    try:
        kubeconfig = open(os.path.join(runtime, "clusters", name, "kubeconfig")).read()
        server = re.search(r"server: https?://([0-9.]+):([0-9]+)", kubeconfig)
        token = re.search(r"token: (\S+)", kubeconfig).group(1)
        host, port = server.group(1), int(server.group(2))
        etcd_host = host[: host.rfind(".")] + ".11"
        api = Api(host, port, token)
        etcd = Etcd(etcd_host, 2379)

        rows = []
        warm = [etcd.call("/v3/kv/put", {"key": b64(f"/bench/warm/{i}"), "value": b64("x")}) for i in range(50)]
        del warm
        payload = json.dumps(pod("x"))
        puts, put_s = paced(args.creates, 200, lambda i: etcd.call(
            "/v3/kv/put", {"key": b64(f"/bench/raw/{i}"), "value": b64(payload)}))
        rows.append(summary("etcd put (raw, 200/s)", puts, put_s))
        ranges = [etcd.call("/v3/kv/range", {"key": b64(f"/bench/raw/{i}")}) for i in range(args.creates)]
        rows.append(summary("etcd range (raw)", ranges))

        for i in range(50):
            api.call("POST", "/api/v1/namespaces/default/pods", pod(f"warm-{i}"))
        creates, create_s = paced(args.creates, 200, lambda i: api.call(
            "POST", "/api/v1/namespaces/default/pods", pod(f"p-{i}"))[0])
        rows.append(summary("pod create (200/s)", creates, create_s))
        gets = [api.call("GET", f"/api/v1/namespaces/default/pods/p-{i}")[0] for i in range(args.creates)]
        rows.append(summary("pod get", gets))
        lists = [api.call("GET", "/api/v1/namespaces/default/pods?limit=100")[0] for _ in range(200)]
        rows.append(summary("pod list (100 items)", lists))
        delays = watch_fanout(host, port, token, api, args.watchers, args.changes)
        rows.append(summary(f"change -> all {args.watchers} watchers", delays))

        put_p50 = rows[0]["p50_ms"]
        ratios = {"create_p50_over_etcd_put_p50": rows[2]["p50_ms"] / put_p50,
                  "get_p50_over_etcd_range_p50": rows[3]["p50_ms"] / rows[1]["p50_ms"]}
        targets = {"pod create p99 <= 10 ms": rows[2]["p99_ms"] <= 10,
                   "create p50 <= 2x etcd put p50": ratios["create_p50_over_etcd_put_p50"] <= 2,
                   "watch fan-out p99 <= 50 ms": rows[-1]["p99_ms"] <= 50}

        print(f"{'measure':<34} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'per s':>8}")
        for r in rows:
            per_s = f"{r['per_s']:.0f}" if "per_s" in r else ""
            print(f"{r['name']:<34} {r['n']:>6} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['max_ms']:>8.2f} {per_s:>8}")
        for k, v in ratios.items():
            print(f"{k}: {v:.2f}")
        for k, ok in targets.items():
            print(f"target {k}: {'met' if ok else 'MISSED'}")
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump({"rows": rows, "ratios": ratios, "targets": targets,
                       "machine": {"cpus": os.cpu_count()}}, f, indent=2)
        print(f"wrote {args.out}")
    finally:
        subprocess.run([args.binary, "down", "--name", name], env=env, capture_output=True, timeout=60)
        shutil.rmtree(runtime, ignore_errors=True)


if __name__ == "__main__":
    main()
