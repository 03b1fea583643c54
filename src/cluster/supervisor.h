#pragma once
// Supervisor: owns the component processes of one cluster.
//
// Contract:
// - start() forks and execs a child in its own process group with
//   PR_SET_PDEATHSIG(SIGKILL) armed before exec (and the parent-already-gone
//   race closed by checking getppid() after arming), stdout and stderr
//   appended to the spec's log file, stdin from /dev/null, and every other
//   inherited fd closed. Signals go to the whole process group.
// - Exits are noticed at once through a pidfd registered with the
//   io_context (no polling); the exit code or signal and the time are kept,
//   and the on_exit callback runs for every exit, expected or not.
// - stop() sends SIGTERM (resuming a paused process first), waits up to the
//   spec's stop_grace, then SIGKILLs. kill() sends a signal and returns.
// - When a process exits, whatever is left of its process group is SIGKILLed
//   before the process is reaped (as a container runtime does when a
//   container's init exits), so no straggler outlives it.
// - A spec with restart_on_exit is started again after an exit nobody asked
//   for (see ProcessSpec); stop(), restart(), start() and stop_all() cancel
//   a pending restart. `restarts` counts these restarts too.
// - The destructor SIGKILLs and reaps every process still running, without
//   running on_exit, and completes pending wait_exit() calls with that exit.
// - Calls naming an unknown process return kNotFound; signalling a process
//   that has exited returns kUnavailable.
// - Deadlines and grace periods are measured on the real steady clock (they
//   drive Asio timers); the Clock only stamps started_at and exit times.
// Threading: all calls from the io_context's thread, which is the only one
// running it; the io_context must outlive the supervisor. The thread that
// calls start() must outlive the children: PDEATHSIG fires when that thread
// ends. Nothing else in the program may reap our children (no waitpid(-1)).

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <sys/types.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace shakeout::cluster {

namespace asio = boost::asio;

struct ProcessSpec {
  std::string name;                        // unique within a supervisor: "etcd-1"
  std::vector<std::string> argv;           // argv[0]: a path, or a name looked up in PATH
  std::map<std::string, std::string> env;  // added to (or replacing in) the inherited environment
  std::filesystem::path log_file;          // stdout+stderr, appended
  std::filesystem::path working_dir;       // empty = inherit
  Millis stop_grace{2000};
  // restartPolicy Always with the kubelet's CrashLoopBackOff, as for a
  // static pod: an exit the supervisor did not cause (stop(), restart(),
  // stop_all()) starts the process again, at once the first time, then
  // after restart_backoff, doubling up to restart_backoff_max; a run that
  // lasted restart_backoff_reset starts the sequence over.
  bool restart_on_exit = false;
  Millis restart_backoff{10000};
  Millis restart_backoff_max{300000};
  Millis restart_backoff_reset{600000};
  // false: `env` is the whole environment, nothing inherited (containers).
  bool inherit_environment = true;
};

struct ExitStatus {
  bool signaled = false;
  int code = 0;  // exit code, or the signal number when signaled
  SteadyTime at{};
  std::string describe() const;  // "exit code 1", "killed by SIGKILL"
};

enum class ProcessState { kRunning, kPaused, kExited };
const char* to_string(ProcessState state);

struct ProcessInfo {
  std::string name;
  pid_t pid = 0;
  ProcessState state = ProcessState::kExited;
  SteadyTime started_at{};
  uint64_t start_ticks = 0;  // /proc/<pid>/stat field 22, to tell pid reuse apart
  int restarts = 0;          // successful restart() calls for this name
  std::optional<ExitStatus> last_exit;
  std::filesystem::path log_file;
};

class Supervisor {
 public:
  using ExitCallback = std::function<void(const ProcessInfo&, const ExitStatus&)>;

  explicit Supervisor(asio::io_context& io, const Clock& clock = system_clock());
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Starts a new process; kAlreadyExists if the name is running, kInvalidArgument
  // for an empty name, argv or log_file, kIo if the program cannot be executed
  // (exec failure is reported synchronously through a close-on-exec pipe).
  // Starting a name that has exited replaces its record (keeping `restarts`).
  Status start(ProcessSpec spec);

  // SIGTERM, then SIGKILL after stop_grace; waits for the exit. OK at once if
  // the process has already exited.
  asio::awaitable<Status> stop(std::string name);
  // Sends `signal` to the process group; does not wait.
  Status kill(const std::string& name, int signal = 9);
  // SIGSTOP, and returns once no thread of the process can run user code, so
  // a pause is in effect when it returns; kTimeout if that takes over 200ms.
  Status pause(const std::string& name);
  Status resume(const std::string& name);  // SIGCONT
  // stop() then start() with the same spec; restarts counter incremented.
  asio::awaitable<Status> restart(std::string name);
  // Completes when the process has exited (at once if it already has).
  asio::awaitable<Result<ExitStatus>> wait_exit(std::string name);
  // Stops every running process, in reverse start order.
  asio::awaitable<void> stop_all();

  // Polls `check` (with short, growing pauses) until it returns true, the
  // deadline passes (kTimeout) or the process exits (kUnavailable, with its
  // exit status and the tail of its log in the message). `check` is awaited
  // inline and must carry its own timeout: a check that hangs delays both the
  // deadline and the notice of an exit.
  asio::awaitable<Status> wait_ready(std::string name, std::function<asio::awaitable<bool>()> check,
                                     Millis deadline);

  void on_exit(ExitCallback callback) { on_exit_ = std::move(callback); }
  // Runs after each restart the restart policy made.
  void on_restart(std::function<void(const ProcessInfo&)> callback) { on_restart_ = std::move(callback); }
  // Whether a restart of `name` is waiting out its backoff.
  bool restart_pending(const std::string& name) const { return pending_restarts_.contains(name); }

  // Drops the record of an exited process (a runtime forgetting a removed
  // container); kNotFound if unknown, kConflict while it runs.
  Status forget(const std::string& name);

  std::optional<ProcessInfo> info(const std::string& name) const;
  std::vector<ProcessInfo> list() const;  // in start order

 private:
  struct Child;
  asio::io_context& io_;
  const Clock& clock_;
  ExitCallback on_exit_;
  std::function<void(const ProcessInfo&)> on_restart_;
  std::map<std::string, std::shared_ptr<asio::steady_timer>> pending_restarts_;
  std::map<std::string, Millis> next_backoff_;  // name -> delay of the next policy restart
  bool stopping_all_ = false;                   // stop_all() called: no more policy restarts
  // Shared with pending coroutines and exit handlers, which may outlive the
  // supervisor (see the destructor).
  std::vector<std::shared_ptr<Child>> children_;

  std::shared_ptr<Child> find(const std::string& name) const;
  void after_exit(const std::shared_ptr<Child>& child);
  void cancel_pending_restart(const std::string& name);
};

// Reads /proc/<pid>/stat's start time (clock ticks since boot); 0 if gone.
uint64_t process_start_ticks(pid_t pid);
// True if `pid` is alive, not a zombie, and (when start_ticks != 0) is the
// same process that had that start time.
bool process_alive(pid_t pid, uint64_t start_ticks = 0);

}  // namespace shakeout::cluster
