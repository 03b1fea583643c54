#!/usr/bin/env python3
"""Link proxy benchmark: what `shakeout link` (no toxics) adds to a TCP connection.

Measures, in one run, against the direct connection as the baseline:
  (a) round-trip latency of 1-byte ping-pong (p50/p99), direct / via `shakeout link` /
      via haproxy in TCP mode (if installed); added latency = via - direct;
  (b) bulk throughput of one connection sending --bulk-mib MiB one way into a sink.
The servers and clients are a small C program this script writes to a temporary
directory and compiles with cc (Python is too slow to measure 1 GB/s). haproxy runs
with `nbthread 1`, like the link, which is single-threaded. Prints a table, writes
JSON. Targets (issue): added p50 <= 50 us per round trip; throughput >= 1 GB/s.

Usage: bench/link.py [--binary PATH] [--pings N] [--bulk-mib N] [--out FILE]
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TOOL_C = r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF (256 * 1024)

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}
static void nodelay(int fd) { int one = 1; setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); }
static struct sockaddr_in addr_of(int port) {
  struct sockaddr_in a; memset(&a, 0, sizeof a);
  a.sin_family = AF_INET; a.sin_port = htons(port); a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}
static int write_all(int fd, const char* p, size_t n) {
  while (n > 0) { ssize_t w = write(fd, p, n); if (w <= 0) return -1; p += w; n -= (size_t)w; }
  return 0;
}
static void* echo_conn(void* arg) {
  int fd = (int)(intptr_t)arg; char* buf = malloc(BUF); ssize_t n;
  while ((n = read(fd, buf, BUF)) > 0) if (write_all(fd, buf, (size_t)n)) break;
  close(fd); free(buf); return NULL;
}
static void* sink_conn(void* arg) {
  int fd = (int)(intptr_t)arg; char* buf = malloc(BUF); ssize_t n; uint64_t total = 0;
  while ((n = read(fd, buf, BUF)) > 0) total += (uint64_t)n;
  write_all(fd, (char*)&total, sizeof total);
  close(fd); free(buf); return NULL;
}
static int serve(int port, void* (*fn)(void*)) {
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = addr_of(port);
  if (bind(s, (struct sockaddr*)&a, sizeof a) || listen(s, 128)) { perror("bind"); return 1; }
  printf("ready\n"); fflush(stdout);
  for (;;) {
    int c = accept(s, NULL, NULL); if (c < 0) continue;
    nodelay(c); pthread_t t; pthread_create(&t, NULL, fn, (void*)(intptr_t)c); pthread_detach(t);
  }
}
static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0); struct sockaddr_in a = addr_of(port);
  if (connect(fd, (struct sockaddr*)&a, sizeof a)) { perror("connect"); exit(1); }
  nodelay(fd); return fd;
}
static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b; return x < y ? -1 : x > y;
}
int main(int argc, char** argv) {
  if (argc < 3) return 2;
  int port = atoi(argv[2]);
  if (!strcmp(argv[1], "echo")) return serve(port, echo_conn);
  if (!strcmp(argv[1], "sink")) return serve(port, sink_conn);
  if (!strcmp(argv[1], "ping")) {  /* ping PORT N: 1-byte round trips, prints p50 p99 in us */
    int n = atoi(argv[3]), fd = dial(port); double* us = malloc(sizeof(double) * n); char b = 'p';
    for (int i = 0; i < n + 100; ++i) {  /* the first 100 warm up */
      double t0 = now();
      if (write(fd, &b, 1) != 1 || read(fd, &b, 1) != 1) { perror("ping"); return 1; }
      if (i >= 100) us[i - 100] = (now() - t0) * 1e6;
    }
    qsort(us, n, sizeof(double), cmp);
    printf("%.2f %.2f\n", us[n / 2], us[(int)(n * 0.99)]); return 0;
  }
  if (!strcmp(argv[1], "bulk")) {  /* bulk PORT MIB: sends MIB MiB, prints seconds */
    long long total = atoll(argv[3]) << 20, left = total; int fd = dial(port);
    char* buf = malloc(BUF); memset(buf, 'x', BUF); double t0 = now();
    while (left > 0) { size_t n = left < BUF ? (size_t)left : BUF; if (write_all(fd, buf, n)) return 1; left -= n; }
    shutdown(fd, SHUT_WR); uint64_t got = 0;
    if (read(fd, &got, sizeof got) != sizeof got || (long long)got != total) { fprintf(stderr, "short\n"); return 1; }
    printf("%.6f\n", now() - t0); return 0;
  }
  return 2;
}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {port}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "src", "cli", "shakeout"))
    ap.add_argument("--pings", type=int, default=20000)
    ap.add_argument("--bulk-mib", type=int, default=2048)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "link.json"))
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="shakeout-bench-link-")
    procs = []
    try:
        tool = os.path.join(tmp, "tool")
        with open(tool + ".c", "w") as f:
            f.write(TOOL_C)
        subprocess.run(["cc", "-O2", "-pthread", "-o", tool, tool + ".c"], check=True)

        def spawn(argv, **kw):
            p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
            procs.append(p)
            return p

        echo, sink = free_port(), free_port()
        spawn([tool, "echo", str(echo)])
        spawn([tool, "sink", str(sink)])
        wait_port(echo)
        wait_port(sink)
        paths = {"direct": (echo, sink)}

        link_echo, link_sink = free_port(), free_port()
        for listen, upstream, name in ((link_echo, echo, "bench->echo"), (link_sink, sink, "bench->sink")):
            spawn([args.binary, "--log-level", "warn", "link", "--name", name,
                   "--listen", f"127.0.0.1:{listen}", "--upstream", f"127.0.0.1:{upstream}"])
            wait_port(listen)
        paths["shakeout link"] = (link_echo, link_sink)

        notes = []
        haproxy = shutil.which("haproxy")
        if haproxy:
            ha_echo, ha_sink = free_port(), free_port()
            cfg = os.path.join(tmp, "haproxy.cfg")
            with open(cfg, "w") as f:
                f.write("global\n  nbthread 1\n  maxconn 100\n"
                        "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 1h\n  timeout server 1h\n"
                        f"listen echo\n  bind 127.0.0.1:{ha_echo}\n  server s 127.0.0.1:{echo}\n"
                        f"listen sink\n  bind 127.0.0.1:{ha_sink}\n  server s 127.0.0.1:{sink}\n")
            spawn([haproxy, "-f", cfg, "-db"])
            wait_port(ha_echo)
            wait_port(ha_sink)
            paths["haproxy (tcp, 1 thread)"] = (ha_echo, ha_sink)
        else:
            notes.append("haproxy not installed: skipped (apt-get install -y haproxy)")

        rows = []
        for name, (echo_port, sink_port) in paths.items():
            ping = subprocess.run([tool, "ping", str(echo_port), str(args.pings)], check=True,
                                  capture_output=True, text=True).stdout.split()
            seconds = float(subprocess.run([tool, "bulk", str(sink_port), str(args.bulk_mib)], check=True,
                                           capture_output=True, text=True).stdout)
            rows.append({"path": name, "rttP50Us": float(ping[0]), "rttP99Us": float(ping[1]),
                         "bulkGBps": args.bulk_mib * (1 << 20) / seconds / 1e9})
        base = rows[0]
        for row in rows:
            row["addedP50Us"] = row["rttP50Us"] - base["rttP50Us"]
            row["addedP99Us"] = row["rttP99Us"] - base["rttP99Us"]
            row["throughputRatio"] = row["bulkGBps"] / base["bulkGBps"]

        print(f"{'path':<26} {'rtt p50':>9} {'rtt p99':>9} {'added p50':>10} {'added p99':>10} "
              f"{'bulk':>10} {'vs direct':>9}")
        for r in rows:
            print(f"{r['path']:<26} {r['rttP50Us']:>6.1f} us {r['rttP99Us']:>6.1f} us "
                  f"{r['addedP50Us']:>7.1f} us {r['addedP99Us']:>7.1f} us {r['bulkGBps']:>6.2f} GB/s "
                  f"{r['throughputRatio']:>8.2f}x")
        for note in notes:
            print(f"note: {note}")
        results = {"benchmark": "link", "pings": args.pings, "bulkMiB": args.bulk_mib,
                   "cpus": os.cpu_count(), "targets": {"addedP50Us": 50, "bulkGBps": 1.0},
                   "rows": rows, "notes": notes}
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
        print(f"wrote {args.out}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
