#include "apiserver/server.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <csignal>

#include "api/discovery.h"
#include "api/resource_registry.h"
#include "api/status.h"
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
  http_ = std::make_unique<net::HttpServer>(
      executor, http,
      [this](net::ServerRequest& request, net::ResponseWriter& writer) { return handle(request, writer); });
}

ApiServer::~ApiServer() = default;

Status ApiServer::start() {
  return http_->start();
}
uint16_t ApiServer::port() const {
  return http_->port();
}
asio::awaitable<void> ApiServer::stop() {
  co_await http_->stop();
}

asio::awaitable<void> ApiServer::handle(net::ServerRequest& request, net::ResponseWriter& writer) {
  const bool read = request.method == "GET" || request.method == "HEAD";
  if (read && (request.path == "/healthz" || request.path == "/livez")) {
    co_await writer.send(text_response(200, "ok"));
  } else if (read && request.path == "/readyz") {
    co_await readyz(writer);
  } else if (read && request.path == "/version") {
    co_await writer.send(json_response(200, version_info()));
  } else if (auto document = read ? discovery(request.path) : std::nullopt) {
    co_await writer.send(json_response(200, *document));
  } else {
    const auto error = api::path_not_found();
    co_await writer.send(json_response(static_cast<unsigned>(error.code), error.status));
  }
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
  if (read.ok()) {
    co_await writer.send(text_response(200, "ok"));
    co_return;
  }
  log::warn("apiserver", "readyz: etcd: {}", read.error().describe());
  co_await writer.send(
      text_response(500, "[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed\n"));
}

int run(const Options& options) {
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
