#include "runtime/codec.h"
#include <utility>

#include <array>

namespace shakeout::runtime {

using nlohmann::json;

namespace {

// Reads `key` into `out` when present and not null.
template <typename T>
void read(const json& j, const char* key, T& out) {
  const auto it = j.find(key);
  if (it != j.end() && !it->is_null()) it->get_to(out);
}

constexpr std::array<std::pair<ErrorCode, const char*>, 11> kReasons = {{
    {ErrorCode::kInvalidArgument, "InvalidArgument"},
    {ErrorCode::kNotFound, "NotFound"},
    {ErrorCode::kAlreadyExists, "AlreadyExists"},
    {ErrorCode::kConflict, "Conflict"},
    {ErrorCode::kCompacted, "Compacted"},
    {ErrorCode::kTimeout, "Timeout"},
    {ErrorCode::kUnavailable, "Unavailable"},
    {ErrorCode::kCancelled, "Cancelled"},
    {ErrorCode::kIo, "IO"},
    {ErrorCode::kProtocol, "Protocol"},
    {ErrorCode::kInternal, "Internal"},
}};

}  // namespace

const char* to_string(ContainerState state) {
  return state == ContainerState::kRunning ? "running" : "exited";
}

void to_json(json& j, const PodSandboxConfig& v) {
  j = json{{"uid", v.uid}, {"namespace", v.ns}, {"name", v.name}, {"labels", v.labels}};
}
void from_json(const json& j, PodSandboxConfig& v) {
  read(j, "uid", v.uid);
  read(j, "namespace", v.ns);
  read(j, "name", v.name);
  read(j, "labels", v.labels);
}

void to_json(json& j, const PodSandbox& v) {
  j = json{{"uid", v.uid},
           {"namespace", v.ns},
           {"name", v.name},
           {"ip", v.ip},
           {"createdUnixMs", v.created_unix_ms},
           {"labels", v.labels}};
}
void from_json(const json& j, PodSandbox& v) {
  read(j, "uid", v.uid);
  read(j, "namespace", v.ns);
  read(j, "name", v.name);
  read(j, "ip", v.ip);
  read(j, "createdUnixMs", v.created_unix_ms);
  read(j, "labels", v.labels);
}

void to_json(json& j, const ContainerConfig& v) {
  j = json{{"podUid", v.pod_uid},  {"name", v.name}, {"attempt", v.attempt}, {"image", v.image},
           {"command", v.command}, {"args", v.args}, {"env", v.env},         {"workingDir", v.working_dir}};
}
void from_json(const json& j, ContainerConfig& v) {
  read(j, "podUid", v.pod_uid);
  read(j, "name", v.name);
  read(j, "attempt", v.attempt);
  read(j, "image", v.image);
  read(j, "command", v.command);
  read(j, "args", v.args);
  read(j, "env", v.env);
  read(j, "workingDir", v.working_dir);
}

void to_json(json& j, const ContainerStatus& v) {
  j = json{{"id", v.id},
           {"podUid", v.pod_uid},
           {"name", v.name},
           {"attempt", v.attempt},
           {"image", v.image},
           {"state", to_string(v.state)},
           {"pid", v.pid},
           {"startedUnixMs", v.started_unix_ms},
           {"finishedUnixMs", v.finished_unix_ms},
           {"exitCode", v.exit_code},
           {"reason", v.reason},
           {"logPath", v.log_path}};
}
void from_json(const json& j, ContainerStatus& v) {
  read(j, "id", v.id);
  read(j, "podUid", v.pod_uid);
  read(j, "name", v.name);
  read(j, "attempt", v.attempt);
  read(j, "image", v.image);
  std::string state = "running";
  read(j, "state", state);
  if (state != "running" && state != "exited")
    throw std::invalid_argument("state: '" + state + "' is not running|exited");
  v.state = state == "running" ? ContainerState::kRunning : ContainerState::kExited;
  read(j, "pid", v.pid);
  read(j, "startedUnixMs", v.started_unix_ms);
  read(j, "finishedUnixMs", v.finished_unix_ms);
  read(j, "exitCode", v.exit_code);
  read(j, "reason", v.reason);
  read(j, "logPath", v.log_path);
}

void to_json(json& j, const ExecResult& v) {
  j = json{{"exitCode", v.exit_code}, {"output", v.output}};
}
void from_json(const json& j, ExecResult& v) {
  read(j, "exitCode", v.exit_code);
  read(j, "output", v.output);
}

void to_json(json& j, const ServiceRule::Endpoint& v) {
  j = json{{"ip", v.ip}, {"port", v.port}};
}
void from_json(const json& j, ServiceRule::Endpoint& v) {
  read(j, "ip", v.ip);
  read(j, "port", v.port);
}

void to_json(json& j, const ServiceRule& v) {
  j = json{{"name", v.name},          {"clusterIP", v.cluster_ip}, {"port", v.port},
           {"nodePort", v.node_port}, {"protocol", v.protocol},    {"mode", v.mode},
           {"endpoints", v.endpoints}};
}
void from_json(const json& j, ServiceRule& v) {
  read(j, "name", v.name);
  read(j, "clusterIP", v.cluster_ip);
  read(j, "port", v.port);
  read(j, "nodePort", v.node_port);
  read(j, "protocol", v.protocol);
  read(j, "mode", v.mode);
  read(j, "endpoints", v.endpoints);
}

void to_json(json& j, const ServiceRuleStatus& v) {
  j = json{{"name", v.name},
           {"listening", v.listening},
           {"bindErrors", v.bind_errors},
           {"connectionsTotal", v.connections_total},
           {"connectionsActive", v.connections_active},
           {"connectFailuresTotal", v.connect_failures_total}};
}
void from_json(const json& j, ServiceRuleStatus& v) {
  read(j, "name", v.name);
  read(j, "listening", v.listening);
  read(j, "bindErrors", v.bind_errors);
  read(j, "connectionsTotal", v.connections_total);
  read(j, "connectionsActive", v.connections_active);
  read(j, "connectFailuresTotal", v.connect_failures_total);
}

void to_json(json& j, const DataplaneRules& v) {
  j = json{{"generation", v.generation}, {"services", v.services}};
  if (!v.status.empty()) j["status"] = v.status;
}
void from_json(const json& j, DataplaneRules& v) {
  read(j, "generation", v.generation);
  read(j, "services", v.services);
  read(j, "status", v.status);
}

std::string error_body(const Error& error) {
  const char* reason = "Internal";
  for (const auto& [code, name] : kReasons)
    if (code == error.code) reason = name;
  const json body = {{"reason", reason}, {"message", error.message}};
  return body.dump();
}

unsigned http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kTimeout:
      return 504;
    case ErrorCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

Error error_from_response(unsigned status, std::string_view body) {
  try {
    const json parsed = json::parse(body);
    const std::string reason = parsed.value("reason", "");
    std::string message = parsed.value("message", "");
    for (const auto& [code, name] : kReasons)
      if (reason == name) return make_error(code, std::move(message));
  } catch (const std::exception&) {
    // Not our error body: keep the raw text below.
  }
  return make_error(ErrorCode::kInternal,
                    "HTTP " + std::to_string(status) + ": " + std::string(body.substr(0, 512)));
}

}  // namespace shakeout::runtime
