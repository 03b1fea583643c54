#pragma once
// Kubelet: `shakeout kubelet`, the node agent. Registers its Node, keeps the
// node Lease and status fresh, and drives the pods bound to it through the
// node's RuntimeService (runtime/runtime_service.h).
//
//   register Node ──► lease loop (--node-lease-renew-interval)
//                 └─► status loop (--node-status-update-frequency)
//   runtime: list sandboxes + containers (adoption) ──► informers:
//     pods (fieldSelector spec.nodeName=<node>), services
//   relist: list the runtime's containers every relist period (1s scaled);
//        a container that exited wakes its pod's worker
//        per pod: a worker coroutine, woken by pod events, relists, and every
//        relist period: sandbox ──► containers (start / restart with
//        CrashLoopBackOff / probes) ──► status PATCH when changed, by the
//        pod's status writer, so a slow API server never holds a restart
//        back (upstream's status manager)
//        deletionTimestamp or gone ──► stop containers (grace) ──► remove
//        sandbox ──► DELETE pod (gracePeriodSeconds=0, uid precondition)
//   after the first pod list: sandboxes of pods unknown here are removed
//   HTTP on node-ip:--port: /healthz, and with a bearer token from
//   --authentication-token-file: /pods, /containerLogs/<ns>/<pod>/<container>
//
// Contract:
// - Stopping the kubelet (stop(), SIGTERM) leaves every container running:
//   the runtime owns them, and a new kubelet adopts them (same container,
//   restartCount from the pod's status, readiness kept from the status).
// - Errors from the API server or the runtime are logged and retried on the
//   next relist; nothing about a pod's spec can crash the kubelet.
// Threading: one io_context thread; start() once, then run().

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apiserver/auth.h"
#include "client/timers.h"
#include "common/result.h"
#include "kubelet/crash_backoff.h"
#include "kubelet/node_status.h"
#include "kubelet/options.h"
#include "kubelet/probe.h"
#include "runtime/runtime_service.h"

namespace shakeout::net {
class HttpServer;
class HttpClient;
struct ServerRequest;
class ResponseWriter;
}  // namespace shakeout::net
namespace shakeout::client {
class Client;
class Informer;
}  // namespace shakeout::client

namespace shakeout::kubelet {

namespace asio = boost::asio;

struct KubeletCounters {
  uint64_t node_status_updates_total = 0;
  uint64_t lease_renewals_total = 0;
  uint64_t pod_status_updates_total = 0;
  uint64_t container_starts_total = 0;
  uint64_t containers_adopted_total = 0;
};

class Kubelet {
 public:
  // `runtime` and `timers` must outlive the kubelet.
  Kubelet(asio::any_io_executor executor, Options options, runtime::RuntimeService& runtime,
          client::Timers& timers, client::Random& random);
  ~Kubelet();
  Kubelet(const Kubelet&) = delete;
  Kubelet& operator=(const Kubelet&) = delete;

  // Loads --authentication-token-file and serves the kubelet API.
  // kInvalidArgument for a bad token file, kUnavailable if it cannot bind.
  Status start();
  uint16_t port() const;
  // Runs until stop(); returns the process exit code (0).
  asio::awaitable<int> run();
  void stop();

  const KubeletCounters& counters() const { return counters_; }

 private:
  struct ProbeWorker {
    ProbeKind kind = ProbeKind::kReadiness;
    ProbeSpec spec;
    ProbeState state{ProbeKind::kReadiness, 1, 3};
    SteadyTime due{};
  };
  struct ContainerRecord {
    std::string name;
    std::optional<runtime::ContainerStatus> current;
    std::optional<runtime::ContainerStatus> previous;
    int restart_count = 0;
    std::string waiting_reason;
    std::string waiting_message;
    CrashBackoff backoff{CrashBackoffPolicy{}};
    CrashBackoff start_backoff{CrashBackoffPolicy{}};  // failed creations (ErrImagePull ...)
    SteadyTime retry_at{};
    std::vector<ProbeWorker> probes;
    bool ready = false;
    bool started = false;
    bool exit_handled = false;      // the current attempt's exit was seen
    std::string backoff_event_for;  // container id the BackOff Event was sent for
    uint64_t relist_mark = 0;       // relists begun when `current` was learned first-hand
  };
  struct PodWorker {
    explicit PodWorker(asio::any_io_executor executor) : wake(executor) {}
    std::string uid;
    uint64_t serial = 0;  // tells a worker from a later one of the same uid
    nlohmann::json pod;
    bool deleted = false;  // gone from the API
    bool sandbox = false;
    std::string pod_ip;
    std::vector<ContainerRecord> containers;    // spec order
    nlohmann::json last_status;                 // as last written
    std::string last_status_rv;                 // the pod's resourceVersion after that write
    std::optional<nlohmann::json> next_status;  // to write once the one in flight is done
    std::optional<nlohmann::json> writing;      // the status PATCH in flight
    SteadyTime probe_anchor;                    // probe ticks count from when the worker began
    asio::steady_timer wake;
  };

  asio::awaitable<void> handle(net::ServerRequest& request, net::ResponseWriter& writer);
  asio::awaitable<void> serve_logs(std::string ns, std::string pod, std::string container, bool follow,
                                   bool previous, int64_t tail_lines, net::ResponseWriter& writer);

  asio::awaitable<void> register_node();
  asio::awaitable<Status> post_node_status();
  asio::awaitable<void> renew_lease();
  asio::awaitable<void> lease_loop();
  asio::awaitable<void> status_loop();
  asio::awaitable<void> list_runtime();
  asio::awaitable<void> relist_loop();
  asio::awaitable<void> collect_orphans();
  asio::awaitable<void> run_informer(client::Informer* informer);

  void watch_pods();
  void pod_changed(const nlohmann::json& pod);
  asio::awaitable<void> pod_loop(std::string uid);
  asio::awaitable<void> sync_pod(PodWorker* worker);
  asio::awaitable<void> sync_container(PodWorker* worker, std::size_t index);
  asio::awaitable<void> start_container(PodWorker* worker, std::size_t index);
  asio::awaitable<void> run_probes(PodWorker* worker, std::size_t index);
  asio::awaitable<std::pair<bool, std::string>> probe_once(ProbeSpec spec, std::string pod_ip,
                                                           std::string container_id);
  asio::awaitable<void> kill_container(PodWorker* worker, std::size_t index, std::string reason);
  void post_pod_status(PodWorker* worker);
  asio::awaitable<void> write_pod_status(std::string uid, uint64_t serial);
  PodWorker* worker_of(const std::string& uid, uint64_t serial);
  asio::awaitable<void> terminate_pod(PodWorker* worker);
  asio::awaitable<void> stop_one(std::string id, int64_t grace_ms, int* pending);
  Millis next_wake(const PodWorker& worker) const;
  void reset_probes(PodWorker* worker, std::size_t index, std::optional<bool> ready);
  int64_t grace_ms(const nlohmann::json& pod) const;

  // Events go out one at a time, in order, from one sink (upstream's event
  // broadcaster), so a burst of them never crowds a pod's status write.
  void record_event(const nlohmann::json& pod, const std::string& type, const std::string& reason,
                    const std::string& message);
  asio::awaitable<void> event_sink();
  void spawn(asio::awaitable<void> task);
  asio::awaitable<void> drain();
  asio::awaitable<void> pause(Millis d);

  asio::any_io_executor executor_;
  Options options_;
  runtime::RuntimeService& runtime_;
  client::Timers& timers_;
  client::Random& random_;
  client::Sleeper sleeper_;
  NodeIdentity identity_;
  MachineInfo machine_;
  std::string node_uid_;
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<client::Client> lease_client_;
  std::unique_ptr<client::Informer> pods_;
  std::unique_ptr<client::Informer> services_;
  std::unique_ptr<net::HttpServer> http_;
  std::unique_ptr<net::HttpClient> probe_http_;
  std::optional<apiserver::TokenAuthenticator> authenticator_;
  std::map<std::string, std::unique_ptr<PodWorker>> workers_;  // by pod uid
  // What the runtime held at start, by pod uid, until adopted or removed.
  std::map<std::string, runtime::PodSandbox> found_sandboxes_;
  std::map<std::string, std::vector<runtime::ContainerStatus>> found_containers_;
  // The runtime's containers by id as the last relist saw them (upstream's
  // PLEG: one list per relist period for all pods, not one call per
  // container), and the numbers of relists begun and last completed.
  std::map<std::string, runtime::ContainerStatus> relisted_;
  uint64_t relists_begun_ = 0;
  uint64_t workers_begun_ = 0;
  uint64_t relist_done_ = 0;
  std::deque<std::pair<std::string, nlohmann::json>> pending_events_;  // (namespace, event)
  bool event_sink_running_ = false;
  std::unique_ptr<asio::steady_timer> stop_wait_;
  bool stopping_ = false;
  int tasks_ = 0;
  KubeletCounters counters_;
};

// Runs a Kubelet with the runtime client at --runtime-endpoint until SIGINT
// or SIGTERM; the `shakeout kubelet` role. 2 when it cannot start.
int run(const Options& options);

}  // namespace shakeout::kubelet
