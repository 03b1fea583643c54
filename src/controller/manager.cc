#include "controller/manager.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <random>

#include "api/resource_registry.h"
#include "client/client.h"
#include "client/informer.h"
#include "client/leader_election.h"
#include "client/timers.h"
#include "common/async.h"
#include "common/log.h"
#include "controller/deployment.h"
#include "controller/disruption.h"
#include "controller/endpoints.h"
#include "controller/endpointslice.h"
#include "controller/garbage_collector.h"
#include "controller/metrics.h"
#include "controller/namespace.h"
#include "controller/node_lifecycle.h"
#include "controller/podgc.h"
#include "controller/replicaset.h"
#include "controller/taint_eviction.h"
#include "net/http_server.h"

namespace shakeout::controller {

namespace {

constexpr const char* kLog = "controller-manager";
// How often run_controllers looks whether the caches have synced
// (upstream's WaitForCacheSync polls every 100ms).
constexpr Millis kSyncPoll{20};

const api::ResourceInfo& resource(const char* group, const char* plural) {
  return *api::ResourceRegistry::builtin().by_plural(group, plural);
}

std::string default_identity() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "localhost");
  std::random_device device;
  return fmt::format("{}_{:08x}{:08x}", host, device(), device());
}

bool is_loopback(const std::string& address) {
  in_addr v4{};
  if (::inet_pton(AF_INET, address.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  return address == "::1";
}

}  // namespace

// The informers and controllers of one term of leadership.
struct Running {
  Running(client::Client& client, const std::set<std::string>& enabled, const ManagerOptions& options,
          ControllerMetrics& metrics) {
    client::InformerOptions informer_options;
    auto informer = [&](const char* group, const char* plural) {
      return std::make_unique<client::Informer>(client, resource(group, plural), informer_options,
                                                client::real_timers(), random);
    };
    pods = informer("", "pods");
    // The ReplicaSet, Deployment and disruption controllers share one
    // replicasets informer (and the latter two one deployments informer).
    if (enabled.contains(kReplicaSetController) || enabled.contains(kDeploymentController))
      replicasets = informer("apps", "replicasets");
    if (enabled.contains(kReplicaSetController)) {
      ReplicaSetOptions rs_options;
      rs_options.workers = options.concurrent_replicaset_syncs;
      replicaset = std::make_unique<ReplicaSetController>(client, *replicasets, *pods, client::real_timers(),
                                                          rs_options, metrics.queue(kReplicaSetController),
                                                          metrics.sync(kReplicaSetController));
    }
    if (enabled.contains(kDeploymentController)) {
      deployments = informer("apps", "deployments");
      DeploymentOptions d_options;
      d_options.workers = options.concurrent_deployment_syncs;
      deployment = std::make_unique<DeploymentController>(
          client, *deployments, *replicasets, *pods, client::real_timers(), d_options,
          metrics.queue(kDeploymentController), metrics.sync(kDeploymentController));
    }
    if (enabled.contains(kEndpointController)) {
      services = informer("", "services");
      endpoints = informer("", "endpoints");
      EndpointsOptions ep_options;
      ep_options.workers = options.concurrent_endpoint_syncs;
      endpoint = std::make_unique<EndpointsController>(
          client, *services, *pods, *endpoints, client::real_timers(), ep_options,
          metrics.queue(kEndpointController), metrics.sync(kEndpointController));
    }
    if (enabled.contains(kEndpointSliceController)) {
      if (!services) services = informer("", "services");
      endpointslices = informer("discovery.k8s.io", "endpointslices");
      EndpointSliceOptions slice_options;
      slice_options.workers = options.concurrent_service_endpoint_syncs;
      slice_options.max_endpoints_per_slice = options.max_endpoints_per_slice;
      endpointslice = std::make_unique<EndpointSliceController>(
          client, *services, *pods, *endpointslices, client::real_timers(), slice_options,
          metrics.queue(kEndpointSliceController), metrics.sync(kEndpointSliceController));
    }
    if (enabled.contains(kDisruptionController)) {
      if (!replicasets) replicasets = informer("apps", "replicasets");
      if (!deployments) deployments = informer("apps", "deployments");
      pdbs = informer("policy", "poddisruptionbudgets");
      disruption = std::make_unique<DisruptionController>(
          client, *pdbs, *pods, *replicasets, *deployments, client::real_timers(), DisruptionOptions(),
          metrics.queue(kDisruptionController), metrics.sync(kDisruptionController));
    }
    if (enabled.contains(kNamespaceController)) {
      namespaces = informer("", "namespaces");
      NamespaceOptions ns_options;
      ns_options.workers = options.concurrent_namespace_syncs;
      ns_options.finalizer_estimate = options.namespace_finalizer_estimate;
      namespace_controller = std::make_unique<NamespaceController>(
          client, *namespaces, client::real_timers(), ns_options, metrics.queue(kNamespaceController),
          metrics.sync(kNamespaceController));
    }
    if (enabled.contains(kPodGcController)) {
      if (!nodes) nodes = informer("", "nodes");
      PodGcOptions gc_options;
      gc_options.terminated_pod_gc_threshold = options.terminated_pod_gc_threshold;
      gc_options.gc_period = options.pod_gc_period;
      gc_options.quarantine = options.pod_gc_quarantine;
      podgc = std::make_unique<PodGcController>(client, *pods, *nodes, client::real_timers(), gc_options,
                                                metrics.sync(kPodGcController));
    }
    if (enabled.contains(kGarbageCollectorController)) {
      GarbageCollectorOptions gc_options;
      gc_options.workers = options.concurrent_gc_syncs;
      garbage_collector = std::make_unique<GarbageCollector>(
          client, client::real_timers(), random, gc_options, metrics.queue(kGarbageCollectorController),
          metrics.sync(kGarbageCollectorController));
    }
    const bool lifecycle = enabled.contains(kNodeLifecycleController);
    const bool eviction = enabled.contains(kTaintEvictionController);
    if ((lifecycle || eviction) && !nodes) nodes = informer("", "nodes");
    if (lifecycle) {
      client::InformerOptions lease_options;
      lease_options.ns = kNodeLeaseNamespace;
      leases = std::make_unique<client::Informer>(client, resource("coordination.k8s.io", "leases"),
                                                  lease_options, client::real_timers(), random);
      NodeLifecycleOptions nl_options;
      nl_options.monitor_period = options.node_monitor_period;
      nl_options.grace_period = options.node_monitor_grace_period;
      nl_options.startup_grace_period = options.node_startup_grace_period;
      nl_options.eviction_rate = options.node_eviction_rate;
      nl_options.secondary_eviction_rate = options.secondary_node_eviction_rate;
      nl_options.unhealthy_zone_threshold = options.unhealthy_zone_threshold;
      nl_options.large_cluster_size_threshold = options.large_cluster_size_threshold;
      node_lifecycle = std::make_unique<NodeLifecycleController>(
          client, *nodes, *leases, *pods, client::real_timers(), nl_options,
          metrics.queue(kNodeLifecycleController), metrics.sync(kNodeLifecycleController));
    }
    if (eviction) {
      taint_eviction = std::make_unique<TaintEvictionController>(
          client, *nodes, *pods, client::real_timers(), TaintEvictionOptions(),
          metrics.queue(kTaintEvictionController), metrics.sync(kTaintEvictionController));
    }
  }

  std::vector<client::Informer*> informers() const {
    std::vector<client::Informer*> out;
    for (const auto* slot : {&pods, &replicasets, &deployments, &services, &endpoints, &endpointslices, &pdbs,
                             &namespaces, &nodes, &leases})
      if (*slot) out.push_back(slot->get());
    if (garbage_collector)
      for (auto* informer : garbage_collector->informers()) out.push_back(informer);
    return out;
  }
  bool synced() const {
    for (const auto* informer : informers())
      if (!informer->has_synced()) return false;
    return true;
  }
  void stop() {
    if (replicaset) replicaset->stop();
    if (endpoint) endpoint->stop();
    if (deployment) deployment->stop();
    if (garbage_collector) garbage_collector->stop();
    if (endpointslice) endpointslice->stop();
    if (disruption) disruption->stop();
    if (namespace_controller) namespace_controller->stop();
    if (podgc) podgc->stop();
    if (node_lifecycle) node_lifecycle->stop();
    if (taint_eviction) taint_eviction->stop();
  }

  client::SeededRandom random{std::random_device()()};
  std::unique_ptr<client::Informer> pods;
  std::unique_ptr<client::Informer> replicasets;
  std::unique_ptr<client::Informer> services;
  std::unique_ptr<client::Informer> endpoints;
  std::unique_ptr<client::Informer> endpointslices;
  std::unique_ptr<client::Informer> deployments;
  std::unique_ptr<client::Informer> pdbs;
  std::unique_ptr<client::Informer> namespaces;
  std::unique_ptr<client::Informer> nodes;
  std::unique_ptr<client::Informer> leases;  // kube-node-lease
  std::unique_ptr<ReplicaSetController> replicaset;
  std::unique_ptr<EndpointsController> endpoint;
  std::unique_ptr<DeploymentController> deployment;
  std::unique_ptr<GarbageCollector> garbage_collector;
  std::unique_ptr<EndpointSliceController> endpointslice;
  std::unique_ptr<DisruptionController> disruption;
  std::unique_ptr<NamespaceController> namespace_controller;
  std::unique_ptr<PodGcController> podgc;
  std::unique_ptr<NodeLifecycleController> node_lifecycle;
  std::unique_ptr<TaintEvictionController> taint_eviction;
};

Result<std::set<std::string>> enabled_controllers(const std::vector<std::string>& flags) {
  const std::set<std::string> known = {
      kReplicaSetController, kEndpointController,      kGarbageCollectorController,
      kNamespaceController,  kPodGcController,         kEndpointSliceController,
      kDisruptionController, kNodeLifecycleController, kTaintEvictionController,
      kDeploymentController};
  std::set<std::string> enabled;
  std::set<std::string> disabled;
  bool star = false;
  for (const auto& flag : flags) {
    if (flag == "*") {
      star = true;
      continue;
    }
    const bool off = !flag.empty() && flag[0] == '-';
    const std::string name = off ? flag.substr(1) : flag;
    if (!known.contains(name))
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("--controllers: \"{}\" is not in the list of known controllers ({})",
                                    name, fmt::join(known, ", ")));
    (off ? disabled : enabled).insert(name);
  }
  if (star) enabled.insert(known.begin(), known.end());  // every one is on by default
  for (const auto& name : disabled) enabled.erase(name);
  return enabled;
}

Status validate(const ManagerOptions& options) {
  auto invalid = [](std::string message) {
    return make_error(ErrorCode::kInvalidArgument, std::move(message));
  };
  if (options.master.empty()) return invalid("--master: at least one API server URL is required");
  for (const auto& url : options.master)
    if (!net::parse_endpoint(url))
      return invalid(fmt::format("--master: '{}' is not an http(s)://host:port URL", url));
  if (!is_loopback(options.bind_address))
    return invalid(fmt::format("--bind-address: {} is not a loopback address", options.bind_address));
  if (options.concurrent_replicaset_syncs < 1)
    return invalid("--concurrent-replicaset-syncs must be at least 1");
  if (options.concurrent_endpoint_syncs < 1) return invalid("--concurrent-endpoint-syncs must be at least 1");
  if (options.concurrent_deployment_syncs < 1)
    return invalid("--concurrent-deployment-syncs must be at least 1");
  if (options.concurrent_gc_syncs < 1) return invalid("--concurrent-gc-syncs must be at least 1");
  if (options.concurrent_service_endpoint_syncs < 1)
    return invalid("--concurrent-service-endpoint-syncs must be at least 1");
  if (options.max_endpoints_per_slice < 1 || options.max_endpoints_per_slice > 1000)
    return invalid("--max-endpoints-per-slice must be between 1 and 1000");
  if (options.concurrent_namespace_syncs < 1)
    return invalid("--concurrent-namespace-syncs must be at least 1");
  if (options.pod_gc_period.count() <= 0) return invalid("--pod-gc-period must be positive");
  if (auto enabled = enabled_controllers(options.controllers); !enabled) return enabled.error();
  if (options.node_monitor_period <= Millis(0)) return invalid("--node-monitor-period must be positive");
  if (options.node_monitor_grace_period <= Millis(0))
    return invalid("--node-monitor-grace-period must be positive");
  if (options.node_startup_grace_period <= Millis(0))
    return invalid("--node-startup-grace-period must be positive");
  if (options.node_eviction_rate < 0) return invalid("--node-eviction-rate must not be negative");
  if (options.secondary_node_eviction_rate < 0)
    return invalid("--secondary-node-eviction-rate must not be negative");
  if (!(options.unhealthy_zone_threshold > 0 && options.unhealthy_zone_threshold <= 1))
    return invalid("--unhealthy-zone-threshold must be in (0, 1]");
  if (options.large_cluster_size_threshold < 0)
    return invalid("--large-cluster-size-threshold must not be negative");
  if (options.leader_elect) {
    client::LeaderElectionConfig config;
    config.identity = "validate";
    config.lease_duration = options.lease_duration;
    config.renew_deadline = options.renew_deadline;
    config.retry_period = options.retry_period;
    if (auto valid = client::validate(config); !valid)
      return invalid("--leader-elect-*: " + valid.error().message);
  }
  return {};
}

ControllerManager::ControllerManager(asio::any_io_executor executor, ManagerOptions options)
    : executor_(executor),
      options_(std::move(options)),
      enabled_(enabled_controllers(options_.controllers).value()),
      metrics_(std::make_unique<ControllerMetrics>(options_.lease_name)),
      random_(std::make_unique<client::SeededRandom>(std::random_device()())),
      sync_wait_(std::make_unique<client::Sleeper>(executor, client::real_timers())),
      controllers_(executor) {
  if (options_.identity.empty()) options_.identity = default_identity();
  client::Config config;
  for (const auto& url : options_.master) config.servers.push_back(*net::parse_endpoint(url));
  config.bearer_token = options_.token;
  config.request_timeout = options_.request_timeout;
  config.user_agent = "shakeout-controller-manager";
  client_ = std::make_unique<client::Client>(executor_, config);
  // Lease calls must end well within the renew deadline (leader_election.h);
  // a separate client, as upstream's, so controller traffic cannot delay them.
  config.request_timeout = std::min(options_.request_timeout, options_.renew_deadline / 2);
  config.connect_timeout = std::min(config.connect_timeout, config.request_timeout);
  lease_client_ = std::make_unique<client::Client>(executor_, config);
}

ControllerManager::~ControllerManager() = default;

Status ControllerManager::start() {
  net::HttpServerConfig config;
  config.address = options_.bind_address;
  config.port = options_.port;
  config.stop_grace = Millis(1000);
  http_ = std::make_unique<net::HttpServer>(
      executor_, config,
      [this](net::ServerRequest& request, net::ResponseWriter& writer) { return handle(request, writer); });
  return http_->start();
}

uint16_t ControllerManager::port() const {
  return http_ ? http_->port() : 0;
}

asio::awaitable<void> ControllerManager::handle(net::ServerRequest& request, net::ResponseWriter& writer) {
  net::ServerResponse response;
  response.content_type = "text/plain; charset=utf-8";
  if (request.method != "GET") {
    response.status = 405;
    response.body = "method not allowed\n";
  } else if (request.path == "/healthz" || request.path == "/livez" || request.path == "/readyz") {
    response.body = "ok";
  } else if (request.path == "/metrics") {
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    response.body = metrics_->serialize();
  } else {
    response.status = 404;
    response.body = "404 page not found\n";
  }
  co_await writer.send(std::move(response));
}

asio::awaitable<void> ControllerManager::run() {
  if (!options_.leader_elect) {
    metrics_->set_leader(true);
    controllers_.spawn(run_controllers());
    co_await controllers_.wait();
    co_return;
  }
  lock_ = std::make_unique<client::ClientLeaseLock>(*lease_client_, options_.lease_namespace,
                                                    options_.lease_name);
  client::LeaderElectionConfig config;
  config.identity = options_.identity;
  config.lease_duration = options_.lease_duration;
  config.renew_deadline = options_.renew_deadline;
  config.retry_period = options_.retry_period;
  config.release_on_cancel = true;
  config.on_started_leading = [this] {
    log::info(kLog, "{}: leading, starting controllers ({})", options_.identity, fmt::join(enabled_, ", "));
    metrics_->set_leader(true);
    controllers_.spawn(run_controllers());
  };
  config.on_stopped_leading = [this] {
    metrics_->set_leader(false);
    if (!stopping_ && running_ != nullptr) {
      log::error(kLog, "{}: leader election lost", options_.identity);
      lost_ = true;
    }
    stop_controllers();
  };
  config.on_new_leader = [this](const std::string& identity) {
    if (identity != options_.identity)
      log::info(kLog, "{}: the leader is now '{}'", options_.identity, identity);
  };
  elector_ =
      std::make_unique<client::LeaderElector>(executor_, config, *lock_, client::real_timers(), *random_);
  co_await elector_->run();
  stop_controllers();
  co_await controllers_.wait();
}

asio::awaitable<void> ControllerManager::shutdown() {
  stopping_ = true;
  stop_controllers();
  co_await controllers_.wait();  // no write of ours can follow the release
  if (elector_) elector_->stop();
}

asio::awaitable<void> ControllerManager::stop_serving() {
  if (http_) co_await http_->stop();
}

void ControllerManager::stop_controllers() {
  sync_wait_->stop();
  if (running_ != nullptr) running_->stop();
}

asio::awaitable<void> ControllerManager::run_controllers() {
  Running running(*client_, enabled_, options_, *metrics_);
  if (stopping_ || lost_) co_return;
  running_ = &running;
  WaitGroup informers(executor_);
  for (auto* informer : running.informers()) informers.spawn(informer->run());
  bool synced = running.synced();
  while (!synced) {
    if (!co_await sync_wait_->sleep(kSyncPoll)) break;
    synced = running.synced();
  }
  WaitGroup workers(executor_);
  if (synced) {
    log::info(kLog, "caches synced");
    if (running.replicaset) workers.spawn(running.replicaset->run());
    if (running.endpoint) workers.spawn(running.endpoint->run());
    if (running.deployment) workers.spawn(running.deployment->run());
    if (running.garbage_collector) workers.spawn(running.garbage_collector->run());
    if (running.namespace_controller) workers.spawn(running.namespace_controller->run());
    if (running.podgc) workers.spawn(running.podgc->run());
    if (running.endpointslice) workers.spawn(running.endpointslice->run());
    if (running.disruption) workers.spawn(running.disruption->run());
    if (running.node_lifecycle) workers.spawn(running.node_lifecycle->run());
    if (running.taint_eviction) workers.spawn(running.taint_eviction->run());
  }
  co_await workers.wait();  // until stop_controllers()
  for (auto* informer : running.informers()) informer->stop();
  co_await informers.wait();
  running_ = nullptr;
  log::info(kLog, "controllers stopped");
}

int run(const ManagerOptions& options) {
  asio::io_context io;
  ControllerManager manager(io.get_executor(), options);
  if (auto started = manager.start(); !started) {
    log::error(kLog, "cannot serve on {}:{}: {}", options.bind_address, options.port,
               started.error().message);
    return 2;
  }
  log::info(kLog, "serving /healthz and /metrics on {}:{}; API servers {}", options.bind_address,
            manager.port(), fmt::join(options.master, ","));
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& error, int) {
    if (error) return;
    log::info(kLog, "shutting down");
    asio::co_spawn(io, manager.shutdown(), asio::detached);
  });
  run_blocking(io, manager.run());
  signals.cancel();
  run_blocking(io, manager.stop_serving());
  return manager.lost_leadership() ? 1 : 0;
}

}  // namespace shakeout::controller
