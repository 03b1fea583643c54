#pragma once
// Injector: turns a planned fault into signals, API calls and process
// starts against one running cluster, and undoes it.
//
//   resolve  the target, at injection time: etcd:leader asks etcd who leads
//            now, controller-manager:leader reads each replica's
//            leader_election_master_status, pod:app=web lists the pods and
//            picks `count` (or `percent`) of them with the seeded RNG
//   inject   kill/stop/pause/restart/crash-loop a process, crash or reboot a
//            node, kill/delete a pod or fail its readiness, or add an API
//            fault (http-error, api-latency, drop-watch) to every apiserver's
//            fault filter (POST /debug/shakeout/faults, expiring on its own
//            kApiFaultMargin after the fault's duration as a safety net)
//   revert   what the fault's schedule asks for (resume, restartAfter, heal
//            readiness, DELETE the API fault); revert_all() at the end or on
//            abort undoes every injection that is still in effect
//
// Link faults act on the cluster's link proxies (cluster.h, links()):
// toxics per direction, `down`, and a partition as a blackhole (timeout 0,
// both directions) on every link of a node or of a list. "<client>->apiserver"
// means the client's links to every apiserver, "apiserver-<i>->etcd" to every
// member, "client->service/<name>" the links in front of each node's NodePort
// that the runner puts between the service probes and a Service
// (service_links()). Threading: the cluster's io_context thread.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "client/client.h"
#include "cluster/cluster.h"
#include "common/result.h"
#include "experiment/experiment.h"
#include "runner/waits.h"

namespace shakeout::runner {

namespace asio = boost::asio;

// One fault as injected: what the target resolved to, and when.
struct Injection {
  experiment::FaultSpec fault;
  std::vector<std::string> processes;  // supervisor names ("etcd-2", "kubelet-node-1")
  std::vector<int> nodes;              // node faults
  struct Pod {
    std::string ns;
    std::string name;
    std::string ip;
    int port = 8080;
    int pid = 0;
  };
  std::vector<Pod> pods;
  std::vector<std::string> links;   // link faults: the links it acts on
  std::vector<std::string> toxics;  // the toxics it added to each of them
  SteadyTime started{};
  std::optional<SteadyTime> ended;  // when it was reverted (or its effect ended)
  std::string resolved;             // "etcd-2 (leader)", "pods web-x, web-y"
  std::string api_fault_id;         // API faults: the id in the apiservers' fault filters
  int previous_replicas = 0;        // scale: spec.replicas before it, restored after `duration`
  bool reverted = false;
};

// How long an API fault outlives its duration in the apiservers when nobody
// removes it (the harness died): the filter then expires it on its own.
constexpr Millis kApiFaultMargin{5000};
// "client->service/web/node-2": the harness's link to Service web through node 2.
inline constexpr std::string_view kServiceLinkPrefix = "->service/";

// The Services whose links (client->service/<name>) a fault names.
std::vector<std::string> service_links(const experiment::FaultSpec& fault);

class Injector {
 public:
  Injector(asio::any_io_executor executor, cluster::Cluster& cluster, client::Config api, uint64_t seed);

  // Resolves the target and injects; the Injection is kept until revert_all.
  asio::awaitable<Result<std::shared_ptr<Injection>>> inject(experiment::FaultSpec fault);
  // Carries out the fault's own schedule from its start: resume after a
  // pause, restartAfter, the crash loop's kills, healing readiness. Returns
  // when the fault's effect has been undone (or at once if it has no end).
  asio::awaitable<void> follow_schedule(std::shared_ptr<Injection> injection);
  // Undoes every injection still in effect: resumes paused processes,
  // heals readiness, and starts what a fault with restartAfter stopped.
  asio::awaitable<void> revert_all();
  // The synchronous part of revert_all for an aborted run: SIGCONT to
  // every paused process, so nothing stays stopped.
  void resume_paused_now();
  // Ends every follow_schedule() at once (their waits are cancelled and
  // they revert nothing: revert_all() does that). For an aborted run.
  void cancel();

  const std::vector<std::shared_ptr<Injection>>& injections() const { return injections_; }

 private:
  asio::awaitable<Result<std::vector<std::string>>> resolve_processes(const experiment::Target& target);
  asio::awaitable<Result<std::string>> leader_of(const std::string& role);
  asio::awaitable<Status> pick_pods(Injection& injection);
  asio::awaitable<Status> set_readiness(const Injection::Pod& pod, bool fail);
  // scale: records the Deployment's spec.replicas, then sets the fault's.
  asio::awaitable<Status> scale(Injection& injection);
  asio::awaitable<void> revert(std::shared_ptr<Injection> injection);
  // POSTs an API fault's control body to every apiserver; fails when none took it.
  asio::awaitable<Status> add_api_fault(std::string body);
  // DELETEs it from every apiserver (one that is down is skipped).
  asio::awaitable<void> remove_api_fault(std::string id);
  asio::awaitable<void> sleep(Millis duration);
  std::vector<int> resolve_nodes(const experiment::Target& target);
  // node-<k> as written (a partition names its node; no random pick).
  std::vector<int> nodes_of(const experiment::Target& target) const;
  std::vector<std::string> resolve_links(const experiment::FaultSpec& fault) const;
  // Adds the fault's toxics (or takes the links down); records them.
  Status apply_link_fault(Injection& injection);

  cluster::Cluster& cluster_;
  Waits waits_;  // follow_schedule's sleeps
  client::Client api_;
  std::mt19937_64 random_;
  std::vector<std::shared_ptr<Injection>> injections_;
};

}  // namespace shakeout::runner
