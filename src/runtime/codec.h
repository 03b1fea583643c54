#pragma once
// JSON codecs of the RuntimeService types, shared by the runtime's HTTP
// server and its client (runtime_client.cc), so both sides agree by
// construction. Keys are camelCase, as in the Kubernetes API.
//
// from_json() throws nlohmann::json::exception on a wrong type; absent
// fields take their defaults. Callers parse through parse_body(), which
// turns any exception into kInvalidArgument.

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "common/result.h"
#include "runtime/runtime_service.h"

namespace shakeout::runtime {

void to_json(nlohmann::json& j, const PodSandboxConfig& v);
void from_json(const nlohmann::json& j, PodSandboxConfig& v);
void to_json(nlohmann::json& j, const PodSandbox& v);
void from_json(const nlohmann::json& j, PodSandbox& v);
void to_json(nlohmann::json& j, const ContainerConfig& v);
void from_json(const nlohmann::json& j, ContainerConfig& v);
void to_json(nlohmann::json& j, const ContainerStatus& v);
void from_json(const nlohmann::json& j, ContainerStatus& v);
void to_json(nlohmann::json& j, const ExecResult& v);
void from_json(const nlohmann::json& j, ExecResult& v);
void to_json(nlohmann::json& j, const ServiceRule::Endpoint& v);
void from_json(const nlohmann::json& j, ServiceRule::Endpoint& v);
void to_json(nlohmann::json& j, const ServiceRule& v);
void from_json(const nlohmann::json& j, ServiceRule& v);
void to_json(nlohmann::json& j, const ServiceRuleStatus& v);
void from_json(const nlohmann::json& j, ServiceRuleStatus& v);
void to_json(nlohmann::json& j, const DataplaneRules& v);
void from_json(const nlohmann::json& j, DataplaneRules& v);

const char* to_string(ContainerState state);

// Parses `body` as JSON into T; kInvalidArgument (naming `what`) on any error.
template <typename T>
Result<T> parse_body(std::string_view body, std::string_view what) {
  try {
    const nlohmann::json parsed = nlohmann::json::parse(body);
    return parsed.get<T>();
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInvalidArgument, std::string(what) + ": " + e.what());
  }
}

// The error body {"reason", "message"}: reason is a stable name of the code
// ("NotFound", "InvalidArgument", ...), so the client restores the Error.
std::string error_body(const Error& error);
unsigned http_status(ErrorCode code);
// The Error of a non-2xx answer (falls back to kInternal with the raw body).
Error error_from_response(unsigned status, std::string_view body);

}  // namespace shakeout::runtime
