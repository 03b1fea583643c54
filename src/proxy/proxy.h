#pragma once
// Proxy: `shakeout proxy`, kube-proxy's role on one node. It watches
// Services and EndpointSlices and programs the node's dataplane, which the
// runtime hosts (runtime_service.h), as kube-proxy programs iptables:
//
//   informers (services, endpointslices) ──► changed ──► sync (at most once
//   per --iptables-min-sync-period) ──► compute_rules() ──► PUT /v1/dataplane
//   every --iptables-sync-period ──► full sync (re-PUT even if unchanged)
//
// Contract:
// - A change reaches the dataplane within min-sync-period of the event
//   (upstream's BoundedFrequencyRunner); a failed PUT (runtime down) is
//   retried at the min-sync-period until it succeeds. A change that leaves
//   the rules as programmed (a not-ready endpoint came or went) writes
//   nothing and does not count as a sync for the min-sync-period.
// - Nothing is programmed before both informers have synced, so a proxy
//   starting against a dataplane programmed by its predecessor never
//   programs an empty or partial rule set in between.
// - When the proxy or the API goes away, the rules stay as last programmed
//   (they live in the runtime).
// - /healthz on --healthz-bind-address (upstream's :10256) answers 200 once
//   the first sync succeeded and while the last successful sync is younger
//   than twice the sync period, else 503 (upstream's healthz server).
// - stop() (SIGTERM/SIGINT in run()) stops the informers and the loop;
//   run() then returns 0. The dataplane is left as it is.
// Threading: one io_context thread.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "runtime/runtime_service.h"

namespace shakeout::net {
class HttpServer;
struct ServerRequest;
class ResponseWriter;
}  // namespace shakeout::net
namespace shakeout::client {
class Client;
class Informer;
class Timers;
class Random;
}  // namespace shakeout::client

namespace shakeout::proxy {

namespace asio = boost::asio;

struct Options {
  std::vector<std::string> master;      // --master: API server URLs, tried in order
  std::string token;                    // --token / --token-file
  std::string hostname_override;        // --hostname-override: the node's name
  std::string runtime_endpoint;         // --runtime-endpoint: http://127.C.k.1:10010
  std::string proxy_mode = "iptables";  // --proxy-mode: iptables (random) | ipvs (round-robin)
  Millis sync_period{30000};            // --iptables-sync-period
  Millis min_sync_period{1000};         // --iptables-min-sync-period
  std::string healthz_bind_address = "127.0.0.1:10256";  // --healthz-bind-address (port 0 = any)
  Millis request_timeout{10000};
};

// kInvalidArgument naming the flag.
Status validate(const Options& options);

struct ProxyCounters {
  uint64_t syncs_total = 0;  // successful PUTs
  uint64_t sync_failures_total = 0;
  uint64_t rules = 0;            // rules in the last successful PUT
  uint64_t unchanged_total = 0;  // changes that left the rules as programmed: no PUT
};

class Proxy {
 public:
  // `runtime` programs the dataplane (make_runtime_client() in run()).
  Proxy(asio::any_io_executor executor, Options options, std::unique_ptr<runtime::RuntimeService> runtime,
        client::Timers& timers, client::Random& random);
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  Status start();  // binds the healthz server
  uint16_t healthz_port() const;
  asio::awaitable<int> run();
  void stop();

  const ProxyCounters& counters() const { return counters_; }

 private:
  void changed();
  asio::awaitable<void> sync_loop();
  asio::awaitable<bool> sync();
  bool unchanged() const;  // the desired rules are those last programmed
  asio::awaitable<void> handle(net::ServerRequest& request, net::ResponseWriter& writer);

  asio::any_io_executor executor_;
  Options options_;
  std::unique_ptr<runtime::RuntimeService> runtime_;
  client::Timers& timers_;
  client::Random& random_;
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<client::Informer> services_;
  std::unique_ptr<client::Informer> slices_;
  std::unique_ptr<net::HttpServer> http_;
  asio::steady_timer wake_;
  bool dirty_ = true;
  bool stopping_ = false;
  int running_ = 0;  // informers and the loop still running
  std::optional<SteadyTime> last_success_;
  std::vector<runtime::ServiceRule> programmed_;
  ProxyCounters counters_;
};

// `shakeout proxy`: runs until SIGTERM/SIGINT; exit code.
int run(const Options& options);

}  // namespace shakeout::proxy
