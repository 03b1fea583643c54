#include "api/generic_status.h"

#include <fmt/format.h>

namespace shakeout::api {

ApiError generic_server_response(int code, const std::string& server_message) {
  std::string reason = "Unknown";
  std::string message =
      fmt::format("the server responded with the status code {} but did not return more information", code);
  switch (code) {
    case 400:
      reason = "BadRequest";
      message = "the server rejected our request for an unknown reason";
      break;
    case 401:
      reason = "Unauthorized";
      message = "the server has asked for the client to provide credentials";
      break;
    case 403:
      reason = "Forbidden";
      message = "the server does not allow access to the requested resource";
      break;
    case 404:
      reason = "NotFound";
      message = "the server could not find the requested resource";
      break;
    case 405:
      reason = "MethodNotAllowed";
      message = "the server does not allow this method on the requested resource";
      break;
    case 406:
      reason = "NotAcceptable";
      message = "the server was unable to respond with a content type that the client supports";
      break;
    case 409:
      reason = "Conflict";
      message = "the server reported a conflict";
      break;
    case 410:
      reason = "Gone";
      message = "the server has gone away";
      break;
    case 415:
      reason = "UnsupportedMediaType";
      message = "the server does not support the media type sent";
      break;
    case 422:
      reason = "Invalid";
      message = "the server rejected our request due to an error in our request";
      break;
    case 429:
      reason = "TooManyRequests";
      message = "the server has received too many requests and has asked us to try again later";
      break;
    case 503:
      reason = "ServiceUnavailable";
      message = "the server is currently unable to handle the request";
      break;
    case 504:
      reason = "Timeout";
      message =
          "the server was unable to return a response in the time allotted, but may still be processing "
          "the request";
      break;
    default:
      if (code >= 500) {
        reason = "InternalError";
        message = fmt::format("an error on the server (\"{}\") has prevented the request from succeeding",
                              server_message);
      }
  }
  return make_status(code, reason, message, nlohmann::json());
}

}  // namespace shakeout::api
