#pragma once
// LiveMetrics: `shakeout run --metrics-address HOST:PORT` serves GET
// /metrics (Prometheus text format, prometheus-cpp) while the run goes on,
// for a Prometheus to scrape and Grafana to show as it happens. Each scrape
// first brings the families up to date with what the runner is doing:
//
//   shakeout_run_experiments_total                      counter
//   shakeout_experiment_running{experiment}             gauge 1 / 0
//   shakeout_experiment_repeat{experiment}              gauge, the repeat on now
//   shakeout_experiment_passed{experiment}              gauge, once it ended
//   shakeout_probe_samples_total{experiment,probe}      counter, answered samples
//   shakeout_probe_failed_samples_total{experiment,probe} counter
//   shakeout_probe_up{experiment,probe}                 gauge, the last answer ok
//   shakeout_probe_latency_seconds{experiment,probe}    histogram of ok answers
//   shakeout_fault_active{experiment,fault,target}      gauge 1 while injected
//   shakeout_fault_injections_total{experiment,fault,target} counter
//
// Labels are experiment, probe, fault and target only (DESIGN §8). Samples
// are counted in issue order once answered: one still in flight holds the
// later ones back until it is answered or times out.
// Threading: the io_context's thread (the server runs on it too).

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>

#include "common/result.h"
#include "net/http_server.h"
#include "runner/runner.h"

namespace shakeout::runner {

class LiveMetrics {
 public:
  LiveMetrics(boost::asio::any_io_executor executor, const Runner& runner);
  ~LiveMetrics();
  LiveMetrics(const LiveMetrics&) = delete;
  LiveMetrics& operator=(const LiveMetrics&) = delete;

  // `address` is HOST:PORT (port 0: any); kInvalidArgument if it does not
  // parse, kUnavailable if it cannot be bound.
  Status start(const std::string& address);
  uint16_t port() const;
  boost::asio::awaitable<void> stop();

  // An experiment's journal is in: its passed gauge, the experiments count.
  void experiment_done(const nlohmann::json& journal);
  // The text a scrape gets, after catching up with the runner.
  std::string scrape();
  // Brings the families up to date with the runner's live view.
  void catch_up();
  // Every family registered, name -> "counter", "gauge" or "histogram"
  // (for dashboards/, checked against it in tests/dashboards).
  std::map<std::string, std::string> families() const;

 private:
  struct Families;

  const Runner& runner_;
  boost::asio::any_io_executor executor_;
  std::unique_ptr<Families> families_;
  std::unique_ptr<net::HttpServer> server_;
  // (experiment, repeat, probe) -> how many samples were counted.
  std::map<std::tuple<std::string, int, std::string>, size_t> counted_;
  // (experiment, repeat, index) of injections counted.
  std::set<std::tuple<std::string, int, size_t>> injections_seen_;
  std::string running_;  // the experiment whose running gauge is 1
};

}  // namespace shakeout::runner
