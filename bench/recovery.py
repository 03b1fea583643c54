#!/usr/bin/env python3
"""Control-plane recovery benchmark: pod deletion to a bound replacement.

Boots `shakeout up --detach` (fast profile: 1 etcd member, 1 apiserver, the
controller manager and the scheduler) with no kubelet: this script plays
one node (a Ready Node whose Lease it renews). A ReplicaSet keeps
--replicas pods; each run deletes one of them (gracefully, as a user
would) and measures, on one clock, from the DELETE request to the watch
event showing the replacement pod bound to the node:
  replacement created   - the ReplicaSet controller's new pod (ADDED)
  replacement bound     - the scheduler's binding (spec.nodeName set)
Baseline in the same run, same client: the harness itself creating a pod
and binding it through the binding subresource (two API round trips), so
the ratio shows what the two control loops add on top of the API.
Prints a table, writes JSON.

Usage: bench/recovery.py [--binary PATH] [--runs N] [--replicas N] [--out FILE]
Target: replacement bound p50 <= 30 ms (fast profile).
"""
import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from stats import summary

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Api:
    def __init__(self, host, port, token):
        self.host, self.port, self.token = host, port, token
        self.conn = http.client.HTTPConnection(host, port, timeout=30)

    def call(self, method, path, body=None, content_type="application/json"):
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": content_type}
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
        return json.loads(data) if data else {}


class PodWatch:
    """One watch on the bench namespace's pods; records, per pod name, when
    it was first seen and when first seen bound (perf_counter seconds)."""

    def __init__(self, host, port, token, namespace, rv):
        self.seen, self.bound = {}, {}
        self.lock = threading.Lock()
        self.sock = socket.create_connection((host, port))
        self.sock.sendall((f"GET /api/v1/namespaces/{namespace}/pods?watch=true&resourceVersion={rv} HTTP/1.1\r\n"
                           f"Host: {host}\r\nAuthorization: Bearer {token}\r\n\r\n").encode())
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        buffer = b""
        header_done = False
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            now = time.perf_counter()
            buffer += chunk
            if not header_done:
                if b"\r\n\r\n" not in buffer:
                    continue
                buffer = buffer.split(b"\r\n\r\n", 1)[1]
                header_done = True
            # Chunked encoding: the events are JSON lines inside the chunks;
            # scan for complete lines that parse as events.
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                line = line.strip()
                if not line.startswith(b"{"):
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                obj = event.get("object", {})
                name = obj.get("metadata", {}).get("name")
                if not name or event.get("type") == "DELETED":
                    continue
                with self.lock:
                    self.seen.setdefault(name, now)
                    if obj.get("spec", {}).get("nodeName"):
                        self.bound.setdefault(name, now)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def node_heartbeat(api, stop):
    """Plays the kubelet's node Lease renewal so the node stays Ready."""
    while not stop.wait(0.2):
        try:
            lease = api.call("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1")
            lease["spec"]["renewTime"] = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
            api.call("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1", lease)
        except Exception as error:  # keep renewing; a conflict or blip is fine
            print(f"lease renewal: {error}", file=sys.stderr)


def add_node(api):
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    node = api.call("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}})
    node["status"] = {
        "capacity": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
        "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "lastHeartbeatTime": now, "lastTransitionTime": now}]}
    api.call("PUT", "/api/v1/nodes/node-1/status", node)
    api.call("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "node-1", "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40,
                 "renewTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())}})


def pod_template(app):
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "app", "image": "shakeout/app"}]}}


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise RuntimeError(f"timed out waiting for {what}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "src", "cli", "shakeout"))
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "recovery.json"))
    args = parser.parse_args()

    runtime = tempfile.mkdtemp(prefix="shakeout-bench-")
    env = dict(os.environ, SHAKEOUT_RUNTIME_DIR=runtime)
    name = f"bench-recovery-{os.getpid()}"
    up = subprocess.run([args.binary, "up", "--detach", "--name", name], env=env, capture_output=True,
                        text=True, timeout=120)
    if up.returncode != 0:
        sys.exit(f"shakeout up failed: {up.stderr}")
    stop = threading.Event()
    watch = None
    try:
        kubeconfig = open(os.path.join(runtime, "clusters", name, "kubeconfig")).read()
        server = re.search(r"server: https?://([0-9.]+):([0-9]+)", kubeconfig)
        token = re.search(r"token: (\S+)", kubeconfig).group(1)
        host, port = server.group(1), int(server.group(2))
        api = Api(host, port, token)
        add_node(api)
        threading.Thread(target=node_heartbeat, args=(Api(host, port, token), stop), daemon=True).start()
        api.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": "bench"}})
        rv = api.call("GET", "/api/v1/namespaces/bench/pods")["metadata"]["resourceVersion"]
        watch = PodWatch(host, port, token, "bench", rv)

        # Baseline: the API path alone, create then bind, as one client.
        baseline = []
        for i in range(args.runs):
            started = time.perf_counter()
            api.call("POST", "/api/v1/namespaces/bench/pods",
                     {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"direct-{i}"},
                      # another scheduler's pod: ours leaves it to us
                      "spec": dict(pod_template("direct")["spec"], schedulerName="bench-direct")})
            api.call("POST", f"/api/v1/namespaces/bench/pods/direct-{i}/binding",
                     {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": f"direct-{i}"},
                      "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}})
            baseline.append((time.perf_counter() - started) * 1000)
            api.call("DELETE", f"/api/v1/namespaces/bench/pods/direct-{i}", {"gracePeriodSeconds": 0})

        api.call("POST", "/apis/apps/v1/namespaces/bench/replicasets", {
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
            "spec": {"replicas": args.replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": pod_template("web")}})

        def bound_web_pods():
            with watch.lock:
                return {n for n in watch.bound if n.startswith("web-")}

        wait_for(lambda: len(bound_web_pods()) >= args.replicas, 60, "the ReplicaSet's pods to be bound")
        created, bound = [], []
        victims_done = set()
        for run in range(args.runs):
            items = api.call("GET", "/api/v1/namespaces/bench/pods?labelSelector=app%3Dweb")["items"]
            live = [p for p in items if not p["metadata"].get("deletionTimestamp") and p["spec"].get("nodeName")]
            if len(live) < args.replicas:
                time.sleep(0.05)
                continue
            victim = live[0]["metadata"]["name"]
            before = bound_web_pods() | {p["metadata"]["name"] for p in items}
            started = time.perf_counter()
            api.call("DELETE", f"/api/v1/namespaces/bench/pods/{victim}")
            victims_done.add(victim)

            def replacement():
                with watch.lock:
                    fresh = [n for n in watch.bound if n.startswith("web-") and n not in before]
                    return fresh[0] if fresh else None

            wait_for(lambda: replacement() is not None, 30, f"a replacement for {victim}")
            new = replacement()
            with watch.lock:
                created.append((watch.seen[new] - started) * 1000)
                bound.append((watch.bound[new] - started) * 1000)
            # The played kubelet finishes the graceful delete.
            api.call("DELETE", f"/api/v1/namespaces/bench/pods/{victim}", {"gracePeriodSeconds": 0})

        rows = [summary("baseline: API create + bind", baseline),
                summary("delete -> replacement created", created),
                summary("delete -> replacement bound", bound)]
        ratios = {"bound_p50_over_baseline_p50": rows[2]["p50_ms"] / rows[0]["p50_ms"]}
        targets = {"replacement bound p50 <= 30 ms (fast)": rows[2]["p50_ms"] <= 30}
        print(f"{'measure':<34} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for r in rows:
            print(f"{r['name']:<34} {r['n']:>6} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['max_ms']:>8.2f}")
        for k, v in ratios.items():
            print(f"{k}: {v:.2f}")
        for k, ok in targets.items():
            print(f"target {k}: {'met' if ok else 'MISSED'}")
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump({"rows": rows, "ratios": ratios, "targets": targets, "profile": "fast",
                       "machine": {"cpus": os.cpu_count()}}, f, indent=2)
        print(f"wrote {args.out}")
    finally:
        stop.set()
        if watch:
            watch.close()
        subprocess.run([args.binary, "down", "--name", name], env=env, capture_output=True, timeout=60)
        shutil.rmtree(runtime, ignore_errors=True)


if __name__ == "__main__":
    main()
