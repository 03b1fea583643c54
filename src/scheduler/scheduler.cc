#include "scheduler/scheduler.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <csignal>
#include <random>

#include "api/event.h"
#include "api/resource_registry.h"
#include "api/store.h"
#include "client/client.h"
#include "client/component.h"
#include "client/informer.h"
#include "client/leader_election.h"
#include "client/timers.h"
#include "common/async.h"
#include "common/log.h"
#include "net/http_server.h"
#include "scheduler/algorithm.h"
#include "scheduler/fields.h"
#include "scheduler/metrics.h"

namespace shakeout::scheduler {
namespace {

using json = nlohmann::json;
constexpr const char* kLog = "scheduler";

const api::ResourceInfo& resource(std::string_view group, std::string_view plural) {
  return client::builtin_resource(group, plural);
}
const api::ResourceInfo& pods_resource() {
  return resource("", "pods");
}
const api::ResourceInfo& nodes_resource() {
  return resource("", "nodes");
}
const api::ResourceInfo& events_resource() {
  return resource("", "events");
}

bool is_loopback(const std::string& address) {
  in_addr addr{};
  return ::inet_pton(AF_INET, address.c_str(), &addr) == 1 && (ntohl(addr.s_addr) >> 24) == 127;
}

std::string default_identity() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  std::random_device device;
  return fmt::format("{}_{:08x}{:08x}", host, device(), device());
}

int64_t priority_of(const json& pod) {
  const json& priority = field(field(pod, "spec"), "priority");
  return priority.is_number_integer() ? priority.get<int64_t>() : 0;
}

// What scheduling depends on changed; a heartbeat alone does not count
// (upstream eventhandlers.go nodeSchedulingPropertiesChange).
bool node_scheduling_changed(const json& old_node, const json& new_node) {
  return field(field(old_node, "metadata"), "labels") != field(field(new_node, "metadata"), "labels") ||
         field(old_node, "spec") != field(new_node, "spec") ||
         field(field(old_node, "status"), "allocatable") != field(field(new_node, "status"), "allocatable") ||
         node_ready(old_node) != node_ready(new_node);
}

// A pending pod changed in a way that may change where it fits (upstream
// isPodUpdated: everything but status and bookkeeping metadata).
bool pod_spec_changed(const json& old_pod, const json& new_pod) {
  const json& a = field(old_pod, "metadata");
  const json& b = field(new_pod, "metadata");
  return field(old_pod, "spec") != field(new_pod, "spec") || field(a, "labels") != field(b, "labels") ||
         field(a, "annotations") != field(b, "annotations");
}

std::string pod_name(const json& pod) {
  return string_field(field(pod, "metadata"), "name");
}
std::string pod_namespace(const json& pod) {
  return string_field(field(pod, "metadata"), "namespace");
}

net::ServerResponse text_response(unsigned status, std::string body, std::string content_type) {
  net::ServerResponse response;
  response.status = status;
  response.content_type = std::move(content_type);
  response.body = std::move(body);
  return response;
}

}  // namespace

Status validate(const Options& options) {
  if (options.master.empty())
    return make_error(ErrorCode::kInvalidArgument, "--master: at least one API server URL is required");
  for (const auto& url : options.master) {
    if (!net::parse_endpoint(url))
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("--master: '{}' is not an http:// URL", url));
  }
  if (!is_loopback(options.bind_address))
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--bind-address: '{}' is not a loopback IPv4 address (127.0.0.0/8)",
                                  options.bind_address));
  if (options.leader_elect) {
    client::LeaderElectionConfig config;
    config.identity = "validate";
    config.lease_duration = options.lease_duration;
    config.renew_deadline = options.renew_deadline;
    config.retry_period = options.retry_period;
    if (auto valid = client::validate(config); !valid)
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("--leader-elect-*: {}", valid.error().message));
  }
  if (options.pod_initial_backoff.count() <= 0 || options.pod_max_backoff < options.pod_initial_backoff)
    return make_error(ErrorCode::kInvalidArgument,
                      "--pod-initial-backoff must be positive and not above --pod-max-backoff");
  if (options.pod_max_in_unschedulable.count() <= 0)
    return make_error(ErrorCode::kInvalidArgument,
                      "--pod-max-in-unschedulable-pods-duration must be positive");
  return {};
}

namespace {

QueueOptions queue_options(const Options& options) {
  QueueOptions queue;
  queue.initial_backoff = options.pod_initial_backoff;
  queue.max_backoff = options.pod_max_backoff;
  queue.max_in_unschedulable = options.pod_max_in_unschedulable;
  return queue;
}

client::Config client_config(const Options& options, Millis request_timeout) {
  return client::component_config(options.master, options.token, request_timeout, "shakeout-scheduler");
}

}  // namespace

Scheduler::Scheduler(asio::any_io_executor executor, Options options, client::Timers& timers,
                     client::Random& random)
    : executor_(executor),
      options_(std::move(options)),
      timers_(timers),
      random_(random),
      queue_(queue_options(options_), timers.clock()),
      wake_(executor) {
  if (options_.identity.empty()) options_.identity = default_identity();
  client_ = std::make_unique<client::Client>(executor, client_config(options_, options_.request_timeout));
  // Lock calls must end well inside renew_deadline, across every server
  // (leader_election.h); upstream gives the lock client renewDeadline/2.
  const auto servers = static_cast<int64_t>(options_.master.size());
  const Millis lease_timeout =
      std::max(Millis(50), options_.renew_deadline / (2 * std::max<int64_t>(1, servers)));
  lease_client_ = std::make_unique<client::Client>(executor, client_config(options_, lease_timeout));

  client::InformerOptions informer;
  informer.backoff.initial = std::min(Millis(800), options_.retry_period);
  informer.backoff.cap = std::max(informer.backoff.initial, std::min(Millis(30000), options_.lease_duration));
  pods_ = std::make_unique<client::Informer>(*client_, pods_resource(), informer, timers_, random_);
  nodes_ = std::make_unique<client::Informer>(*client_, nodes_resource(), informer, timers_, random_);
  watch_pods();
  watch_nodes();

  metrics_ = std::make_unique<SchedulerMetrics>();
  net::HttpServerConfig http;
  http.address = options_.bind_address;
  http.port = options_.port;
  http.stop_grace = Millis(1000);
  http_ = std::make_unique<net::HttpServer>(
      executor, http,
      [this](net::ServerRequest& request, net::ResponseWriter& writer) { return handle(request, writer); });

  if (options_.leader_elect) {
    lock_ = std::make_unique<client::ClientLeaseLock>(*lease_client_, options_.lock_namespace,
                                                      options_.lock_name);
    client::LeaderElectionConfig config;
    config.identity = options_.identity;
    config.lease_duration = options_.lease_duration;
    config.renew_deadline = options_.renew_deadline;
    config.retry_period = options_.retry_period;
    config.release_on_cancel = true;
    config.on_started_leading = [this] {
      log::info(kLog, "{}: leading; scheduling", options_.identity);
      leading_ = true;
      metrics_->set_leader(true);
      wake();
    };
    config.on_stopped_leading = [this] {
      leading_ = false;
      metrics_->set_leader(false);
      wake();
    };
    config.on_new_leader = [this](const std::string& identity) {
      if (identity != options_.identity)
        log::info(kLog, "{}: the leader is now '{}'", options_.identity, identity);
    };
    elector_ = std::make_unique<client::LeaderElector>(executor, std::move(config), *lock_, timers_, random_);
  }
}

Scheduler::~Scheduler() = default;

Status Scheduler::start() {
  return http_->start();
}

uint16_t Scheduler::port() const {
  return http_->port();
}

bool Scheduler::responsible_for(const json& pod) const {
  const json& spec = field(pod, "spec");
  const std::string name = string_field(spec, "schedulerName");
  return (name.empty() || name == kDefaultSchedulerName) && string_field(spec, "nodeName").empty() &&
         field(field(pod, "metadata"), "deletionTimestamp").is_null() && !pod_terminal(pod);
}

void Scheduler::watch_pods() {
  client::EventHandlers handlers;
  handlers.on_add = [this](const json& pod) {
    if (!string_field(field(pod, "spec"), "nodeName").empty()) {
      cache_.update_pod(pod);
    } else if (responsible_for(pod)) {
      queue_.add(client::object_key(pod), priority_of(pod));
      wake();
    }
  };
  handlers.on_update = [this](const json& old_pod, const json& pod) {
    const std::string key = client::object_key(pod);
    const bool was_bound = !string_field(field(old_pod, "spec"), "nodeName").empty();
    if (!string_field(field(pod, "spec"), "nodeName").empty()) {
      queue_.remove(key);
      cache_.update_pod(pod);
      // A pod that finished frees its node (upstream: AssignedPodDelete).
      if (pod_terminal(pod) && !pod_terminal(old_pod)) {
        queue_.move_all();
        wake();
      }
      return;
    }
    if (was_bound) cache_.remove_pod(key);
    cache_.update_pod(pod);  // keeps an assumed copy, drops anything else
    if (!responsible_for(pod)) {
      queue_.remove(key);
      return;
    }
    if (!queue_.contains(key)) {
      queue_.add(key, priority_of(pod));
      wake();
    } else if (pod_spec_changed(old_pod, pod)) {
      queue_.update(key, priority_of(pod));
      wake();
    }
  };
  handlers.on_delete = [this](const json& pod, bool) {
    const std::string key = client::object_key(pod);
    const bool held_node = !string_field(field(pod, "spec"), "nodeName").empty() || cache_.assumed(key);
    queue_.remove(key);
    cache_.remove_pod(key);
    events_.erase(key);
    if (held_node) {
      queue_.move_all();
      wake();
    }
  };
  pods_->add_handlers(std::move(handlers));
}

void Scheduler::watch_nodes() {
  client::EventHandlers handlers;
  handlers.on_add = [this](const json&) {
    queue_.move_all();
    wake();
  };
  handlers.on_update = [this](const json& old_node, const json& node) {
    if (!node_scheduling_changed(old_node, node)) return;
    queue_.move_all();
    wake();
  };
  nodes_->add_handlers(std::move(handlers));
}

void Scheduler::wake() {
  wake_.cancel();
}

void Scheduler::update_metrics() {
  metrics_->set_pending(static_cast<double>(queue_.active_size()), static_cast<double>(queue_.backoff_size()),
                        static_cast<double>(queue_.unschedulable_size()));
}

void Scheduler::spawn(asio::awaitable<void> task) {
  ++tasks_;
  asio::co_spawn(executor_, std::move(task), [this](const std::exception_ptr& error) {
    --tasks_;
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        log::error(kLog, "task failed: {}", e.what());
      }
    }
  });
}

asio::awaitable<void> Scheduler::drain() {
  asio::steady_timer pause(executor_);
  while (tasks_ > 0) {
    pause.expires_after(Millis(10));
    boost::system::error_code ignored;
    co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
}

asio::awaitable<void> Scheduler::run_informer(client::Informer* informer) {
  co_await informer->run();
}

asio::awaitable<void> Scheduler::wait_for_work(std::optional<SteadyTime> due) {
  if (due) {
    const auto wait =
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(*due - timers_.clock().now());
    wake_.expires_after(std::max(wait, std::chrono::steady_clock::duration(Millis(1))));
  } else {
    wake_.expires_at(std::chrono::steady_clock::time_point::max());
  }
  boost::system::error_code ignored;
  co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
}

asio::awaitable<void> Scheduler::schedule_loop() {
  while (!stopping_) {
    update_metrics();
    if (!leading_ || !pods_->has_synced() || !nodes_->has_synced()) {
      // Informer sync is not an event: look again shortly.
      const bool synced = pods_->has_synced() && nodes_->has_synced();
      std::optional<SteadyTime> due;
      if (!synced) due = timers_.clock().now() + Millis(20);
      co_await wait_for_work(due);
      continue;
    }
    auto key = queue_.pop();
    if (!key) {
      co_await wait_for_work(queue_.next_due());
      continue;
    }
    schedule_one(*key);
    // Let informer events and bindings in between two decisions.
    co_await asio::post(executor_, asio::use_awaitable);
  }
  update_metrics();
}

void Scheduler::schedule_one(const std::string& key) {
  const SteadyTime started = timers_.clock().now();
  const json* stored = pods_->store().get(key);
  if (stored == nullptr || !responsible_for(*stored)) {
    queue_.done(key);
    return;
  }
  json pod = *stored;
  const std::vector<json> nodes = nodes_->store().list();
  const auto infos = cache_.snapshot(nodes);
  const Decision decision = schedule_pod(pod, infos, random_);
  if (decision.node.empty()) {
    const std::string message = decision.message();
    log::info(kLog, "{}: unschedulable: {}", key, message);
    queue_.add_unschedulable(key);
    const std::chrono::duration<double> took = timers_.clock().now() - started;
    metrics_->observe_attempt("unschedulable", took.count());
    spawn(record_failure(std::move(pod), message));
    return;
  }
  PodInfo assumed = make_pod_info(pod);
  assumed.node_name = decision.node;
  cache_.assume(std::move(assumed));
  spawn(bind(std::move(pod), decision.node, started));
}

asio::awaitable<void> Scheduler::bind(json pod, std::string node, SteadyTime started) {
  const std::string ns = pod_namespace(pod);
  const std::string name = pod_name(pod);
  const std::string key = ns + "/" + name;
  json binding = json::object();
  binding["apiVersion"] = "v1";
  binding["kind"] = "Binding";
  binding["metadata"]["name"] = name;
  binding["metadata"]["namespace"] = ns;
  binding["metadata"]["uid"] = string_field(field(pod, "metadata"), "uid");
  binding["target"]["apiVersion"] = "v1";
  binding["target"]["kind"] = "Node";
  binding["target"]["name"] = node;
  auto bound = co_await client_->create_subresource(pods_resource(), ns, name, "binding", std::move(binding));
  const std::chrono::duration<double> took = timers_.clock().now() - started;
  if (bound) {
    log::info(kLog, "{}: bound to {}", key, node);
    queue_.done(key);
    metrics_->observe_attempt("scheduled", took.count());
    co_return;
  }
  cache_.forget(key);
  const auto& error = bound.error();
  metrics_->observe_attempt("error", took.count());
  if (client::is_not_found(error) || client::is_conflict(error)) {
    // Gone, being deleted or already bound: the informer will say which.
    log::info(kLog, "{}: not bound to {}: {}", key, node, error.message());
    queue_.done(key);
  } else {
    log::warn(kLog, "{}: binding to {} failed: {}", key, node, error.message());
    queue_.add_backoff(key);
  }
  // The assumed pod no longer holds the node: others may fit now.
  queue_.move_all();
  wake();
}

asio::awaitable<void> Scheduler::record_failure(json pod, std::string message) {
  co_await record_event(pod, message);
  co_await update_condition(pod, message);
}

asio::awaitable<void> Scheduler::record_event(const json& pod, const std::string& message) {
  const std::string ns = pod_namespace(pod);
  const std::string name = pod_name(pod);
  const std::string key = ns + "/" + name;
  const auto wall = timers_.clock().wall_now();
  const std::string now = api::format_timestamp(wall);
  auto previous = events_.find(key);
  if (previous != events_.end() && previous->second.message == message) {
    // The same failure again: count it in the Event already recorded.
    RecordedEvent& recorded = previous->second;
    json patch = json::object();
    patch["count"] = recorded.count + 1;
    patch["lastTimestamp"] = now;
    auto patched = co_await client_->patch(events_resource(), ns, recorded.name,
                                           client::PatchType::kMergePatch, patch.dump(), "");
    if (patched) {
      recorded.count += 1;
      co_return;
    }
    if (!client::is_not_found(patched.error())) {
      log::warn(kLog, "{}: counting event {}: {}", key, recorded.name, patched.error().message());
      co_return;
    }
    // The Event expired or was deleted: record a new one.
  }
  api::EventText text;
  text.type = "Warning";
  text.reason = "FailedScheduling";
  text.message = message;
  text.action = "Scheduling";
  api::EventSource source;
  source.component = kDefaultSchedulerName;
  source.instance = options_.identity;
  json event = api::make_event(pod, "v1", "Pod", text, source, wall);
  auto created = co_await client_->create(events_resource(), ns, event);
  if (!created) {
    log::warn(kLog, "{}: recording FailedScheduling: {}", key, created.error().message());
    co_return;
  }
  RecordedEvent recorded;
  recorded.name = event["metadata"]["name"].get<std::string>();
  recorded.message = message;
  recorded.count = 1;
  events_[key] = recorded;
}

asio::awaitable<void> Scheduler::update_condition(const json& pod, const std::string& message) {
  // Upstream schedule_one.go updatePod: only when the condition changes.
  const json& conditions = field(field(pod, "status"), "conditions");
  if (conditions.is_array()) {
    for (const auto& condition : conditions) {
      if (string_field(condition, "type") == "PodScheduled" && string_field(condition, "status") == "False" &&
          string_field(condition, "reason") == "Unschedulable" &&
          string_field(condition, "message") == message)
        co_return;
    }
  }
  json condition = json::object();
  condition["type"] = "PodScheduled";
  condition["status"] = "False";
  condition["reason"] = "Unschedulable";
  condition["message"] = message;
  condition["lastProbeTime"] = nullptr;
  condition["lastTransitionTime"] = api::format_timestamp(timers_.clock().wall_now());
  json patch = json::object();
  patch["status"]["conditions"] = json::array();
  patch["status"]["conditions"].push_back(condition);
  auto patched = co_await client_->patch(pods_resource(), pod_namespace(pod), pod_name(pod),
                                         client::PatchType::kStrategicMergePatch, patch.dump(), "status");
  if (!patched && !client::is_not_found(patched.error()))
    log::warn(kLog, "{}/{}: setting PodScheduled: {}", pod_namespace(pod), pod_name(pod),
              patched.error().message());
}

asio::awaitable<void> Scheduler::handle(net::ServerRequest& request, net::ResponseWriter& writer) {
  const bool read = request.method == "GET" || request.method == "HEAD";
  if (read && (request.path == "/healthz" || request.path == "/livez" || request.path == "/readyz")) {
    co_await writer.send(text_response(200, "ok", "text/plain; charset=utf-8"));
    co_return;
  }
  if (read && request.path == "/metrics") {
    update_metrics();
    co_await writer.send(
        text_response(200, metrics_->serialize(), "text/plain; version=0.0.4; charset=utf-8"));
    co_return;
  }
  co_await writer.send(text_response(404, "404 page not found\n", "text/plain; charset=utf-8"));
}

asio::awaitable<int> Scheduler::run() {
  log::info(kLog, "{}: starting (API {}, leader election {})", options_.identity,
            fmt::join(options_.master, ","), options_.leader_elect ? "on" : "off");
  spawn(run_informer(pods_.get()));
  spawn(run_informer(nodes_.get()));
  // The loop is not a task: drain() waits for it separately, after it stopped.
  bool loop_done = false;
  asio::co_spawn(executor_, schedule_loop(), [&loop_done](const std::exception_ptr& error) {
    loop_done = true;
    if (error) std::rethrow_exception(error);
  });
  int code = 0;
  if (elector_) {
    co_await elector_->run();  // returns when stopped (Lease released) or leadership is lost
    if (!stopping_) {
      log::error(kLog, "{}: leader election lost", options_.identity);
      code = 1;
    }
  } else {
    leading_ = true;
    metrics_->set_leader(true);
    wake();
    stop_wait_ =
        std::make_unique<asio::steady_timer>(executor_, std::chrono::steady_clock::time_point::max());
    boost::system::error_code ignored;
    co_await stop_wait_->async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  stopping_ = true;
  leading_ = false;
  wake();
  pods_->stop();
  nodes_->stop();
  asio::steady_timer pause(executor_);
  while (!loop_done) {
    pause.expires_after(Millis(5));
    boost::system::error_code ignored;
    co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  co_await drain();
  co_await http_->stop();
  co_return code;
}

void Scheduler::stop() {
  if (stopping_) return;
  stopping_ = true;
  if (elector_) elector_->stop();
  if (stop_wait_) stop_wait_->cancel();
  wake();
}

int run(const Options& options) {
  asio::io_context io;
  std::random_device device;
  client::SeededRandom random((static_cast<uint64_t>(device()) << 32) ^ device());
  Scheduler scheduler(io.get_executor(), options, client::real_timers(), random);
  if (auto started = scheduler.start(); !started) {
    log::error(kLog, "cannot serve on {}:{}: {}", options.bind_address, options.port,
               started.error().message);
    return 2;
  }
  log::info(kLog, "serving /healthz and /metrics on {}:{}", options.bind_address, scheduler.port());
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&scheduler](const boost::system::error_code& error, int) {
    if (!error) scheduler.stop();
  });
  const int code = run_blocking(io, scheduler.run());
  signals.cancel();
  return code;
}

}  // namespace shakeout::scheduler
