#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "apiserver/server.h"
#include "cli/commands.h"
#include "cluster/profile.h"
#include "common/log.h"
#include "controller/manager.h"
#include "scheduler/scheduler.h"

namespace shakeout::cli {
namespace {

constexpr const char* kVersion = "0.1.0";

void add_log_level(CLI::App& app, std::string& level) {
  app.add_option("--log-level", level, "debug|info|warn|error|off (default info; warn for run)")
      ->check(CLI::IsMember({"debug", "info", "warn", "error", "off"}));
}

// A Go duration flag ("15s", "750ms") kept as text until parse_durations().
struct DurationFlag {
  const char* name;
  std::string text;
  Millis* target;
};

void add_duration(CLI::App* app, DurationFlag& flag, const std::string& help) {
  app->add_option(flag.name, flag.text, help)->capture_default_str();
}

// Parses every flag's text into its target; false after printing the first error.
bool parse_durations(std::vector<DurationFlag>& flags) {
  for (auto& flag : flags)
    if (!parse_duration_flag(flag.name, flag.text, *flag.target)) return false;
  return true;
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"shakeout: chaos-engineering and resilience harness for a local mini Kubernetes cluster",
               "shakeout"};
  app.require_subcommand(1);
  app.fallthrough();      // --log-level also after the subcommand
  std::string log_level;  // default: info, warn for `run`
  add_log_level(app, log_level);

  UpOptions up_options;
  std::string profile_name = "fast";
  auto* up_cmd = app.add_subcommand("up", "Boot a cluster; runs until Ctrl-C unless --detach");
  up_cmd->add_option("--name", up_options.cluster.name, "cluster name")->capture_default_str();
  up_cmd->add_option("--nodes", up_options.cluster.nodes, "worker nodes")
      ->check(CLI::Range(1, cluster::AddressPlan::kMaxNodes))
      ->capture_default_str();
  up_cmd->add_option("--etcd-members", up_options.cluster.etcd_members, "etcd members: 1 or 3")
      ->check(CLI::IsMember({1, 3}))
      ->capture_default_str();
  up_cmd->add_option("--apiservers", up_options.cluster.apiservers, "API server replicas")
      ->check(CLI::Range(1, cluster::AddressPlan::kMaxMembers))
      ->capture_default_str();
  up_cmd
      ->add_option("--controller-managers", up_options.cluster.controller_managers,
                   "controller-manager replicas (leader-elected; 0 = none)")
      ->check(CLI::Range(0, cluster::AddressPlan::kMaxMembers))
      ->capture_default_str();
  up_cmd
      ->add_option("--schedulers", up_options.cluster.schedulers,
                   "scheduler replicas (leader-elected; 0 = none)")
      ->check(CLI::Range(0, cluster::AddressPlan::kMaxMembers))
      ->capture_default_str();
  up_cmd->add_option("--profile", profile_name, "timing profile: fast or kubernetes")
      ->check(CLI::IsMember({"fast", "kubernetes"}))
      ->capture_default_str();
  up_cmd->add_flag("--detach,-d", up_options.detach, "return once ready, leaving a supervisor running");

  std::string down_name = "shakeout";
  bool down_all = false;
  auto* down_cmd = app.add_subcommand("down", "Stop a cluster and remove what it left (also stale ones)");
  auto* name_opt = down_cmd->add_option("--name", down_name, "cluster name")->capture_default_str();
  down_cmd->add_flag("--all", down_all, "every cluster of this user")->excludes(name_opt);

  std::string status_name;
  bool status_json = false;
  auto* status_cmd = app.add_subcommand("status", "List clusters, or show one with --name");
  status_cmd->add_option("--name", status_name, "show this cluster in detail");
  status_cmd->add_flag("--json", status_json, "print cluster.json records");

  std::string kubeconfig_name = "shakeout";
  auto* kubeconfig_cmd =
      app.add_subcommand("kubeconfig", "Print the path of a running cluster's kubeconfig (for KUBECONFIG=)");
  kubeconfig_cmd->add_option("--name", kubeconfig_name, "cluster name")->capture_default_str();
  std::vector<std::string> validate_files;
  auto* validate_cmd =
      app.add_subcommand("validate", "Check experiment files (YAML or JSON) without running them");
  validate_cmd->add_option("files", validate_files, "experiment files")->required();
  app.add_subcommand("version", "Print the version");

  // Roles: one per component process, started by the supervisor.
  apiserver::Options apiserver_options;
  auto* apiserver_cmd = app.add_subcommand("apiserver", "Role: the Kubernetes API server over etcd");
  apiserver_cmd->add_option("--etcd-servers", apiserver_options.etcd_servers, "etcd client URLs")
      ->delimiter(',')
      ->required();
  apiserver_cmd->add_option("--bind-address", apiserver_options.bind_address, "loopback address to serve on")
      ->capture_default_str();
  apiserver_cmd
      ->add_option("--port", apiserver_options.port,
                   "port to serve HTTP (and HTTPS, given a certificate) on (0 = any)")
      ->capture_default_str();
  apiserver_cmd->add_option("--tls-cert-file", apiserver_options.tls_cert_file,
                            "PEM certificate (chain) for HTTPS on --port");
  apiserver_cmd->add_option("--tls-private-key-file", apiserver_options.tls_private_key_file,
                            "PEM private key of --tls-cert-file");
  apiserver_cmd->add_option("--token-auth-file", apiserver_options.token_auth_file,
                            "bearer tokens: CSV lines token,user,uid,\"groups\"");
  apiserver_cmd
      ->add_option("--anonymous-auth", apiserver_options.anonymous_auth,
                   "serve requests without credentials as system:anonymous (invalid tokens still get 401)")
      ->capture_default_str();
  apiserver_cmd
      ->add_option("--service-cluster-ip-range", apiserver_options.service_cluster_ip_range,
                   "CIDR ClusterIPs are allocated from")
      ->capture_default_str();
  std::string node_port_range = "30000-32767";
  apiserver_cmd->add_option("--service-node-port-range", node_port_range, "NodePort range, MIN-MAX")
      ->capture_default_str();
  apiserver_cmd
      ->add_option("--default-not-ready-toleration-seconds",
                   apiserver_options.default_not_ready_toleration_seconds,
                   "tolerationSeconds of the not-ready toleration added to pods")
      ->capture_default_str();
  apiserver_cmd
      ->add_option("--default-unreachable-toleration-seconds",
                   apiserver_options.default_unreachable_toleration_seconds,
                   "tolerationSeconds of the unreachable toleration added to pods")
      ->capture_default_str();
  std::string kubelet_client_token_file;
  apiserver_cmd->add_option("--kubelet-client-token-file", kubelet_client_token_file,
                            "file whose first line is the token pods/log presents to kubelets");
  int64_t bookmark_ms = apiserver_options.watch_bookmark_interval.count();
  apiserver_cmd->add_option("--watch-bookmark-interval-ms", bookmark_ms, "how often watches get a BOOKMARK")
      ->capture_default_str();

  controller::ManagerOptions cm_options;
  auto* cm_cmd =
      app.add_subcommand("controller-manager",
                         "Role: the controller manager (replicaset, deployment, endpoint, node-lifecycle, "
                         "taint-eviction-controller, ...), leader-elected");
  cm_cmd->add_option("--master", cm_options.master, "API server URLs, comma-separated (failover in order)")
      ->delimiter(',')
      ->required();
  cm_cmd->add_option("--token", cm_options.token, "bearer token for the API servers");
  std::string cm_token_file;
  cm_cmd->add_option("--token-file", cm_token_file,
                     "file whose first line is the bearer token (not in argv)");
  cm_cmd->add_option("--bind-address", cm_options.bind_address, "loopback address of /healthz and /metrics")
      ->capture_default_str();
  cm_cmd->add_option("--port", cm_options.port, "port of /healthz and /metrics (0 = any)")
      ->capture_default_str();
  cm_cmd->add_option("--leader-elect", cm_options.leader_elect, "run only while holding the leader Lease")
      ->capture_default_str();
  std::vector<DurationFlag> cm_durations = {
      {"--leader-elect-lease-duration", "15s", &cm_options.lease_duration},
      {"--leader-elect-renew-deadline", "10s", &cm_options.renew_deadline},
      {"--leader-elect-retry-period", "2s", &cm_options.retry_period},
      {"--pod-gc-period", "20s", &cm_options.pod_gc_period},
      {"--pod-gc-quarantine", "40s", &cm_options.pod_gc_quarantine},
      {"--namespace-finalizer-estimate", "15s", &cm_options.namespace_finalizer_estimate},
      {"--node-monitor-period", "5s", &cm_options.node_monitor_period},
      {"--node-monitor-grace-period", "50s", &cm_options.node_monitor_grace_period},
      {"--node-startup-grace-period", "1m", &cm_options.node_startup_grace_period},
  };
  add_duration(cm_cmd, cm_durations[0], "how long a Lease is valid without renewal");
  add_duration(cm_cmd, cm_durations[1], "the leader gives up if it cannot renew by then");
  add_duration(cm_cmd, cm_durations[2], "how often candidates try and the leader renews");
  add_duration(cm_cmd, cm_durations[3], "how often pod GC runs (upstream's fixed 20s)");
  add_duration(cm_cmd, cm_durations[4],
               "how long a pod's node must be missing before pod GC deletes it (upstream's fixed 40s)");
  add_duration(
      cm_cmd, cm_durations[5],
      "how long a terminating namespace waits on finalizers before it looks again (upstream's fixed 15s)");
  add_duration(cm_cmd, cm_durations[6], "how often node health is checked");
  add_duration(cm_cmd, cm_durations[7], "a node silent this long is marked Unknown");
  add_duration(cm_cmd, cm_durations[8], "the grace period of a node that never posted Ready");
  cm_cmd
      ->add_option("--leader-elect-resource-namespace", cm_options.lease_namespace, "namespace of the Lease")
      ->capture_default_str();
  cm_cmd->add_option("--leader-elect-resource-name", cm_options.lease_name, "name of the Lease")
      ->capture_default_str();
  cm_cmd
      ->add_option("--controllers", cm_options.controllers,
                   "controllers to run: '*' (all), 'name' to enable, '-name' to disable")
      ->delimiter(',')
      ->capture_default_str();
  cm_cmd
      ->add_option("--concurrent-replicaset-syncs", cm_options.concurrent_replicaset_syncs,
                   "ReplicaSets synced at once")
      ->capture_default_str();
  cm_cmd
      ->add_option("--concurrent-endpoint-syncs", cm_options.concurrent_endpoint_syncs,
                   "Services whose Endpoints are synced at once")
      ->capture_default_str();
  cm_cmd
      ->add_option("--concurrent-deployment-syncs", cm_options.concurrent_deployment_syncs,
                   "Deployments synced at once")
      ->capture_default_str();
  cm_cmd->add_option("--concurrent-gc-syncs", cm_options.concurrent_gc_syncs, "garbage collector workers")
      ->capture_default_str();
  cm_cmd
      ->add_option("--concurrent-service-endpoint-syncs", cm_options.concurrent_service_endpoint_syncs,
                   "Services whose EndpointSlices are synced at once")
      ->capture_default_str();
  cm_cmd
      ->add_option("--max-endpoints-per-slice", cm_options.max_endpoints_per_slice,
                   "endpoints in one EndpointSlice at most")
      ->capture_default_str();
  cm_cmd
      ->add_option("--concurrent-namespace-syncs", cm_options.concurrent_namespace_syncs,
                   "namespaces deleted at once")
      ->capture_default_str();
  cm_cmd
      ->add_option("--terminated-pod-gc-threshold", cm_options.terminated_pod_gc_threshold,
                   "terminated pods kept before pod GC deletes the oldest (<= 0: no limit)")
      ->capture_default_str();
  cm_cmd->add_option("--node-eviction-rate", cm_options.node_eviction_rate, "nodes tainted per second")
      ->capture_default_str();
  cm_cmd
      ->add_option("--secondary-node-eviction-rate", cm_options.secondary_node_eviction_rate,
                   "nodes tainted per second in a partially disrupted large zone")
      ->capture_default_str();
  cm_cmd
      ->add_option("--unhealthy-zone-threshold", cm_options.unhealthy_zone_threshold,
                   "share of not-ready nodes (more than 2) that makes a zone partially disrupted")
      ->capture_default_str();
  cm_cmd
      ->add_option("--large-cluster-size-threshold", cm_options.large_cluster_size_threshold,
                   "zones with more nodes keep the secondary rate when partially disrupted, others stop")
      ->capture_default_str();

  scheduler::Options scheduler_options;
  auto* scheduler_cmd = app.add_subcommand("scheduler", "Role: kube-scheduler, binds pending pods to nodes");
  scheduler_cmd
      ->add_option("--master", scheduler_options.master, "API server URLs (http://host:port), in order")
      ->delimiter(',')
      ->required();
  scheduler_cmd->add_option("--token", scheduler_options.token, "bearer token for the API server");
  std::string scheduler_token_file;
  scheduler_cmd->add_option("--token-file", scheduler_token_file,
                            "file whose first line is the bearer token (not in argv)");
  scheduler_cmd
      ->add_option("--bind-address", scheduler_options.bind_address,
                   "loopback address for /healthz and /metrics")
      ->capture_default_str();
  scheduler_cmd->add_option("--port", scheduler_options.port, "port for /healthz and /metrics (0 = any)")
      ->capture_default_str();
  scheduler_cmd
      ->add_flag("--leader-elect", scheduler_options.leader_elect,
                 "elect a leader over a Lease (--leader-elect=false to turn off)")
      ->capture_default_str();
  scheduler_cmd
      ->add_option("--leader-elect-resource-namespace", scheduler_options.lock_namespace,
                   "namespace of the Lease")
      ->capture_default_str();
  scheduler_cmd->add_option("--leader-elect-resource-name", scheduler_options.lock_name, "name of the Lease")
      ->capture_default_str();
  std::vector<DurationFlag> scheduler_durations = {
      {"--leader-elect-lease-duration", "15s", &scheduler_options.lease_duration},
      {"--leader-elect-renew-deadline", "10s", &scheduler_options.renew_deadline},
      {"--leader-elect-retry-period", "2s", &scheduler_options.retry_period},
      {"--pod-initial-backoff", "1s", &scheduler_options.pod_initial_backoff},
      {"--pod-max-backoff", "10s", &scheduler_options.pod_max_backoff},
      {"--pod-max-in-unschedulable-pods-duration", "5m", &scheduler_options.pod_max_in_unschedulable},
  };
  add_duration(scheduler_cmd, scheduler_durations[0], "how long a Lease is valid without renewal");
  add_duration(scheduler_cmd, scheduler_durations[1], "the leader gives up if it cannot renew by then");
  add_duration(scheduler_cmd, scheduler_durations[2], "how often candidates try and the leader renews");
  add_duration(scheduler_cmd, scheduler_durations[3],
               "backoff after a pod's first failed attempt (doubling)");
  add_duration(scheduler_cmd, scheduler_durations[4], "maximum backoff of a pod");
  add_duration(scheduler_cmd, scheduler_durations[5],
               "retry an unschedulable pod after this even without events");

  std::vector<RoleCommand> roles = {add_runtime_command(app), add_kubelet_command(app),
                                    add_proxy_command(app),   add_app_command(app),
                                    add_run_command(app),     add_link_command(app)};

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::fprintf(stderr, "shakeout: error: %s (see 'shakeout --help')\n", e.what());
    return kExitUsage;
  }
  // `run` prints its own progress and table; the harness's logs stay quiet
  // unless asked for.
  log::Level level = app.got_subcommand("run") ? log::Level::kWarn : log::Level::kInfo;
  if (!log_level.empty()) log::parse_level(log_level, &level);
  log::set_level(level);

  const auto root = cluster::default_runtime_root();
  if (*up_cmd) {
    cluster::ProfileOptions profile_options;
    profile_options.name = profile_name;
    auto profile = cluster::Profile::make(profile_options);
    if (!profile) {
      std::fprintf(stderr, "shakeout: error: --profile: %s\n", profile.error().message.c_str());
      return kExitUsage;
    }
    up_options.cluster.profile = std::move(*profile);
    up_options.cluster.runtime_root = root;
    if (auto valid = cluster::validate(up_options.cluster); !valid) {
      std::fprintf(stderr, "shakeout: error: %s\n", valid.error().message.c_str());
      return kExitUsage;
    }
    return up(up_options);
  }
  if (*down_cmd) return down(root, down_name, down_all);
  if (*apiserver_cmd) {
    if (std::sscanf(node_port_range.c_str(), "%d-%d", &apiserver_options.node_port_min,
                    &apiserver_options.node_port_max) != 2) {
      std::fprintf(stderr, "shakeout: error: --service-node-port-range: '%s' is not MIN-MAX\n",
                   node_port_range.c_str());
      return kExitUsage;
    }
    apiserver_options.watch_bookmark_interval = Millis(bookmark_ms);
    if (!read_token_file(kubelet_client_token_file, apiserver_options.kubelet_client_token))
      return kExitUsage;
    if (auto valid = apiserver::validate(apiserver_options); !valid) {
      std::fprintf(stderr, "shakeout: error: %s\n", valid.error().message.c_str());
      return kExitUsage;
    }
    return apiserver::run(apiserver_options);
  }
  if (*cm_cmd) {
    if (!parse_durations(cm_durations) || !read_token_file(cm_token_file, cm_options.token))
      return kExitUsage;
    if (auto valid = controller::validate(cm_options); !valid) {
      std::fprintf(stderr, "shakeout: error: %s\n", valid.error().message.c_str());
      return kExitUsage;
    }
    return controller::run(cm_options);
  }
  if (*scheduler_cmd) {
    if (!parse_durations(scheduler_durations) ||
        !read_token_file(scheduler_token_file, scheduler_options.token))
      return kExitUsage;
    if (auto valid = scheduler::validate(scheduler_options); !valid) {
      std::fprintf(stderr, "shakeout: error: %s\n", valid.error().message.c_str());
      return kExitUsage;
    }
    return scheduler::run(scheduler_options);
  }
  for (auto& role : roles)
    if (*role.command) return role.run();
  if (*status_cmd) return status(root, status_name, status_json);
  if (*kubeconfig_cmd) return kubeconfig(root, kubeconfig_name);
  if (*validate_cmd) return validate(validate_files);
  std::printf("shakeout %s\n", kVersion);
  return kExitOk;
}

}  // namespace shakeout::cli
