#include "cluster/cluster.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <tuple>

#include "apiserver/auth.h"
#include "common/log.h"
#include "net/base64.h"
#include "net/http_client.h"
#include "net/pki.h"

namespace shakeout::cluster {

std::string self_executable() {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("shakeout") : path.string();
}

Status validate(const ClusterOptions& options) {
  if (auto valid = validate_cluster_name(options.name); !valid) return valid;
  if (options.nodes < 1 || options.nodes > AddressPlan::kMaxNodes) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("nodes: must be 1..{}, got {}", AddressPlan::kMaxNodes, options.nodes));
  }
  if (options.etcd_members != 1 && options.etcd_members != 3) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("etcd-members: must be 1 or 3, got {}", options.etcd_members));
  }
  if (options.apiservers < 0 || options.apiservers > AddressPlan::kMaxMembers) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("apiservers: must be 0..{}, got {}",
                                                               AddressPlan::kMaxMembers, options.apiservers));
  }
  for (const auto& [field, count] :
       {std::pair<const char*, int>{"controller-managers", options.controller_managers},
        std::pair<const char*, int>{"schedulers", options.schedulers}}) {
    if (count < 0 || count > AddressPlan::kMaxMembers) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("{}: must be 0..{}, got {}", field, AddressPlan::kMaxMembers, count));
    }
  }
  if (options.start_timeout.count() <= 0) {
    return make_error(ErrorCode::kInvalidArgument, "start timeout must be positive");
  }
  return {};
}

Result<std::unique_ptr<Cluster>> Cluster::create(asio::io_context& io, ClusterOptions options) {
  if (auto valid = validate(options); !valid) return valid.error();
  auto run_dir = RunDir::create(options.runtime_root, options.name);
  if (!run_dir) return run_dir.error();
  auto subnet = lease_subnet(options.runtime_root);
  if (!subnet) return subnet.error();
  return std::unique_ptr<Cluster>(
      new Cluster(io, std::move(options), std::move(*run_dir), std::move(*subnet)));
}

Cluster::Cluster(asio::io_context& io, ClusterOptions options, RunDir run_dir, SubnetLease subnet)
    : options_(std::move(options)),
      io_(io),
      run_dir_(std::move(run_dir)),
      subnet_(std::move(subnet)),
      addresses_(subnet_.subnet),
      etcd_(plan_etcd(addresses_, options_.etcd_members, run_dir_.path(), options_.name)),
      supervisor_(io) {
  record_.name = options_.name;
  record_.subnet = addresses_.subnet();
  record_.run_dir = run_dir_.path().string();
  record_.profile = options_.profile.name();
  record_.supervisor_pid = ::getpid();
  record_.supervisor_start_ticks = process_start_ticks(::getpid());
  record_.etcd_endpoints = etcd_.client_urls();
  record_.timings = options_.profile.effective_values();
  for (int k = 1; k <= options_.nodes; ++k) {
    record_.nodes.push_back({fmt::format("node-{}", k), addresses_.node_ip(k), addresses_.pod_cidr(k)});
  }
  supervisor_.on_exit([this](const ProcessInfo& info, const ExitStatus& status) {
    if (record_.state != "stopping") {
      log::warn("cluster", "{} (pid {}) exited unexpectedly: {}", info.name, info.pid, status.describe());
    }
    write_record(record_.state);
  });
  supervisor_.on_restart([this](const ProcessInfo& info) {
    log::info("cluster", "{} restarted (pid {}, restart {})", info.name, info.pid, info.restarts);
    write_record(record_.state);
  });
  write_record("starting");
}

Cluster::~Cluster() = default;

void Cluster::write_record(const std::string& state) {
  record_.state = state;
  record_.processes.clear();
  for (const auto& info : supervisor_.list()) {
    ProcessRecord p{info.name, "", info.pid, info.start_ticks, to_string(info.state), info.log_file.string(),
                    {}};
    for (const auto& m : etcd_.members) {
      if (m.name == info.name) {
        p.role = "etcd";
        p.addresses = {{"client", m.client_url}, {"peer", m.peer_url}};
      }
    }
    const auto urls = apiserver_urls();
    for (size_t i = 0; i < urls.size(); ++i) {
      if (info.name == fmt::format("apiserver-{}", i + 1)) {
        p.role = "apiserver";
        p.addresses = {{"url", urls[i]}};
      }
    }
    for (int i = 1; i <= options_.controller_managers; ++i) {
      if (info.name == fmt::format("controller-manager-{}", i)) {
        p.role = "controller-manager";
        p.addresses = {{"metrics", "http://" + controller_manager_endpoint(i).to_string()}};
      }
    }
    for (int i = 1; i <= options_.schedulers; ++i) {
      if (info.name == fmt::format("scheduler-{}", i)) {
        p.role = "scheduler";
        p.addresses = {{"metrics", "http://" + scheduler_endpoint(i).to_string()}};
      }
    }
    for (int k = 1; k <= options_.nodes && p.role.empty(); ++k) {
      for (const char* role : {"runtime", "kubelet", "proxy"}) {
        if (info.name != node_process(role, k)) continue;
        p.role = role;
        const int port = std::string_view(role) == "runtime"   ? AddressPlan::kRuntimePort
                         : std::string_view(role) == "kubelet" ? AddressPlan::kKubeletPort
                                                               : AddressPlan::kProxyHealthzPort;
        p.addresses = {{"node", node_name(k)},
                       {"url", fmt::format("http://{}:{}", addresses_.node_ip(k), port)}};
      }
    }
    record_.processes.push_back(std::move(p));
  }
  if (auto written = run_dir_.write_record(record_); !written) {
    log::warn("cluster", "cannot update cluster.json: {}", written.error().message);
  }
}

asio::awaitable<Status> Cluster::start() {
  // Members of a multi-member cluster start one after another, each once the
  // previous one serves its peers (see wait_etcd_peer_serving for why).
  const bool one_by_one = etcd_.members.size() > 1;
  for (const auto& member : etcd_.members) {
    auto started =
        supervisor_.start(etcd_process_spec(etcd_, member, options_.profile, options_.etcd_binary));
    if (!started) co_return started;
    write_record("starting");
    if (!one_by_one) continue;
    auto serving = co_await wait_etcd_peer_serving(supervisor_, member, options_.start_timeout);
    if (!serving) {
      co_return make_error(serving.error().code, fmt::format("{}: {}", member.name, serving.error().message));
    }
  }
  for (const auto& member : etcd_.members) {
    auto ready = co_await wait_etcd_member_ready(supervisor_, member, options_.start_timeout);
    if (!ready) {
      co_return make_error(ready.error().code, fmt::format("{}: {}", member.name, ready.error().message));
    }
  }
  if (auto linked = start_links(); !linked) co_return linked;
  if (auto apiservers = co_await start_apiservers(); !apiservers) co_return apiservers;
  if (auto control_plane = co_await start_control_plane(); !control_plane) co_return control_plane;
  if (options_.node_components && options_.apiservers > 0) {
    // The nodes were launched with the controller managers and schedulers;
    // each must now turn Ready.
    for (int k = 1; k <= options_.nodes; ++k)
      if (auto ready = co_await wait_node_ready(k); !ready) co_return ready;
  }
  write_record("ready");
  co_return Status{};
}

Status Cluster::start_links() {
  if (!options_.links || options_.apiservers == 0) return {};
  // (client, its address, role offset)
  std::vector<std::tuple<std::string, std::string, int>> clients;
  for (int j = 1; j <= options_.controller_managers; ++j)
    clients.emplace_back(fmt::format("controller-manager-{}", j), addresses_.controller_manager_ip(j), 0);
  for (int j = 1; j <= options_.schedulers; ++j)
    clients.emplace_back(fmt::format("scheduler-{}", j), addresses_.scheduler_ip(j), 0);
  if (options_.node_components) {
    for (int k = 1; k <= options_.nodes; ++k) {
      clients.emplace_back(fmt::format("kubelet/{}", node_name(k)), addresses_.node_ip(k), 0);
      clients.emplace_back(fmt::format("proxy/{}", node_name(k)), addresses_.node_ip(k), 1);
    }
  }
  auto add = [this](const std::string& name, const std::string& ip, int port,
                    net::Endpoint upstream) -> Status {
    net::Endpoint listen;
    listen.host = ip;
    listen.port = static_cast<uint16_t>(port);
    auto added = add_link(name, listen, std::move(upstream));
    if (!added) return added.error();
    return {};
  };
  for (const auto& [client, ip, role] : clients) {
    for (int i = 1; i <= options_.apiservers; ++i) {
      net::Endpoint upstream;
      upstream.host = addresses_.apiserver_ip(i);
      upstream.port = AddressPlan::kApiserverPort;
      if (auto added = add(fmt::format("{}->apiserver-{}", client, i), ip,
                           AddressPlan::kLinkPort + 10 * role + i, upstream);
          !added)
        return added;
    }
  }
  // Every apiserver's connections to each etcd member.
  for (int i = 1; options_.etcd_links && i <= options_.apiservers; ++i) {
    for (const auto& member : etcd_.members) {
      auto upstream = net::parse_endpoint(member.client_url);
      if (!upstream.ok()) return upstream.error();
      if (auto added = add(fmt::format("apiserver-{}->{}", i, member.name), addresses_.apiserver_ip(i),
                           AddressPlan::kLinkPort + 10 * 2 + member.index, *upstream);
          !added)
        return added;
    }
  }
  return {};
}

std::string Cluster::etcd_servers_for(int apiserver) const {
  std::vector<std::string> urls;
  for (const auto& member : etcd_.members) {
    auto it = links_.find(fmt::format("apiserver-{}->{}", apiserver, member.name));
    urls.push_back(it == links_.end() ? member.client_url
                                      : "http://" + it->second->listen_endpoint().to_string());
  }
  return fmt::format("{}", fmt::join(urls, ","));
}

faults::Link* Cluster::link(std::string_view name) {
  auto it = links_.find(name);
  return it == links_.end() ? nullptr : it->second.get();
}

std::string Cluster::masters_for(const std::string& client) const {
  std::vector<std::string> urls;
  for (int i = 1; i <= options_.apiservers; ++i) {
    auto it = links_.find(fmt::format("{}->apiserver-{}", client, i));
    if (it != links_.end()) urls.push_back("http://" + it->second->listen_endpoint().to_string());
  }
  if (urls.empty()) urls = apiserver_urls();  // links off
  return fmt::format("{}", fmt::join(urls, ","));
}

Result<faults::Link*> Cluster::add_link(const std::string& name, net::Endpoint listen,
                                        net::Endpoint upstream) {
  if (links_.contains(name)) return make_error(ErrorCode::kAlreadyExists, "link " + name + " exists");
  auto link =
      std::make_unique<faults::Link>(io_, name, std::move(listen), std::move(upstream), options_.seed);
  if (auto started = link->start(); !started) return started.error();
  return links_.emplace(name, std::move(link)).first->second.get();
}

std::vector<std::string> Cluster::apiserver_urls() const {
  std::vector<std::string> urls;
  for (int i = 1; i <= options_.apiservers; ++i) {
    urls.push_back(fmt::format("http://{}:{}", addresses_.apiserver_ip(i), AddressPlan::kApiserverPort));
  }
  return urls;
}

namespace {

// A duration as the whole seconds a *-seconds flag takes, rounded up.
int64_t whole_seconds(Millis d) {
  return (d.count() + 999) / 1000;
}

}  // namespace

// (A plain function: g++ 12 miscompiles braced lists in coroutine bodies.)
ProcessSpec Cluster::apiserver_spec(int index) const {
  ProcessSpec spec;
  spec.name = fmt::format("apiserver-{}", index);
  spec.argv = {
      options_.shakeout_binary,
      "apiserver",
      "--etcd-servers",
      etcd_servers_for(index),
      "--bind-address",
      addresses_.apiserver_ip(index),
      "--port",
      std::to_string(AddressPlan::kApiserverPort),
      "--token-auth-file",
      token_file_path().string(),
      "--tls-cert-file",
      apiserver_certificate_path().string(),
      "--tls-private-key-file",
      apiserver_key_path().string(),
      fmt::format("--anonymous-auth={}", options_.anonymous_auth),
      "--service-cluster-ip-range",
      addresses_.service_cidr(),
      "--service-node-port-range",
      "30000-32767",
      "--default-not-ready-toleration-seconds",
      std::to_string(whole_seconds(options_.profile.duration("default-not-ready-toleration-seconds"))),
      "--default-unreachable-toleration-seconds",
      std::to_string(whole_seconds(options_.profile.duration("default-unreachable-toleration-seconds"))),
      "--kubelet-client-token-file",
      token_file_of("kube-apiserver-kubelet-client").string()};
  spec.log_file = run_dir_.log_file(spec.name);
  return spec;
}

net::Endpoint Cluster::controller_manager_endpoint(int index) const {
  net::Endpoint endpoint;
  endpoint.host = addresses_.controller_manager_ip(index);
  endpoint.port = AddressPlan::kControllerManagerPort;
  return endpoint;
}

net::Endpoint Cluster::scheduler_endpoint(int index) const {
  net::Endpoint endpoint;
  endpoint.host = addresses_.scheduler_ip(index);
  endpoint.port = AddressPlan::kSchedulerPort;
  return endpoint;
}

// `shakeout controller-manager` or `shakeout scheduler` replica `index`:
// every apiserver in failover order, the component's own token, and the
// profile's leader-election timings.
ProcessSpec Cluster::control_plane_spec(const std::string& role, int index) const {
  const bool scheduler = role == "scheduler";
  const net::Endpoint endpoint = scheduler ? scheduler_endpoint(index) : controller_manager_endpoint(index);
  auto ms = [&](const char* name) { return fmt::format("{}ms", options_.profile.duration(name).count()); };
  ProcessSpec spec;
  spec.name = fmt::format("{}-{}", role, index);
  spec.argv = {options_.shakeout_binary,
               role,
               "--master",
               masters_for(spec.name),
               "--token-file",
               token_file_of(scheduler ? "system:kube-scheduler" : "system:kube-controller-manager").string(),
               "--bind-address",
               endpoint.host,
               "--port",
               std::to_string(endpoint.port),
               "--leader-elect-lease-duration",
               ms("leader-elect-lease-duration"),
               "--leader-elect-renew-deadline",
               ms("leader-elect-renew-deadline"),
               "--leader-elect-retry-period",
               ms("leader-elect-retry-period")};
  if (scheduler) {
    for (const char* name : {"pod-initial-backoff", "pod-max-backoff"}) {
      spec.argv.push_back(fmt::format("--{}", name));
      spec.argv.push_back(ms(name));
    }
  } else {
    // Pod GC's and the namespace controller's fixed periods (upstream
    // constants) follow the time scale.
    auto scaled = [&](int64_t upstream_ms) {
      const auto scaled_ms =
          static_cast<int64_t>(static_cast<double>(upstream_ms) * options_.profile.time_scale());
      return fmt::format("{}ms", std::max<int64_t>(scaled_ms, Profile::kFastPeriodFloor.count()));
    };
    spec.argv.insert(spec.argv.end(), {"--pod-gc-period", scaled(20000), "--pod-gc-quarantine", scaled(40000),
                                       "--namespace-finalizer-estimate", scaled(15000)});
    for (const char* name : {"node-monitor-period", "node-monitor-grace-period"}) {
      spec.argv.push_back(fmt::format("--{}", name));
      spec.argv.push_back(ms(name));
    }
  }
  // Static pods: the kubelet restarts them with CrashLoopBackOff (they
  // exit 1 when they lose their Lease, as upstream's do).
  spec.restart_on_exit = true;
  spec.restart_backoff = options_.profile.duration("crashloop-backoff-initial");
  spec.restart_backoff_max = options_.profile.duration("crashloop-backoff-max");
  spec.restart_backoff_reset = options_.profile.duration("crashloop-backoff-reset");
  spec.log_file = run_dir_.log_file(spec.name);
  return spec;
}

std::string Cluster::node_name(int node) {
  return fmt::format("node-{}", node);
}

std::string Cluster::node_process(const std::string& role, int node) {
  return fmt::format("{}-node-{}", role, node);
}

net::Endpoint Cluster::runtime_endpoint(int node) const {
  net::Endpoint endpoint;
  endpoint.host = addresses_.node_ip(node);
  endpoint.port = AddressPlan::kRuntimePort;
  return endpoint;
}

net::Endpoint Cluster::kubelet_endpoint(int node) const {
  net::Endpoint endpoint;
  endpoint.host = addresses_.node_ip(node);
  endpoint.port = AddressPlan::kKubeletPort;
  return endpoint;
}

// `shakeout runtime|kubelet|proxy` of node k, with the profile's timings.
// None restarts on its own: a dead kubelet stays dead until a fault's
// restartAfter (or start_node) brings it back, so its absence is measured.
namespace {

// What the runtimes run for the image shakeout/app: `shakeout-app` beside the
// shakeout binary when it is there (it starts listening sooner), else
// `shakeout app` itself.
std::string app_binary(const std::string& shakeout_binary) {
  std::error_code error;
  const auto sibling = std::filesystem::path(shakeout_binary).parent_path() / "shakeout-app";
  if (std::filesystem::is_regular_file(sibling, error) && ::access(sibling.c_str(), X_OK) == 0)
    return sibling.string();
  return shakeout_binary;
}

}  // namespace

ProcessSpec Cluster::node_spec(const std::string& role, int node) const {
  auto ms = [&](const char* name) { return fmt::format("{}ms", options_.profile.duration(name).count()); };
  const std::string ip = addresses_.node_ip(node);
  const std::string runtime_url = "http://" + runtime_endpoint(node).to_string();
  const std::string masters = masters_for(fmt::format("{}/{}", role, node_name(node)));
  ProcessSpec spec;
  spec.name = node_process(role, node);
  spec.log_file = run_dir_.log_file(spec.name);
  if (role == "runtime") {
    spec.argv = {options_.shakeout_binary,
                 "runtime",
                 "--node-name",
                 node_name(node),
                 "--node-ip",
                 ip,
                 "--pod-cidr",
                 addresses_.pod_cidr(node),
                 "--root",
                 (run_dir_.path() / "nodes" / node_name(node)).string(),
                 "--port",
                 std::to_string(AddressPlan::kRuntimePort),
                 "--app-binary",
                 app_binary(options_.shakeout_binary)};
    // The node's processes go down together (pods get SIGTERM, then SIGKILL).
    spec.stop_grace = Millis(2000);
  } else if (role == "kubelet") {
    spec.argv = {options_.shakeout_binary,
                 "kubelet",
                 "--master",
                 masters,
                 "--token-file",
                 token_file_of(fmt::format("system:node:{}", node_name(node))).string(),
                 "--hostname-override",
                 node_name(node),
                 "--node-ip",
                 ip,
                 "--pod-cidr",
                 addresses_.pod_cidr(node),
                 "--runtime-endpoint",
                 runtime_url,
                 "--port",
                 std::to_string(AddressPlan::kKubeletPort),
                 "--authentication-token-file",
                 token_file_path().string(),
                 "--pod-time-scale",
                 fmt::format("{}", options_.profile.time_scale())};
    for (const char* name :
         {"node-status-update-frequency", "node-lease-duration", "node-lease-renew-interval",
          "crashloop-backoff-initial", "crashloop-backoff-max", "crashloop-backoff-reset"}) {
      spec.argv.push_back(fmt::format("--{}", name));
      spec.argv.push_back(ms(name));
    }
  } else {
    spec.argv = {options_.shakeout_binary,
                 "proxy",
                 "--master",
                 masters,
                 "--token-file",
                 token_file_of("system:kube-proxy").string(),
                 "--hostname-override",
                 node_name(node),
                 "--runtime-endpoint",
                 runtime_url,
                 "--healthz-bind-address",
                 fmt::format("{}:{}", ip, AddressPlan::kProxyHealthzPort)};
    for (const char* name : {"iptables-sync-period", "iptables-min-sync-period"}) {
      spec.argv.push_back(fmt::format("--{}", name));
      spec.argv.push_back(ms(name));
    }
  }
  return spec;
}

Status Cluster::launch_node(int node) {
  for (const char* role : {"runtime", "kubelet", "proxy"}) {
    if (auto started = supervisor_.start(node_spec(role, node)); !started) return started;
  }
  return {};
}

Status Cluster::start_node_component(const std::string& role, int node) {
  if (node < 1 || node > options_.nodes)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("no node {} (nodes: {})", node, options_.nodes));
  if (role != "runtime" && role != "kubelet" && role != "proxy")
    return make_error(ErrorCode::kInvalidArgument, fmt::format("no node component {:?}", role));
  auto started = supervisor_.start(node_spec(role, node));
  if (started) write_record(record_.state);
  return started;
}

asio::awaitable<Status> Cluster::start_node(int node) {
  if (node < 1 || node > options_.nodes)
    co_return make_error(ErrorCode::kInvalidArgument,
                         fmt::format("no node {} (nodes: {})", node, options_.nodes));
  if (auto launched = launch_node(node); !launched) co_return launched;
  write_record(record_.state);
  co_return co_await wait_node_ready(node);
}

Status Cluster::crash_node(int node) {
  Status result;
  for (const char* role : {"kubelet", "proxy", "runtime"}) {
    const auto name = node_process(role, node);
    auto info = supervisor_.info(name);
    if (!info || info->state == ProcessState::kExited) continue;
    if (auto killed = supervisor_.kill(name, SIGKILL); !killed && result) result = killed;
  }
  return result;
}

asio::awaitable<Status> Cluster::wait_node_ready(int node) {
  net::HttpClientConfig http_config;
  http_config.connect_timeout = Millis{200};
  net::HttpClient http(co_await asio::this_coro::executor, http_config);
  net::Endpoint apiserver;
  apiserver.host = addresses_.apiserver_ip(1);
  apiserver.port = AddressPlan::kApiserverPort;
  const std::string target = "/api/v1/nodes/" + node_name(node);
  const std::string authorization = "Bearer " + token("shakeout");
  auto check = [&http, apiserver, target, authorization]() -> asio::awaitable<bool> {
    net::HttpRequest request;
    request.target = target;
    request.headers.emplace_back("Authorization", authorization);
    auto response = co_await http.request(apiserver, std::move(request), Millis{1000});
    if (!response.ok() || response->status != 200) co_return false;
    const auto object = nlohmann::json::parse(response->body, nullptr, false);
    if (!object.is_object()) co_return false;
    const auto status = object.value("status", nlohmann::json::object());
    const auto conditions = status.value("conditions", nlohmann::json::array());
    for (const auto& condition : conditions)
      if (condition.value("type", "") == "Ready") co_return condition.value("status", "") == "True";
    co_return false;
  };
  const auto kubelet = node_process("kubelet", node);
  auto ready = co_await supervisor_.wait_ready(kubelet, check, options_.start_timeout);
  if (!ready)
    co_return make_error(ready.error().code,
                         fmt::format("{} did not turn Ready: {}", node_name(node), ready.error().message));
  co_return Status{};
}

// Controller managers, schedulers and every node start together once the
// apiservers are ready; a controller manager or scheduler is ready when its
// /healthz answers 200 (leader or standby).

asio::awaitable<Status> Cluster::start_control_plane() {
  if (options_.apiservers == 0) co_return Status{};
  std::vector<std::pair<std::string, net::Endpoint>> started;
  for (int i = 1; i <= options_.controller_managers; ++i) {
    auto spec = control_plane_spec("controller-manager", i);
    if (auto ok = supervisor_.start(spec); !ok) co_return ok;
    started.emplace_back(spec.name, controller_manager_endpoint(i));
  }
  for (int i = 1; i <= options_.schedulers; ++i) {
    auto spec = control_plane_spec("scheduler", i);
    if (auto ok = supervisor_.start(spec); !ok) co_return ok;
    started.emplace_back(spec.name, scheduler_endpoint(i));
  }
  // Every node boots at once, alongside them: a kubelet registers its Node
  // whether or not the controllers are up yet, as on a real cluster.
  if (options_.node_components)
    for (int k = 1; k <= options_.nodes; ++k)
      if (auto launched = launch_node(k); !launched) co_return launched;
  write_record("starting");
  for (const auto& [name, endpoint] : started) {
    auto ready = co_await wait_healthy(name, endpoint, "/healthz");
    if (!ready) co_return ready;
  }
  co_return Status{};
}

// Polls http://endpoint/`path` until 200 through the supervisor (which fails
// fast when the process exits).
asio::awaitable<Status> Cluster::wait_healthy(std::string name, net::Endpoint endpoint, std::string path) {
  // An explicit config: g++ 12 destroys a defaulted class-type argument twice
  // in a coroutine body.
  net::HttpClientConfig http_config;
  http_config.connect_timeout = Millis{200};
  net::HttpClient http(co_await asio::this_coro::executor, http_config);
  auto check = [&http, endpoint, path]() -> asio::awaitable<bool> {
    net::HttpRequest request;
    request.target = path;
    auto response = co_await http.request(endpoint, std::move(request), Millis{1000});
    co_return response.ok() && response->status == 200;
  };
  auto ready = co_await supervisor_.wait_ready(name, check, options_.start_timeout);
  if (!ready) co_return make_error(ready.error().code, fmt::format("{}: {}", name, ready.error().message));
  co_return Status{};
}

// API servers start together once etcd is ready; each is ready when its
// /readyz answers 200 (it reaches etcd).
asio::awaitable<Status> Cluster::start_apiservers() {
  if (options_.apiservers > 0) {
    if (auto written = write_tokens(); !written) co_return written;
    if (auto written = write_certificates(); !written) co_return written;
  }
  for (int i = 1; i <= options_.apiservers; ++i) {
    if (auto started = supervisor_.start(apiserver_spec(i)); !started) co_return started;
  }
  write_record("starting");
  if (options_.apiservers > 0) {
    if (auto written = write_kubeconfig(); !written) co_return written;
  }
  for (int i = 1; i <= options_.apiservers; ++i) {
    net::Endpoint endpoint;
    endpoint.host = addresses_.apiserver_ip(i);
    endpoint.port = AddressPlan::kApiserverPort;
    auto ready = co_await wait_healthy(fmt::format("apiserver-{}", i), endpoint, "/readyz");
    if (!ready) co_return ready;
  }
  co_return Status{};
}

Status Cluster::write_kubeconfig() const {
  const auto context = fmt::format("shakeout-{}", options_.name);
  std::ifstream ca_file(ca_certificate_path());
  const std::string ca((std::istreambuf_iterator<char>(ca_file)), std::istreambuf_iterator<char>());
  if (ca.empty())
    return make_error(ErrorCode::kIo, fmt::format("read {}: failed", ca_certificate_path().string()));
  const auto text = fmt::format(
      "apiVersion: v1\nkind: Config\nclusters:\n- name: {0}\n  cluster:\n    server: https://{1}:{2}\n"
      "    certificate-authority-data: {3}\n"
      "contexts:\n- name: {0}\n  context:\n    cluster: {0}\n    user: {0}\n"
      "current-context: {0}\nusers:\n- name: {0}\n  user:\n    token: {4}\n",
      context, addresses_.apiserver_ip(1), AddressPlan::kApiserverPort, net::base64_encode(ca),
      token("kubernetes-admin"));
  const auto path = kubeconfig_path();
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out.flush()) return make_error(ErrorCode::kIo, fmt::format("write {}: failed", path.string()));
  ::chmod(path.c_str(), 0600);
  return {};
}

namespace {

Status write_private_file(const std::filesystem::path& path, const std::string& text, mode_t mode) {
  std::ofstream out(path, std::ios::trunc);
  ::chmod(path.c_str(), mode);  // before the secret goes in
  out << text;
  if (!out.flush()) return make_error(ErrorCode::kIo, fmt::format("write {}: failed", path.string()));
  return {};
}

}  // namespace

// A fresh CA per cluster and one serving certificate for every apiserver
// (their loopback IPs, plus the names in-cluster clients use upstream).
Status Cluster::write_certificates() const {
  std::error_code ec;
  std::filesystem::create_directories(ca_certificate_path().parent_path(), ec);
  if (ec)
    return make_error(
        ErrorCode::kIo,
        fmt::format("create {}: {}", ca_certificate_path().parent_path().string(), ec.message()));
  auto ca = net::make_certificate_authority(fmt::format("shakeout-ca-{}", options_.name), 3650);
  if (!ca) return ca.error();
  net::ServingCertificateRequest request;
  request.common_name = "kube-apiserver";
  for (int i = 1; i <= options_.apiservers; ++i) request.ip_addresses.push_back(addresses_.apiserver_ip(i));
  request.ip_addresses.emplace_back("127.0.0.1");
  request.dns_names = {"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                       "kubernetes.default.svc.cluster.local"};
  auto serving = net::make_serving_certificate(*ca, request);
  if (!serving) return serving.error();
  Status written = write_private_file(ca_certificate_path(), ca->certificate, 0644);
  if (written) written = write_private_file(run_dir_.path() / "pki" / "ca.key", ca->private_key, 0600);
  if (written) written = write_private_file(apiserver_certificate_path(), serving->certificate, 0644);
  if (written) written = write_private_file(apiserver_key_path(), serving->private_key, 0600);
  return written;
}

std::string Cluster::token(std::string_view user) const {
  auto found = tokens_.find(user);
  return found == tokens_.end() ? "" : found->second;
}

// One token per user that talks to the API; components get theirs by flag
// or kubeconfig as they arrive.
Status Cluster::write_tokens() {
  std::vector<apiserver::TokenEntry> entries;
  auto add = [&](std::string user, std::vector<std::string> groups) -> Status {
    auto token = apiserver::generate_token();
    if (!token) return token.error();
    apiserver::TokenEntry entry;
    entry.token = *token;
    entry.user.name = user;
    entry.user.uid = user;
    entry.user.groups = std::move(groups);
    tokens_[user] = *token;
    entries.push_back(std::move(entry));
    return {};
  };
  Status added = add("kubernetes-admin", {"system:masters", "system:authenticated"});
  if (added) added = add("shakeout", {"system:masters", "system:authenticated"});
  if (added) added = add("system:kube-controller-manager", {"system:authenticated"});
  if (added) added = add("system:kube-scheduler", {"system:authenticated"});
  if (added) added = add("system:kube-proxy", {"system:authenticated"});
  // What pods/log presents to kubelets (upstream: a client certificate).
  if (added) added = add("kube-apiserver-kubelet-client", {"system:authenticated"});
  for (int k = 1; added && k <= options_.nodes; ++k) {
    added = add(fmt::format("system:node:node-{}", k), {"system:nodes", "system:authenticated"});
  }
  if (!added) return added;
  // The components that take --token-file get their own (mode 0600).
  std::vector<std::string> users = {"system:kube-controller-manager", "system:kube-scheduler",
                                    "system:kube-proxy", "kube-apiserver-kubelet-client"};
  for (int k = 1; k <= options_.nodes; ++k) users.push_back(fmt::format("system:node:node-{}", k));
  for (const auto& user : users) {
    if (auto written = write_private_file(token_file_of(user), token(user) + "\n", 0600); !written)
      return written;
  }
  return write_private_file(token_file_path(), apiserver::format_token_file(entries), 0600);
}

asio::awaitable<void> Cluster::stop() {
  write_record("stopping");
  co_await supervisor_.stop_all();
}

void Cluster::abort() {
  for (const auto& info : supervisor_.list()) {
    if (info.state != ProcessState::kExited) (void)supervisor_.kill(info.name, SIGKILL);
  }
}

}  // namespace shakeout::cluster
