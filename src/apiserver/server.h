#pragma once
// ApiServer: `shakeout apiserver`, the Kubernetes API over real etcd.
//
// Serves /healthz and /livez (the process serves), /readyz (etcd answers
// a linearizable read within etcd_timeout; 500 with upstream's check list
// otherwise), /version (a Kubernetes version.Info kubectl understands) --
// these four to anyone -- and, to authenticated clients (bearer tokens from
// --token-auth-file; 401 otherwise): /metrics, discovery (/api, /apis,
// /api/v1, /apis/<group>/<version>), /openapi/v3, and every resource route
// (ResourceHandler, rest.h). Anything else is a metav1.Status 404.
// Resource requests pass the FaultFilter (fault_filter.h) first; its control
// endpoint /debug/shakeout/faults is for system:masters and the user
// "shakeout" only (403 otherwise).
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

#include "apiserver/route.h"
#include "common/clock.h"
#include "common/result.h"

namespace shakeout::net {
class HttpServer;
struct ServerRequest;
struct ServerResponse;
class ResponseWriter;
}  // namespace shakeout::net
namespace shakeout::etcd {
class Client;
}

namespace shakeout::apiserver {

class ApiMetrics;
class FaultFilter;
class ResourceHandler;
class TokenAuthenticator;

namespace asio = boost::asio;

// The Kubernetes release whose API this server reproduces.
constexpr const char* kKubernetesVersion = "v1.32.0";

struct Options {
  std::vector<std::string> etcd_servers;  // "http://127.C.0.11:2379", ...
  std::string bind_address = "127.0.0.1";
  uint16_t port = 6443;  // 0 = ephemeral
  Millis etcd_timeout{2000};
  // --token-auth-file (upstream's CSV format, auth.h). Empty: every request
  // is served unauthenticated (tests and `shakeout apiserver` by hand only;
  // clusters always pass one).
  std::string token_auth_file;
  // --anonymous-auth: a request without credentials is served as
  // system:anonymous instead of 401. (An invalid token is 401 either way.)
  bool anonymous_auth = false;
  // --tls-cert-file / --tls-private-key-file (PEM): the port then also
  // speaks TLS, told apart by the first bytes of a connection. kubectl and
  // client-go send a bearer token only over TLS (kubernetes/kubectl#744);
  // the cluster's own components use plain HTTP on loopback.
  std::string tls_cert_file;
  std::string tls_private_key_file;
  std::string service_cluster_ip_range = "10.96.0.0/24";  // --service-cluster-ip-range
  int node_port_min = 30000;                              // --service-node-port-range
  int node_port_max = 32767;
  int64_t default_not_ready_toleration_seconds = 300;    // --default-not-ready-toleration-seconds
  int64_t default_unreachable_toleration_seconds = 300;  // --default-unreachable-toleration-seconds
  Millis watch_bookmark_interval{60000};                 // how often watch bookmarks go out
  // The bearer token pods/log presents to kubelets (read from
  // --kubelet-client-token-file, so it is not in argv).
  std::string kubelet_client_token;
};

// kInvalidArgument naming the flag: no etcd server, a non-loopback bind
// address (the server binds to loopback only), a malformed URL or range.
Status validate(const Options& options);

class ApiServer {
 public:
  ApiServer(asio::any_io_executor executor, Options options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Loads the token file, binds and serves.
  Status start();
  uint16_t port() const;
  asio::awaitable<void> stop();

 private:
  asio::awaitable<void> handle(net::ServerRequest& request, net::ResponseWriter& writer);
  // `route`: where the path points among the resources (parse_route), if anywhere.
  asio::awaitable<void> dispatch(std::optional<Route> route, net::ServerRequest& request,
                                 net::ResponseWriter& writer);
  asio::awaitable<void> readyz(net::ResponseWriter& writer);
  asio::awaitable<bool> ensure_bootstrapped();
  // The fault filter's control endpoint (/debug/shakeout/faults[/<id>]).
  net::ServerResponse control_faults(const net::ServerRequest& request);
  // Applies the fault filter to a resource request; true when it answered it.
  asio::awaitable<bool> apply_faults(const Route& route, const std::string& verb,
                                     net::ResponseWriter& writer);
  // The discovery document at `path` (/api, /apis, /api/v1, /apis/<g>/<v>).
  std::optional<nlohmann::json> discovery(const std::string& path) const;

  Options options_;
  std::unique_ptr<etcd::Client> etcd_;
  std::unique_ptr<net::HttpServer> http_;
  std::unique_ptr<TokenAuthenticator> authenticator_;
  std::unique_ptr<ApiMetrics> metrics_;
  std::unique_ptr<ResourceHandler> resources_;
  std::unique_ptr<FaultFilter> faults_;
  bool bootstrapped_ = false;  // the system namespaces exist
};

// Runs an ApiServer until SIGINT or SIGTERM; the `shakeout apiserver` role.
// Returns the exit code (2 when it cannot start).
int run(const Options& options);

}  // namespace shakeout::apiserver
