"""Percentiles and table rows shared by the benchmarks."""


def pct(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, int(round(p / 100 * (len(values) - 1)))))
    return values[k]


def summary(name, latencies_ms, seconds=None):
    row = {"name": name, "n": len(latencies_ms), "p50_ms": pct(latencies_ms, 50),
           "p99_ms": pct(latencies_ms, 99), "max_ms": max(latencies_ms)}
    if seconds:
        row["per_s"] = len(latencies_ms) / seconds
    return row
