#include "probes/probe.h"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <optional>

#include "api/resource_registry.h"
#include "api/selector.h"
#include "client/informer.h"
#include "client/timers.h"
#include "etcd/client.h"
#include "net/http_client.h"
#include "probes/pod_tracker.h"
#include "runtime/runtime_service.h"

namespace shakeout::probes {
namespace {

using experiment::ProbeKind;
using json = nlohmann::json;

const api::ResourceInfo& resource(const char* group, const char* plural) {
  return *api::ResourceRegistry::builtin().by_plural(group, plural);
}

double ms_since(const Clock& clock, SteadyTime start) {
  return std::chrono::duration<double, std::milli>(clock.now() - start).count();
}

// The kind of a failed exchange, for error counts: bounded, never per pod.
std::string error_kind(const Error& error) {
  switch (error.code) {
    case ErrorCode::kTimeout:
      return "timeout";
    case ErrorCode::kUnavailable:
      return error.message.find("refused") != std::string::npos ? "refused" : "unavailable";
    default:
      return to_string(error.code);
  }
}

// "app=web,tier=front" from a LabelSelector's matchLabels.
std::string match_labels(const json& selector) {
  std::string out;
  const json labels = selector.value("matchLabels", json::object());
  for (const auto& [key, value] : labels.items())
    out += (out.empty() ? "" : ",") + key + "=" + value.get<std::string>();
  return out;
}

int64_t count_ready(const std::vector<json>& pods) {
  int64_t ready = 0;
  for (const auto& pod : pods) {
    if (pod["metadata"].contains("deletionTimestamp")) continue;
    const json conditions = pod.value("status", json::object()).value("conditions", json::array());
    for (const auto& condition : conditions)
      if (condition.value("type", "") == "Ready" && condition.value("status", "") == "True") ++ready;
  }
  return ready;
}

// One GET on a fresh connection (kube-proxy balances per connection), with
// no HTTP library: a fixed HTTP/1.1 request with Connection: close, the
// answer read until the server closes, only its status line parsed. At 200
// samples/s this keeps the harness's CPU within bench/run.py's 5% target,
// which net::HttpClient's general machinery did not.
struct RawGet {
  explicit RawGet(const asio::any_io_executor& executor) : socket(executor), deadline(executor) {}
  asio::ip::tcp::socket socket;
  asio::steady_timer deadline;
  bool timed_out = false;
};

std::string status_error(const std::string& head, bool& ok) {
  // "HTTP/1.1 200 OK"
  ok = false;
  if (head.empty()) return "closed";  // accepted, then closed without an answer (a dying pod)
  if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0) return "bad response";
  const int code = std::atoi(head.c_str() + 9);
  if (code >= 200 && code < 400) {
    ok = true;
    return "";
  }
  return fmt::format("http {}", code);
}

// The answer's first kHeadBytes (status line, headers and, for small
// answers, the body) go to *head when it is not null.
constexpr size_t kHeadBytes = 512;

asio::awaitable<metrics::Sample> raw_get(asio::any_io_executor executor, net::Endpoint endpoint,
                                         std::string request, Millis timeout, std::string* head_out) {
  metrics::Sample sample;
  auto state = std::make_shared<RawGet>(executor);
  state->deadline.expires_after(timeout);
  state->deadline.async_wait([state](const boost::system::error_code& ec) {
    if (ec) return;
    state->timed_out = true;
    boost::system::error_code ignored;
    state->socket.close(ignored);
  });
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(endpoint.host, ec);
  if (ec) {
    sample.error = "bad address";
    co_return sample;
  }
  co_await state->socket.async_connect(asio::ip::tcp::endpoint(address, endpoint.port),
                                       asio::redirect_error(asio::use_awaitable, ec));
  if (!ec)
    co_await asio::async_write(state->socket, asio::buffer(request),
                               asio::redirect_error(asio::use_awaitable, ec));
  std::string head;
  std::array<char, 4096> buffer{};
  bool done = static_cast<bool>(ec);
  while (!done) {
    const size_t n = co_await state->socket.async_read_some(asio::buffer(buffer),
                                                            asio::redirect_error(asio::use_awaitable, ec));
    if (head.size() < kHeadBytes) head.append(buffer.data(), std::min<size_t>(n, kHeadBytes - head.size()));
    done = static_cast<bool>(ec);
  }
  state->deadline.cancel();
  if (state->timed_out) {
    sample.error = "timeout";
  } else if (ec && ec != asio::error::eof) {
    sample.error = ec == asio::error::connection_refused ? "refused"
                   : ec == asio::error::connection_reset ? "reset"
                                                         : "unavailable";
  } else {
    bool ok = false;
    sample.error = status_error(head, ok);
    sample.ok = ok;
  }
  if (head_out != nullptr) *head_out = std::move(head);
  co_return sample;
}

// The pod named in shakeout-app's answer ({"pod":"web-1",...}); "" if none.
std::string answering_pod(const std::string& head) {
  constexpr std::string_view kKey = "\"pod\":\"";
  const auto start = head.find(kKey);
  if (start == std::string::npos) return "";
  const auto end = head.find('"', start + kKey.size());
  if (end == std::string::npos) return "";
  return head.substr(start + kKey.size(), end - start - kKey.size());
}

class HttpGetProbe : public Probe {
 public:
  using Probe::Probe;

 protected:
  asio::awaitable<metrics::Sample> get(net::Endpoint endpoint, std::string target, std::string* head) {
    const SteadyTime start = context_.clock->now();
    std::string request = fmt::format(
        "GET {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: shakeout-probe\r\nConnection: close\r\n\r\n", target,
        endpoint.host, endpoint.port);
    metrics::Sample sample =
        co_await raw_get(context_.executor, std::move(endpoint), std::move(request), spec_.timeout, head);
    sample.latency_ms = ms_since(*context_.clock, start);
    co_return sample;
  }
};

class ServiceProbe final : public HttpGetProbe {
 public:
  using HttpGetProbe::HttpGetProbe;

  asio::awaitable<Status> prepare() override {
    client::Client api(context_.executor, context_.api);
    auto service = co_await api.get(resource("", "services"), spec_.ns, spec_.service);
    if (!service.ok())
      co_return make_error(ErrorCode::kInvalidArgument,
                           fmt::format("probe {}: Service {}/{}: {}", spec_.name, spec_.ns, spec_.service,
                                       service.error().status.value("message", "not found")));
    const json& ports = (*service)["spec"]["ports"];
    if (!ports.is_array() || ports.empty() || !ports[0].contains("nodePort"))
      co_return make_error(ErrorCode::kInvalidArgument,
                           fmt::format("probe {}: Service {}/{} has no NodePort (use type: NodePort)",
                                       spec_.name, spec_.ns, spec_.service));
    node_port_ = ports[0].value("nodePort", 0);
    co_return Status{};
  }

  std::vector<net::Endpoint> destinations() const override {
    std::vector<net::Endpoint> nodes;
    for (const auto& ip : context_.node_ips) {
      net::Endpoint endpoint;
      endpoint.host = ip;
      endpoint.port = static_cast<uint16_t>(node_port_);
      nodes.push_back(std::move(endpoint));
    }
    return nodes;
  }
  void send_through(std::vector<net::Endpoint> routes) override { routes_ = std::move(routes); }

 protected:
  asio::awaitable<metrics::Sample> sample_once() override {
    const size_t k = next_node_++ % context_.node_ips.size();
    net::Endpoint endpoint;
    if (k < routes_.size()) {
      endpoint = routes_[k];
    } else {
      endpoint.host = context_.node_ips[k];
      endpoint.port = static_cast<uint16_t>(node_port_);
    }
    std::string head;
    metrics::Sample sample = co_await get(std::move(endpoint), spec_.path, &head);
    if (sample.ok)
      if (std::string pod = answering_pod(head); !pod.empty())
        answers_[spec_.ns + "/" + pod].push_back(context_.clock->now());
    co_return sample;
  }

 public:
  const std::map<std::string, std::vector<SteadyTime>>* answers_by_pod() const override { return &answers_; }

 private:
  std::map<std::string, std::vector<SteadyTime>> answers_;
  std::vector<net::Endpoint> routes_;  // by node; empty: straight to the NodePorts
  int node_port_ = 0;
  size_t next_node_ = 0;
};

class UrlProbe final : public HttpGetProbe {
 public:
  using HttpGetProbe::HttpGetProbe;

  asio::awaitable<Status> prepare() override {
    auto endpoint = net::parse_endpoint(spec_.url);
    if (!endpoint.ok())
      co_return make_error(ErrorCode::kInvalidArgument, fmt::format("probe {}: url {}: {}", spec_.name,
                                                                    spec_.url, endpoint.error().message));
    endpoint_ = *endpoint;
    const auto scheme_end = spec_.url.find("://");
    const auto path_start = spec_.url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
    target_ = path_start == std::string::npos ? "/" : spec_.url.substr(path_start);
    co_return Status{};
  }

 protected:
  asio::awaitable<metrics::Sample> sample_once() override {
    co_return co_await get(endpoint_, target_, nullptr);
  }

 private:
  net::Endpoint endpoint_;
  std::string target_;
};

class ReplicasProbe final : public Probe {
 public:
  ReplicasProbe(experiment::ProbeSpec spec, ProbeContext context)
      : Probe(std::move(spec), std::move(context)),
        api_(context_.executor, request_timeout(spec_, context_)) {}

 protected:
  static client::Config request_timeout(const experiment::ProbeSpec& spec, const ProbeContext& context) {
    // The probe's timeout (1 s by default) for the lists behind the watches.
    client::Config config = context.api;
    config.request_timeout = std::max(spec.timeout, context.state_period * 4);
    return config;
  }
  bool concurrent() const override { return false; }

  asio::awaitable<Status> prepare() override {
    auto deployment = co_await api_.get(resource("apps", "deployments"), spec_.ns, spec_.deployment);
    if (!deployment.ok())
      co_return make_error(
          ErrorCode::kInvalidArgument,
          fmt::format("probe {}: Deployment {}/{}: {}", spec_.name, spec_.ns, spec_.deployment,
                      deployment.error().status.value("message", "not found")));
    selector_ = match_labels((*deployment)["spec"]["selector"]);
    make_informers(selector_);
    co_return Status{};
  }

 public:
  std::unique_ptr<Probe> ground_truth() override;

  // spec.replicas from the watch; none before it synced.
  std::optional<int64_t> desired() const {
    if (!deployments_ || !deployments_->has_synced()) return std::nullopt;
    const json* deployment = deployments_->store().get(spec_.ns, spec_.deployment);
    if (deployment == nullptr) return std::nullopt;
    return (*deployment)["spec"].value("replicas", int64_t{1});
  }

 protected:
  asio::awaitable<void> background() override {
    if (pods_) co_await run_both(*pods_, *deployments_);  // else not prepared
  }
  void on_stop() override {
    if (pods_) pods_->stop();
    if (deployments_) deployments_->stop();
  }

  // The state the caches hold now; "api unavailable" (no sample) before
  // both synced.
  asio::awaitable<metrics::Sample> sample_once() override { co_return current(); }

 private:
  void make_informers(const std::string& selector) {
    client::InformerOptions pods;
    pods.ns = spec_.ns;
    pods.label_selector = selector;
    pods.backoff.initial = Millis(100);  // the apiserver may be the one faulted
    pods.backoff.cap = Millis(1000);
    client::InformerOptions deployments = pods;
    deployments.label_selector.clear();
    pods_ =
        std::make_unique<client::Informer>(api_, resource("", "pods"), pods, client::real_timers(), random_);
    deployments_ = std::make_unique<client::Informer>(api_, resource("apps", "deployments"), deployments,
                                                      client::real_timers(), random_);
    client::EventHandlers changed;
    changed.on_add = [this](const json&) { on_event(); };
    changed.on_update = [this](const json&, const json&) { on_event(); };
    changed.on_delete = [this](const json&, bool) { on_event(); };
    pods_->add_handlers(changed);
    deployments_->add_handlers(changed);
  }

  // desired = the Deployment's spec.replicas; ready = its pods (by its
  // selector) whose Ready condition is True and that are not terminating.
  // The pods' conditions come from the kubelets, so this holds while the
  // controllers that maintain the Deployment's status are down.
  metrics::Sample current() const {
    metrics::Sample sample;
    sample.error = "api unavailable";  // the caller keeps the last state
    const auto wanted = desired();
    if (!pods_ || !pods_->has_synced() || !wanted) return sample;
    const int64_t ready = count_ready(pods_->store().list());
    sample.ok = ready >= *wanted;
    sample.error = sample.ok ? "" : "not all ready";
    return sample;
  }

  // A watch event: a sample now if it changed the outcome.
  void on_event() {
    metrics::Sample sample = current();
    if (sample.error == "api unavailable") return;
    if (last_ && last_->ok == sample.ok) return;
    last_ = sample;
    push_sample(std::move(sample));
  }

  client::Client api_;
  client::SeededRandom random_{1};
  std::string selector_;
  std::unique_ptr<client::Informer> pods_;
  std::unique_ptr<client::Informer> deployments_;
  std::optional<metrics::Sample> last_;
};

// A replicas probe's ground truth (probe "<name>/runtime"): the Deployment's
// pods whose containers all run, from every node's runtime (its process
// table: it reaps its children, so an exit shows within milliseconds),
// matched by the sandbox labels the kubelet passed (the pods' labels)
// against the Deployment's selector, so it needs no API view of the pods.
// Desired is spec.replicas from the replicas probe's watch. Each sample asks
// every runtime in turn; one that does not answer in time (a paused node)
// keeps its last count, one that refuses (a crashed node, whose processes
// died with it) counts none.
class RuntimeReplicasProbe final : public Probe {
 public:
  RuntimeReplicasProbe(experiment::ProbeSpec spec, ProbeContext context, const ReplicasProbe& api_view,
                       api::LabelSelector selector)
      : Probe(std::move(spec), std::move(context)), api_view_(api_view), selector_(std::move(selector)) {
    spec_.name += experiment::kRuntimeViewSuffix;
    const Millis timeout = std::max(
        Millis(50), spec_.timeout / static_cast<int64_t>(std::max<size_t>(1, context_.node_ips.size())));
    for (const auto& ip : context_.node_ips) {
      Node node;
      node.runtime = runtime::make_runtime_client(
          context_.executor, fmt::format("http://{}:{}", ip, runtime::kRuntimePort), timeout);
      nodes_.push_back(std::move(node));
    }
  }

 protected:
  bool concurrent() const override { return false; }

  asio::awaitable<metrics::Sample> sample_once() override {
    for (auto& node : nodes_) co_await look(node);
    metrics::Sample sample;
    sample.error = "api unavailable";  // no desired count yet: keep the last state
    const auto wanted = api_view_.desired();
    if (!wanted) co_return sample;
    int64_t running = 0;
    for (const auto& node : nodes_) running += node.running;
    sample.ok = running >= *wanted;
    sample.error = sample.ok ? "" : "not all running";
    co_return sample;
  }

 private:
  struct Node {
    std::unique_ptr<runtime::RuntimeService> runtime;
    std::map<std::string, bool> ours;  // sandbox uid -> labels match the selector
    int64_t running = 0;
  };

  // One node's count of our pods with every container running.
  asio::awaitable<void> look(Node& node) {
    const std::string every_pod;
    auto containers = co_await node.runtime->list_containers(every_pod);
    if (!containers) {
      if (containers.error().code == ErrorCode::kUnavailable) node.running = 0;  // refused: the node is down
      co_return;
    }
    bool unknown = false;
    for (const auto& container : *containers) unknown = unknown || !node.ours.contains(container.pod_uid);
    if (unknown) {
      auto sandboxes = co_await node.runtime->list_sandboxes();
      if (!sandboxes) co_return;
      node.ours.clear();
      for (const auto& sandbox : *sandboxes)
        node.ours[sandbox.uid] = sandbox.ns == spec_.ns && selector_.matches(sandbox.labels);
    }
    node.running = count_running(*containers, node.ours);
  }

  // Pods (of `ours`) whose every container's latest attempt is running.
  static int64_t count_running(const std::vector<runtime::ContainerStatus>& containers,
                               const std::map<std::string, bool>& ours) {
    std::map<std::pair<std::string, std::string>, const runtime::ContainerStatus*> latest;
    for (const auto& container : containers) {
      const auto it = ours.find(container.pod_uid);
      if (it == ours.end() || !it->second) continue;
      auto& slot = latest[{container.pod_uid, container.name}];
      if (slot == nullptr || slot->attempt < container.attempt) slot = &container;
    }
    std::map<std::string, bool> all_running;
    for (const auto& [key, container] : latest) {
      auto [it, inserted] = all_running.emplace(key.first, true);
      it->second = it->second && container->state == runtime::ContainerState::kRunning;
    }
    return std::count_if(all_running.begin(), all_running.end(), [](const auto& pod) { return pod.second; });
  }

  const ReplicasProbe& api_view_;
  api::LabelSelector selector_;
  std::vector<Node> nodes_;
};

std::unique_ptr<Probe> ReplicasProbe::ground_truth() {
  auto selector = api::LabelSelector::parse(selector_);
  if (!selector) return nullptr;  // the Deployment's own selector: the apiserver validated it
  return std::make_unique<RuntimeReplicasProbe>(spec_, context_, *this, std::move(*selector));
}

class ApiProbe final : public Probe {
 public:
  ApiProbe(experiment::ProbeSpec spec, ProbeContext context)
      : Probe(std::move(spec), std::move(context)),
        http_(context_.executor),
        api_(context_.executor, single_try()) {}

  asio::awaitable<Status> prepare() override {
    for (size_t slot = 0; slot < kLeases; ++slot) {
      json lease;
      lease["apiVersion"] = "coordination.k8s.io/v1";
      lease["kind"] = "Lease";
      lease["metadata"]["name"] = lease_name(slot);
      lease["metadata"]["namespace"] = "default";
      lease["spec"]["holderIdentity"] = "shakeout-probe";
      auto created =
          co_await api_.create(resource("coordination.k8s.io", "leases"), "default", std::move(lease));
      if (!created.ok() && !client::is_already_exists(created.error()))
        co_return make_error(ErrorCode::kUnavailable,
                             fmt::format("probe {}: create Lease: {}", spec_.name,
                                         created.error().status.value("message", "failed")));
    }
    co_return Status{};
  }

 protected:
  client::Config single_try() const {
    client::Config config = context_.api;
    config.request_timeout = spec_.timeout;
    return config;
  }
  // Samples write the Leases in turn: ones that overlap (a slow apiserver or
  // etcd) do not conflict with each other, which would add retries of the
  // probe's own making to what it measures.
  static constexpr size_t kLeases = 16;
  std::string lease_name(size_t slot) const { return fmt::format("shakeout-probe-{}-{}", spec_.name, slot); }

  asio::awaitable<metrics::Sample> sample_once() override {
    const SteadyTime start = context_.clock->now();
    metrics::Sample sample;
    const net::Endpoint server = context_.api.servers[next_server_++ % context_.api.servers.size()];
    net::HttpRequest readyz;
    readyz.target = "/readyz";
    readyz.headers.emplace_back("Authorization", "Bearer " + context_.api.bearer_token);
    auto ready = co_await http_.request(server, std::move(readyz), spec_.timeout);
    if (!ready.ok()) {
      sample.error = error_kind(ready.error());
      co_return sample;
    }
    if (ready->status != 200) {
      sample.error = fmt::format("readyz {}", ready->status);
      co_return sample;
    }
    // The round trip: write one of the probe's Leases, then read it back.
    json patch;
    patch["metadata"]["annotations"]["shakeout/probe"] = fmt::format("{}", ++writes_);
    std::string body = patch.dump();
    const std::string lease = lease_name(writes_ % kLeases);
    auto written = co_await api_.patch(resource("coordination.k8s.io", "leases"), "default", lease,
                                       client::PatchType::kMergePatch, std::move(body), std::string());
    if (!written.ok()) {
      sample.error = fmt::format("write {}", written.error().code);
      co_return sample;
    }
    auto read = co_await api_.get(resource("coordination.k8s.io", "leases"), "default", lease);
    if (!read.ok()) {
      sample.error = fmt::format("read {}", read.error().code);
      co_return sample;
    }
    sample.ok = true;
    sample.latency_ms = ms_since(*context_.clock, start);
    co_return sample;
  }

 private:
  net::HttpClient http_;
  client::Client api_;
  size_t next_server_ = 0;
  uint64_t writes_ = 0;
};

class ExecProbe final : public Probe {
 public:
  using Probe::Probe;

  asio::awaitable<Status> prepare() override {
    if (context_.commands == nullptr)
      co_return make_error(ErrorCode::kInvalidArgument,
                           fmt::format("probe {}: exec probes need a process supervisor", spec_.name));
    co_return Status{};
  }

 protected:
  asio::awaitable<metrics::Sample> sample_once() override {
    metrics::Sample sample;
    const SteadyTime start = context_.clock->now();
    const std::string name = fmt::format("probe-{}-{}", spec_.name, ++runs_);
    cluster::ProcessSpec process;
    process.name = name;
    process.argv = spec_.command;
    process.env = context_.command_env;
    process.log_file = context_.log_dir / fmt::format("probe-{}.log", spec_.name);
    process.stop_grace = Millis(0);
    if (auto started = context_.commands->start(std::move(process)); !started) {
      sample.error = "not started";
      co_return sample;
    }
    // The timeout kills the command's process group; its exit ends the wait.
    auto deadline = std::make_shared<asio::steady_timer>(context_.executor, spec_.timeout);
    auto timed_out = std::make_shared<bool>(false);
    cluster::Supervisor* commands = context_.commands;
    deadline->async_wait([commands, name, timed_out](const boost::system::error_code& error) {
      if (error) return;
      *timed_out = true;
      (void)commands->kill(name, SIGKILL);
    });
    auto exited = co_await commands->wait_exit(name);
    deadline->cancel();
    (void)commands->forget(name);
    sample.latency_ms = ms_since(*context_.clock, start);
    if (*timed_out) {
      sample.error = "timeout";
    } else if (!exited.ok()) {
      sample.error = "lost";
    } else if (exited->signaled || exited->code != 0) {
      sample.error = exited->describe();
    } else {
      sample.ok = true;
    }
    co_return sample;
  }

 private:
  uint64_t runs_ = 0;
};

class EtcdProbe final : public Probe {
 public:
  EtcdProbe(experiment::ProbeSpec spec, ProbeContext context)
      : Probe(std::move(spec), std::move(context)), etcd_(context_.executor, etcd_config()) {}

 protected:
  etcd::Config etcd_config() const {
    etcd::Config config;
    config.endpoints = context_.etcd_urls;
    config.request_timeout = spec_.timeout;
    return config;
  }

  asio::awaitable<metrics::Sample> sample_once() override {
    const SteadyTime start = context_.clock->now();
    metrics::Sample sample;
    // PutOptions explicit: g++ 12 frees a defaulted class argument twice in a coroutine.
    const etcd::PutOptions options;
    auto put = co_await etcd_.put("/shakeout-probe/" + spec_.name, fmt::format("{}", ++writes_), options);
    if (!put.ok()) {
      sample.error = error_kind(put.error());
      co_return sample;
    }
    sample.ok = true;
    sample.latency_ms = ms_since(*context_.clock, start);
    // Every 5th sample also asks who leads, at which term (one check at a
    // time; after the put's latency was taken).
    if (writes_ % 5 == 0 && !checking_) {
      checking_ = true;
      const SteadyTime asked = context_.clock->now();
      auto leader = co_await etcd::find_leader(etcd_);
      checking_ = false;
      note_leader(asked, leader.ok() ? leader->endpoint : std::string(), leader.ok() ? leader->raft_term : 0);
    }
    co_return sample;
  }

 public:
  nlohmann::json details(SteadyTime origin) const override {
    json changes = json::array();
    for (const auto& seen : leaders_) {
      json one;
      one["atMs"] = std::chrono::duration<double, std::milli>(seen.at - origin).count();
      one["leader"] = seen.endpoint;  // "" while no member has a quorum
      one["term"] = seen.term;
      changes.push_back(std::move(one));
    }
    json out;
    out["leaderChanges"] = std::move(changes);
    return out;
  }

 private:
  struct LeaderSeen {
    SteadyTime at;
    std::string endpoint;
    uint64_t term = 0;
  };
  void note_leader(SteadyTime at, std::string endpoint, uint64_t term) {
    if (!leaders_.empty() && leaders_.back().endpoint == endpoint &&
        (term == 0 || leaders_.back().term == term))
      return;
    LeaderSeen seen;
    seen.at = at;
    seen.endpoint = std::move(endpoint);
    seen.term = term;
    leaders_.push_back(std::move(seen));
  }

  etcd::Client etcd_;
  uint64_t writes_ = 0;
  bool checking_ = false;
  std::vector<LeaderSeen> leaders_;  // each change of leader or term, as seen
};

}  // namespace

double default_rate(ProbeKind kind) {
  switch (kind) {
    case ProbeKind::kService:
      return 200;
    case ProbeKind::kHttp:
      return 50;
    case ProbeKind::kApi:
    case ProbeKind::kEtcd:
      return 20;
    case ProbeKind::kExec:
      return 5;
    case ProbeKind::kReplicas:
      return 0;  // the context's state period
  }
  return 0;
}

Probe::Probe(experiment::ProbeSpec spec, ProbeContext context)
    : spec_(std::move(spec)), context_(std::move(context)) {
  const double rate = spec_.rate > 0 ? spec_.rate : default_rate(spec_.kind);
  period_ =
      rate > 0 ? std::max(Millis(1), Millis(static_cast<int64_t>(1000.0 / rate))) : context_.state_period;
}

nlohmann::json Probe::details(SteadyTime /*origin*/) const {
  return nullptr;
}

asio::awaitable<Status> Probe::prepare() {
  co_return Status{};
}

void Probe::stop() {
  stopping_ = true;
  if (timer_) timer_->cancel();
  on_stop();
}

void Probe::push_sample(metrics::Sample sample) {
  if (stopping_) return;
  sample.at = context_.clock->now();
  samples_.push_back(std::move(sample));
}

asio::awaitable<void> Probe::take_sample(size_t index) {
  metrics::Sample result = co_await sample_once();
  result.at = samples_[index].at;
  samples_[index] = std::move(result);
  --in_flight_;
}

asio::awaitable<void> Probe::run() {
  bool background_done = false;
  asio::co_spawn(context_.executor, background(),
                 [&background_done](const std::exception_ptr&) { background_done = true; });
  timer_ = std::make_shared<asio::steady_timer>(context_.executor);
  // Ticks at fixed times from the start, so a slow sample does not shift
  // the ones after it.
  auto next = std::chrono::steady_clock::now();
  while (!stopping_) {
    const SteadyTime at = context_.clock->now();
    if (concurrent()) {
      metrics::Sample pending;
      pending.at = at;
      pending.pending = true;
      samples_.push_back(pending);
      ++in_flight_;
      asio::co_spawn(context_.executor, take_sample(samples_.size() - 1), asio::detached);
    } else {
      metrics::Sample sample = co_await sample_once();
      sample.at = at;
      // A state probe that could not look keeps its last state.
      if (sample.error != "api unavailable") samples_.push_back(std::move(sample));
    }
    next += period_;
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now;  // behind (a paused harness): do not burst
    timer_->expires_at(next);
    boost::system::error_code ignored;
    co_await timer_->async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  // Let the requests in flight finish (each is bounded by its timeout), and
  // the background work end.
  while (in_flight_ > 0 || !background_done) {
    timer_->expires_after(Millis(5));
    boost::system::error_code ignored;
    co_await timer_->async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
}

std::unique_ptr<Probe> make_probe(const experiment::ProbeSpec& spec, const ProbeContext& context) {
  switch (spec.kind) {
    case ProbeKind::kService:
      return std::make_unique<ServiceProbe>(spec, context);
    case ProbeKind::kHttp:
      return std::make_unique<UrlProbe>(spec, context);
    case ProbeKind::kReplicas:
      return std::make_unique<ReplicasProbe>(spec, context);
    case ProbeKind::kApi:
      return std::make_unique<ApiProbe>(spec, context);
    case ProbeKind::kEtcd:
      return std::make_unique<EtcdProbe>(spec, context);
    case ProbeKind::kExec:
      return std::make_unique<ExecProbe>(spec, context);
  }
  return nullptr;
}

}  // namespace shakeout::probes
