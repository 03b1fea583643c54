#pragma once
// ApiServer: `shakeout apiserver`, the Kubernetes API over real etcd.
//
// This first cut serves what every client and the harness need before any
// resource: /healthz and /livez (the process serves), /readyz (etcd answers
// a linearizable read within etcd_timeout; 500 with upstream's check list
// otherwise), /version (a Kubernetes version.Info kubectl understands),
// discovery (/api, /apis, /api/v1, /apis/<group>/<version>), and a
// metav1.Status 404 for every other path. Resource routes arrive next on top
// of api::Store.
// Threading: one io_context thread; start() once, stop() before destruction.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace shakeout::net {
class HttpServer;
struct ServerRequest;
class ResponseWriter;
}  // namespace shakeout::net
namespace shakeout::etcd {
class Client;
}

namespace shakeout::apiserver {

namespace asio = boost::asio;

// The Kubernetes release whose API this server reproduces.
constexpr const char* kKubernetesVersion = "v1.32.0";

struct Options {
  std::vector<std::string> etcd_servers;  // "http://127.C.0.11:2379", ...
  std::string bind_address = "127.0.0.1";
  uint16_t port = 6443;  // 0 = ephemeral
  Millis etcd_timeout{2000};
};

// kInvalidArgument naming the flag: no etcd server, a non-loopback bind
// address (the server binds to loopback only), a malformed URL.
Status validate(const Options& options);

class ApiServer {
 public:
  ApiServer(asio::any_io_executor executor, Options options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  Status start();
  uint16_t port() const;
  asio::awaitable<void> stop();

 private:
  asio::awaitable<void> handle(net::ServerRequest& request, net::ResponseWriter& writer);
  asio::awaitable<void> readyz(net::ResponseWriter& writer);
  // The discovery document at `path` (/api, /apis, /api/v1, /apis/<g>/<v>).
  std::optional<nlohmann::json> discovery(const std::string& path) const;

  Options options_;
  std::unique_ptr<etcd::Client> etcd_;
  std::unique_ptr<net::HttpServer> http_;
};

// Runs an ApiServer until SIGINT or SIGTERM; the `shakeout apiserver` role.
// Returns the exit code (2 when it cannot start).
int run(const Options& options);

}  // namespace shakeout::apiserver
