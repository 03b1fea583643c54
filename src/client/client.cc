#include "client/client.h"

#include <fmt/format.h>

#include <chrono>

#include "api/generic_status.h"

namespace shakeout::client {

namespace {

using net::percent_encode;

// Failures worth trying on the next server: the request may not have reached
// this one, or this one is gone. A cancelled call is the caller's choice.
bool fail_over(const Error& error) {
  return error.code == ErrorCode::kUnavailable || error.code == ErrorCode::kTimeout;
}

api::ApiResult<json> decode_response(const net::HttpResponse& response) {
  if (response.status < 200 || response.status >= 300)
    return error_from_response(response.status, response.body);
  if (response.body.empty()) return json::object();
  json body = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    return api::make_status(
        500, "InternalError",
        fmt::format("the server answered {} with a body that is not JSON", response.status), json());
  }
  return body;
}

std::vector<std::pair<std::string, std::string>> list_params(const ListOptions& options) {
  std::vector<std::pair<std::string, std::string>> params;
  if (!options.label_selector.empty()) params.emplace_back("labelSelector", options.label_selector);
  if (!options.field_selector.empty()) params.emplace_back("fieldSelector", options.field_selector);
  if (options.limit > 0) params.emplace_back("limit", std::to_string(options.limit));
  if (!options.continue_token.empty()) params.emplace_back("continue", options.continue_token);
  if (!options.resource_version.empty()) params.emplace_back("resourceVersion", options.resource_version);
  if (!options.resource_version_match.empty()) {
    params.emplace_back("resourceVersionMatch", options.resource_version_match);
  }
  return params;
}

std::vector<std::pair<std::string, std::string>> watch_params(const WatchOptions& options) {
  std::vector<std::pair<std::string, std::string>> params;
  params.emplace_back("watch", "true");
  if (!options.resource_version.empty()) params.emplace_back("resourceVersion", options.resource_version);
  if (options.allow_watch_bookmarks) params.emplace_back("allowWatchBookmarks", "true");
  if (options.timeout_seconds > 0)
    params.emplace_back("timeoutSeconds", std::to_string(options.timeout_seconds));
  if (!options.label_selector.empty()) params.emplace_back("labelSelector", options.label_selector);
  if (!options.field_selector.empty()) params.emplace_back("fieldSelector", options.field_selector);
  return params;
}

json delete_body(const DeleteOptions& options) {
  json body = json::object();
  body["kind"] = "DeleteOptions";
  body["apiVersion"] = "v1";
  if (options.grace_period_seconds) body["gracePeriodSeconds"] = *options.grace_period_seconds;
  if (!options.propagation_policy.empty()) body["propagationPolicy"] = options.propagation_policy;
  if (!options.precondition_uid.empty()) body["preconditions"]["uid"] = options.precondition_uid;
  if (!options.precondition_resource_version.empty()) {
    body["preconditions"]["resourceVersion"] = options.precondition_resource_version;
  }
  return body;
}

std::string name_of(const json& object) {
  if (!object.is_object()) return "";
  const auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return "";
  return metadata->value("name", "");
}

// Reads what is left of an error response's body (bounded by `timeout`).
asio::awaitable<std::string> read_all(net::HttpStream& stream, Millis timeout) {
  std::string body;
  for (;;) {
    auto piece = co_await stream.read_piece(timeout);
    if (!piece || !*piece) break;
    body += **piece;
    if (body.size() > 1024 * 1024) break;
  }
  co_return body;
}

}  // namespace

Result<std::vector<net::Endpoint>> parse_servers(std::string_view urls) {
  std::vector<net::Endpoint> servers;
  while (!urls.empty()) {
    const auto comma = urls.find(',');
    const std::string_view one = urls.substr(0, comma);
    auto endpoint = net::parse_endpoint(one);
    if (!endpoint) return endpoint.error();
    servers.push_back(std::move(*endpoint));
    if (comma == std::string_view::npos) break;
    urls.remove_prefix(comma + 1);
  }
  if (servers.empty()) return make_error(ErrorCode::kInvalidArgument, "no API server given");
  return servers;
}

bool is_transport_error(const api::ApiError& error) {
  const auto details = error.status.find("details");
  if (details == error.status.end() || !details->is_object()) return false;
  const auto causes = details->find("causes");
  if (causes == details->end() || !causes->is_array() || causes->empty()) return false;
  return (*causes)[0].value("reason", "") == kTransportCause;
}

bool is_not_found(const api::ApiError& error) {
  return error.reason() == "NotFound";
}
bool is_conflict(const api::ApiError& error) {
  return error.reason() == "Conflict";
}
bool is_already_exists(const api::ApiError& error) {
  return error.reason() == "AlreadyExists";
}
bool is_expired(const api::ApiError& error) {
  return error.code == 410 || error.reason() == "Expired" || error.reason() == "Gone";
}

api::ApiError transport_error(const Error& error) {
  json cause = json::object();
  cause["reason"] = kTransportCause;
  cause["message"] = error.describe();
  json details = json::object();
  details["causes"] = json::array({cause});
  if (error.code == ErrorCode::kTimeout)
    return api::make_status(504, "Timeout", error.message, std::move(details));
  return api::make_status(503, "ServiceUnavailable", error.message, std::move(details));
}

api::ApiError error_from_response(unsigned code, const std::string& body) {
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object() && parsed.value("kind", "") == "Status") {
    api::ApiError error;
    error.code = static_cast<int>(code);
    error.status = std::move(parsed);
    return error;
  }
  return api::generic_server_response(static_cast<int>(code), body.substr(0, 256));
}

std::string path_for(const api::ResourceInfo& resource, std::string_view ns, std::string_view name,
                     std::string_view subresource) {
  std::string path = resource.group.empty() ? fmt::format("/api/{}", resource.version)
                                            : fmt::format("/apis/{}/{}", resource.group, resource.version);
  if (resource.namespaced && !ns.empty()) path += fmt::format("/namespaces/{}", percent_encode(ns));
  path += "/" + resource.plural;
  if (!name.empty()) path += "/" + percent_encode(name);
  if (!name.empty() && !subresource.empty()) path += "/" + std::string(subresource);
  return path;
}

std::string query_string(const std::vector<std::pair<std::string, std::string>>& params) {
  return net::query_string(params);
}

api::ApiResult<WatchEvent> parse_watch_event(std::string_view line) {
  const json parsed = json::parse(line, nullptr, /*allow_exceptions=*/false);
  const auto bad = [&](std::string_view why) {
    return api::make_status(
        500, "InternalError",
        fmt::format("watch stream: {}: {}", why, line.substr(0, std::min<std::size_t>(line.size(), 200))),
        json());
  };
  if (!parsed.is_object()) return bad("not a JSON object");
  const auto type = parsed.find("type");
  const auto object = parsed.find("object");
  if (type == parsed.end() || !type->is_string() || object == parsed.end() || !object->is_object()) {
    return bad("expected {\"type\", \"object\"}");
  }
  WatchEvent event;
  const auto& name = type->get_ref<const std::string&>();
  auto parsed_type = api::parse_watch_event_type(name);
  if (!parsed_type) return bad("unknown event type");
  event.type = *parsed_type;
  event.object = *object;
  return event;
}

// ---------------------------------------------------------------------------
// WatchStream

WatchStream::WatchStream(std::unique_ptr<net::HttpStream> stream, std::optional<SteadyTime> deadline)
    : stream_(std::move(stream)), deadline_(deadline) {}

WatchStream::~WatchStream() = default;

asio::awaitable<api::ApiResult<std::optional<WatchEvent>>> WatchStream::next() {
  for (;;) {
    std::optional<Millis> timeout;
    if (deadline_) {
      const auto left = std::chrono::duration_cast<Millis>(*deadline_ - std::chrono::steady_clock::now());
      timeout = std::max(left, Millis(1));
    }
    auto line = co_await stream_->read_line(timeout);
    if (!line) co_return transport_error(line.error());
    if (!*line) co_return std::optional<WatchEvent>();
    if ((*line)->empty()) continue;  // keep-alive blank lines
    auto event = parse_watch_event(**line);
    if (!event) co_return event.error();
    co_return std::optional<WatchEvent>(std::move(*event));
  }
}

void WatchStream::cancel() {
  stream_->cancel();
}

// ---------------------------------------------------------------------------
// Client

Client::Client(asio::any_io_executor executor, Config config)
    : executor_(std::move(executor)), config_(std::move(config)) {
  net::HttpClientConfig http;
  http.connect_timeout = config_.connect_timeout;
  http.user_agent = config_.user_agent;
  http_ = std::make_unique<net::HttpClient>(executor_, http);
  if (config_.servers.empty()) config_.servers.push_back(net::Endpoint{"127.0.0.1", 6443});
}

Client::~Client() = default;

net::HttpRequest Client::make_request(std::string method, std::string target, std::string content_type,
                                      std::string body) const {
  net::HttpRequest request;
  request.method = std::move(method);
  request.target = std::move(target);
  request.content_type = std::move(content_type);
  request.body = std::move(body);
  request.headers.emplace_back("Accept", "application/json");
  if (!config_.bearer_token.empty())
    request.headers.emplace_back("Authorization", "Bearer " + config_.bearer_token);
  return request;
}

asio::awaitable<api::ApiResult<json>> Client::request(std::string method, std::string target,
                                                      std::string content_type, std::string body) {
  const net::HttpRequest request =
      make_request(std::move(method), std::move(target), std::move(content_type), std::move(body));
  std::optional<Error> last;
  for (std::size_t attempt = 0; attempt < config_.servers.size(); ++attempt) {
    const net::Endpoint endpoint = config_.servers[current_];
    auto response = co_await http_->request(endpoint, request, config_.request_timeout);
    if (response) co_return decode_response(*response);
    last = response.error();
    if (!fail_over(*last)) break;
    current_ = (current_ + 1) % config_.servers.size();
  }
  co_return transport_error(*last);
}

asio::awaitable<api::ApiResult<json>> Client::get(const api::ResourceInfo& resource, std::string ns,
                                                  std::string name) {
  co_return co_await request("GET", path_for(resource, ns, name, ""), "", "");
}

asio::awaitable<api::ApiResult<json>> Client::list(const api::ResourceInfo& resource, std::string ns,
                                                   ListOptions options) {
  co_return co_await request("GET", path_for(resource, ns, "", "") + query_string(list_params(options)), "",
                             "");
}

asio::awaitable<api::ApiResult<json>> Client::create(const api::ResourceInfo& resource, std::string ns,
                                                     json object) {
  co_return co_await request("POST", path_for(resource, ns, "", ""), "application/json", object.dump());
}

asio::awaitable<api::ApiResult<json>> Client::update(const api::ResourceInfo& resource, std::string ns,
                                                     json object) {
  const std::string name = name_of(object);
  co_return co_await request("PUT", path_for(resource, ns, name, ""), "application/json", object.dump());
}

asio::awaitable<api::ApiResult<json>> Client::update_status(const api::ResourceInfo& resource, std::string ns,
                                                            json object) {
  const std::string name = name_of(object);
  co_return co_await request("PUT", path_for(resource, ns, name, "status"), "application/json",
                             object.dump());
}

asio::awaitable<api::ApiResult<json>> Client::patch(const api::ResourceInfo& resource, std::string ns,
                                                    std::string name, PatchType type, std::string body,
                                                    std::string subresource) {
  co_return co_await request("PATCH", path_for(resource, ns, name, subresource),
                             std::string(api::content_type_of(type)), std::move(body));
}

asio::awaitable<api::ApiResult<json>> Client::remove(const api::ResourceInfo& resource, std::string ns,
                                                     std::string name, DeleteOptions options) {
  co_return co_await request("DELETE", path_for(resource, ns, name, ""), "application/json",
                             delete_body(options).dump());
}

asio::awaitable<api::ApiResult<json>> Client::get_subresource(const api::ResourceInfo& resource,
                                                              std::string ns, std::string name,
                                                              std::string subresource) {
  co_return co_await request("GET", path_for(resource, ns, name, subresource), "", "");
}

asio::awaitable<api::ApiResult<json>> Client::create_subresource(const api::ResourceInfo& resource,
                                                                 std::string ns, std::string name,
                                                                 std::string subresource, json body) {
  co_return co_await request("POST", path_for(resource, ns, name, subresource), "application/json",
                             body.dump());
}

asio::awaitable<api::ApiResult<json>> Client::update_subresource(const api::ResourceInfo& resource,
                                                                 std::string ns, std::string name,
                                                                 std::string subresource, json body) {
  co_return co_await request("PUT", path_for(resource, ns, name, subresource), "application/json",
                             body.dump());
}

asio::awaitable<api::ApiResult<json>> Client::scale(const api::ResourceInfo& resource, std::string ns,
                                                    std::string name, int64_t replicas) {
  // As `kubectl scale` does: a merge patch of the scale subresource.
  json body = json::object();
  body["spec"]["replicas"] = replicas;
  co_return co_await request("PATCH", path_for(resource, ns, name, "scale"),
                             std::string(api::content_type_of(PatchType::kMergePatch)), body.dump());
}

asio::awaitable<api::ApiResult<std::unique_ptr<WatchStream>>> Client::watch(const api::ResourceInfo& resource,
                                                                            std::string ns,
                                                                            WatchOptions options) {
  const net::HttpRequest request =
      make_request("GET", path_for(resource, ns, "", "") + query_string(watch_params(options)), "", "");
  std::optional<Error> last;
  for (std::size_t attempt = 0; attempt < config_.servers.size(); ++attempt) {
    const net::Endpoint endpoint = config_.servers[current_];
    auto stream = co_await http_->open_stream(endpoint, request, config_.request_timeout);
    if (!stream) {
      last = stream.error();
      if (!fail_over(*last)) break;
      current_ = (current_ + 1) % config_.servers.size();
      continue;
    }
    std::unique_ptr<net::HttpStream> open = std::move(*stream);
    if (open->status() < 200 || open->status() >= 300) {
      const unsigned status = open->status();
      const std::string body = co_await read_all(*open, config_.request_timeout);
      co_return error_from_response(status, body);
    }
    std::optional<SteadyTime> deadline;
    if (options.timeout_seconds > 0) {
      deadline = std::chrono::steady_clock::now() + std::chrono::seconds(options.timeout_seconds) +
                 config_.request_timeout;
    }
    co_return std::make_unique<WatchStream>(std::move(open), deadline);
  }
  co_return transport_error(*last);
}

}  // namespace shakeout::client
