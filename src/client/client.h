#pragma once
// Client: a Kubernetes REST client for JSON objects (client-go's dynamic
// client, k8s.io/client-go/dynamic), used by every component and by the
// harness to talk to `shakeout apiserver` (or any kube-apiserver over http).
//
//   get/list/create/update/patch/remove/... ──► path for (resource, ns, name, sub)
//        ──► HttpClient (pooled keep-alive) ──► servers[current]
//                        └─ transport error ──► servers[current+1] ...
//
// Contract:
// - Paths follow the Kubernetes REST API: /api/v1/namespaces/<ns>/pods/<name>
//   for the core group, /apis/<group>/<version>/... otherwise; cluster-scoped
//   resources (and an empty `ns`) omit /namespaces/<ns>.
// - Every request carries `Authorization: Bearer <token>` when a token is
//   configured, `Accept: application/json` and the configured User-Agent.
// - Each attempt is bounded by Config::request_timeout. A transport failure
//   (refused, reset, closed, timed out) moves the request, and later ones, to
//   the next server, until every server has been tried once; so a call returns
//   within servers x request_timeout. A write whose connection broke after
//   it was sent may therefore be applied twice (a create then answers 409).
// - Errors: any non-2xx answer becomes api::ApiError{code = HTTP status,
//   status = the metav1.Status the server sent}; a non-Status body gets a
//   Status built as client-go's NewGenericServerResponse does (reason by
//   code). Transport failures become ApiError code 503 reason
//   ServiceUnavailable (504 Timeout for a deadline) whose details carry one
//   cause with reason kTransportCause; is_transport_error() tells them apart
//   from a server's own 503.
// - watch() returns once the server accepted the watch (200 and headers);
//   WatchStream::next() then yields events as they arrive. With
//   timeoutSeconds=S a stream never blocks longer than S + request_timeout in
//   total (a silent, black-holed link ends as a transport error).
// Threading: one executor; not thread-safe. The Client must outlive every
// call and every WatchStream it returned.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/patch.h"
#include "api/resource_registry.h"
#include "api/status.h"
#include "api/watch_event.h"
#include "common/clock.h"
#include "net/http_client.h"

namespace shakeout::client {

namespace asio = boost::asio;
using json = nlohmann::json;

struct Config {
  std::vector<net::Endpoint> servers;  // tried in order; failover on transport errors
  std::string bearer_token;            // empty: no Authorization header
  Millis request_timeout{10000};
  Millis connect_timeout{1000};
  std::string user_agent = "shakeout";
};

// Parses "http://host:port,http://host2:port" into Config::servers.
Result<std::vector<net::Endpoint>> parse_servers(std::string_view urls);

// The cause reason that marks a transport failure (see the contract).
inline constexpr const char* kTransportCause = "ClientTransportError";
bool is_transport_error(const api::ApiError& error);
// Upstream apierrors.IsNotFound / IsConflict / IsAlreadyExists / IsResourceExpired|IsGone.
bool is_not_found(const api::ApiError& error);
bool is_conflict(const api::ApiError& error);
bool is_already_exists(const api::ApiError& error);
bool is_expired(const api::ApiError& error);  // 410, reason Expired or Gone

// The ApiError a transport Error becomes (see the contract).
api::ApiError transport_error(const Error& error);
// The ApiError for a non-2xx HTTP answer `body` with status `code`.
api::ApiError error_from_response(unsigned code, const std::string& body);

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int64_t limit = 0;  // 0: no paging
  std::string continue_token;
  std::string resource_version;  // "": most recent (quorum read); "0": any
  std::string resource_version_match;
};

struct WatchOptions {
  std::string label_selector;
  std::string field_selector;
  std::string resource_version;  // "": start with ADDED for every current object
  bool allow_watch_bookmarks = true;
  int64_t timeout_seconds = 0;  // 0: none (the server's default)
};

// metav1.DeleteOptions in the request body.
struct DeleteOptions {
  std::optional<int64_t> grace_period_seconds;
  std::string propagation_policy;  // "", "Orphan", "Background", "Foreground"
  std::string precondition_uid;
  std::string precondition_resource_version;
};

// The server's patch types (api/patch.h); api::content_type_of names them.
using PatchType = api::PatchType;

struct WatchEvent {
  using Type = api::WatchEventType;  // api::to_string names it
  Type type = Type::kAdded;
  json object;  // the object; a metav1.Status for kError
};

// The request path of a resource collection or object, with an optional
// subresource: path_for(pods, "default", "web-1", "status").
std::string path_for(const api::ResourceInfo& resource, std::string_view ns, std::string_view name,
                     std::string_view subresource);
// "?a=1&b=x%20y" from pairs (empty values kept); "" when there are none.
std::string query_string(const std::vector<std::pair<std::string, std::string>>& params);

// A watch in progress. next() yields the next event, nullopt when the server
// ended the stream (timeoutSeconds passed, or it shut down cleanly), or an
// ApiError: a transport error when the link broke or went silent, a
// kProtocol-derived 500 for a line that is not a watch event. An ERROR event
// (e.g. 410 Expired) is delivered as an event of type kError. After an error
// or the end, the stream is finished. cancel() makes a next() in flight (and
// later ones) fail; the stream must not be destroyed while next() runs.
class WatchStream {
 public:
  WatchStream(std::unique_ptr<net::HttpStream> stream, std::optional<SteadyTime> deadline);
  ~WatchStream();
  WatchStream(const WatchStream&) = delete;
  WatchStream& operator=(const WatchStream&) = delete;

  asio::awaitable<api::ApiResult<std::optional<WatchEvent>>> next();
  void cancel();

 private:
  std::unique_ptr<net::HttpStream> stream_;
  std::optional<SteadyTime> deadline_;  // real steady time, see the contract
};

// Parses one line of a watch stream. kProtocol-derived ApiError if it is not
// {"type": ..., "object": {...}} with a known type.
api::ApiResult<WatchEvent> parse_watch_event(std::string_view line);

class Client {
 public:
  Client(asio::any_io_executor executor, Config config);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const Config& config() const { return config_; }
  const asio::any_io_executor& executor() const { return executor_; }

  asio::awaitable<api::ApiResult<json>> get(const api::ResourceInfo& resource, std::string ns,
                                            std::string name);
  // A *List object: {"metadata": {"resourceVersion", "continue"}, "items": [...]}.
  asio::awaitable<api::ApiResult<json>> list(const api::ResourceInfo& resource, std::string ns,
                                             ListOptions options);
  asio::awaitable<api::ApiResult<json>> create(const api::ResourceInfo& resource, std::string ns,
                                               json object);
  // PUT to the object named by object.metadata.name.
  asio::awaitable<api::ApiResult<json>> update(const api::ResourceInfo& resource, std::string ns,
                                               json object);
  // PUT to .../<name>/status.
  asio::awaitable<api::ApiResult<json>> update_status(const api::ResourceInfo& resource, std::string ns,
                                                      json object);
  // PATCH the object (or its `subresource`, "" for none).
  asio::awaitable<api::ApiResult<json>> patch(const api::ResourceInfo& resource, std::string ns,
                                              std::string name, PatchType type, std::string body,
                                              std::string subresource);
  // DELETE; the server answers with the deleted object (or the object being
  // gracefully deleted) or a Success Status.
  asio::awaitable<api::ApiResult<json>> remove(const api::ResourceInfo& resource, std::string ns,
                                               std::string name, DeleteOptions options);
  // GET/POST/PUT a subresource: scale, binding, eviction, status...
  asio::awaitable<api::ApiResult<json>> get_subresource(const api::ResourceInfo& resource, std::string ns,
                                                        std::string name, std::string subresource);
  asio::awaitable<api::ApiResult<json>> create_subresource(const api::ResourceInfo& resource, std::string ns,
                                                           std::string name, std::string subresource,
                                                           json body);
  asio::awaitable<api::ApiResult<json>> update_subresource(const api::ResourceInfo& resource, std::string ns,
                                                           std::string name, std::string subresource,
                                                           json body);
  // PATCH .../<name>/scale with spec.replicas = replicas (autoscaling/v1 Scale).
  asio::awaitable<api::ApiResult<json>> scale(const api::ResourceInfo& resource, std::string ns,
                                              std::string name, int64_t replicas);

  asio::awaitable<api::ApiResult<std::unique_ptr<WatchStream>>> watch(const api::ResourceInfo& resource,
                                                                      std::string ns, WatchOptions options);

  // One raw exchange with failover; `target` is path plus query. The body of
  // a 2xx answer is parsed as JSON (an empty body gives an empty object).
  asio::awaitable<api::ApiResult<json>> request(std::string method, std::string target,
                                                std::string content_type, std::string body);

  // The server the next request goes to first (after failovers).
  const net::Endpoint& current_server() const { return config_.servers[current_]; }

 private:
  net::HttpRequest make_request(std::string method, std::string target, std::string content_type,
                                std::string body) const;

  asio::any_io_executor executor_;
  Config config_;
  std::unique_ptr<net::HttpClient> http_;
  std::size_t current_ = 0;
};

}  // namespace shakeout::client
