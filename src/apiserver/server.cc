#include "apiserver/server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <sys/resource.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <random>

#include "api/discovery.h"
#include "api/openapi.h"
#include "api/resource_registry.h"
#include "api/status.h"
#include "apiserver/auth.h"
#include "apiserver/fault_filter.h"
#include "apiserver/metrics.h"
#include "apiserver/rest.h"
#include "apiserver/route.h"
#include "common/async.h"
#include "common/log.h"
#include "etcd/client.h"
#include "net/http_server.h"

namespace shakeout::apiserver {
namespace {

using json = nlohmann::json;

net::ServerResponse json_response(unsigned status, const json& body) {
  net::ServerResponse response;
  response.status = status;
  response.content_type = "application/json";
  response.body = body.dump();
  return response;
}

net::ServerResponse text_response(unsigned status, std::string body) {
  net::ServerResponse response;
  response.status = status;
  response.content_type = "text/plain; charset=utf-8";
  response.body = std::move(body);
  return response;
}

// version.Info as kube-apiserver serves it at /version.
json version_info() {
  const std::string git_version = kKubernetesVersion;
  const auto dot = git_version.find('.');
  const auto minor_end = git_version.find('.', dot + 1);
  return {{"major", git_version.substr(1, dot - 1)},
          {"minor", git_version.substr(dot + 1, minor_end - dot - 1)},
          {"gitVersion", git_version},
          {"gitCommit", "shakeout"},
          {"gitTreeState", "clean"},
          {"buildDate", "1970-01-01T00:00:00Z"},
          {"goVersion", "none (shakeout, C++)"},
          {"compiler", "g++"},
          {"platform", "linux/amd64"}};
}

// An OpenAPI v3 document as kube-openapi's handler3 serves it: ETag by
// hash; with ?hash= cacheable forever, and a stale hash redirected (301) to
// the current URL.
net::ServerResponse openapi_response(const net::ServerRequest& request, std::string_view path,
                                     const api::OpenApiV3Document& document) {
  net::ServerResponse response;
  response.headers.emplace_back("ETag", "\"" + document.hash + "\"");
  std::string_view hash = request.query_value("hash");
  if (!path.empty() && !hash.empty()) {
    if (hash != document.hash) {
      response.status = 301;
      response.headers.emplace_back("Location", fmt::format("/openapi/v3/{}?hash={}", path, document.hash));
      return response;
    }
    response.headers.emplace_back("Cache-Control", "public, immutable");
    response.headers.emplace_back("Vary", "Accept");
  }
  response.content_type = "application/json";
  response.body = document.body;
  return response;
}

// Upstream's request verb (apiserver/pkg/endpoints/request/requestinfo.go)
// for the metrics label.
std::string request_verb(const net::ServerRequest& request, const std::optional<Route>& route) {
  if (!route) return request.method;
  const std::string& method = request.method;
  if (method == "GET" || method == "HEAD") {
    std::string_view watch = request.query_value("watch");
    if (route->collection() && (watch == "true" || watch == "1")) return "WATCH";
    return route->collection() ? "LIST" : "GET";
  }
  if (method == "POST") return route->subresource.empty() ? "POST" : "CREATE";
  if (method == "PATCH" && request.header("Content-Type").find("apply-patch") != std::string_view::npos)
    return "APPLY";
  if (method == "DELETE" && route->collection()) return "DELETECOLLECTION";
  return method;
}

// The Kubernetes verb a fault matches on (requestinfo.go's lower-case verbs;
// subresource POSTs such as binding and eviction are creates).
std::string kube_verb(const net::ServerRequest& request, const Route& route) {
  const std::string& method = request.method;
  if (method == "GET" || method == "HEAD") {
    std::string_view watch = request.query_value("watch");
    if (route.collection() && (watch == "true" || watch == "1")) return "watch";
    return route.collection() ? "list" : "get";
  }
  if (method == "POST") return "create";
  if (method == "PUT") return "update";
  if (method == "PATCH") return "patch";
  if (method == "DELETE") return route.collection() ? "deletecollection" : "delete";
  return "";
}

net::ServerResponse error_response(const api::ApiError& error) {
  net::ServerResponse response = json_response(static_cast<unsigned>(error.code), error.status);
  // client-go waits Retry-After seconds before retrying a 429 (or a 5xx that sends one).
  const auto& details = error.status.value("details", json::object());
  if (details.contains("retryAfterSeconds"))
    response.headers.emplace_back("Retry-After", std::to_string(details["retryAfterSeconds"].get<int>()));
  return response;
}

constexpr std::string_view kFaultsPath = "/debug/shakeout/faults";

bool is_faults_path(const std::string& path) {
  return path == kFaultsPath || (path.size() > kFaultsPath.size() + 1 && path.rfind(kFaultsPath, 0) == 0 &&
                                 path[kFaultsPath.size()] == '/');
}

// Who may add and remove faults: cluster admins and the harness itself.
bool may_control_faults(const UserInfo& user) {
  return user.name == "shakeout" ||
         std::find(user.groups.begin(), user.groups.end(), "system:masters") != user.groups.end();
}

bool in(const std::vector<std::string>& list, const std::string& value) {
  return list.empty() || std::find(list.begin(), list.end(), value) != list.end();
}

// "10.96.0.0/24" with a loopback or private IPv4 network and a prefix of /8../30.
bool valid_cidr(const std::string& cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos) return false;
  in_addr addr{};
  if (::inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &addr) != 1) return false;
  try {
    size_t used = 0;
    int prefix = std::stoi(cidr.substr(slash + 1), &used);
    return used == cidr.size() - slash - 1 && prefix >= 8 && prefix <= 30;
  } catch (const std::exception&) {
    return false;
  }
}

bool is_loopback(const std::string& address) {
  in_addr addr{};
  return ::inet_pton(AF_INET, address.c_str(), &addr) == 1 && (ntohl(addr.s_addr) >> 24) == 127;
}

}  // namespace

Status validate(const Options& options) {
  if (options.etcd_servers.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "--etcd-servers: at least one etcd URL is required");
  }
  for (const auto& url : options.etcd_servers) {
    if (url.rfind("http://", 0) != 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("--etcd-servers: '{}' is not an http:// URL", url));
    }
  }
  if (!is_loopback(options.bind_address)) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--bind-address: '{}' is not a loopback IPv4 address (127.0.0.0/8)",
                                  options.bind_address));
  }
  if (!valid_cidr(options.service_cluster_ip_range)) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--service-cluster-ip-range: '{}' is not an IPv4 CIDR (prefix /8 to /30)",
                                  options.service_cluster_ip_range));
  }
  if (options.node_port_min < 1 || options.node_port_max > 65535 ||
      options.node_port_min > options.node_port_max) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--service-node-port-range: '{}-{}' is not a port range",
                                  options.node_port_min, options.node_port_max));
  }
  if (options.default_not_ready_toleration_seconds < 0 ||
      options.default_unreachable_toleration_seconds < 0) {
    return make_error(ErrorCode::kInvalidArgument, "--default-*-toleration-seconds: must not be negative");
  }
  if (options.tls_cert_file.empty() != options.tls_private_key_file.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--tls-cert-file and --tls-private-key-file: give both or neither");
  }
  return {};
}

ApiServer::ApiServer(asio::any_io_executor executor, Options options) : options_(std::move(options)) {
  etcd::Config config;
  config.endpoints = options_.etcd_servers;
  config.request_timeout = options_.etcd_timeout;
  etcd_ = std::make_unique<etcd::Client>(executor, std::move(config));
  net::HttpServerConfig http;
  http.address = options_.bind_address;
  http.port = options_.port;
  http.tls_certificate_file = options_.tls_cert_file;
  http.tls_private_key_file = options_.tls_private_key_file;
  http_ = std::make_unique<net::HttpServer>(
      executor, http,
      [this](net::ServerRequest& request, net::ResponseWriter& writer) { return handle(request, writer); });
  metrics_ = std::make_unique<ApiMetrics>();
  RestOptions rest;
  rest.admission.default_not_ready_toleration_seconds = options_.default_not_ready_toleration_seconds;
  rest.admission.default_unreachable_toleration_seconds = options_.default_unreachable_toleration_seconds;
  rest.service_ranges.cluster_ip_cidr = options_.service_cluster_ip_range;
  rest.service_ranges.node_port_min = options_.node_port_min;
  rest.service_ranges.node_port_max = options_.node_port_max;
  rest.watch_cache.bookmark_interval = options_.watch_bookmark_interval;
  rest.kubelet_client_token = options_.kubelet_client_token;
  rest.seed = std::random_device()();
  rest.seed = (rest.seed << 32) ^ std::random_device()();
  resources_ = std::make_unique<ResourceHandler>(executor, *etcd_, system_clock(), std::move(rest));
  faults_ = std::make_unique<FaultFilter>(system_clock());
  // A watch that starts while a drop-watch fault covers its resource ends at once.
  resources_->set_watch_gate([this](const api::ResourceInfo& resource) {
    if (!faults_->drops_watches(resource.plural)) return false;
    metrics_->count_injected("drop-watch");
    return true;
  });
}

ApiServer::~ApiServer() = default;

Status ApiServer::start() {
  if (!options_.token_auth_file.empty()) {
    auto loaded = TokenAuthenticator::load(options_.token_auth_file);
    if (!loaded) return loaded.error();
    authenticator_ = std::make_unique<TokenAuthenticator>(std::move(*loaded));
  }
  return http_->start();
}
uint16_t ApiServer::port() const {
  return http_->port();
}
asio::awaitable<void> ApiServer::stop() {
  // Watches end first so the HTTP server's graceful stop does not wait for them.
  co_await resources_->stop();
  co_await http_->stop();
}

asio::awaitable<void> ApiServer::handle(net::ServerRequest& request, net::ResponseWriter& writer) {
  const auto started = std::chrono::steady_clock::now();
  const auto route = parse_route(request.path, api::ResourceRegistry::builtin());
  const std::string verb = request_verb(request, route);
  metrics_->set_in_flight(static_cast<double>(http_->requests_in_flight()));
  co_await dispatch(route, request, writer);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
  // A watch is observed when it ends: its lifetime is no request latency.
  metrics_->observe(verb, route ? route->resource->group_resource() : "", route ? route->subresource : "",
                    writer.status(), verb == "WATCH" ? 0.0 : took.count());
  metrics_->set_open_watches(static_cast<double>(resources_->open_watches()));
}

asio::awaitable<void> ApiServer::dispatch(std::optional<Route> route, net::ServerRequest& request,
                                          net::ResponseWriter& writer) {
  const bool read = request.method == "GET" || request.method == "HEAD";
  if (read && (request.path == "/healthz" || request.path == "/livez")) {
    co_await writer.send(text_response(200, "ok"));
    co_return;
  }
  if (read && request.path == "/readyz") {
    co_await readyz(writer);
    co_return;
  }
  if (read && request.path == "/version") {
    co_await writer.send(json_response(200, version_info()));
    co_return;
  }
  const std::string_view credentials = request.header("Authorization");
  const bool anonymous_ok = options_.anonymous_auth && credentials.empty();
  std::optional<UserInfo> user;
  if (authenticator_) user = authenticator_->authenticate(credentials);
  if (authenticator_ && !anonymous_ok && !user) {
    const auto error = api::unauthorized();
    co_await writer.send(json_response(static_cast<unsigned>(error.code), error.status));
    co_return;
  }
  if (is_faults_path(request.path)) {
    // Without a token file everyone is served (see Options::token_auth_file).
    if (authenticator_ && !(user && may_control_faults(*user))) {
      const auto error =
          api::make_status(403, "Forbidden",
                           fmt::format("forbidden: User \"{}\" cannot {} path \"{}\"",
                                       user ? user->name : "system:anonymous", request.method, request.path),
                           json::object());
      co_await writer.send(json_response(403, error.status));
      co_return;
    }
    co_await writer.send(control_faults(request));
    co_return;
  }
  if (read && request.path == "/metrics") {
    metrics_->set_open_watches(static_cast<double>(resources_->open_watches()));
    net::ServerResponse response;
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    response.body = metrics_->serialize();
    co_await writer.send(std::move(response));
    co_return;
  }
  if (auto document = read ? discovery(request.path) : std::nullopt) {
    co_await writer.send(json_response(200, *document));
    co_return;
  }
  if (read && request.path == "/openapi/v2") {
    // kubectl 1.27/1.28 download v2 before using v3 (see api/openapi.h).
    net::ServerResponse response;
    response.content_type = "application/octet-stream";
    response.body = api::openapi_v2_stub_protobuf();
    co_await writer.send(std::move(response));
    co_return;
  }
  constexpr std::string_view kOpenApi = "/openapi/v3";
  if (read && request.path.rfind(kOpenApi, 0) == 0) {
    std::string_view rest = std::string_view(request.path).substr(kOpenApi.size());
    if (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
    if (const auto* document = api::openapi_v3_serialized(api::ResourceRegistry::builtin(), rest)) {
      co_await writer.send(openapi_response(request, rest, *document));
      co_return;
    }
  }
  if (route) {
    if (co_await apply_faults(*route, kube_verb(request, *route), writer)) co_return;
    co_await ensure_bootstrapped();  // also when nothing probed /readyz yet
    co_await resources_->serve(*route, request, writer);
    co_return;
  }
  const auto error = api::path_not_found();
  co_await writer.send(json_response(static_cast<unsigned>(error.code), error.status));
}

asio::awaitable<bool> ApiServer::apply_faults(const Route& route, const std::string& verb,
                                              net::ResponseWriter& writer) {
  const FaultDecision decision = faults_->decide(verb, route.resource->plural);
  for (const auto& type : decision.injected) metrics_->count_injected(type);
  if (decision.delay > Millis(0)) {
    // A timer, so other requests go on meanwhile.
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(decision.delay);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (!decision.error) co_return false;
  co_await writer.send(error_response(*decision.error));
  co_return true;
}

net::ServerResponse ApiServer::control_faults(const net::ServerRequest& request) {
  const std::string id =
      request.path.size() > kFaultsPath.size() ? request.path.substr(kFaultsPath.size() + 1) : "";
  if (id.empty() && (request.method == "GET" || request.method == "HEAD")) {
    json items = json::array();
    for (const auto& fault : faults_->active()) items.push_back(fault.to_json());
    json list = json::object();
    list["kind"] = "FaultList";
    list["items"] = std::move(items);
    return json_response(200, list);
  }
  if (id.empty() && request.method == "POST") {
    const json body = json::parse(request.body, nullptr, false);
    if (body.is_discarded()) return error_response(api::bad_request("body: not valid JSON"));
    auto fault = parse_fault(body);
    if (!fault) return error_response(api::bad_request(fault.error().message));
    const ApiFault added = *fault;
    if (auto done = faults_->add(std::move(*fault)); !done) {
      return error_response(api::make_status(409, "AlreadyExists", done.error().message, json::object()));
    }
    if (added.type == FaultType::kDropWatch && in(added.verbs, "watch")) {
      const std::size_t ended = resources_->end_watches(
          [&added](const api::ResourceInfo& resource) { return in(added.resources, resource.plural); });
      for (std::size_t i = 0; i < ended; ++i) metrics_->count_injected("drop-watch");
    }
    log::info("apiserver", "fault {} added: {}", added.id, added.to_json().dump());
    return json_response(201, added.to_json());
  }
  if (!id.empty() && request.method == "DELETE") {
    if (!faults_->remove(id))
      return error_response(
          api::make_status(404, "NotFound", fmt::format("fault {} is not active", id), json::object()));
    log::info("apiserver", "fault {} removed", id);
    json gone = json::object();
    gone["kind"] = "Status";
    gone["apiVersion"] = "v1";
    gone["status"] = "Success";
    gone["message"] = fmt::format("fault {} removed", id);
    return json_response(200, gone);
  }
  return error_response(api::method_not_allowed());
}

std::optional<nlohmann::json> ApiServer::discovery(const std::string& path) const {
  const auto& registry = api::ResourceRegistry::builtin();
  if (path == "/api") return api::api_versions(fmt::format("{}:{}", options_.bind_address, port()));
  if (path == "/apis") return api::api_group_list(registry);
  if (path == "/api/v1") return api::api_resource_list(registry, "", "v1");
  // /apis/<group>/<version>
  constexpr std::string_view kApis = "/apis/";
  if (path.rfind(kApis, 0) != 0) return std::nullopt;
  const auto rest = std::string_view(path).substr(kApis.size());
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || rest.find('/', slash + 1) != std::string_view::npos)
    return std::nullopt;
  return api::api_resource_list(registry, rest.substr(0, slash), rest.substr(slash + 1));
}

// Upstream's readyz lists its checks as "[+]name ok" / "[-]name failed:
// reason withheld" and answers 500 when one fails.
asio::awaitable<void> ApiServer::readyz(net::ResponseWriter& writer) {
  auto read = co_await etcd_->range("/registry/health");
  if (!read) {
    log::warn("apiserver", "readyz: etcd: {}", read.error().describe());
    co_await writer.send(
        text_response(500, "[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed\n"));
    co_return;
  }
  // Upstream's poststarthook/bootstrap-controller: not ready until the
  // system namespaces exist.
  if (!co_await ensure_bootstrapped()) {
    co_await writer.send(text_response(
        500,
        "[+]ping ok\n[+]etcd ok\n[-]poststarthook/bootstrap-controller failed: reason withheld\n"
        "readyz check failed\n"));
    co_return;
  }
  co_await writer.send(text_response(200, "ok"));
}

asio::awaitable<bool> ApiServer::ensure_bootstrapped() {
  if (bootstrapped_) co_return true;
  auto done = co_await resources_->bootstrap();
  if (!done) log::warn("apiserver", "bootstrap: {}", done.error().message());
  bootstrapped_ = done.ok();
  co_return bootstrapped_;
}

int run(const Options& options) {
  // Every watch is a connection: lift the soft fd limit to the hard one, as
  // Go's runtime does for kube-apiserver (1,000 watchers need more than 1024).
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  asio::io_context io;
  ApiServer server(io.get_executor(), options);
  if (auto started = server.start(); !started) {
    log::error("apiserver", "cannot serve on {}:{}: {}", options.bind_address, options.port,
               started.error().message);
    return 2;
  }
  log::info("apiserver", "serving on {}:{} (etcd {})", options.bind_address, server.port(),
            fmt::join(options.etcd_servers, ","));
  asio::signal_set signals(io, SIGINT, SIGTERM);
  run_blocking(io, [](ApiServer* server, asio::signal_set* signals) -> asio::awaitable<void> {
    co_await signals->async_wait(asio::use_awaitable);
    co_await server->stop();
  }(&server, &signals));
  return 0;
}

}  // namespace shakeout::apiserver
