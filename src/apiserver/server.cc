#include "apiserver/server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <sys/resource.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <random>

#include "api/discovery.h"
#include "api/openapi.h"
#include "api/resource_registry.h"
#include "api/status.h"
#include "apiserver/auth.h"
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
  if (authenticator_ && !anonymous_ok && !authenticator_->authenticate(credentials)) {
    const auto error = api::unauthorized();
    co_await writer.send(json_response(static_cast<unsigned>(error.code), error.status));
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
    co_await ensure_bootstrapped();  // also when nothing probed /readyz yet
    co_await resources_->serve(*route, request, writer);
    co_return;
  }
  const auto error = api::path_not_found();
  co_await writer.send(json_response(static_cast<unsigned>(error.code), error.status));
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
