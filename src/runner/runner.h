#pragma once
// Runner: carries out one validated experiment, `repeat` times, each on a
// fresh cluster, and returns its journal.
//
//   boot ──► apply workload ──► wait ready ──► probes on ──► steady window
//        ──► faults on the timeline (each follows its own schedule)
//        ──► recovery: every probe holds for stableFor (or timeout)
//        ──► steady state again ──► probes off ──► revert all ──► teardown
//
// The journal (report.json) holds, per repeat: the phases' times, every
// injection, every probe's samples summarized as measurements, and each
// expectation judged. Times are milliseconds from the repeat's first fault
// (negative before it), all read from the one steady clock.
// Threading: the io_context's thread; abort() may be called from a signal
// handler's completion on the same thread.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "experiment/experiment.h"
#include "runner/waits.h"

namespace shakeout::probes {
class Probe;
}

namespace shakeout::runner {

namespace asio = boost::asio;

struct RunOptions {
  std::filesystem::path runtime_root;  // clusters' run dirs
  std::string shakeout_binary;         // the roles' binary
  // Files a run keeps: exec probes' output goes to
  // <output_dir>/<experiment>/repeat-<n>/probe-<name>.log (empty: the
  // cluster's run dir, removed with it).
  std::filesystem::path output_dir;
  // Progress lines ("etcd-leader-kill #1: steady"); empty = silent.
  std::function<void(const std::string&)> progress;
  // Called at the end of each repeat, probes stopped and every sample
  // answered, while live() still shows it.
  std::function<void()> repeat_ending;
};

// Empty if the runner can carry out every part of `experiment`; otherwise
// the first part it cannot, with its file:line:column.
std::string unsupported(const experiment::Experiment& experiment);

struct Injection;

// What is running now, for the live /metrics (runner/live_metrics.h).
struct LiveView {
  std::string experiment;  // "" between experiments
  int repeat = 0;
  std::vector<const probes::Probe*> probes;
  std::vector<std::shared_ptr<Injection>> injections;
};

class Runner {
 public:
  Runner(asio::io_context& io, RunOptions options);
  ~Runner();

  // The journal of every repeat: {"experiment", "repeats": [...],
  // "summary": {...}, "passed": bool, "setupError"?: string}.
  asio::awaitable<nlohmann::json> run(const experiment::Experiment& experiment);
  // Ctrl-C: resume paused processes and SIGKILL the cluster now; run()
  // then ends with "aborted" in the journal.
  void abort();
  // The repeat running now (empty when none).
  LiveView live() const;

 private:
  struct Repeat;
  asio::awaitable<nlohmann::json> run_once(const experiment::Experiment& experiment, int repeat);

  // A wait that abort() cuts short.
  asio::awaitable<void> pause(Millis duration);

  asio::io_context& io_;
  RunOptions options_;
  Waits waits_;
  Repeat* current_ = nullptr;
  bool aborted_ = false;
};

}  // namespace shakeout::runner
