#include "api/status.h"

#include <fmt/format.h>

namespace shakeout::api {

namespace {

using nlohmann::json;

// StatusDetails drops empty fields (omitempty), e.g. the core group.
json details_for(const std::string& name, const std::string& group, const std::string& kind) {
  json details = json::object();
  if (!name.empty()) details["name"] = name;
  if (!group.empty()) details["group"] = group;
  if (!kind.empty()) details["kind"] = kind;
  return details;
}

}  // namespace

ApiError make_status(int code, const std::string& reason, const std::string& message, json details) {
  json status = json::object();
  status["kind"] = "Status";
  status["apiVersion"] = "v1";
  status["metadata"] = json::object();
  status["status"] = "Failure";
  status["message"] = message;
  status["reason"] = reason;
  if (!details.is_null()) status["details"] = std::move(details);
  status["code"] = code;
  ApiError error;
  error.code = code;
  error.status = std::move(status);
  return error;
}

ApiError method_not_allowed() {
  return make_status(405, "MethodNotAllowed",
                     "the server does not allow this method on the requested resource", json::object());
}

ApiError unauthorized() {
  return make_status(401, "Unauthorized", "Unauthorized", json());
}

ApiError not_found(const ResourceInfo& resource, const std::string& name) {
  return make_status(404, "NotFound", fmt::format("{} \"{}\" not found", resource.group_resource(), name),
                     details_for(name, resource.group, resource.plural));
}

ApiError already_exists(const ResourceInfo& resource, const std::string& name) {
  return make_status(409, "AlreadyExists",
                     fmt::format("{} \"{}\" already exists", resource.group_resource(), name),
                     details_for(name, resource.group, resource.plural));
}

ApiError conflict(const ResourceInfo& resource, const std::string& name, const std::string& detail) {
  return make_status(
      409, "Conflict",
      fmt::format("Operation cannot be fulfilled on {} \"{}\": {}", resource.group_resource(), name, detail),
      details_for(name, resource.group, resource.plural));
}

ApiError invalid(const ResourceInfo& resource, const std::string& name, const std::vector<Cause>& causes) {
  // Upstream NewInvalid: ErrorList.ToAggregate().Error() is the one error,
  // or "[e1, e2]" for several.
  std::vector<std::string> errors;
  json cause_list = json::array();
  for (const auto& c : causes) {
    errors.push_back(c.field.empty() ? c.message : c.field + ": " + c.message);
    json cause = json::object();
    cause["reason"] = c.reason;
    cause["message"] = c.message;
    cause["field"] = c.field;
    cause_list.push_back(std::move(cause));
  }
  std::string joined = errors.size() == 1 ? errors[0] : fmt::format("[{}]", fmt::join(errors, ", "));
  json details = details_for(name, resource.group, resource.kind);
  details["causes"] = std::move(cause_list);
  return make_status(422, "Invalid",
                     fmt::format("{} \"{}\" is invalid: {}", resource.group_kind(), name, joined),
                     std::move(details));
}

ApiError path_not_found() {
  return make_status(404, "NotFound", "the server could not find the requested resource", json::object());
}

ApiError bad_request(const std::string& message) {
  return make_status(400, "BadRequest", message, json());
}

ApiError expired(const std::string& message) {
  return make_status(410, "Expired", message, json());
}

ApiError gone(const std::string& message) {
  return make_status(410, "Gone", message, json());
}

ApiError forbidden(const ResourceInfo& resource, const std::string& name, const std::string& detail) {
  std::string message =
      name.empty() ? fmt::format("{} is forbidden: {}", resource.group_resource(), detail)
                   : fmt::format("{} \"{}\" is forbidden: {}", resource.group_resource(), name, detail);
  return make_status(403, "Forbidden", message, details_for(name, resource.group, resource.plural));
}

ApiError internal_error(const std::string& detail) {
  json details = json::object();
  json cause = json::object();
  cause["message"] = detail;
  details["causes"] = json::array({cause});
  return make_status(500, "InternalError", "Internal error occurred: " + detail, std::move(details));
}

ApiError service_unavailable(const std::string& message) {
  return make_status(503, "ServiceUnavailable", message, json());
}

ApiError from_storage_error(const Error& error) {
  switch (error.code) {
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout:
      return service_unavailable("storage unavailable: " + error.message);
    default:
      return internal_error(error.describe());
  }
}

}  // namespace shakeout::api
