#pragma once
// Probes (DESIGN §7): each samples one view of the cluster and stamps every
// sample on the one steady clock.
//
//   service   GET http://<node IP>:<NodePort><path>, round robin over the
//             nodes, a fresh connection each (kube-proxy balances per
//             connection), issued at `rate` per second whether or not the
//             last one answered: a hung dataplane shows as timeouts, not as
//             a slower probe.
//   http      the same against a fixed URL.
//   replicas  the Deployment's spec.replicas against its pods (by its
//             selector) that are Ready and not terminating, from watches
//             (informers on the Deployments and the pods): a sample at each
//             event that changes the count, and one per state period from
//             the caches; none before both caches synced (while the API is
//             down the caches, so the last state, stand).
//             Its ground truth, "<name>/runtime": the same Deployment's
//             pods with every container running in a node's runtime
//             (ground_truth()).
//   api       GET /readyz on the apiservers plus a write and read of a Lease.
//   etcd      a put of a probe key through the etcd client; every 5th
//             sample also asks who leads at which term (details()).
//   exec      runs a command (through the context's supervisor, so it dies
//             with the harness) with KUBECONFIG set to the cluster's; exit 0
//             within the timeout is success; a command still running at
//             its timeout is killed (its process group) and counts as one.
//
// A sample's time is when it was issued; its outcome is filled in when the
// answer (or the timeout) comes. run() returns after stop() once every
// request in flight has ended.
// Threading: one io_context thread; the probe must outlive run().

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client/client.h"
#include "cluster/supervisor.h"
#include "common/clock.h"
#include "common/result.h"
#include "experiment/experiment.h"
#include "metrics/measure.h"
#include "net/http_client.h"

namespace shakeout::probes {

namespace asio = boost::asio;

// What probes need to know about the cluster under test.
struct ProbeContext {
  asio::any_io_executor executor;
  const Clock* clock = &system_clock();
  std::vector<std::string> node_ips;  // node k at [k-1]
  client::Config api;                 // the apiservers and the harness's token
  std::vector<std::string> etcd_urls;
  Millis state_period{50};  // replicas probe's poll period
  // exec probes: who runs the commands, where their output goes
  // (<log_dir>/probe-<name>.log) and what they find in their environment.
  cluster::Supervisor* commands = nullptr;
  std::filesystem::path log_dir;
  std::map<std::string, std::string> command_env;
};

class Probe {
 public:
  Probe(experiment::ProbeSpec spec, ProbeContext context);
  virtual ~Probe() = default;
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;

  // Resolves what sampling needs (a Service's NodePort); an error is a
  // setup failure of the experiment.
  virtual asio::awaitable<Status> prepare();
  // Samples until stop(); returns once nothing is in flight.
  asio::awaitable<void> run();
  void stop();

  const experiment::ProbeSpec& spec() const { return spec_; }
  const std::vector<metrics::Sample>& samples() const { return samples_; }
  // Samples issued but not answered yet.
  int in_flight() const { return in_flight_; }
  // service probes: when each pod ("namespace/name") answered, in order.
  virtual const std::map<std::string, std::vector<SteadyTime>>* answers_by_pod() const { return nullptr; }
  // The period between samples.
  Millis period() const { return period_; }
  // A second view the probe brings, measured as a probe of its own once
  // prepare() succeeded: replicas gives "<name>/runtime", the ground truth
  // from the runtimes' process tables. Null for the rest.
  virtual std::unique_ptr<Probe> ground_truth() { return nullptr; }
  // service probes, once prepared: where sample k goes (node k's NodePort),
  // and what to send to instead (links in front of them). Empty/ignored for
  // the rest.
  virtual std::vector<net::Endpoint> destinations() const { return {}; }
  virtual void send_through(std::vector<net::Endpoint> /*routes*/) {}
  // What the probe saw besides its samples, for the report (times in ms from
  // `origin`); null for most. etcd: {"leaderChanges": [{atMs, leader, term}]}.
  virtual nlohmann::json details(SteadyTime origin) const;

 protected:
  // One sample's outcome (ok, latency, error); `at` is set by the caller.
  virtual asio::awaitable<metrics::Sample> sample_once() = 0;
  // Whether samples may overlap (request probes) or run one after another.
  virtual bool concurrent() const { return true; }
  // Runs beside the sampling loop from run() (a watch); run() returns once
  // both have. stop() calls on_stop() to end it.
  virtual asio::awaitable<void> background() { co_return; }
  virtual void on_stop() {}
  // A sample taken now, outside the loop (a watch event changed the state).
  void push_sample(metrics::Sample sample);

  experiment::ProbeSpec spec_;
  ProbeContext context_;

 private:
  asio::awaitable<void> take_sample(size_t index);

  Millis period_;
  std::vector<metrics::Sample> samples_;
  int in_flight_ = 0;
  bool stopping_ = false;
  std::shared_ptr<asio::steady_timer> timer_;
};

std::unique_ptr<Probe> make_probe(const experiment::ProbeSpec& spec, const ProbeContext& context);

// The default rate of a probe kind (samples per second).
double default_rate(experiment::ProbeKind kind);

}  // namespace shakeout::probes
