#pragma once
// ControllerManager: `shakeout controller-manager`, kube-controller-manager's
// role: one process running the enabled controllers while it holds the
// Lease kube-system/kube-controller-manager; replicas wait as standbys.
//
//   start(): serve /healthz and /metrics
//   run():   leader election ──► on_started_leading:
//              informers (pods, replicasets, deployments, services, endpoints, nodes,
//              kube-node-lease leases) ──► synced
//              ──► controllers' workers
//            lost the Lease ──► controllers stop, run() returns, lost_leadership()
//   shutdown(): controllers stop (in-flight syncs finish), then the Lease is
//            released (holder "", leaseDurationSeconds 1) and run() returns
//
// Informers start only once leading, as upstream's do, so a standby holds no
// watches. Upstream exits fatally on a lost Lease; `run` exits 1.
// Threading: one io_context thread; not thread-safe.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "controller/wait_group.h"

namespace shakeout::net {
class HttpServer;
struct ServerRequest;
class ResponseWriter;
}  // namespace shakeout::net
namespace shakeout::client {
class Client;
class ClientLeaseLock;
class LeaderElector;
class Sleeper;
class SeededRandom;
}  // namespace shakeout::client

namespace shakeout::controller {

class ControllerMetrics;
struct Running;

// The controllers this binary has, by upstream name.
inline constexpr const char* kReplicaSetController = "replicaset";
inline constexpr const char* kEndpointController = "endpoint";
inline constexpr const char* kDeploymentController = "deployment";
inline constexpr const char* kGarbageCollectorController = "garbagecollector";
inline constexpr const char* kNamespaceController = "namespace";
inline constexpr const char* kPodGcController = "podgc";
inline constexpr const char* kEndpointSliceController = "endpointslice";
inline constexpr const char* kDisruptionController = "disruption";
inline constexpr const char* kNodeLifecycleController = "node-lifecycle";
inline constexpr const char* kTaintEvictionController = "taint-eviction-controller";

struct ManagerOptions {
  std::vector<std::string> master;  // --master: API server URLs, tried in order (failover)
  std::string token;                // --token: bearer token
  std::string bind_address = "127.0.0.1";
  uint16_t port = 10257;  // --port: /healthz and /metrics over HTTP (0 = any)
  bool leader_elect = true;
  Millis lease_duration{15000};
  Millis renew_deadline{10000};
  Millis retry_period{2000};
  std::string lease_namespace = "kube-system";         // --leader-elect-resource-namespace
  std::string lease_name = "kube-controller-manager";  // --leader-elect-resource-name
  std::string identity;                                // "" = <hostname>_<random>
  std::vector<std::string> controllers = {"*"};        // --controllers
  int concurrent_replicaset_syncs = 5;
  int concurrent_endpoint_syncs = 5;
  int concurrent_deployment_syncs = 5;
  int concurrent_gc_syncs = 20;
  int concurrent_service_endpoint_syncs = 5;
  int max_endpoints_per_slice = 100;
  int concurrent_namespace_syncs = 10;
  Millis namespace_finalizer_estimate{15000};  // upstream's fixed finalizerEstimateSeconds, a flag here
  int64_t terminated_pod_gc_threshold = 12500;
  Millis pod_gc_period{20000};                 // upstream's fixed gcCheckPeriod, a flag here
  Millis pod_gc_quarantine{40000};             // upstream's fixed quarantineTime, a flag here
  Millis node_monitor_period{5000};            // --node-monitor-period
  Millis node_monitor_grace_period{50000};     // --node-monitor-grace-period (v1.32)
  Millis node_startup_grace_period{60000};     // --node-startup-grace-period
  double node_eviction_rate = 0.1;             // --node-eviction-rate (nodes/s)
  double secondary_node_eviction_rate = 0.01;  // --secondary-node-eviction-rate
  double unhealthy_zone_threshold = 0.55;      // --unhealthy-zone-threshold
  int large_cluster_size_threshold = 50;       // --large-cluster-size-threshold
  Millis request_timeout{10000};
};

// Upstream's --controllers rule: "*" turns on every controller that is on
// by default, "name" turns one on, "-name" off. kInvalidArgument for a name
// this binary does not have.
Result<std::set<std::string>> enabled_controllers(const std::vector<std::string>& flags);

// kInvalidArgument naming the flag: no --master, a malformed URL, a
// non-loopback bind address, worker counts < 1, leader election timings
// upstream would refuse (lease > renew > 1.2 x retry), non-positive node
// monitor periods, negative eviction rates, a zone threshold outside (0, 1].
Status validate(const ManagerOptions& options);

class ControllerManager {
 public:
  ControllerManager(asio::any_io_executor executor, ManagerOptions options);
  ~ControllerManager();
  ControllerManager(const ControllerManager&) = delete;
  ControllerManager& operator=(const ControllerManager&) = delete;

  // Serves /healthz and /metrics.
  Status start();
  uint16_t port() const;
  // Elects and runs the controllers until shutdown() or a lost Lease.
  asio::awaitable<void> run();
  // Stops the controllers, then releases the Lease; run() then returns.
  asio::awaitable<void> shutdown();
  asio::awaitable<void> stop_serving();
  bool lost_leadership() const { return lost_; }

 private:
  asio::awaitable<void> run_controllers();
  void stop_controllers();
  asio::awaitable<void> handle(net::ServerRequest& request, net::ResponseWriter& writer);

  asio::any_io_executor executor_;
  ManagerOptions options_;
  std::set<std::string> enabled_;
  std::unique_ptr<ControllerMetrics> metrics_;
  std::unique_ptr<net::HttpServer> http_;
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<client::Client> lease_client_;
  std::unique_ptr<client::SeededRandom> random_;
  std::unique_ptr<client::ClientLeaseLock> lock_;
  std::unique_ptr<client::LeaderElector> elector_;
  std::unique_ptr<client::Sleeper> sync_wait_;
  WaitGroup controllers_;
  Running* running_ = nullptr;  // the controllers while they run
  bool stopping_ = false;
  bool lost_ = false;
};

// Runs a ControllerManager until SIGINT/SIGTERM (exit 0) or a lost Lease
// (exit 1); 2 when it cannot start. The `shakeout controller-manager` role.
int run(const ManagerOptions& options);

}  // namespace shakeout::controller
