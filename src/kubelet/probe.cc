#include "kubelet/probe.h"

#include "kubelet/json_fields.h"
#include "kubelet/options.h"

namespace shakeout::kubelet {
namespace {

using json = nlohmann::json;

const char* probe_field(ProbeKind kind) {
  switch (kind) {
    case ProbeKind::kReadiness:
      return "readinessProbe";
    case ProbeKind::kLiveness:
      return "livenessProbe";
    case ProbeKind::kStartup:
      return "startupProbe";
  }
  return "";
}

// A port number, or a named port of the container; 0 if neither.
int resolve_port(const json& port, const json& container) {
  if (port.is_number_integer()) return port.get<int>();
  if (!port.is_string()) return 0;
  const std::string name = port.get<std::string>();
  const json& ports = field(container, "ports");
  if (ports.is_array())
    for (const auto& p : ports)
      if (string_field(p, "name") == name) return static_cast<int>(int_field(p, "containerPort", 0));
  // "8080" as a string is a number too (intstr).
  try {
    return std::stoi(name);
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

const char* to_string(ProbeKind kind) {
  switch (kind) {
    case ProbeKind::kReadiness:
      return "Readiness";
    case ProbeKind::kLiveness:
      return "Liveness";
    case ProbeKind::kStartup:
      return "Startup";
  }
  return "";
}

std::optional<ProbeSpec> parse_probe(const json& container, ProbeKind kind, double time_scale) {
  const json& probe = field(container, probe_field(kind));
  if (!probe.is_object()) return std::nullopt;
  ProbeSpec spec;
  const json& http = field(probe, "httpGet");
  const json& tcp = field(probe, "tcpSocket");
  const json& exec = field(probe, "exec");
  if (http.is_object()) {
    spec.action = ProbeSpec::Action::kHttpGet;
    spec.host = string_field(http, "host");
    spec.port = resolve_port(field(http, "port"), container);
    const std::string path = string_field(http, "path");
    spec.path = path.empty() ? "/" : (path.front() == '/' ? path : "/" + path);
    const std::string scheme = string_field(http, "scheme");
    spec.scheme = scheme.empty() ? "HTTP" : scheme;
    const json& headers = field(http, "httpHeaders");
    if (headers.is_array())
      for (const auto& h : headers)
        spec.headers.emplace_back(string_field(h, "name"), string_field(h, "value"));
  } else if (tcp.is_object()) {
    spec.action = ProbeSpec::Action::kTcpSocket;
    spec.host = string_field(tcp, "host");
    spec.port = resolve_port(field(tcp, "port"), container);
  } else if (exec.is_object()) {
    spec.action = ProbeSpec::Action::kExec;
    const json& command = field(exec, "command");
    if (command.is_array())
      for (const auto& c : command)
        if (c.is_string()) spec.command.push_back(c.get<std::string>());
  }
  const auto seconds = [&probe](const char* name, int64_t fallback) {
    return static_cast<double>(std::max<int64_t>(0, int_field(probe, name, fallback)));
  };
  spec.initial_delay = scale_seconds(seconds("initialDelaySeconds", 0), time_scale, Millis(0));
  spec.period = scale_seconds(std::max(1.0, seconds("periodSeconds", 10)), time_scale, kMinProbePeriod);
  spec.timeout = scale_seconds(std::max(1.0, seconds("timeoutSeconds", 1)), time_scale, kMinProbeTimeout);
  spec.success_threshold = static_cast<int>(std::max<int64_t>(1, int_field(probe, "successThreshold", 1)));
  if (kind != ProbeKind::kReadiness) spec.success_threshold = 1;
  spec.failure_threshold = static_cast<int>(std::max<int64_t>(1, int_field(probe, "failureThreshold", 3)));
  return spec;
}

ProbeState::ProbeState(ProbeKind kind, int success_threshold, int failure_threshold)
    : success_threshold_(std::max(1, success_threshold)),
      failure_threshold_(std::max(1, failure_threshold)),
      result_(kind == ProbeKind::kStartup ? std::nullopt
                                          : std::optional<bool>(kind == ProbeKind::kLiveness)) {}

bool ProbeState::record(bool success) {
  if (last_ && *last_ == success) {
    ++run_;
  } else {
    last_ = success;
    run_ = 1;
  }
  const std::optional<bool> before = result_;
  if (success && run_ >= success_threshold_) result_ = true;
  if (!success && run_ >= failure_threshold_) result_ = false;
  return before != result_;
}

SteadyTime next_probe_tick(SteadyTime now, SteadyTime anchor, Millis period) {
  if (period <= Millis(0)) return now;
  if (now < anchor) return anchor;
  const auto ticks = (now - anchor) / period + 1;
  return anchor + ticks * period;
}

}  // namespace shakeout::kubelet
