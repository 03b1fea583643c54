#pragma once
// Scheduler: `shakeout scheduler`, kube-scheduler's role. Binds pending pods
// to nodes through the pods/binding subresource.
//
//   informers (nodes, pods) ──► Cache (bound + assumed pods) and SchedulingQueue
//   leader only: pop ──► schedule_pod() (algorithm.h)
//        fits ──► assume on the node ──► POST pods/<name>/binding (concurrently)
//                    └─ failed ──► forget, backoff
//        fits nowhere ──► unschedulable set; a FailedScheduling Event and
//                         PodScheduled=False/Unschedulable on the pod's status
//   node added or changed, bound pod gone ──► unschedulable pods retried
//
// Contract:
// - Pods are this scheduler's when spec.schedulerName is "default-scheduler"
//   (or empty) and spec.nodeName is empty; terminating and terminal pods are
//   left alone.
// - With leader election (the default) only the holder of the Lease
//   --leader-elect-resource-namespace/--leader-elect-resource-name binds; the
//   informers run in every replica so a standby takes over warm. Losing the
//   Lease ends run() with exit code 1, as upstream's process exits.
// - stop() (SIGTERM/SIGINT in run()) stops scheduling, lets bindings in
//   flight finish, releases the Lease and stops the informers; run() then
//   returns 0.
// - /healthz (and /livez, /readyz) answer "ok" to anyone; /metrics is
//   metrics.h.
// Threading: one io_context thread; start() once, then run().

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "scheduler/cache.h"
#include "scheduler/queue.h"

namespace shakeout::net {
class HttpServer;
struct ServerRequest;
class ResponseWriter;
}  // namespace shakeout::net
namespace shakeout::client {
class Client;
class Informer;
class LeaderElector;
class ClientLeaseLock;
class Timers;
class Random;
}  // namespace shakeout::client

namespace shakeout::scheduler {

namespace asio = boost::asio;

class SchedulerMetrics;

inline constexpr const char* kDefaultSchedulerName = "default-scheduler";

struct Options {
  std::vector<std::string> master;             // --master: API server URLs, tried in order
  std::string token;                           // --token: bearer token
  std::string bind_address = "127.0.0.1";      // --bind-address (loopback only)
  uint16_t port = 10259;                       // --port: /healthz and /metrics (0 = any)
  bool leader_elect = true;                    // --leader-elect
  Millis lease_duration{15000};                // --leader-elect-lease-duration
  Millis renew_deadline{10000};                // --leader-elect-renew-deadline
  Millis retry_period{2000};                   // --leader-elect-retry-period
  std::string lock_namespace = "kube-system";  // --leader-elect-resource-namespace
  std::string lock_name = "kube-scheduler";    // --leader-elect-resource-name
  Millis pod_initial_backoff{1000};            // --pod-initial-backoff
  Millis pod_max_backoff{10000};               // --pod-max-backoff
  Millis pod_max_in_unschedulable{300000};     // --pod-max-in-unschedulable-pods-duration
  Millis request_timeout{10000};               // each API request (leader election: less)
  std::string identity;                        // "" = <hostname>_<random hex>
};

// kInvalidArgument naming the flag: no or malformed --master, a
// non-loopback --bind-address, leader election timings upstream rejects
// (lease > renew > 1.2 x retry), backoffs not positive or initial > max.
Status validate(const Options& options);

class Scheduler {
 public:
  // `timers` and `random` must outlive the scheduler.
  Scheduler(asio::any_io_executor executor, Options options, client::Timers& timers, client::Random& random);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Serves /healthz and /metrics.
  Status start();
  uint16_t port() const;
  // Runs until stop() or a lost Lease; the process exit code (0, or 1 when
  // leadership was lost).
  asio::awaitable<int> run();
  void stop();

 private:
  asio::awaitable<void> handle(net::ServerRequest& request, net::ResponseWriter& writer);
  asio::awaitable<void> run_informer(client::Informer* informer);
  asio::awaitable<void> schedule_loop();
  asio::awaitable<void> wait_for_work(std::optional<SteadyTime> due);
  void wake();
  void schedule_one(const std::string& key);
  asio::awaitable<void> bind(nlohmann::json pod, std::string node, SteadyTime started);
  asio::awaitable<void> record_failure(nlohmann::json pod, std::string message);
  asio::awaitable<void> record_event(const nlohmann::json& pod, const std::string& message);
  asio::awaitable<void> update_condition(const nlohmann::json& pod, const std::string& message);
  void spawn(asio::awaitable<void> task);
  asio::awaitable<void> drain();
  void watch_pods();
  void watch_nodes();
  void update_metrics();
  bool responsible_for(const nlohmann::json& pod) const;

  asio::any_io_executor executor_;
  Options options_;
  client::Timers& timers_;
  client::Random& random_;
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<client::Client> lease_client_;
  std::unique_ptr<client::Informer> pods_;
  std::unique_ptr<client::Informer> nodes_;
  std::unique_ptr<client::ClientLeaseLock> lock_;
  std::unique_ptr<client::LeaderElector> elector_;
  std::unique_ptr<net::HttpServer> http_;
  std::unique_ptr<SchedulerMetrics> metrics_;
  Cache cache_;
  SchedulingQueue queue_;
  asio::steady_timer wake_;  // the loop waits on it; wake() cancels it
  // Without leader election, run() waits on it until stop().
  std::unique_ptr<asio::steady_timer> stop_wait_;
  bool leading_ = false;
  bool stopping_ = false;
  int tasks_ = 0;  // spawned bindings and failure records in flight
  // Per pod: the last FailedScheduling Event, to count repeats in it
  // (client-go's EventCorrelator) instead of creating one per attempt.
  struct RecordedEvent {
    std::string name;
    std::string message;
    int64_t count = 0;
  };
  std::map<std::string, RecordedEvent> events_;
};

// Runs a Scheduler until SIGINT or SIGTERM; the `shakeout scheduler` role.
// Returns the exit code (2 when it cannot start, 1 when leadership was lost).
int run(const Options& options);

}  // namespace shakeout::scheduler
