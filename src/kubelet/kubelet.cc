#include "kubelet/kubelet.h"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <charconv>
#include <csignal>
#include <fstream>
#include <random>
#include <sstream>

#include "api/event.h"
#include "api/resource_registry.h"
#include "client/client.h"
#include "client/component.h"
#include "client/informer.h"
#include "common/async.h"
#include "common/log.h"
#include "kubelet/envvars.h"
#include "kubelet/json_fields.h"
#include "kubelet/logs.h"
#include "kubelet/pod_status.h"
#include "net/http_client.h"
#include "net/http_server.h"

namespace shakeout::kubelet {
namespace {

using json = nlohmann::json;
constexpr const char* kLog = "kubelet";

const api::ResourceInfo& resource(std::string_view group, std::string_view plural) {
  return client::builtin_resource(group, plural);
}
const api::ResourceInfo& pods_resource() {
  return resource("", "pods");
}
const api::ResourceInfo& nodes_resource() {
  return resource("", "nodes");
}
const api::ResourceInfo& services_resource() {
  return resource("", "services");
}
const api::ResourceInfo& events_resource() {
  return resource("", "events");
}
const api::ResourceInfo& leases_resource() {
  return resource("coordination.k8s.io", "leases");
}

client::Config client_config(const Options& options, Millis request_timeout) {
  return client::component_config(options.master, options.token, request_timeout,
                                  "shakeout-kubelet/" + options.node_name);
}

std::string pod_key(const json& pod) {
  const json& meta = field(pod, "metadata");
  return string_field(meta, "namespace") + "/" + string_field(meta, "name");
}

bool terminating(const json& pod) {
  return !field(field(pod, "metadata"), "deletionTimestamp").is_null();
}

bool phase_terminal(const json& pod) {
  const std::string phase = string_field(field(pod, "status"), "phase");
  return phase == "Succeeded" || phase == "Failed";
}

const json* spec_container(const json& pod, std::size_t index) {
  const json& containers = field(field(pod, "spec"), "containers");
  if (!containers.is_array() || index >= containers.size()) return nullptr;
  return &containers[index];
}

std::vector<std::string> strings(const json& array) {
  std::vector<std::string> out;
  if (!array.is_array()) return out;
  for (const auto& item : array)
    if (item.is_string()) out.push_back(item.get<std::string>());
  return out;
}

int64_t wall_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<Millis>(t.time_since_epoch()).count();
}

net::ServerResponse text_response(unsigned status, std::string body) {
  net::ServerResponse response;
  response.status = status;
  response.content_type = "text/plain; charset=utf-8";
  response.body = std::move(body);
  return response;
}

// "<reason>: <text>" from the runtime's kInvalidArgument (runtime_service.h).
std::pair<std::string, std::string> split_reason(const std::string& message) {
  const auto colon = message.find(": ");
  if (colon == std::string::npos) return {runtime::kCreateContainerError, message};
  std::string reason = message.substr(0, colon);
  if (reason != runtime::kErrImagePull && reason != runtime::kInvalidImageName &&
      reason != runtime::kCreateContainerError)
    return {runtime::kCreateContainerError, message};
  return {reason, message.substr(colon + 2)};
}

// A resourceVersion (etcd's revision) as a number; 0 if it is not one.
uint64_t revision(const json& object) {
  const std::string rv = string_field(field(object, "metadata"), "resourceVersion");
  uint64_t value = 0;
  const char* end = rv.data() + rv.size();
  return std::from_chars(rv.data(), end, value).ptr == end ? value : 0;
}

}  // namespace

Kubelet::Kubelet(asio::any_io_executor executor, Options options, runtime::RuntimeService& runtime,
                 client::Timers& timers, client::Random& random)
    : executor_(executor),
      options_(std::move(options)),
      runtime_(runtime),
      timers_(timers),
      random_(random),
      sleeper_(executor, timers) {
  identity_.name = options_.node_name;
  identity_.ip = options_.node_ip;
  identity_.pod_cidr = options_.pod_cidr;
  identity_.kubelet_port = options_.port;
  machine_ = read_machine_info();
  client_ = std::make_unique<client::Client>(executor, client_config(options_, options_.request_timeout));
  // Lease renewals must end well inside the lease duration, across servers.
  const auto servers = static_cast<int64_t>(std::max<std::size_t>(1, options_.master.size()));
  const Millis lease_timeout =
      std::clamp(options_.node_lease_renew_interval / servers, Millis(100), options_.request_timeout);
  lease_client_ = std::make_unique<client::Client>(executor, client_config(options_, lease_timeout));

  client::InformerOptions pods;
  pods.field_selector = "spec.nodeName=" + options_.node_name;
  pods.backoff.initial = std::min(Millis(800), options_.node_lease_renew_interval);
  pods.backoff.cap = std::max(pods.backoff.initial, std::min(Millis(30000), options_.node_lease_duration));
  pods_ = std::make_unique<client::Informer>(*client_, pods_resource(), pods, timers_, random_);
  client::InformerOptions services;
  services.backoff = pods.backoff;
  services_ = std::make_unique<client::Informer>(*client_, services_resource(), services, timers_, random_);
  watch_pods();

  net::HttpServerConfig http;
  http.address = options_.node_ip;
  http.port = options_.port;
  http.stop_grace = Millis(1000);
  http_ = std::make_unique<net::HttpServer>(
      executor, http,
      [this](net::ServerRequest& request, net::ResponseWriter& writer) { return handle(request, writer); });
  net::HttpClientConfig probe;
  probe.user_agent = "kube-probe/1.32";
  probe.max_idle_per_endpoint = 0;
  probe_http_ = std::make_unique<net::HttpClient>(executor, probe);
}

Kubelet::~Kubelet() = default;

Status Kubelet::start() {
  if (!options_.authentication_token_file.empty()) {
    auto loaded = apiserver::TokenAuthenticator::load(options_.authentication_token_file);
    if (!loaded)
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("--authentication-token-file: {}", loaded.error().message));
    authenticator_.emplace(std::move(*loaded));
  }
  return http_->start();
}

uint16_t Kubelet::port() const {
  return http_->port();
}

void Kubelet::spawn(asio::awaitable<void> task) {
  ++tasks_;
  asio::co_spawn(executor_, std::move(task), [this](const std::exception_ptr& error) {
    --tasks_;
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      log::error(kLog, "task failed: {}", e.what());
    }
  });
}

asio::awaitable<void> Kubelet::pause(Millis d) {
  asio::steady_timer timer(executor_);
  timer.expires_after(d);
  boost::system::error_code ignored;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
}

asio::awaitable<void> Kubelet::drain() {
  while (tasks_ > 0) co_await pause(Millis(10));
}

asio::awaitable<void> Kubelet::run_informer(client::Informer* informer) {
  co_await informer->run();
}

asio::awaitable<int> Kubelet::run() {
  stop_wait_ = std::make_unique<asio::steady_timer>(executor_);
  stop_wait_->expires_at(std::chrono::steady_clock::time_point::max());
  co_await register_node();
  if (!stopping_) {
    spawn(lease_loop());
    spawn(status_loop());
    co_await list_runtime();
  }
  if (!stopping_) spawn(relist_loop());
  if (!stopping_) {
    spawn(run_informer(services_.get()));
    spawn(run_informer(pods_.get()));
    spawn(collect_orphans());
    boost::system::error_code ignored;
    co_await stop_wait_->async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  co_await http_->stop();
  co_await drain();
  log::info(kLog, "{}: stopped; containers keep running in the runtime", options_.node_name);
  co_return 0;
}

void Kubelet::stop() {
  if (stopping_) return;
  stopping_ = true;
  sleeper_.stop();
  pods_->stop();
  services_->stop();
  for (auto& entry : workers_) entry.second->wake.cancel();
  if (stop_wait_) stop_wait_->cancel();
}

// ---- node registration, status and Lease ----

asio::awaitable<void> Kubelet::register_node() {
  Millis retry(200);
  while (!stopping_) {
    auto created = co_await client_->create(nodes_resource(), "", make_node(identity_));
    if (created) {
      node_uid_ = string_field(field(*created, "metadata"), "uid");
      log::info(kLog, "{}: registered the node", options_.node_name);
    } else if (client::is_already_exists(created.error())) {
      auto current = co_await client_->get(nodes_resource(), "", options_.node_name);
      if (current) {
        node_uid_ = string_field(field(*current, "metadata"), "uid");
        if (string_field(field(*current, "spec"), "podCIDR") != options_.pod_cidr) {
          json patch = json::object();
          patch["spec"]["podCIDR"] = options_.pod_cidr;
          patch["spec"]["podCIDRs"] = json::array({options_.pod_cidr});
          auto patched = co_await client_->patch(nodes_resource(), "", options_.node_name,
                                                 client::PatchType::kMergePatch, patch.dump(), "");
          if (!patched) log::warn(kLog, "cannot set the node's podCIDR: {}", patched.error().message());
        }
        log::info(kLog, "{}: the node exists; updating it", options_.node_name);
      }
    } else {
      log::warn(kLog, "{}: cannot register the node: {}", options_.node_name, created.error().message());
    }
    if (!node_uid_.empty()) {
      auto posted = co_await post_node_status();
      if (posted) co_return;
    }
    co_await sleeper_.sleep(retry);
    retry = std::min(Millis(5000), retry * 2);
  }
}

asio::awaitable<Status> Kubelet::post_node_status() {
  auto current = co_await client_->get(nodes_resource(), "", options_.node_name);
  if (!current) {
    if (client::is_not_found(current.error())) node_uid_.clear();  // deleted: register again
    co_return make_error(ErrorCode::kUnavailable, current.error().message());
  }
  json patch = json::object();
  patch["status"] = make_node_status(identity_, machine_, *current, timers_.clock().wall_now());
  auto patched = co_await client_->patch(nodes_resource(), "", options_.node_name,
                                         client::PatchType::kMergePatch, patch.dump(), "status");
  if (!patched) co_return make_error(ErrorCode::kUnavailable, patched.error().message());
  ++counters_.node_status_updates_total;
  co_return Status{};
}

asio::awaitable<void> Kubelet::status_loop() {
  bool running = true;
  while (running) {
    const bool slept = co_await sleeper_.sleep(options_.node_status_update_frequency);
    running = slept && !stopping_;
    if (!running) {
      // stopped
    } else if (node_uid_.empty()) {
      co_await register_node();
    } else {
      auto posted = co_await post_node_status();
      if (!posted)
        log::warn(kLog, "{}: cannot post node status: {}", options_.node_name, posted.error().message);
    }
  }
}

asio::awaitable<void> Kubelet::renew_lease() {
  const int64_t seconds = std::max<int64_t>(1, options_.node_lease_duration.count() / 1000);
  const auto now = timers_.clock().wall_now();
  auto current = co_await lease_client_->get(leases_resource(), kNodeLeaseNamespace, options_.node_name);
  if (!current && client::is_not_found(current.error())) {
    auto created = co_await lease_client_->create(
        leases_resource(), kNodeLeaseNamespace, make_node_lease(options_.node_name, node_uid_, seconds, now));
    if (created) ++counters_.lease_renewals_total;
    if (!created)
      log::warn(kLog, "{}: cannot create the node Lease: {}", options_.node_name, created.error().message());
    co_return;
  }
  if (!current) {
    log::warn(kLog, "{}: cannot read the node Lease: {}", options_.node_name, current.error().message());
    co_return;
  }
  json lease = *current;
  const json fresh = make_node_lease(options_.node_name, node_uid_, seconds, now);
  lease["spec"] = fresh["spec"];
  if (!field(fresh["metadata"], "ownerReferences").is_null())
    lease["metadata"]["ownerReferences"] = fresh["metadata"]["ownerReferences"];
  auto updated = co_await lease_client_->update(leases_resource(), kNodeLeaseNamespace, std::move(lease));
  if (updated) {
    ++counters_.lease_renewals_total;
  } else {
    log::warn(kLog, "{}: cannot renew the node Lease: {}", options_.node_name, updated.error().message());
  }
}

asio::awaitable<void> Kubelet::lease_loop() {
  bool running = true;
  while (running) {
    co_await renew_lease();
    const bool slept = co_await sleeper_.sleep(options_.node_lease_renew_interval);
    running = slept && !stopping_;
  }
}

// ---- runtime adoption and orphans ----

asio::awaitable<void> Kubelet::list_runtime() {
  Millis retry(200);
  while (!stopping_) {
    auto sandboxes = co_await runtime_.list_sandboxes();
    auto containers = co_await runtime_.list_containers("");
    if (sandboxes && containers) {
      for (auto& sandbox : *sandboxes) found_sandboxes_[sandbox.uid] = sandbox;
      for (auto& container : *containers) found_containers_[container.pod_uid].push_back(container);
      log::info(kLog, "{}: the runtime holds {} sandboxes and {} containers", options_.node_name,
                sandboxes->size(), containers->size());
      co_return;
    }
    log::warn(kLog, "{}: cannot list the runtime at {}: {}", options_.node_name, options_.runtime_endpoint,
              sandboxes ? containers.error().message : sandboxes.error().message);
    co_await sleeper_.sleep(retry);
    retry = std::min(Millis(5000), retry * 2);
  }
}

asio::awaitable<void> Kubelet::relist_loop() {
  bool running = true;
  while (running) {
    const uint64_t seq = ++relists_begun_;
    auto listed = co_await runtime_.list_containers("");
    if (listed) {
      relisted_.clear();
      for (auto& container : *listed) relisted_[container.id] = container;
      relist_done_ = seq;
      // Wake the workers whose running container exited or vanished.
      for (auto& entry : workers_) {
        for (const auto& record : entry.second->containers) {
          const bool running_here =
              record.current && record.current->state == runtime::ContainerState::kRunning;
          auto it = running_here ? relisted_.find(record.current->id) : relisted_.end();
          if (running_here &&
              (it == relisted_.end() || it->second.state != runtime::ContainerState::kRunning))
            entry.second->wake.cancel();
        }
      }
    } else {
      log::debug(kLog, "{}: relist failed: {}", options_.node_name, listed.error().message);
    }
    const bool slept = co_await sleeper_.sleep(relist_period(options_.pod_time_scale));
    running = slept && !stopping_;
  }
}

asio::awaitable<void> Kubelet::collect_orphans() {
  while (!stopping_ && !pods_->has_synced()) co_await pause(Millis(20));
  if (stopping_) co_return;
  // Pods of another node, or unknown to the API, found in the runtime
  // (upstream HandlePodCleanups).
  std::vector<std::string> orphans;
  for (const auto& entry : found_sandboxes_)
    if (workers_.find(entry.first) == workers_.end()) orphans.push_back(entry.first);
  for (const auto& uid : orphans) {
    found_sandboxes_.erase(uid);
    found_containers_.erase(uid);
    log::info(kLog, "{}: removing sandbox {} of a pod not bound here", options_.node_name, uid);
    auto removed = co_await runtime_.remove_sandbox(uid);
    if (!removed) log::warn(kLog, "cannot remove sandbox {}: {}", uid, removed.error().message);
  }
}

// ---- pod workers ----

void Kubelet::watch_pods() {
  client::EventHandlers handlers;
  handlers.on_add = [this](const json& pod) { pod_changed(pod); };
  handlers.on_update = [this](const json&, const json& pod) { pod_changed(pod); };
  handlers.on_delete = [this](const json& pod, bool) {
    auto it = workers_.find(string_field(field(pod, "metadata"), "uid"));
    if (it == workers_.end()) return;
    it->second->deleted = true;
    it->second->wake.cancel();
  };
  pods_->add_handlers(std::move(handlers));
}

void Kubelet::pod_changed(const json& pod) {
  if (stopping_) return;
  const std::string uid = string_field(field(pod, "metadata"), "uid");
  if (uid.empty()) return;
  auto it = workers_.find(uid);
  if (it != workers_.end()) {
    it->second->pod = pod;
    it->second->wake.cancel();
    return;
  }
  auto worker = std::make_unique<PodWorker>(executor_);
  worker->uid = uid;
  worker->serial = ++workers_begun_;
  worker->pod = pod;
  worker->probe_anchor = timers_.clock().now();
  workers_.emplace(uid, std::move(worker));
  spawn(pod_loop(uid));
}

asio::awaitable<void> Kubelet::pod_loop(std::string uid) {
  PodWorker* worker = workers_.at(uid).get();
  bool running = !stopping_;
  while (running) {
    if (worker->deleted || terminating(worker->pod)) {
      co_await terminate_pod(worker);
      running = false;
    } else {
      co_await sync_pod(worker);
      if (!stopping_) post_pod_status(worker);
      if (!stopping_) {
        worker->wake.expires_after(next_wake(*worker));
        boost::system::error_code ignored;
        co_await worker->wake.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      }
      running = !stopping_;
    }
  }
  if (!stopping_) workers_.erase(uid);
}

Millis Kubelet::next_wake(const PodWorker& worker) const {
  Millis wait = relist_period(options_.pod_time_scale);
  const SteadyTime now = timers_.clock().now();
  const auto until = [&now](SteadyTime t) {
    return std::max(Millis(1), std::chrono::duration_cast<Millis>(t - now) + Millis(1));
  };
  for (const auto& c : worker.containers) {
    if (c.current && c.current->state == runtime::ContainerState::kRunning)
      for (const auto& probe : c.probes) wait = std::min(wait, until(probe.due));
    if (!c.current && c.retry_at > now) wait = std::min(wait, until(c.retry_at));
  }
  return wait;
}

int64_t Kubelet::grace_ms(const json& pod) const {
  const json& meta = field(pod, "metadata");
  int64_t seconds = int_field(field(pod, "spec"), "terminationGracePeriodSeconds", 30);
  if (field(meta, "deletionGracePeriodSeconds").is_number())
    seconds = int_field(meta, "deletionGracePeriodSeconds", seconds);
  return scale_seconds(static_cast<double>(std::max<int64_t>(0, seconds)), options_.pod_time_scale, Millis(0))
      .count();
}

void Kubelet::reset_probes(PodWorker* worker, std::size_t index, std::optional<bool> ready) {
  ContainerRecord& record = worker->containers[index];
  record.probes.clear();
  const json* container = spec_container(worker->pod, index);
  const SteadyTime now = timers_.clock().now();
  bool has_startup = false;
  bool has_readiness = false;
  for (ProbeKind kind : {ProbeKind::kStartup, ProbeKind::kLiveness, ProbeKind::kReadiness}) {
    if (container == nullptr) break;
    auto spec = parse_probe(*container, kind, options_.pod_time_scale);
    if (!spec) continue;
    ProbeWorker probe;
    probe.kind = kind;
    probe.spec = *spec;
    probe.state = ProbeState(kind, spec->success_threshold, spec->failure_threshold);
    probe.due = now + spec->initial_delay;
    if (kind == ProbeKind::kStartup) has_startup = true;
    if (kind == ProbeKind::kReadiness) {
      has_readiness = true;
      if (ready.value_or(false)) probe.state.set(true);
    }
    record.probes.push_back(probe);
  }
  // An adopted container keeps what its status said (no flap on restart).
  record.started = !has_startup || ready.value_or(false);
  record.ready = record.started && (!has_readiness || ready.value_or(false));
}

asio::awaitable<void> Kubelet::sync_pod(PodWorker* worker) {
  const json& containers = field(field(worker->pod, "spec"), "containers");
  const std::size_t count = containers.is_array() ? containers.size() : 0;
  if (worker->containers.size() != count) {
    worker->containers.resize(count);
    for (std::size_t i = 0; i < count; ++i) {
      worker->containers[i].name = string_field(containers[i], "name");
      CrashBackoffPolicy policy;
      policy.initial = options_.crashloop_backoff_initial;
      policy.max = options_.crashloop_backoff_max;
      policy.reset = options_.crashloop_backoff_reset;
      worker->containers[i].backoff = CrashBackoff(policy);
      worker->containers[i].start_backoff = CrashBackoff(policy);
    }
  }
  if (!worker->sandbox) {
    auto found = found_sandboxes_.find(worker->uid);
    if (found != found_sandboxes_.end()) {
      // Adoption: the sandbox and containers a previous kubelet started.
      worker->pod_ip = found->second.ip;
      worker->sandbox = true;
      std::vector<runtime::ContainerStatus> held = std::move(found_containers_[worker->uid]);
      found_sandboxes_.erase(found);
      found_containers_.erase(worker->uid);
      std::sort(held.begin(), held.end(), [](const auto& a, const auto& b) { return a.attempt > b.attempt; });
      const json& statuses = field(field(worker->pod, "status"), "containerStatuses");
      for (std::size_t i = 0; i < count; ++i) {
        ContainerRecord& record = worker->containers[i];
        for (const auto& c : held) {
          if (c.name != record.name) continue;
          if (!record.current) {
            record.current = c;
          } else if (!record.previous) {
            record.previous = c;
          }
        }
        if (!record.current) continue;
        record.relist_mark = relists_begun_;
        record.restart_count = record.current->attempt;
        bool was_ready = false;
        if (statuses.is_array())
          for (const auto& s : statuses)
            if (string_field(s, "name") == record.name) {
              record.restart_count =
                  std::max<int>(record.restart_count, static_cast<int>(int_field(s, "restartCount", 0)));
              was_ready = field(s, "ready").is_boolean() && s["ready"].get<bool>();
            }
        record.backoff_event_for.clear();
        if (record.current->state == runtime::ContainerState::kRunning) {
          reset_probes(worker, i, was_ready);
          ++counters_.containers_adopted_total;
          log::info(kLog, "{}: adopted container {} ({}, pid {})", pod_key(worker->pod), record.name,
                    record.current->id, record.current->pid);
        }
      }
    } else if (phase_terminal(worker->pod)) {
      co_return;  // finished before: nothing to run again
    } else {
      runtime::PodSandboxConfig config;
      const json& meta = field(worker->pod, "metadata");
      config.uid = worker->uid;
      config.ns = string_field(meta, "namespace");
      config.name = string_field(meta, "name");
      if (const auto labels = meta.find("labels"); labels != meta.end() && labels->is_object())
        for (const auto& [key, value] : labels->items())
          if (value.is_string()) config.labels[key] = value.get<std::string>();
      auto sandbox = co_await runtime_.run_sandbox(config);
      if (!sandbox) {
        log::warn(kLog, "{}: cannot create the sandbox: {}", pod_key(worker->pod), sandbox.error().message);
        co_return;
      }
      worker->pod_ip = sandbox->ip;
      worker->sandbox = true;
    }
  }
  for (std::size_t i = 0; i < count && !stopping_ && !worker->deleted && !terminating(worker->pod); ++i)
    co_await sync_container(worker, i);
}

asio::awaitable<void> Kubelet::sync_container(PodWorker* worker, std::size_t index) {
  ContainerRecord* record = &worker->containers[index];
  if (record->current && record->current->state == runtime::ContainerState::kRunning) {
    // Only a relist begun after we learned of this attempt can tell news.
    if (relist_done_ > record->relist_mark) {
      auto it = relisted_.find(record->current->id);
      if (it != relisted_.end()) {
        record->current = it->second;
      } else {
        // Gone from the runtime (a rebooted node): it ended, how is unknown.
        record->current->state = runtime::ContainerState::kExited;
        record->current->exit_code = 137;
        record->current->reason = "ContainerStatusUnknown";
        record->current->finished_unix_ms = wall_ms(timers_.clock().wall_now());
      }
    }
    if (record->current->state == runtime::ContainerState::kRunning) {
      co_await run_probes(worker, index);
      record = &worker->containers[index];
    }
  }
  if (!record->current) {
    if (timers_.clock().now() >= record->retry_at) co_await start_container(worker, index);
    co_return;
  }
  if (record->current->state == runtime::ContainerState::kRunning) co_return;

  // The current attempt exited: restart it as the policy says
  // (kuberuntime_manager.go computePodActions, ShouldContainerBeRestarted).
  record->ready = false;
  record->started = false;
  const runtime::ContainerStatus& exited = *record->current;
  if (!record->exit_handled) {
    record->exit_handled = true;
    log::info(kLog, "{}: container {} exited with {}", pod_key(worker->pod), record->name, exited.exit_code);
  }
  std::string policy = string_field(field(worker->pod, "spec"), "restartPolicy");
  if (policy.empty()) policy = "Always";
  const bool restart = policy == "Always" || (policy == "OnFailure" && exited.exit_code != 0);
  if (!restart) {
    record->waiting_reason.clear();
    record->waiting_message.clear();
    co_return;
  }
  const Millis ran(std::max<int64_t>(0, exited.finished_unix_ms - exited.started_unix_ms));
  const Millis delay = record->backoff.delay(ran);
  const int64_t due = exited.finished_unix_ms + delay.count();
  const int64_t now = wall_ms(timers_.clock().wall_now());
  if (now < due) {
    const json& meta = field(worker->pod, "metadata");
    record->waiting_reason = "CrashLoopBackOff";
    record->waiting_message =
        fmt::format("back-off {} restarting failed container={} pod={}_{}({})", format_duration(delay),
                    record->name, string_field(meta, "name"), string_field(meta, "namespace"), worker->uid);
    if (record->backoff_event_for != exited.id) {
      record->backoff_event_for = exited.id;
      record_event(worker->pod, "Warning", "BackOff",
                   fmt::format("Back-off restarting failed container {} in pod {}_{}({})", record->name,
                               string_field(meta, "name"), string_field(meta, "namespace"), worker->uid));
    }
    record->retry_at = timers_.clock().now() + Millis(due - now);
    co_return;
  }
  co_await start_container(worker, index);
}

asio::awaitable<void> Kubelet::start_container(PodWorker* worker, std::size_t index) {
  const json* spec = spec_container(worker->pod, index);
  if (spec == nullptr) co_return;
  const json container = *spec;
  const std::string name = string_field(container, "name");
  const std::string image = string_field(container, "image");
  const bool restarting = worker->containers[index].current.has_value();
  const int attempt = restarting ? worker->containers[index].restart_count + 1 : 0;

  runtime::ContainerConfig config;
  config.pod_uid = worker->uid;
  config.name = name;
  config.attempt = attempt;
  config.image = image;
  config.command = strings(field(container, "command"));
  config.args = strings(field(container, "args"));
  config.working_dir = string_field(container, "workingDir");
  PodEnvContext context;
  context.node_name = options_.node_name;
  context.node_ip = options_.node_ip;
  context.pod_ip = worker->pod_ip;
  std::vector<json> services;
  const std::string ns = string_field(field(worker->pod, "metadata"), "namespace");
  for (const auto& service : services_->store().list())
    if (string_field(field(service, "metadata"), "namespace") == ns) services.push_back(service);
  config.env = container_env(worker->pod, container, context, services);

  auto started = co_await runtime_.start_container(config);
  ContainerRecord& record = worker->containers[index];
  if (!started) {
    const Error& error = started.error();
    if (error.code != ErrorCode::kInvalidArgument) {
      log::warn(kLog, "{}: cannot start container {}: {}", pod_key(worker->pod), name, error.message);
      // The runtime lost the sandbox (it restarted: a rebooted node): make
      // a new one on the next sync.
      if (error.code == ErrorCode::kNotFound) worker->sandbox = false;
      record.retry_at = timers_.clock().now() + relist_period(options_.pod_time_scale);
      co_return;
    }
    auto [reason, text] = split_reason(error.message);
    const bool changed = record.waiting_reason != reason || record.waiting_message != text;
    record.waiting_reason = reason;
    record.waiting_message = text;
    record.start_backoff.restarted();
    record.retry_at = timers_.clock().now() + record.start_backoff.current();
    if (changed || reason == runtime::kErrImagePull) {
      const std::string message = reason == runtime::kErrImagePull
                                      ? fmt::format("Failed to pull image \"{}\": {}", image, text)
                                      : fmt::format("Error: {}", text);
      record_event(worker->pod, "Warning", "Failed", message);
      if (reason == runtime::kErrImagePull)
        record_event(worker->pod, "Warning", "Failed", "Error: ErrImagePull");
    }
    co_return;
  }
  if (restarting) {
    record.previous = record.current;
    record.restart_count = attempt;
    record.backoff.restarted();
  }
  record.current = *started;
  record.relist_mark = relists_begun_;
  record.waiting_reason.clear();
  record.waiting_message.clear();
  record.exit_handled = false;
  record.start_backoff = CrashBackoff(CrashBackoffPolicy{
      options_.crashloop_backoff_initial, options_.crashloop_backoff_max, options_.crashloop_backoff_reset});
  ++counters_.container_starts_total;
  reset_probes(worker, index, std::nullopt);
  record_event(worker->pod, "Normal", "Pulled",
               fmt::format("Container image \"{}\" already present on machine", image));
  record_event(worker->pod, "Normal", "Created", fmt::format("Created container: {}", name));
  record_event(worker->pod, "Normal", "Started", fmt::format("Started container {}", name));
  log::info(kLog, "{}: started container {} attempt {} ({})", pod_key(worker->pod), name, attempt,
            started->id);
}

asio::awaitable<void> Kubelet::run_probes(PodWorker* worker, std::size_t index) {
  const std::size_t probes = worker->containers[index].probes.size();
  bool running = true;
  for (std::size_t p = 0; p < probes && running; ++p) {
    ContainerRecord& record = worker->containers[index];
    const bool alive = record.current && record.current->state == runtime::ContainerState::kRunning;
    const SteadyTime now = timers_.clock().now();
    const ProbeKind kind = record.probes[p].kind;
    // Startup first; liveness and readiness wait until it passed.
    const bool due = alive && now >= record.probes[p].due &&
                     (kind == ProbeKind::kStartup ? !record.started : record.started);
    running = alive;
    if (due) {
      record.probes[p].due = next_probe_tick(now, worker->probe_anchor, record.probes[p].spec.period);
      auto outcome = co_await probe_once(record.probes[p].spec, worker->pod_ip, record.current->id);
      const bool success = outcome.first;
      ContainerRecord& after = worker->containers[index];
      running = after.probes.size() == probes;  // else the container was replaced meanwhile
      if (running) {
        ProbeWorker& done = after.probes[p];
        const bool changed = done.state.record(success);
        if (!success && (kind != ProbeKind::kReadiness || changed))
          record_event(worker->pod, "Warning", "Unhealthy",
                       fmt::format("{} probe failed: {}", to_string(kind), outcome.second));
        if (kind == ProbeKind::kStartup && done.state.result()) after.started = true;
        if (kind == ProbeKind::kReadiness) after.ready = done.state.result();
        if (kind != ProbeKind::kReadiness && !done.state.result() && changed) {
          co_await kill_container(
              worker, index,
              fmt::format("failed {} probe", kind == ProbeKind::kLiveness ? "liveness" : "startup"));
          running = false;
        }
      }
    }
  }
  ContainerRecord& record = worker->containers[index];
  bool has_readiness = false;
  for (const auto& probe : record.probes)
    has_readiness = has_readiness || probe.kind == ProbeKind::kReadiness;
  if (!has_readiness) record.ready = record.started;
}

asio::awaitable<std::pair<bool, std::string>> Kubelet::probe_once(ProbeSpec spec, std::string pod_ip,
                                                                  std::string container_id) {
  const std::string host = spec.host.empty() ? pod_ip : spec.host;
  if (spec.action == ProbeSpec::Action::kHttpGet) {
    net::HttpRequest request;
    request.method = "GET";
    request.target = spec.path;
    for (const auto& header : spec.headers) request.headers.push_back(header);
    net::Endpoint endpoint;
    endpoint.host = host;
    endpoint.port = static_cast<uint16_t>(spec.port);
    auto response = co_await probe_http_->request(endpoint, std::move(request), spec.timeout);
    if (!response)
      co_return std::make_pair(false, fmt::format("Get \"http://{}:{}{}\": {}", host, spec.port, spec.path,
                                                  response.error().message));
    if (response->status >= 200 && response->status < 400) co_return std::make_pair(true, std::string());
    co_return std::make_pair(false, fmt::format("HTTP probe failed with statuscode: {}", response->status));
  }
  if (spec.action == ProbeSpec::Action::kTcpSocket) {
    boost::system::error_code error;
    auto address = asio::ip::make_address(host, error);
    if (error) co_return std::make_pair(false, fmt::format("bad host {}", host));
    asio::ip::tcp::socket socket(executor_);
    asio::steady_timer timer(executor_);
    timer.expires_after(spec.timeout);
    bool timed_out = false;
    timer.async_wait([&socket, &timed_out](const boost::system::error_code& e) {
      if (e) return;
      timed_out = true;
      boost::system::error_code ignored;
      socket.close(ignored);
    });
    co_await socket.async_connect(asio::ip::tcp::endpoint(address, static_cast<uint16_t>(spec.port)),
                                  asio::redirect_error(asio::use_awaitable, error));
    timer.cancel();
    if (!error) co_return std::make_pair(true, std::string());
    co_return std::make_pair(false, fmt::format("dial tcp {}:{}: {}", host, spec.port,
                                                timed_out ? "i/o timeout" : error.message()));
  }
  if (spec.action == ProbeSpec::Action::kExec) {
    auto result = co_await runtime_.exec_sync(container_id, spec.command, spec.timeout.count());
    if (!result) co_return std::make_pair(false, result.error().message);
    co_return std::make_pair(result->exit_code == 0, result->output);
  }
  co_return std::make_pair(true, std::string());  // gRPC probes: not supported, never fail
}

asio::awaitable<void> Kubelet::kill_container(PodWorker* worker, std::size_t index, std::string reason) {
  const std::string id = worker->containers[index].current->id;
  const std::string name = worker->containers[index].name;
  record_event(worker->pod, "Normal", "Killing",
               fmt::format("Container {} {}, will be restarted", name, reason));
  auto stopped = co_await runtime_.stop_container(id, grace_ms(worker->pod));
  if (!stopped)
    log::warn(kLog, "{}: cannot stop container {}: {}", pod_key(worker->pod), name, stopped.error().message);
  auto status = co_await runtime_.container_status(id);
  ContainerRecord& record = worker->containers[index];
  if (status && record.current && record.current->id == id) {
    record.current = *status;
    record.relist_mark = relists_begun_;
  }
  record.ready = false;
  record.started = false;
}

asio::awaitable<void> Kubelet::stop_one(std::string id, int64_t grace, int* pending) {
  auto stopped = co_await runtime_.stop_container(id, grace);
  if (!stopped) log::warn(kLog, "cannot stop container {}: {}", id, stopped.error().message);
  --*pending;
}

asio::awaitable<void> Kubelet::terminate_pod(PodWorker* worker) {
  const std::string key = pod_key(worker->pod);
  const int64_t grace = grace_ms(worker->pod);
  log::info(kLog, "{}: stopping its containers (grace {}ms)", key, grace);
  int pending = 0;
  for (auto& record : worker->containers) {
    if (!record.current || record.current->state != runtime::ContainerState::kRunning) continue;
    record_event(worker->pod, "Normal", "Killing", fmt::format("Stopping container {}", record.name));
    ++pending;
    spawn(stop_one(record.current->id, grace, &pending));
  }
  while (pending > 0) co_await pause(Millis(10));
  if (worker->sandbox || found_sandboxes_.count(worker->uid) > 0) {
    found_sandboxes_.erase(worker->uid);
    found_containers_.erase(worker->uid);
    auto removed = co_await runtime_.remove_sandbox(worker->uid);
    if (!removed) log::warn(kLog, "{}: cannot remove the sandbox: {}", key, removed.error().message);
  }
  if (worker->deleted) co_return;
  // The pod's containers are gone: finish the deletion (upstream
  // status_manager.go canBeDeleted ──► Delete with grace 0 and uid).
  client::DeleteOptions options;
  options.grace_period_seconds = 0;
  options.precondition_uid = worker->uid;
  const json& meta = field(worker->pod, "metadata");
  auto removed = co_await client_->remove(pods_resource(), string_field(meta, "namespace"),
                                          string_field(meta, "name"), options);
  if (!removed && !client::is_not_found(removed.error()) && !client::is_conflict(removed.error()))
    log::warn(kLog, "{}: cannot delete the pod: {}", key, removed.error().message());
  else
    log::info(kLog, "{}: terminated and deleted", key);
}

void Kubelet::post_pod_status(PodWorker* worker) {
  PodView view;
  view.pod_ip = worker->pod_ip;
  view.host_ip = options_.node_ip;
  view.restart_policy = string_field(field(worker->pod, "spec"), "restartPolicy");
  if (view.restart_policy.empty()) view.restart_policy = "Always";
  const json& specs = field(field(worker->pod, "spec"), "containers");
  for (std::size_t i = 0; i < worker->containers.size(); ++i) {
    const ContainerRecord& record = worker->containers[i];
    ContainerView c;
    c.name = record.name;
    c.image = specs.is_array() && i < specs.size() ? string_field(specs[i], "image") : "";
    c.current = record.current;
    c.previous = record.previous;
    c.restart_count = record.restart_count;
    c.waiting_reason = record.waiting_reason;
    c.waiting_message = record.waiting_message;
    c.ready = record.ready && record.current && record.current->state == runtime::ContainerState::kRunning;
    c.started =
        record.started && record.current && record.current->state == runtime::ContainerState::kRunning;
    view.containers.push_back(std::move(c));
  }
  if (!worker->sandbox && phase_terminal(worker->pod)) return;
  json status = compute_pod_status(worker->pod, view, timers_.clock().wall_now());
  // A write in flight: the newest status goes after it, unless it is the
  // same. (The worker goes on meanwhile: a slow API server holds back no
  // restart or probe, as with upstream's status manager.)
  if (worker->writing) {
    if (status == *worker->writing) {
      worker->next_status.reset();
    } else {
      worker->next_status = std::move(status);
    }
    return;
  }
  // Only what changed is written: compare with what the API holds.
  const json& stored = field(worker->pod, "status");
  json comparable = json::object();
  for (auto it = status.begin(); it != status.end(); ++it)
    if (stored.is_object() && stored.contains(it.key())) comparable[it.key()] = stored[it.key()];
  // Or what we wrote last, if nobody changed the pod since (the server may
  // normalize what it stores).
  const std::string rv = string_field(field(worker->pod, "metadata"), "resourceVersion");
  if (comparable == status || (status == worker->last_status && rv == worker->last_status_rv)) return;
  worker->writing = std::move(status);
  spawn(write_pod_status(worker->uid, worker->serial));
}

Kubelet::PodWorker* Kubelet::worker_of(const std::string& uid, uint64_t serial) {
  const auto it = workers_.find(uid);
  return it == workers_.end() || it->second->serial != serial ? nullptr : it->second.get();
}

// The pod's status writer: PATCHes worker->writing, then whatever status
// came meanwhile, until none is left or the worker is gone.
asio::awaitable<void> Kubelet::write_pod_status(std::string uid, uint64_t serial) {
  PodWorker* worker = worker_of(uid, serial);
  while (worker != nullptr && worker->writing) {
    json patch = json::object();
    patch["status"] = *worker->writing;
    const json& meta = field(worker->pod, "metadata");
    const std::string ns = string_field(meta, "namespace");
    const std::string name = string_field(meta, "name");
    const std::string body = patch.dump();
    auto patched =
        co_await client_->patch(pods_resource(), ns, name, client::PatchType::kMergePatch, body, "status");
    worker = worker_of(uid, serial);  // the pod's worker may have ended meanwhile
    if (worker != nullptr && patched) {
      ++counters_.pod_status_updates_total;
      worker->last_status = std::move(*worker->writing);
      // The informer brings the new object too; keep ours current meanwhile
      // (unless the informer already brought a newer one).
      if (string_field(field(*patched, "metadata"), "uid") == worker->uid &&
          revision(*patched) >= revision(worker->pod)) {
        worker->pod = *patched;
        worker->last_status_rv = string_field(field(*patched, "metadata"), "resourceVersion");
      }
      log::debug(kLog, "{}/{}: status {}", ns, name, worker->last_status.dump());
    } else if (worker != nullptr) {
      // Tried again when the worker next computes the status (its next wake).
      log::warn(kLog, "{}/{}: cannot update the pod status: {}", ns, name, patched.error().message());
    }
    if (worker != nullptr) {
      worker->writing = std::move(worker->next_status);
      worker->next_status.reset();
      if (stopping_) worker->writing.reset();
    }
  }
}

void Kubelet::record_event(const json& pod, const std::string& type, const std::string& reason,
                           const std::string& message) {
  api::EventText text;
  text.type = type;
  text.reason = reason;
  text.message = message;
  api::EventSource source;
  source.component = "kubelet";
  source.instance = options_.node_name;
  json event = api::make_event(pod, "v1", "Pod", text, source, timers_.clock().wall_now());
  event["source"]["host"] = options_.node_name;
  // Upstream's broadcaster queue holds 1000 and drops beyond.
  if (pending_events_.size() >= 1000) {
    log::debug(kLog, "event queue full: dropping {} {}", reason, message);
    return;
  }
  pending_events_.emplace_back(string_field(field(pod, "metadata"), "namespace"), std::move(event));
  if (!event_sink_running_) {
    event_sink_running_ = true;
    spawn(event_sink());
  }
}

asio::awaitable<void> Kubelet::event_sink() {
  while (!pending_events_.empty() && !stopping_) {
    auto [ns, event] = std::move(pending_events_.front());
    pending_events_.pop_front();
    auto created = co_await client_->create(events_resource(), ns, std::move(event));
    if (!created) log::debug(kLog, "cannot record an event: {}", created.error().message());
  }
  pending_events_.clear();  // when stopping: not worth holding the shutdown up
  event_sink_running_ = false;
}

// ---- the kubelet API ----

asio::awaitable<void> Kubelet::handle(net::ServerRequest& request, net::ResponseWriter& writer) {
  if (request.path == "/healthz") {
    co_await writer.send(text_response(200, "ok"));
    co_return;
  }
  const bool authenticated =
      authenticator_ && authenticator_->authenticate(request.header("Authorization")).has_value();
  if (!authenticated) {
    co_await writer.send(text_response(401, "Unauthorized"));
    co_return;
  }
  if (request.method != "GET") {
    co_await writer.send(text_response(405, "Method Not Allowed"));
    co_return;
  }
  if (request.path == "/pods" || request.path == "/pods/") {
    json list = json::object();
    list["kind"] = "PodList";
    list["apiVersion"] = "v1";
    list["metadata"] = json::object();
    list["items"] = json::array();
    for (const auto& entry : workers_) list["items"].push_back(entry.second->pod);
    net::ServerResponse response;
    response.content_type = "application/json";
    response.body = list.dump();
    co_await writer.send(std::move(response));
    co_return;
  }
  const std::string prefix = "/containerLogs/";
  if (request.path.rfind(prefix, 0) == 0) {
    std::vector<std::string> parts;
    std::istringstream rest(request.path.substr(prefix.size()));
    std::string part;
    while (std::getline(rest, part, '/')) parts.push_back(part);
    if (parts.size() != 3) {
      co_await writer.send(text_response(400, "expected /containerLogs/<namespace>/<pod>/<container>"));
      co_return;
    }
    int64_t tail_lines = -1;
    const std::string_view tail_text = request.query_value("tailLines");
    if (!tail_text.empty()) {
      const auto parsed = std::from_chars(tail_text.data(), tail_text.data() + tail_text.size(), tail_lines);
      if (parsed.ec != std::errc() || parsed.ptr != tail_text.data() + tail_text.size()) {
        co_await writer.send(text_response(400, "tailLines: not a number"));
        co_return;
      }
    }
    co_await serve_logs(parts[0], parts[1], parts[2], request.query_value("follow") == "true",
                        request.query_value("previous") == "true", tail_lines, writer);
    co_return;
  }
  co_await writer.send(text_response(404, "404 page not found"));
}

asio::awaitable<void> Kubelet::serve_logs(std::string ns, std::string pod, std::string container, bool follow,
                                          bool previous, int64_t tail_lines, net::ResponseWriter& writer) {
  PodWorker* worker = nullptr;
  for (auto& entry : workers_) {
    const json& meta = field(entry.second->pod, "metadata");
    if (string_field(meta, "namespace") == ns && string_field(meta, "name") == pod)
      worker = entry.second.get();
  }
  const ContainerRecord* record = nullptr;
  if (worker != nullptr)
    for (const auto& c : worker->containers)
      if (c.name == container) record = &c;
  if (record == nullptr || !record->current) {
    co_await writer.send(
        text_response(404, fmt::format("container \"{}\" in pod \"{}\" is not available", container, pod)));
    co_return;
  }
  std::optional<runtime::ContainerStatus> target = previous ? record->previous : record->current;
  if (previous && record->waiting_reason == "CrashLoopBackOff") target = record->current;
  if (!target) {
    co_await writer.send(text_response(
        400, fmt::format("previous terminated container \"{}\" in pod \"{}\" not found", container, pod)));
    co_return;
  }
  const std::string path = target->log_path;
  const std::string uid = worker->uid;
  std::string content = read_log_file(path, 0);
  std::size_t offset = content.size();
  net::ServerResponse head;
  head.content_type = "text/plain";
  head.body = tail_lines >= 0 ? tail(content, tail_lines) : content;
  if (!follow) {
    co_await writer.send(std::move(head));
    co_return;
  }
  auto begun = co_await writer.begin_stream(std::move(head));
  if (!begun) co_return;
  bool streaming = true;
  while (streaming && !writer.closed() && !stopping_) {
    co_await pause(Millis(100));
    std::string more = read_log_file(path, offset);
    offset += more.size();
    if (!more.empty() && !(co_await writer.write_chunk(std::move(more)))) co_return;
    // Until the container exits (its record moved on or says exited).
    auto it = workers_.find(uid);
    bool live = false;
    if (it != workers_.end())
      for (const auto& c : it->second->containers)
        if (c.name == container && c.current && c.current->id == target->id &&
            c.current->state == runtime::ContainerState::kRunning)
          live = true;
    if (!live) {
      std::string last = read_log_file(path, offset);
      if (!last.empty()) co_await writer.write_chunk(std::move(last));
      streaming = false;
    }
  }
  if (!writer.closed()) co_await writer.end_stream();
}

}  // namespace shakeout::kubelet
