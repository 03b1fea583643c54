#pragma once
// The Status a client makes of a bare HTTP error status, and the one an
// injected API fault answers with: upstream's NewGenericServerResponse
// (k8s.io/apimachinery/pkg/api/errors/errors.go) picks the reason and
// message by code. Pure.

#include <string>

#include "api/status.h"

namespace shakeout::api {

// A Failure Status for `code`: 400 BadRequest, 401 Unauthorized, 403
// Forbidden, 404 NotFound, 405 MethodNotAllowed, 406 NotAcceptable, 409
// Conflict, 410 Gone, 415 UnsupportedMediaType, 422 Invalid, 429
// TooManyRequests, 503 ServiceUnavailable, 504 Timeout, any other 5xx
// InternalError quoting `server_message`, anything else Unknown.
ApiError generic_server_response(int code, const std::string& server_message);

}  // namespace shakeout::api
