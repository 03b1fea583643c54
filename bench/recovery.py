#!/usr/bin/env python3
"""Recovery benchmark: pod deletion to a replacement serving through the Service.

Boots `shakeout up --detach --nodes 3` (fast profile: 1 etcd member, 1
apiserver, the controller manager, the scheduler, and per node a runtime,
kubelet and proxy). A ReplicaSet keeps --replicas `shakeout app` pods behind
a NodePort Service; each run deletes one of them (gracefully, as a user
would) and measures, on one clock, from the DELETE request to:
  replacement created   - the ReplicaSet controller's new pod (watch ADDED)
  replacement bound     - the scheduler's binding (spec.nodeName set)
  replacement started   - the kubelet reports its container running
  replacement ready     - the kubelet reports it Ready (readiness probe)
  replacement serving   - the first HTTP answer from it through a node's
                          NodePort (fresh connection per request, nodes in turn)
Baseline in the same run, same client: the harness itself creating a pod
and binding it through the binding subresource (two API round trips), so
the ratio shows what the control loops add on top of the API.
Prints a table, writes JSON.

Usage: bench/recovery.py [--binary PATH] [--runs N] [--replicas N] [--out FILE]
Targets (fast profile): replacement bound p50 <= 30 ms; replacement serving p50 <= 100 ms.
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
        self.seen, self.bound, self.started, self.ready = {}, {}, {}, {}
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
                status = obj.get("status", {})
                running = any("running" in c.get("state", {}) for c in status.get("containerStatuses", []))
                ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in status.get("conditions", []))
                with self.lock:
                    self.seen.setdefault(name, now)
                    if obj.get("spec", {}).get("nodeName"):
                        self.bound.setdefault(name, now)
                    if running:
                        self.started.setdefault(name, now)
                    if ready:
                        self.ready.setdefault(name, now)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def served_by(ip, port):
    """The pod that answers / through ip:port on a fresh connection, or None."""
    try:
        conn = http.client.HTTPConnection(ip, port, timeout=1)
        conn.request("GET", "/")
        response = conn.getresponse()
        body = response.read()
        conn.close()
        return json.loads(body).get("pod") if response.status == 200 else None
    except (OSError, ValueError, http.client.HTTPException):
        return None


def pod_template(app):
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "app", "image": "shakeout/app",
                                     "ports": [{"name": "http", "containerPort": 8080}],
                                     # periodSeconds 1 is 50 ms under the fast profile
                                     "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080},
                                                        "periodSeconds": 1, "failureThreshold": 1}}]}}


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
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "recovery.json"))
    args = parser.parse_args()

    # Under /dev/shm, where shakeout puts its runtime root by default.
    runtime = tempfile.mkdtemp(prefix="shakeout-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    env = dict(os.environ, SHAKEOUT_RUNTIME_DIR=runtime)
    name = f"bench-recovery-{os.getpid()}"
    up = subprocess.run([args.binary, "up", "--detach", "--name", name, "--nodes", "3"], env=env,
                        capture_output=True, text=True, timeout=120)
    if up.returncode != 0:
        sys.exit(f"shakeout up failed: {up.stderr}")
    watch = None
    try:
        kubeconfig = open(os.path.join(runtime, "clusters", name, "kubeconfig")).read()
        server = re.search(r"server: https?://([0-9.]+):([0-9]+)", kubeconfig)
        token = re.search(r"token: (\S+)", kubeconfig).group(1)
        host, port = server.group(1), int(server.group(2))
        api = Api(host, port, token)
        with open(os.path.join(runtime, "clusters", name, "cluster.json")) as f:
            node_ips = [n["ip"] for n in json.load(f)["nodes"]]
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

        service = api.call("POST", "/api/v1/namespaces/bench/services", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"type": "NodePort", "selector": {"app": "web"},
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
        node_port = service["spec"]["ports"][0]["nodePort"]
        api.call("POST", "/apis/apps/v1/namespaces/bench/replicasets", {
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
            "spec": {"replicas": args.replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": pod_template("web")}})

        def ready_web_pods():
            with watch.lock:
                return {n for n in watch.ready if n.startswith("web-")}

        wait_for(lambda: len(ready_web_pods()) >= args.replicas, 60, "the ReplicaSet's pods to be Ready")
        created, bound, started_ms, ready_ms, serving = [], [], [], [], []
        victims_done = set()
        for run in range(args.runs):
            items = api.call("GET", "/api/v1/namespaces/bench/pods?labelSelector=app%3Dweb")["items"]
            with watch.lock:
                live = [p for p in items if not p["metadata"].get("deletionTimestamp")
                        and p["metadata"]["name"] in watch.ready]
            if len(live) < args.replicas:
                time.sleep(0.05)
                continue
            victim = live[0]["metadata"]["name"]
            with watch.lock:
                before = set(watch.seen) | {p["metadata"]["name"] for p in items}
            started = time.perf_counter()
            api.call("DELETE", f"/api/v1/namespaces/bench/pods/{victim}")
            victims_done.add(victim)

            def replacement():
                with watch.lock:
                    fresh = [n for n in watch.bound if n.startswith("web-") and n not in before]
                    return fresh[0] if fresh else None

            wait_for(lambda: replacement() is not None, 30, f"a replacement for {victim}")
            new = replacement()
            # Serving: poll through the nodes' NodePorts until the new pod answers.
            answered_at = None
            deadline = time.perf_counter() + 30
            turn = 0
            while answered_at is None and time.perf_counter() < deadline:
                if served_by(node_ips[turn % len(node_ips)], node_port) == new:
                    answered_at = time.perf_counter()
                turn += 1
            if answered_at is None:
                raise RuntimeError(f"{new} never answered through the Service")
            wait_for(lambda: new in watch.ready, 30, f"{new} Ready")
            with watch.lock:
                created.append((watch.seen[new] - started) * 1000)
                bound.append((watch.bound[new] - started) * 1000)
                started_ms.append((watch.started[new] - started) * 1000)
                ready_ms.append((watch.ready[new] - started) * 1000)
            serving.append((answered_at - started) * 1000)

        rows = [summary("baseline: API create + bind", baseline),
                summary("delete -> replacement created", created),
                summary("delete -> replacement bound", bound),
                summary("delete -> replacement started", started_ms),
                summary("delete -> replacement ready", ready_ms),
                summary("delete -> replacement serving", serving)]
        ratios = {"bound_p50_over_baseline_p50": rows[2]["p50_ms"] / rows[0]["p50_ms"],
                  "serving_p50_over_baseline_p50": rows[5]["p50_ms"] / rows[0]["p50_ms"]}
        targets = {"replacement bound p50 <= 30 ms (fast)": rows[2]["p50_ms"] <= 30,
                   "replacement serving p50 <= 100 ms (fast)": rows[5]["p50_ms"] <= 100}
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
        if watch:
            watch.close()
        subprocess.run([args.binary, "down", "--name", name], env=env, capture_output=True, timeout=60)
        shutil.rmtree(runtime, ignore_errors=True)


if __name__ == "__main__":
    main()
