#pragma once
// metav1.Status error objects, shaped and worded as upstream's
// k8s.io/apimachinery/pkg/api/errors/errors.go builds them, and ApiError /
// ApiResult<T>, the error values the storage layer returns. The REST layer
// writes ApiError::status as the body with ApiError::code as HTTP status.

#include <utility>

#include <nlohmann/json.hpp>

#include <cassert>
#include <string>
#include <variant>
#include <vector>

#include "api/resource_registry.h"
#include "common/result.h"

namespace shakeout::api {

// One field error (upstream field.Error), e.g. {FieldValueInvalid,
// "metadata.name", `Invalid value: "A": ...`}.
struct Cause {
  std::string reason;   // "FieldValueInvalid", "FieldValueRequired", ...
  std::string field;    // "metadata.name"
  std::string message;  // without the field prefix
};

struct ApiError {
  int code = 500;
  nlohmann::json status;  // a complete metav1.Status object

  std::string reason() const { return status.value("reason", ""); }
  std::string message() const { return status.value("message", ""); }
};

// A Failure Status with `code`, `reason` and `message`; `details` is left
// out when null (the builders below use this).
ApiError make_status(int code, const std::string& reason, const std::string& message, nlohmann::json details);

// Builders. `resource` is the resource the request addressed.
// 404 NotFound: `pods "web-1" not found`, details {name, group, kind=plural}.
ApiError not_found(const ResourceInfo& resource, const std::string& name);
// 409 AlreadyExists: `pods "web-1" already exists`.
ApiError already_exists(const ResourceInfo& resource, const std::string& name);
// 409 Conflict: `Operation cannot be fulfilled on pods "web-1": <detail>`.
ApiError conflict(const ResourceInfo& resource, const std::string& name, const std::string& detail);
// The detail upstream uses for a failed optimistic-concurrency update.
inline constexpr const char* kOptimisticLockMessage =
    "the object has been modified; please apply your changes to the latest version and try again";
// 422 Invalid: `Pod "Bad" is invalid: metadata.name: Invalid value: ...`
// (several causes are joined as "[a, b]"); details.kind is the Kind.
ApiError invalid(const ResourceInfo& resource, const std::string& name, const std::vector<Cause>& causes);
// 400 BadRequest with `message`, no details.
ApiError bad_request(const std::string& message);
// 404 NotFound for a path that names no resource: "the server could not find
// the requested resource", empty details (upstream's NewGenericServerResponse).
ApiError path_not_found();
// 405 MethodNotAllowed for a verb the path does not serve.
ApiError method_not_allowed();
// 401 Unauthorized, as the authentication filter answers (no details).
ApiError unauthorized();
// 410 Expired (upstream NewResourceExpired).
ApiError expired(const std::string& message);
// 410 Gone (upstream NewGone).
ApiError gone(const std::string& message);
// 403 Forbidden: `pods "x" is forbidden: <detail>` (name may be empty).
ApiError forbidden(const ResourceInfo& resource, const std::string& name, const std::string& detail);
// 500 InternalError: `Internal error occurred: <detail>`.
ApiError internal_error(const std::string& detail);
// 503 ServiceUnavailable.
ApiError service_unavailable(const std::string& message);
// A storage error from the etcd client (timeouts, refused connections...).
ApiError from_storage_error(const Error& error);

// A value or an ApiError.
template <typename T>
using ApiResult = BasicResult<T, ApiError>;

}  // namespace shakeout::api
