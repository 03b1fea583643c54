#include "probes/pod_tracker.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "api/resource_registry.h"

namespace shakeout::probes {
namespace {

using json = nlohmann::json;
using metrics::PodEvent;

const api::ResourceInfo& resource(const char* group, const char* plural) {
  return *api::ResourceRegistry::builtin().by_plural(group, plural);
}

client::InformerOptions all_namespaces() {
  client::InformerOptions options;
  options.backoff.initial = Millis(100);  // the cluster's apiserver may be the one faulted
  options.backoff.cap = Millis(1000);
  return options;
}

// What of a pod the control loops change, compared across updates.
struct PodState {
  bool bound = false;
  bool running = false;
  int64_t restarts = 0;
  bool ready = false;
  bool terminating = false;
};

PodState state_of(const json& pod) {
  PodState state;
  state.bound = !pod["spec"].value("nodeName", "").empty();
  state.terminating = pod["metadata"].contains("deletionTimestamp");
  const json& status = pod["status"];
  const json& containers = status.value("containerStatuses", json::array());
  state.running = !containers.empty();
  for (const auto& container : containers) {
    state.running = state.running && container.contains("state") && container["state"].contains("running");
    state.restarts += container.value("restartCount", int64_t{0});
  }
  for (const auto& condition : status.value("conditions", json::array()))
    if (condition.value("type", "") == "Ready") state.ready = condition.value("status", "") == "True";
  return state;
}

}  // namespace

PodTracker::PodTracker(boost::asio::any_io_executor executor, client::Config api, const Clock& clock)
    : clock_(clock),
      client_(std::move(executor), std::move(api)),
      pods_(client_, resource("", "pods"), all_namespaces(), client::real_timers(), random_),
      slices_(client_, resource("discovery.k8s.io", "endpointslices"), all_namespaces(),
              client::real_timers(), random_) {
  client::EventHandlers pod_handlers;
  pod_handlers.on_add = [this](const json& pod) { pod_changed(nullptr, pod); };
  pod_handlers.on_update = [this](const json& old_pod, const json& pod) { pod_changed(&old_pod, pod); };
  pod_handlers.on_delete = [this](const json& pod, bool) {
    record(client::object_key(pod), PodEvent::kDeleted);
  };
  pods_.add_handlers(std::move(pod_handlers));
  client::EventHandlers slice_handlers;
  slice_handlers.on_add = [this](const json& slice) { slice_changed({}, ready_endpoints(slice)); };
  slice_handlers.on_update = [this](const json& old_slice, const json& slice) {
    slice_changed(ready_endpoints(old_slice), ready_endpoints(slice));
  };
  slice_handlers.on_delete = [this](const json& slice, bool) { slice_changed(ready_endpoints(slice), {}); };
  slices_.add_handlers(std::move(slice_handlers));
}

PodTracker::~PodTracker() = default;

boost::asio::awaitable<void> run_both(client::Informer& first, client::Informer& second) {
  auto executor = co_await boost::asio::this_coro::executor;
  bool second_done = false;
  boost::asio::co_spawn(executor, second.run(),
                        [&second_done](const std::exception_ptr&) { second_done = true; });
  co_await first.run();
  boost::asio::steady_timer wait(executor);
  while (!second_done) {
    wait.expires_after(Millis(5));
    boost::system::error_code ignored;
    co_await wait.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
  }
}

boost::asio::awaitable<void> PodTracker::run() {
  co_await run_both(pods_, slices_);
}

void PodTracker::stop() {
  pods_.stop();
  slices_.stop();
}

void PodTracker::record(const std::string& key, PodEvent event) {
  timelines_[key].events.emplace_back(clock_.now(), event);
}

void PodTracker::pod_changed(const json* old_pod, const json& pod) {
  const std::string key = client::object_key(pod);
  const PodState now = state_of(pod);
  PodState before;
  if (old_pod == nullptr) {
    record(key, PodEvent::kAdded);
  } else {
    before = state_of(*old_pod);
  }
  if (now.bound && !before.bound) record(key, PodEvent::kBound);
  if (now.running && before.running && now.restarts > before.restarts) {
    // Restarted between two updates: it stopped and ran again.
    record(key, PodEvent::kNotRunning);
    record(key, PodEvent::kRunning);
  } else if (now.running != before.running && (old_pod != nullptr || now.running)) {
    record(key, now.running ? PodEvent::kRunning : PodEvent::kNotRunning);
  }
  if (now.ready != before.ready && (old_pod != nullptr || now.ready))
    record(key, now.ready ? PodEvent::kReady : PodEvent::kNotReady);
  if (now.terminating && !before.terminating) record(key, PodEvent::kTerminating);
}

std::set<std::string> PodTracker::ready_endpoints(const json& slice) {
  std::set<std::string> ready;
  for (const auto& endpoint : slice.value("endpoints", json::array())) {
    const json& ref = endpoint.value("targetRef", json::object());
    if (ref.value("kind", "") != "Pod") continue;
    const json& conditions = endpoint.value("conditions", json::object());
    if (!conditions.value("ready", true)) continue;
    ready.insert(ref.value("namespace", slice["metadata"].value("namespace", "")) + "/" +
                 ref.value("name", ""));
  }
  return ready;
}

void PodTracker::slice_changed(const std::set<std::string>& before, const std::set<std::string>& after) {
  for (const auto& pod : after)
    if (!before.contains(pod)) record(pod, PodEvent::kInEndpoints);
  for (const auto& pod : before)
    if (!after.contains(pod)) record(pod, PodEvent::kOutOfEndpoints);
}

}  // namespace shakeout::probes
