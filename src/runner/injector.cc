#include "runner/injector.h"

#include <fmt/format.h>
#include <signal.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "api/resource_registry.h"
#include "etcd/client.h"
#include "net/http_client.h"
#include "runtime/runtime_service.h"

namespace shakeout::runner {
namespace {

using experiment::Component;
using experiment::FaultAction;
using json = nlohmann::json;

const api::ResourceInfo& pods_resource() {
  return *api::ResourceRegistry::builtin().by_plural("", "pods");
}

const api::ResourceInfo& deployments_resource() {
  return *api::ResourceRegistry::builtin().by_plural("apps", "deployments");
}

bool link_fault(FaultAction action) {
  switch (action) {
    case FaultAction::kLatency:
    case FaultAction::kBandwidth:
    case FaultAction::kSlowClose:
    case FaultAction::kTimeout:
    case FaultAction::kResetPeer:
    case FaultAction::kSlicer:
    case FaultAction::kLimitData:
    case FaultAction::kDown:
    case FaultAction::kPartition:
      return true;
    default:
      return false;
  }
}

// The toxic a link fault adds, per stream (down and partition add none and
// a timeout-0 blackhole respectively).
faults::Toxic toxic_of(const experiment::FaultSpec& fault, faults::Stream stream, const std::string& name) {
  faults::Toxic toxic;
  toxic.name = name;
  toxic.stream = stream;
  toxic.toxicity = fault.toxicity;
  switch (fault.action) {
    case FaultAction::kLatency:
      toxic.type = faults::ToxicType::kLatency;
      break;
    case FaultAction::kBandwidth:
      toxic.type = faults::ToxicType::kBandwidth;
      break;
    case FaultAction::kSlowClose:
      toxic.type = faults::ToxicType::kSlowClose;
      break;
    case FaultAction::kResetPeer:
      toxic.type = faults::ToxicType::kResetPeer;
      break;
    case FaultAction::kSlicer:
      toxic.type = faults::ToxicType::kSlicer;
      break;
    case FaultAction::kLimitData:
      toxic.type = faults::ToxicType::kLimitData;
      break;
    default:  // timeout, and a partition's blackhole
      toxic.type = faults::ToxicType::kTimeout;
      break;
  }
  toxic.latency = fault.latency;
  toxic.jitter = fault.jitter;
  toxic.rate_kbps = fault.rate_kbps;
  toxic.delay = fault.delay;
  toxic.timeout = fault.action == FaultAction::kPartition ? Millis(0) : fault.timeout;
  toxic.bytes = fault.bytes;
  toxic.average_size = fault.average_size;
  toxic.size_variation = fault.size_variation;
  return toxic;
}

bool process_fault(FaultAction action) {
  return action == FaultAction::kKill || action == FaultAction::kStop || action == FaultAction::kPause ||
         action == FaultAction::kRestart || action == FaultAction::kCrashLoop;
}

// "node-3" -> 3; 0 if not a node name.
int node_number(const std::string& selector) {
  if (selector.rfind("node-", 0) != 0) return 0;
  return std::atoi(selector.c_str() + 5);
}

// Whether a /metrics body has "<metric>{...} 1" (or without labels).
bool leads(const std::string& body, const std::string& metric) {
  size_t at = 0;
  while ((at = body.find(metric, at)) != std::string::npos) {
    const auto end = body.find('\n', at);
    const std::string line = body.substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (line.size() >= 2 && line.compare(line.size() - 2, 2, " 1") == 0) return true;
    if (end == std::string::npos) return false;
    at = end;
  }
  return false;
}

// A one-name list, built outside the coroutines (g++ 12 mishandles braced
// temporaries in a coroutine's co_return).
std::vector<std::string> just(std::string name) {
  std::vector<std::string> names;
  names.push_back(std::move(name));
  return names;
}

bool api_fault(FaultAction action) {
  return action == FaultAction::kHttpError || action == FaultAction::kApiLatency ||
         action == FaultAction::kDropWatch;
}

// The apiservers' fault-filter body for `spec` (docs/apiserver.md): the
// target's resource ("all": every resource) plus any `resources` listed.
std::string api_fault_body(const experiment::FaultSpec& spec, const std::string& id, uint64_t seed) {
  json body = json::object();
  body["id"] = id;
  std::vector<std::string> resources;
  if (spec.target.selector != "all") resources.push_back(spec.target.selector);
  for (const auto& resource : spec.resources)
    if (std::find(resources.begin(), resources.end(), resource) == resources.end())
      resources.push_back(resource);
  body["resources"] = resources;
  body["verbs"] = spec.verbs;
  if (spec.action == FaultAction::kHttpError) {
    body["type"] = "error";
    body["status"] = spec.status;
    body["percent"] = spec.error_percent;
  } else if (spec.action == FaultAction::kApiLatency) {
    body["type"] = "latency";
    body["latencyMs"] = spec.latency.count();
    body["jitterMs"] = std::min(spec.jitter, spec.latency).count();
  } else {
    body["type"] = "drop-watch";
  }
  body["durationMs"] = (spec.duration.value_or(Millis(0)) + kApiFaultMargin).count();
  body["seed"] = seed;
  return body.dump();
}

net::HttpRequest fault_request(std::string method, std::string target, std::string body,
                               const std::string& token) {
  net::HttpRequest request;
  request.method = std::move(method);
  request.target = std::move(target);
  request.headers.emplace_back("Authorization", "Bearer " + token);
  if (!body.empty()) {
    request.content_type = "application/json";
    request.body = std::move(body);
  }
  return request;
}

bool running(cluster::Supervisor& supervisor, const std::string& name) {
  auto info = supervisor.info(name);
  return info && info->state != cluster::ProcessState::kExited;
}

}  // namespace

std::vector<std::string> service_links(const experiment::FaultSpec& fault) {
  std::vector<std::string> services;
  if (!link_fault(fault.action)) return services;
  std::vector<std::string> names = fault.links;
  if (fault.target.component == Component::kLink) names.push_back(fault.target.selector);
  for (const auto& name : names) {
    const auto at = name.find(kServiceLinkPrefix);
    if (at == std::string::npos) continue;
    const std::string service = name.substr(at + kServiceLinkPrefix.size());
    services.push_back(service.substr(0, service.find('/')));
  }
  return services;
}

Injector::Injector(asio::any_io_executor executor, cluster::Cluster& cluster, client::Config api,
                   uint64_t seed)
    : cluster_(cluster), api_(std::move(executor), std::move(api)), random_(seed) {}

asio::awaitable<void> Injector::sleep(Millis duration) {
  co_await waits_.wait(duration);
}

void Injector::cancel() {
  waits_.cancel_all();
}

asio::awaitable<Result<std::string>> Injector::leader_of(const std::string& role) {
  const int replicas =
      role == "scheduler" ? cluster_.options().schedulers : cluster_.options().controller_managers;
  const std::string metric = role == "scheduler" ? "shakeout_scheduler_leader_election_master_status"
                                                 : "shakeout_leader_election_master_status";
  const net::HttpClientConfig http_config;  // explicit: g++ 12 frees a defaulted one twice in a coroutine
  net::HttpClient http(co_await asio::this_coro::executor, http_config);
  int leader = 0;
  for (int i = 1; i <= replicas; ++i) {
    const auto endpoint =
        role == "scheduler" ? cluster_.scheduler_endpoint(i) : cluster_.controller_manager_endpoint(i);
    net::HttpRequest request;
    request.target = "/metrics";
    auto response = co_await http.request(endpoint, std::move(request), Millis(1000));
    if (response.ok() && response->status == 200 && leads(response->body, metric)) leader = i;
  }
  if (leader > 0) co_return fmt::format("{}-{}", role, leader);
  co_return make_error(ErrorCode::kUnavailable, fmt::format("no {} holds the leader lease", role));
}

asio::awaitable<Result<std::vector<std::string>>> Injector::resolve_processes(
    const experiment::Target& target) {
  const std::string prefix(experiment::to_string(target.component));  // the process names' stem
  const std::string& selector = target.selector;
  std::vector<std::string> names;
  auto pick = [this](std::vector<std::string> from) {
    std::uniform_int_distribution<size_t> index(0, from.size() - 1);
    return from[index(random_)];
  };
  switch (target.component) {
    case Component::kEtcd: {
      const int members = cluster_.options().etcd_members;
      std::vector<std::string> all;
      for (int i = 1; i <= members; ++i) all.push_back(fmt::format("etcd-{}", i));
      if (selector == "all") co_return all;
      if (selector.rfind("etcd-", 0) == 0) co_return just(selector);
      etcd::Config config;
      config.endpoints = cluster_.etcd().client_urls();
      config.request_timeout = Millis(1000);
      etcd::Client client(co_await asio::this_coro::executor, std::move(config));
      auto leader = co_await etcd::find_leader(client);
      if (!leader.ok()) co_return leader.error();
      std::string leader_name;
      const auto urls = cluster_.etcd().client_urls();
      for (size_t i = 0; i < urls.size(); ++i)
        if (urls[i] == leader->endpoint) leader_name = all[i];
      if (leader_name.empty())
        co_return make_error(ErrorCode::kInternal, "etcd leader " + leader->endpoint + " is no member");
      std::vector<std::string> followers;
      for (const auto& name : all)
        if (name != leader_name) followers.push_back(name);
      if (selector == "leader") co_return just(leader_name);
      if (selector == "follower") co_return just(pick(followers));
      // majority: enough members that the rest cannot form a quorum,
      // followers first so the leader notices it lost its quorum.
      const size_t needed = static_cast<size_t>(members) / 2 + 1;
      std::shuffle(followers.begin(), followers.end(), random_);
      followers.push_back(leader_name);
      followers.resize(std::min(needed, followers.size()));
      co_return followers;
    }
    case Component::kApiserver: {
      if (selector != "any") co_return just(selector);
      std::vector<std::string> all;
      for (int i = 1; i <= cluster_.options().apiservers; ++i) all.push_back(fmt::format("apiserver-{}", i));
      co_return just(pick(all));
    }
    case Component::kControllerManager:
    case Component::kScheduler: {
      if (selector != "leader" && selector != "standby") co_return just(selector);
      auto leader = co_await leader_of(prefix);
      if (!leader.ok()) co_return leader.error();
      if (selector == "leader") co_return just(*leader);
      const int replicas =
          prefix == "scheduler" ? cluster_.options().schedulers : cluster_.options().controller_managers;
      std::vector<std::string> standbys;
      for (int i = 1; i <= replicas; ++i)
        if (fmt::format("{}-{}", prefix, i) != *leader) standbys.push_back(fmt::format("{}-{}", prefix, i));
      if (standbys.empty()) co_return make_error(ErrorCode::kUnavailable, "no standby " + prefix);
      co_return just(pick(standbys));
    }
    case Component::kKubelet:
    case Component::kRuntime:
    case Component::kProxy:
      for (int node : resolve_nodes(target)) names.push_back(cluster::Cluster::node_process(prefix, node));
      co_return names;
    default:
      co_return make_error(ErrorCode::kInvalidArgument, "not a process target: " + target.text);
  }
}

std::vector<int> Injector::nodes_of(const experiment::Target& target) const {
  return {node_number(target.selector)};
}

std::vector<int> Injector::resolve_nodes(const experiment::Target& target) {
  if (target.selector != "random") return nodes_of(target);
  std::uniform_int_distribution<int> node(1, cluster_.options().nodes);
  return {node(random_)};
}

asio::awaitable<Status> Injector::pick_pods(Injection& injection) {
  client::ListOptions options;
  options.label_selector = injection.fault.target.selector;
  auto listed = co_await api_.list(pods_resource(), "", std::move(options));
  if (!listed.ok())
    co_return make_error(ErrorCode::kUnavailable, "list pods " + injection.fault.target.selector + ": " +
                                                      listed.error().status.value("message", "failed"));
  std::vector<json> candidates;
  for (const auto& pod : (*listed)["items"]) {
    if (pod["metadata"].contains("deletionTimestamp")) continue;
    if (pod.value("status", json::object()).value("phase", "") != "Running") continue;
    candidates.push_back(pod);
  }
  if (candidates.empty())
    co_return make_error(ErrorCode::kUnavailable,
                         "no running pod matches " + injection.fault.target.selector);
  size_t count = 1;
  if (injection.fault.count) count = static_cast<size_t>(*injection.fault.count);
  if (!injection.fault.count && injection.fault.percent)
    count = std::max<size_t>(1, static_cast<size_t>(std::ceil(*injection.fault.percent / 100.0 *
                                                              static_cast<double>(candidates.size()))));
  // Sorted by name first, so the seeded shuffle picks the same pods on a rerun.
  std::sort(candidates.begin(), candidates.end(), [](const json& a, const json& b) {
    return a["metadata"].value("name", "") < b["metadata"].value("name", "");
  });
  std::shuffle(candidates.begin(), candidates.end(), random_);
  // Kill and fail-readiness act on a running container: a pod whose node
  // has none running (it is being restarted) is passed over.
  const bool needs_container = injection.fault.action != FaultAction::kDelete;
  std::vector<std::string> names;
  for (const auto& pod : candidates) {
    if (names.size() < count) {  // (no break: g++ 12 and co_await in loops)
      Injection::Pod picked;
      picked.ns = pod["metadata"].value("namespace", "default");
      picked.name = pod["metadata"].value("name", "");
      picked.ip = pod["status"].value("podIP", "");
      const json& containers = pod["spec"]["containers"];
      if (containers.is_array() && !containers.empty() && containers[0].contains("ports") &&
          !containers[0]["ports"].empty())
        picked.port = containers[0]["ports"][0].value("containerPort", 8080);
      // The container's process, from its node's runtime (kill acts on it).
      const std::string node = pod["spec"].value("nodeName", "");
      const int k = node_number(node);
      if (k >= 1 && k <= cluster_.options().nodes) {
        auto runtime = runtime::make_runtime_client(co_await asio::this_coro::executor,
                                                    "http://" + cluster_.runtime_endpoint(k).to_string());
        auto containers_listed = co_await runtime->list_containers(pod["metadata"].value("uid", ""));
        if (containers_listed.ok())
          for (const auto& container : *containers_listed)
            if (container.state == runtime::ContainerState::kRunning) picked.pid = container.pid;
      }
      if (picked.pid > 0 || !needs_container) {
        names.push_back(picked.name);
        injection.pods.push_back(std::move(picked));
      }
    }
  }
  if (names.empty())
    co_return make_error(ErrorCode::kUnavailable,
                         "no pod matching " + injection.fault.target.selector + " has a running container");
  injection.resolved = fmt::format("pods {}", fmt::join(names, ", "));
  co_return Status{};
}

asio::awaitable<Status> Injector::scale(Injection& injection) {
  // (named locals, no structured bindings: g++ 12 coroutines)
  const auto deployment = experiment::namespace_and_name(injection.fault.target.selector);
  const std::string& ns = deployment.first;
  const std::string& name = deployment.second;
  const std::string subresource = "scale";
  auto current = co_await api_.get_subresource(deployments_resource(), ns, name, subresource);
  if (!current.ok())
    co_return make_error(
        ErrorCode::kUnavailable,
        fmt::format("deployment {}/{}: {}", ns, name, current.error().status.value("message", "failed")));
  injection.previous_replicas = (*current)["spec"].value("replicas", 0);
  injection.started = system_clock().now();
  auto scaled = co_await api_.scale(deployments_resource(), ns, name, injection.fault.replicas);
  if (!scaled.ok())
    co_return make_error(ErrorCode::kUnavailable,
                         fmt::format("scale deployment {}/{}: {}", ns, name,
                                     scaled.error().status.value("message", "failed")));
  injection.resolved = fmt::format("deployment {}/{} {} -> {}", ns, name, injection.previous_replicas,
                                   injection.fault.replicas);
  co_return Status{};
}

asio::awaitable<Status> Injector::set_readiness(const Injection::Pod& pod, bool fail) {
  const net::HttpClientConfig http_config;  // explicit: see leader_of
  net::HttpClient http(co_await asio::this_coro::executor, http_config);
  net::Endpoint endpoint;
  endpoint.host = pod.ip;
  endpoint.port = static_cast<uint16_t>(pod.port);
  net::HttpRequest request;
  request.method = "POST";
  request.target = fmt::format("/control/readiness?fail={}", fail ? "true" : "false");
  auto response = co_await http.request(endpoint, std::move(request), Millis(1000));
  if (!response.ok()) co_return response.error();
  if (response->status >= 300)
    co_return make_error(ErrorCode::kProtocol,
                         fmt::format("pod {}: readiness control answered {}", pod.name, response->status));
  co_return Status{};
}

std::vector<std::string> Injector::resolve_links(const experiment::FaultSpec& fault) const {
  // "<client>->apiserver" means the client's links to every apiserver,
  // "apiserver-<i>->etcd" the apiserver's links to every etcd member.
  std::vector<std::string> wanted = fault.links;
  if (fault.target.component == Component::kLink) wanted.push_back(fault.target.selector);
  std::vector<std::string> clients;
  if (fault.action == FaultAction::kPartition && fault.target.component == Component::kNode) {
    for (int node : nodes_of(fault.target)) {
      clients.push_back(fmt::format("kubelet/node-{}->", node));
      clients.push_back(fmt::format("proxy/node-{}->", node));
    }
  }
  std::vector<std::string> names;
  for (const auto& [name, link] : cluster_.links()) {
    bool hit = std::find(wanted.begin(), wanted.end(), name) != wanted.end();
    for (const auto& want : wanted) {
      for (const std::string_view every : {"->apiserver", "->etcd"})
        if (want.ends_with(every) && name.rfind(want + "-", 0) == 0) hit = true;
      // client->service/web: its link to every node (client->service/web/node-<k>).
      if (want.find(kServiceLinkPrefix) != std::string::npos && name.rfind(want + "/", 0) == 0) hit = true;
    }
    for (const auto& client : clients)
      if (name.rfind(client, 0) == 0) hit = true;
    if (hit) names.push_back(name);
  }
  return names;
}

Status Injector::apply_link_fault(Injection& injection) {
  const experiment::FaultSpec& spec = injection.fault;
  injection.links = resolve_links(spec);
  if (injection.links.empty())
    return make_error(ErrorCode::kInvalidArgument, "no link matches " + spec.target.text);
  injection.resolved = fmt::format("{}", fmt::join(injection.links, ", "));
  const std::string base = fmt::format("fault-{}", injections_.size() + 1);
  if (spec.action != FaultAction::kDown) {
    const bool up =
        spec.direction != experiment::Direction::kDownstream || spec.action == FaultAction::kPartition;
    const bool down =
        spec.direction != experiment::Direction::kUpstream || spec.action == FaultAction::kPartition;
    if (up) injection.toxics.push_back(base + "-upstream");
    if (down) injection.toxics.push_back(base + "-downstream");
  }
  injection.started = system_clock().now();
  for (const auto& name : injection.links) {
    faults::Link* link = cluster_.link(name);
    if (spec.action == FaultAction::kDown) {
      if (auto disabled = link->set_enabled(false); !disabled) return disabled;
    }
    for (const auto& toxic_name : injection.toxics) {
      const auto stream =
          toxic_name.ends_with("-upstream") ? faults::Stream::kUpstream : faults::Stream::kDownstream;
      if (auto added = link->add_toxic(toxic_of(spec, stream, toxic_name)); !added)
        return make_error(added.error().code, name + ": " + added.error().message);
    }
  }
  return {};
}

asio::awaitable<Result<std::shared_ptr<Injection>>> Injector::inject(experiment::FaultSpec fault) {
  auto injection = std::make_shared<Injection>();
  injection->fault = std::move(fault);
  const experiment::FaultSpec& spec = injection->fault;
  auto& supervisor = cluster_.supervisor();
  injection->started = system_clock().now();

  if (link_fault(spec.action)) {
    if (auto applied = apply_link_fault(*injection); !applied) co_return applied.error();
  } else if (spec.target.component == Component::kPod) {
    if (auto picked = co_await pick_pods(*injection); !picked) co_return picked.error();
    injection->started = system_clock().now();
    for (const auto& pod : injection->pods) {
      if (spec.action == FaultAction::kKill) {
        if (pod.pid <= 0 || ::kill(-pod.pid, SIGKILL) != 0)
          co_return make_error(ErrorCode::kUnavailable, "pod " + pod.name + ": no running container to kill");
      } else if (spec.action == FaultAction::kDelete) {
        client::DeleteOptions options;
        auto removed = co_await api_.remove(pods_resource(), pod.ns, pod.name, std::move(options));
        if (!removed.ok() && !client::is_not_found(removed.error()))
          co_return make_error(ErrorCode::kUnavailable,
                               "delete pod " + pod.name + ": " + removed.error().status.value("message", ""));
      } else if (spec.action == FaultAction::kFailReadiness) {
        if (auto failed = co_await set_readiness(pod, true); !failed) co_return failed.error();
      }
    }
  } else if (spec.action == FaultAction::kScale) {
    if (auto scaled = co_await scale(*injection); !scaled) co_return scaled.error();
  } else if (spec.target.component == Component::kNode) {
    injection->nodes = resolve_nodes(spec.target);
    injection->resolved = fmt::format("node-{}", fmt::join(injection->nodes, ", node-"));
    injection->started = system_clock().now();
    for (int node : injection->nodes)
      if (auto crashed = cluster_.crash_node(node); !crashed) co_return crashed.error();
  } else if (process_fault(spec.action)) {
    auto names = co_await resolve_processes(spec.target);
    if (!names.ok())
      co_return make_error(names.error().code, spec.target.text + ": " + names.error().message);
    injection->processes = *names;
    injection->resolved = fmt::format("{}", fmt::join(injection->processes, ", "));
    injection->started = system_clock().now();
    for (const auto& name : injection->processes) {
      Status done;
      if (spec.action == FaultAction::kRestart) {
        done = co_await supervisor.restart(name);
      } else if (spec.action == FaultAction::kPause) {
        done = supervisor.pause(name);
      } else {
        done = supervisor.kill(name, spec.action == FaultAction::kStop ? SIGTERM : SIGKILL);
      }
      if (!done) co_return make_error(done.error().code, name + ": " + done.error().message);
    }
  } else if (api_fault(spec.action)) {
    injection->api_fault_id =
        fmt::format("{}-{}", experiment::to_string(spec.action), injections_.size() + 1);
    injection->resolved = fmt::format("apiservers ({})", spec.target.text);
    std::string body = api_fault_body(spec, injection->api_fault_id, random_());
    injection->started = system_clock().now();
    if (auto added = co_await add_api_fault(std::move(body)); !added)
      co_return make_error(added.error().code, spec.target.text + ": " + added.error().message);
  } else {
    co_return make_error(ErrorCode::kInvalidArgument,
                         fmt::format("action {} is not supported", experiment::to_string(spec.action)));
  }
  injections_.push_back(injection);
  co_return injection;
}

asio::awaitable<void> Injector::follow_schedule(std::shared_ptr<Injection> injection) {
  const experiment::FaultSpec& spec = injection->fault;
  auto& supervisor = cluster_.supervisor();
  if (spec.action == FaultAction::kCrashLoop && spec.duration) {
    // Kill it each time it is back, for the duration; a process nobody
    // restarts on its own is started again (a crash-looping container).
    const SteadyTime until = injection->started + *spec.duration;
    const Millis backoff = cluster_.options().profile.duration("crashloop-backoff-initial");
    while (system_clock().now() < until && !waits_.cancelled()) {
      co_await sleep(std::min(backoff, std::chrono::duration_cast<Millis>(until - system_clock().now())));
      const bool past = system_clock().now() >= until || waits_.cancelled();
      for (const auto& name : injection->processes) {
        if (!past && running(supervisor, name)) {
          (void)supervisor.kill(name, SIGKILL);
        } else if (!past && !supervisor.restart_pending(name)) {
          (void)co_await supervisor.restart(name);
        }
      }
    }
  } else if (spec.duration) {
    co_await sleep(*spec.duration);
  } else if (spec.restart_after) {
    co_await sleep(*spec.restart_after);
  } else if (spec.action == FaultAction::kReboot) {
    // validated: reboot has restartAfter
  } else {
    injection->ended = injection->started;  // nothing to undo on a schedule
    co_return;
  }
  if (!waits_.cancelled()) co_await revert(injection);
}

asio::awaitable<void> Injector::revert(std::shared_ptr<Injection> injection) {
  if (injection->reverted) co_return;
  injection->reverted = true;
  const experiment::FaultSpec& spec = injection->fault;
  auto& supervisor = cluster_.supervisor();
  const bool pod = spec.target.component == Component::kPod;
  if (link_fault(spec.action)) {
    for (const auto& name : injection->links) {
      faults::Link* link = cluster_.link(name);
      if (link == nullptr) continue;
      if (spec.action == FaultAction::kDown) (void)link->set_enabled(true);
      for (const auto& toxic : injection->toxics) (void)link->remove_toxic(toxic);
    }
  } else if (api_fault(spec.action)) {
    co_await remove_api_fault(injection->api_fault_id);
  } else if (spec.action == FaultAction::kPause) {
    for (const auto& name : injection->processes) (void)supervisor.resume(name);
  } else if (spec.action == FaultAction::kFailReadiness) {
    for (const auto& one : injection->pods) (void)co_await set_readiness(one, false);
  } else if (spec.action == FaultAction::kScale && spec.duration) {
    // Back to the count it had; without a duration the new count stays.
    const auto deployment = experiment::namespace_and_name(spec.target.selector);
    (void)co_await api_.scale(deployments_resource(), deployment.first, deployment.second,
                              injection->previous_replicas);
  } else if ((spec.action == FaultAction::kCrash || spec.action == FaultAction::kReboot) &&
             spec.restart_after) {
    // Starting the node's processes is the reboot; the Node turning Ready
    // again is for the probes to see, not waited for here.
    for (int node : injection->nodes)
      for (const char* role : {"runtime", "kubelet", "proxy"})
        if (!running(supervisor, cluster::Cluster::node_process(role, node)))
          (void)cluster_.start_node_component(role, node);
  } else if (!pod && (spec.restart_after || spec.action == FaultAction::kCrashLoop)) {
    // kill / stop with restartAfter, and the end of a crash loop. (A
    // pod's container is the kubelet's to restart.)
    for (const auto& name : injection->processes)
      if (!running(supervisor, name)) (void)co_await supervisor.restart(name);
  }
  injection->ended = system_clock().now();
}

asio::awaitable<Status> Injector::add_api_fault(std::string body) {
  const net::HttpClientConfig http_config;  // explicit: see leader_of
  net::HttpClient http(co_await asio::this_coro::executor, http_config);
  const std::string token = cluster_.token("shakeout");
  const std::string target = "/debug/shakeout/faults";
  const std::string method = "POST";
  std::vector<std::string> failures;
  int added = 0;
  for (const auto& url : cluster_.apiserver_urls()) {
    // No continue in this loop: g++ 12 mishandles it after a co_await.
    auto endpoint = net::parse_endpoint(url);
    Result<net::HttpResponse> response = make_error(ErrorCode::kInvalidArgument, "not an http:// URL");
    if (endpoint.ok())
      response = co_await http.request(*endpoint, fault_request(method, target, body, token), Millis(2000));
    if (!response.ok()) {
      failures.push_back(url + ": " + response.error().describe());
    } else if (response->status != 201) {
      failures.push_back(fmt::format("{}: {} {}", url, response->status, response->body));
    } else {
      ++added;
    }
  }
  // An apiserver that is down has no requests to fault; one is enough.
  if (added == 0)
    co_return make_error(ErrorCode::kUnavailable,
                         fmt::format("no apiserver took the fault: {}", fmt::join(failures, "; ")));
  co_return Status{};
}

asio::awaitable<void> Injector::remove_api_fault(std::string id) {
  const net::HttpClientConfig http_config;  // explicit: see leader_of
  net::HttpClient http(co_await asio::this_coro::executor, http_config);
  const std::string token = cluster_.token("shakeout");
  const std::string target = "/debug/shakeout/faults/" + id;
  const std::string method = "DELETE";
  const std::string no_body;
  for (const auto& url : cluster_.apiserver_urls()) {
    auto endpoint = net::parse_endpoint(url);
    // Errors are ignored: a down apiserver lost the fault with its memory,
    // and one that missed the DELETE expires it on its own.
    if (endpoint.ok())
      (void)co_await http.request(*endpoint, fault_request(method, target, no_body, token), Millis(2000));
  }
}

asio::awaitable<void> Injector::revert_all() {
  // revert() skips what is already reverted.
  for (const auto& injection : injections_) co_await revert(injection);
}

void Injector::resume_paused_now() {
  for (const auto& injection : injections_)
    if (injection->fault.action == FaultAction::kPause && !injection->reverted)
      for (const auto& name : injection->processes) (void)cluster_.supervisor().resume(name);
}

}  // namespace shakeout::runner
