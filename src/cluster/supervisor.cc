#include "cluster/supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
extern "C" {  // glibc 2.36's <sys/pidfd.h> lacks __BEGIN_DECLS
#include <sys/pidfd.h>
}

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <system_error>
#include <thread>

#include "common/log.h"

namespace shakeout::cluster {
namespace {

// Why fork+exec by hand rather than Boost.Process or posix_spawn: the child
// must arm prctl(PR_SET_PDEATHSIG, SIGKILL) and then check getppid() against
// the pre-fork parent (the parent may have died before the death signal was
// armed), and enter its own process group, all between fork and exec.
// posix_spawn has no hook for the first two; Boost.Process runs arbitrary
// (not async-signal-safe) code there and reaps through a SIGCHLD handler that
// would steal other children's statuses.

constexpr std::string_view kComponent = "supervisor";
constexpr Millis kFirstReadyPause{1};
// Readiness checks are cheap loopback calls; a short cap keeps the lag between
// "ready" and "noticed ready" small (it adds straight to boot time).
constexpr Millis kMaxReadyPause{10};
constexpr Millis kPauseSettleLimit{200};
constexpr int kLogTailLines = 20;
constexpr std::streamoff kLogTailBytes = 8192;
constexpr int kChildFailedExitCode = 127;
constexpr const char* kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

using TimerClock = asio::steady_timer::clock_type;

std::string errno_text(int error) {
  return std::error_code(error, std::generic_category()).message();
}

std::string signal_name(int number) {
  if (const char* abbreviation = sigabbrev_np(number)) return std::string("SIG") + abbreviation;
  return fmt::format("signal {}", number);
}

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    reset(std::exchange(other.fd_, -1));
    return *this;
  }
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Moves a close-on-exec `fd` above 0-2. A parent started with stdio closed
// could get 0-2 from open(); the child's dup2 onto the same number would
// then be a no-op that leaves close-on-exec set.
UniqueFd above_stdio(int fd) {
  if (fd < 0 || fd > STDERR_FILENO) return UniqueFd(fd);
  const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
  const int saved_errno = errno;
  ::close(fd);
  errno = saved_errno;
  return UniqueFd(moved);
}

Result<UniqueFd> open_fd(const std::filesystem::path& path, int flags, mode_t mode = 0) {
  UniqueFd fd = above_stdio(::open(path.c_str(), flags | O_CLOEXEC, mode));
  if (!fd.valid())
    return make_error(ErrorCode::kIo, fmt::format("open {}: {}", path.string(), errno_text(errno)));
  return fd;
}

Status create_parent_dir(const std::filesystem::path& file) {
  if (!file.has_parent_path()) return {};
  std::error_code error;
  std::filesystem::create_directories(file.parent_path(), error);
  if (error) {
    return make_error(ErrorCode::kIo,
                      fmt::format("create {}: {}", file.parent_path().string(), error.message()));
  }
  return {};
}

// execvp's PATH search, done before fork because execvp may allocate, which
// is not async-signal-safe. Uses the PATH the child will see.
Result<std::string> resolve_program(const std::string& name, const std::map<std::string, std::string>& env,
                                    bool inherit_path) {
  if (name.find('/') != std::string::npos) return name;
  std::string search_path = kDefaultPath;
  if (const auto it = env.find("PATH"); it != env.end()) {
    search_path = it->second;
  } else if (const char* inherited = inherit_path ? std::getenv("PATH") : nullptr) {
    search_path = inherited;
  }
  std::string_view rest = search_path;
  for (;;) {
    const std::size_t colon = rest.find(':');
    const std::string_view dir = rest.substr(0, colon);
    const std::filesystem::path candidate = std::filesystem::path(dir.empty() ? "." : dir) / name;
    struct stat info {};
    if (::stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate.string();
    }
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return make_error(ErrorCode::kIo, fmt::format("{}: not found in PATH ({})", name, search_path));
}

// The inherited environment (if `inherit`) with `overrides` replacing or adding entries.
std::vector<std::string> child_environment(const std::map<std::string, std::string>& overrides,
                                           bool inherit) {
  std::vector<std::string> env;
  for (char** entry = environ; inherit && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    if (!overrides.contains(std::string(text.substr(0, text.find('='))))) env.emplace_back(text);
  }
  for (const auto& [key, value] : overrides) env.push_back(fmt::format("{}={}", key, value));
  return env;
}

// A null-terminated pointer array over `strings`, which must outlive it.
std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (std::string& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

// What the child reports through the close-on-exec pipe when a step before
// exec fails. One write of a few bytes: atomic on a pipe.
enum class ChildStep : int { kProcessGroup, kDeathSignal, kStdio, kCloseFds, kWorkingDir, kExec };
struct ChildFailure {
  ChildStep step;
  int error;
};

// Everything the child needs, prepared before fork.
struct ChildSetup {
  const char* program;
  char* const* argv;
  char* const* envp;
  const char* working_dir;  // null: inherit
  int stdin_fd;
  int log_fd;
  int report_fd;
  pid_t parent;
};

// Blocks every signal on this thread while alive, so no handler of the
// parent's runs in the child before the child resets its dispositions.
class SignalBlocker {
 public:
  SignalBlocker() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved_);
  }
  ~SignalBlocker() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  SignalBlocker(const SignalBlocker&) = delete;
  SignalBlocker& operator=(const SignalBlocker&) = delete;

 private:
  sigset_t saved_;
};

// --- In the forked child: async-signal-safe calls only, up to exec. ---

[[noreturn]] void report_and_exit(int report_fd, ChildStep step) {
  const ChildFailure failure{step, errno};
  [[maybe_unused]] const ssize_t written = ::write(report_fd, &failure, sizeof failure);
  ::_exit(kChildFailedExitCode);
}

// Default dispositions (SIG_IGN survives exec) and an empty mask.
void reset_signals() {
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  // Fails harmlessly for SIGKILL, SIGSTOP and the signals glibc reserves.
  for (int number = 1; number < NSIG; ++number) ::sigaction(number, &action, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

[[noreturn]] void exec_child(const ChildSetup& setup) {
  if (::setpgid(0, 0) != 0) report_and_exit(setup.report_fd, ChildStep::kProcessGroup);
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) report_and_exit(setup.report_fd, ChildStep::kDeathSignal);
  // If the parent died before the death signal was armed we have already
  // been reparented and would never get it.
  if (::getppid() != setup.parent) ::_exit(kChildFailedExitCode);
  reset_signals();
  if (::dup2(setup.stdin_fd, STDIN_FILENO) < 0 || ::dup2(setup.log_fd, STDOUT_FILENO) < 0 ||
      ::dup2(setup.log_fd, STDERR_FILENO) < 0) {
    report_and_exit(setup.report_fd, ChildStep::kStdio);
  }
  // Marked rather than closed: exec closes them all, and until then the
  // report pipe must stay open.
  if (::close_range(STDERR_FILENO + 1, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    report_and_exit(setup.report_fd, ChildStep::kCloseFds);
  }
  if (setup.working_dir != nullptr && ::chdir(setup.working_dir) != 0) {
    report_and_exit(setup.report_fd, ChildStep::kWorkingDir);
  }
  ::execve(setup.program, setup.argv, setup.envp);
  report_and_exit(setup.report_fd, ChildStep::kExec);
}

// --- Back in the parent. ---

// Blocks until the child has exec'd (end of file: the pipe was close-on-exec)
// or reported why it could not.
std::optional<ChildFailure> read_child_failure(int report_fd) {
  ChildFailure failure{};
  ssize_t n;
  do {
    n = ::read(report_fd, &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof failure)) return std::nullopt;
  return failure;
}

std::string describe(const ChildFailure& failure, const ProcessSpec& spec, const std::string& program) {
  std::string step;
  switch (failure.step) {
    case ChildStep::kProcessGroup:
      step = "setpgid";
      break;
    case ChildStep::kDeathSignal:
      step = "prctl(PR_SET_PDEATHSIG)";
      break;
    case ChildStep::kStdio:
      step = "dup2";
      break;
    case ChildStep::kCloseFds:
      step = "close_range";
      break;
    case ChildStep::kWorkingDir:
      step = "chdir " + spec.working_dir.string();
      break;
    case ChildStep::kExec:
      step = "exec " + program;
      break;
  }
  return fmt::format("{}: {}", step, errno_text(failure.error));
}

// For a child of ours that must not survive: its group is SIGKILLed (the pid
// is unreaped, so the group id cannot belong to anyone else), then it is reaped.
void kill_and_reap(pid_t pid) {
  ::kill(-pid, SIGKILL);
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

struct Spawned {
  pid_t pid = 0;
  UniqueFd pidfd;
};

Result<Spawned> spawn(const ProcessSpec& spec) {
  auto program = resolve_program(spec.argv.front(), spec.env, spec.inherit_environment);
  if (!program) return program.error();
  if (auto made = create_parent_dir(spec.log_file); !made) return made.error();
  auto log_fd = open_fd(spec.log_file, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (!log_fd) return log_fd.error();
  auto null_fd = open_fd("/dev/null", O_RDONLY);
  if (!null_fd) return null_fd.error();
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return make_error(ErrorCode::kIo, "pipe2: " + errno_text(errno));
  UniqueFd report_read = above_stdio(pipe_fds[0]);
  UniqueFd report_write = above_stdio(pipe_fds[1]);
  if (!report_read.valid() || !report_write.valid())
    return make_error(ErrorCode::kIo, "fcntl: " + errno_text(errno));

  std::vector<std::string> args = spec.argv;
  std::vector<std::string> env = child_environment(spec.env, spec.inherit_environment);
  const std::vector<char*> argv = c_strings(args);
  const std::vector<char*> envp = c_strings(env);
  const ChildSetup setup{program->c_str(),   argv.data(),
                         envp.data(),        spec.working_dir.empty() ? nullptr : spec.working_dir.c_str(),
                         null_fd->get(),     log_fd->get(),
                         report_write.get(), ::getpid()};
  pid_t pid;
  {
    const SignalBlocker blocker;
    pid = ::fork();
    if (pid == 0) exec_child(setup);
  }
  if (pid < 0) return make_error(ErrorCode::kIo, "fork: " + errno_text(errno));
  report_write.reset();
  if (const auto failure = read_child_failure(report_read.get())) {
    kill_and_reap(pid);
    return make_error(ErrorCode::kIo, describe(*failure, spec, *program));
  }
  UniqueFd pidfd(::pidfd_open(pid, 0));
  if (!pidfd.valid()) {
    const int error = errno;
    kill_and_reap(pid);
    return make_error(ErrorCode::kIo, "pidfd_open: " + errno_text(error));
  }
  return Spawned{pid, std::move(pidfd)};
}

// waitid on one child of ours, retried on EINTR; nullopt if it failed. By
// pid, not pidfd: Asio makes the pidfd non-blocking, and waitid on such a
// pidfd never blocks (EAGAIN). The unreaped pid cannot name anyone else.
std::optional<siginfo_t> wait_child(pid_t pid, int options) {
  siginfo_t info{};
  int rc;
  do {
    rc = ::waitid(P_PID, static_cast<id_t>(pid), &info, options);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return std::nullopt;
  return info;
}

ExitStatus to_exit_status(const siginfo_t& info, SteadyTime at) {
  const bool signaled = info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED;
  return ExitStatus{signaled, info.si_status, at};
}

// The last `max_lines` lines of the file, read from at most its last
// kLogTailBytes; empty if it cannot be read.
std::string log_tail(const std::filesystem::path& path, int max_lines) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  const std::streamoff start =
      std::max<std::streamoff>(0, static_cast<std::streamoff>(in.tellg()) - kLogTailBytes);
  in.seekg(start);
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (start > 0) text.erase(0, text.find('\n') + 1);  // a partial first line
  while (!text.empty() && text.back() == '\n') text.pop_back();
  std::size_t begin = text.size();
  for (int lines = 0; lines < max_lines; ++lines) {
    const std::size_t newline = begin == 0 ? std::string::npos : text.rfind('\n', begin - 1);
    if (newline == std::string::npos) return text;
    begin = newline;
  }
  return text.substr(begin + 1);
}

Error not_found(const std::string& name) {
  return make_error(ErrorCode::kNotFound, fmt::format("no process named {}", name));
}

Status validate(const ProcessSpec& spec) {
  if (spec.name.empty()) return make_error(ErrorCode::kInvalidArgument, "process name is empty");
  if (spec.argv.empty()) return make_error(ErrorCode::kInvalidArgument, spec.name + ": argv is empty");
  if (spec.log_file.empty())
    return make_error(ErrorCode::kInvalidArgument, spec.name + ": log_file is empty");
  return {};
}

// Cancels `timer` when the process exits, for as long as it is registered.
class ExitWaiter {
 public:
  ExitWaiter(std::vector<asio::steady_timer*>& waiters, asio::steady_timer& timer)
      : waiters_(waiters), timer_(&timer) {
    waiters_.push_back(timer_);
  }
  ~ExitWaiter() { std::erase(waiters_, timer_); }
  ExitWaiter(const ExitWaiter&) = delete;
  ExitWaiter& operator=(const ExitWaiter&) = delete;

 private:
  std::vector<asio::steady_timer*>& waiters_;
  asio::steady_timer* timer_;
};

struct ProcStat {
  char state = 0;
  uint64_t start_ticks = 0;
};

std::optional<ProcStat> read_proc_stat(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  // Field 2, the command name, may hold spaces and parentheses: fields
  // resume after the last ')'.
  const std::size_t name_end = line.rfind(')');
  if (name_end == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(name_end + 1));
  ProcStat stat;
  fields >> stat.state;  // field 3
  std::string skipped;
  for (int field = 4; field < 22; ++field) fields >> skipped;
  fields >> stat.start_ticks;  // field 22
  if (!fields) return std::nullopt;
  return stat;
}

}  // namespace

// One started process. Shared by the supervisor, its exit handler and the
// coroutines waiting on it, which may outlive the supervisor: they touch only
// the Child, and `owner` is null once the supervisor is gone.
struct Supervisor::Child : std::enable_shared_from_this<Child> {
  Child(Supervisor& supervisor, ProcessSpec process_spec, pid_t pid,
        asio::posix::stream_descriptor exit_watch)
      : owner(&supervisor), spec(std::move(process_spec)), pidfd(std::move(exit_watch)) {
    info.name = spec.name;
    info.pid = pid;
    info.state = ProcessState::kRunning;
    info.started_at = supervisor.clock_.now();
    info.start_ticks = process_start_ticks(pid);
    info.log_file = spec.log_file;
  }

  bool exited() const { return info.state == ProcessState::kExited; }
  bool stop_requested = false;  // stop() asked for the exit: no policy restart

  // Signals the whole process group and tracks SIGSTOP/SIGCONT in `state`.
  Status signal(int number) {
    if (exited()) {
      return make_error(ErrorCode::kUnavailable,
                        fmt::format("{} is not running ({})", spec.name, info.last_exit->describe()));
    }
    if (::kill(-info.pid, number) != 0) {
      return make_error(ErrorCode::kIo, fmt::format("{} to {} (process group {}): {}", signal_name(number),
                                                    spec.name, info.pid, errno_text(errno)));
    }
    if (number == SIGSTOP) info.state = ProcessState::kPaused;
    if (number == SIGCONT) info.state = ProcessState::kRunning;
    return {};
  }

  // Arms the pidfd: it becomes readable when the process exits.
  void watch_exit() {
    pidfd.async_wait(asio::posix::stream_descriptor::wait_read,
                     [weak = weak_from_this()](const boost::system::error_code& error) {
                       const auto self = weak.lock();
                       if (!self || self->owner == nullptr || error == asio::error::operation_aborted) return;
                       if (error)
                         log::warn(kComponent, "{}: waiting for exit: {}", self->spec.name, error.message());
                       if (self->reap_if_exited()) {
                         self->report_exit();
                         if (self->owner != nullptr) self->owner->after_exit(self);
                       } else {
                         self->watch_exit();
                       }
                     });
  }

  // Records the exit if the process has exited; false if it still runs.
  bool reap_if_exited() {
    const SteadyTime now = owner->clock_.now();
    // Peek first (WNOWAIT): while the process is an unreaped zombie its pid,
    // and so its process group id, cannot be reused, so SIGKILLing the group
    // hits only stragglers it left behind.
    const auto peeked = wait_child(info.pid, WEXITED | WNOHANG | WNOWAIT);
    if (peeked && peeked->si_pid == 0) return false;
    if (!peeked) {
      log::error(kComponent, "{} (pid {}): waitid: {}; was it reaped elsewhere?", spec.name, info.pid,
                 errno_text(errno));
      record_exit(ExitStatus{false, -1, now});
      return true;
    }
    ::kill(-info.pid, SIGKILL);
    const auto reaped = wait_child(info.pid, WEXITED);
    record_exit(to_exit_status(reaped.value_or(*peeked), now));
    return true;
  }

  // For the supervisor's destructor: kills the group, reaps synchronously.
  void kill_and_reap_now(SteadyTime now) {
    ::kill(-info.pid, SIGKILL);
    const auto reaped = wait_child(info.pid, WEXITED);
    record_exit(reaped ? to_exit_status(*reaped, now) : ExitStatus{false, -1, now});
  }

  void record_exit(ExitStatus status) {
    info.state = ProcessState::kExited;
    info.last_exit = status;
    boost::system::error_code ignored;
    pidfd.close(ignored);
    for (asio::steady_timer* waiter : exit_waiters) waiter->cancel();
  }

  void report_exit() const {
    log::info(kComponent, "{} (pid {}) exited: {}", spec.name, info.pid, info.last_exit->describe());
    // A copy: the callback may replace itself through on_exit().
    if (const ExitCallback callback = owner->on_exit_) callback(info, *info.last_exit);
  }

  Error exited_before_ready() const {
    std::string message =
        fmt::format("{} exited before becoming ready ({})", spec.name, info.last_exit->describe());
    if (const std::string tail = log_tail(spec.log_file, kLogTailLines); !tail.empty()) {
      message += fmt::format("; last lines of {}:\n{}", spec.log_file.string(), tail);
    }
    return make_error(ErrorCode::kUnavailable, message);
  }

  // True once the process has exited; false if `deadline` came first.
  static asio::awaitable<bool> wait_exit_until(std::shared_ptr<Child> self, TimerClock::time_point deadline) {
    if (self->exited()) co_return true;
    asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
    const ExitWaiter waiter(self->exit_waiters, timer);
    boost::system::error_code ignored;  // cancelled means exited
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    co_return self->exited();
  }

  // co_await stays out of the loop condition: g++ 12 miscompiled that (SIGILL).
  static asio::awaitable<void> wait_exit(std::shared_ptr<Child> self) {
    for (;;) {
      const bool exited = co_await wait_exit_until(self, TimerClock::time_point::max());
      if (exited) co_return;
    }
  }

  static asio::awaitable<void> stop(std::shared_ptr<Child> self) {
    self->stop_requested = true;
    if (self->exited()) co_return;
    const bool paused = self->info.state == ProcessState::kPaused;
    if (auto sent = self->signal(SIGTERM); !sent) log::warn(kComponent, "{}", sent.error().message);
    // A stopped process acts on SIGTERM only once continued.
    if (paused) (void)self->signal(SIGCONT);
    const bool exited = co_await wait_exit_until(self, TimerClock::now() + self->spec.stop_grace);
    if (exited) co_return;
    log::warn(kComponent, "{} did not exit within {} of SIGTERM; sending SIGKILL", self->spec.name,
              format_duration(self->spec.stop_grace));
    (void)self->signal(SIGKILL);
    co_await wait_exit(self);
  }

  static asio::awaitable<Status> wait_ready(std::shared_ptr<Child> self,
                                            std::function<asio::awaitable<bool>()> check, Millis deadline) {
    const auto give_up = TimerClock::now() + deadline;
    for (Millis pause = kFirstReadyPause;; pause = std::min(pause * 2, kMaxReadyPause)) {
      if (self->exited()) co_return self->exited_before_ready();
      const bool ready = co_await check();
      if (ready && !self->exited()) co_return Status{};
      if (TimerClock::now() >= give_up) {
        co_return make_error(ErrorCode::kTimeout, fmt::format("{} not ready after {}", self->spec.name,
                                                              format_duration(deadline)));
      }
      co_await wait_exit_until(self, std::min(give_up, TimerClock::now() + pause));
    }
  }

  Supervisor* owner;
  const ProcessSpec spec;
  ProcessInfo info;
  asio::posix::stream_descriptor pidfd;  // closed once the process is reaped
  std::vector<asio::steady_timer*> exit_waiters;
};

std::string ExitStatus::describe() const {
  return signaled ? "killed by " + signal_name(code) : fmt::format("exit code {}", code);
}

const char* to_string(ProcessState state) {
  switch (state) {
    case ProcessState::kRunning:
      return "running";
    case ProcessState::kPaused:
      return "paused";
    case ProcessState::kExited:
      return "exited";
  }
  return "unknown";
}

Supervisor::Supervisor(asio::io_context& io, const Clock& clock) : io_(io), clock_(clock) {}

Supervisor::~Supervisor() {
  for (auto& [name, timer] : pending_restarts_) timer->cancel();
  for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
    Child& child = **it;
    if (!child.exited()) child.kill_and_reap_now(clock_.now());
    child.owner = nullptr;
  }
}

void Supervisor::cancel_pending_restart(const std::string& name) {
  auto it = pending_restarts_.find(name);
  if (it == pending_restarts_.end()) return;
  it->second->cancel();
  pending_restarts_.erase(it);
}

void Supervisor::after_exit(const std::shared_ptr<Child>& child) {
  if (!child->spec.restart_on_exit || child->stop_requested || stopping_all_) return;
  const std::string name = child->spec.name;
  const ProcessSpec& spec = child->spec;
  auto [backoff, first] = next_backoff_.try_emplace(name, Millis(0));
  if (!first && child->info.last_exit &&
      child->info.last_exit->at - child->info.started_at >= spec.restart_backoff_reset)
    backoff->second = Millis(0);
  const Millis delay = backoff->second;
  backoff->second = delay.count() == 0 ? spec.restart_backoff : std::min(delay * 2, spec.restart_backoff_max);
  log::warn(kComponent, "{} exited unexpectedly; restarting it in {} (CrashLoopBackOff)", name,
            format_duration(delay));
  auto timer = std::make_shared<asio::steady_timer>(io_);
  timer->expires_after(delay);
  cancel_pending_restart(name);
  pending_restarts_[name] = timer;
  timer->async_wait([this, timer, name](const boost::system::error_code& error) {
    if (error) return;  // cancelled: `this` may be gone
    auto pending = pending_restarts_.find(name);
    if (pending == pending_restarts_.end() || pending->second != timer) return;
    pending_restarts_.erase(pending);
    const auto previous = find(name);
    if (!previous || !previous->exited()) return;
    const int restarts = previous->info.restarts;
    if (auto started = start(previous->spec); !started) {
      log::error(kComponent, "restarting {}: {}", name, started.error().message);
      return;
    }
    auto current = find(name);
    current->info.restarts = restarts + 1;
    if (on_restart_) on_restart_(current->info);
  });
}

Status Supervisor::start(ProcessSpec spec) {
  if (auto valid = validate(spec); !valid) return valid;
  cancel_pending_restart(spec.name);
  const auto previous = find(spec.name);
  if (previous && !previous->exited()) {
    return make_error(ErrorCode::kAlreadyExists,
                      fmt::format("{} is already running (pid {})", spec.name, previous->info.pid));
  }
  auto spawned = spawn(spec);
  if (!spawned)
    return make_error(spawned.error().code, fmt::format("start {}: {}", spec.name, spawned.error().message));
  asio::posix::stream_descriptor exit_watch(io_);
  boost::system::error_code error;
  exit_watch.assign(spawned->pidfd.get(), error);
  if (error) {
    kill_and_reap(spawned->pid);
    return make_error(ErrorCode::kIo,
                      fmt::format("start {}: watching the pidfd: {}", spec.name, error.message()));
  }
  spawned->pidfd.release();

  auto child = std::make_shared<Child>(*this, std::move(spec), spawned->pid, std::move(exit_watch));
  if (previous) {
    child->info.restarts = previous->info.restarts;
    std::erase(children_, previous);
  }
  children_.push_back(child);
  child->watch_exit();
  log::info(kComponent, "started {} pid={} log={}", child->spec.name, child->info.pid,
            child->spec.log_file.string());
  return {};
}

asio::awaitable<Status> Supervisor::stop(std::string name) {
  auto child = find(name);
  if (!child) co_return not_found(name);
  cancel_pending_restart(name);
  co_await Child::stop(std::move(child));
  co_return Status{};
}

Status Supervisor::forget(const std::string& name) {
  const auto child = find(name);
  if (!child) return not_found(name);
  if (!child->exited()) return make_error(ErrorCode::kConflict, fmt::format("{} is still running", name));
  cancel_pending_restart(name);
  next_backoff_.erase(name);
  std::erase(children_, child);
  return {};
}

Status Supervisor::kill(const std::string& name, int signal) {
  const auto child = find(name);
  if (!child) return not_found(name);
  return child->signal(signal);
}

namespace {

// True once no thread of `pid` can run user code: each is stopped ('T', 't')
// or inside the kernel uninterruptibly ('D', e.g. a shell in vfork() waiting
// for its stopped child), where the pending SIGSTOP stops it before it
// returns to user space.
bool all_threads_stopped(pid_t pid) {
  std::error_code ec;
  bool any = false;
  for (const auto& task : std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid), ec)) {
    std::ifstream stat(task.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;  // the thread just ended
    const auto paren = line.rfind(')');
    if (paren == std::string::npos || paren + 2 >= line.size()) continue;
    const char state = line[paren + 2];
    if (state != 'T' && state != 't' && state != 'D') return false;
    any = true;
  }
  return any || ec;  // a process that is gone is not running either
}

}  // namespace

// SIGSTOP is delivered asynchronously: a thread running on another CPU can
// still answer a request after kill(2) returns (seen: an etcd range answered
// by a member paused a moment before). A pause fault must be in
// effect when pause() returns, so wait (briefly, bounded) for every thread
// of the process to be stopped.
Status Supervisor::pause(const std::string& name) {
  const auto child = find(name);
  if (!child) return not_found(name);
  if (auto sent = child->signal(SIGSTOP); !sent) return sent;
  const auto give_up = std::chrono::steady_clock::now() + kPauseSettleLimit;
  while (!all_threads_stopped(child->info.pid)) {
    if (std::chrono::steady_clock::now() > give_up) {
      return make_error(ErrorCode::kTimeout,
                        fmt::format("{} (pid {}) was sent SIGSTOP but is not stopped after {}", name,
                                    child->info.pid, format_duration(kPauseSettleLimit)));
    }
    // Sleep rather than spin: a spinning thread would take the CPU the
    // stopping process needs to reach its stop.
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return {};
}

Status Supervisor::resume(const std::string& name) {
  return kill(name, SIGCONT);
}

asio::awaitable<Status> Supervisor::restart(std::string name) {
  const auto child = find(name);
  if (!child) co_return not_found(name);
  cancel_pending_restart(name);
  co_await Child::stop(child);
  // `this` may be gone by now; the child knows.
  if (child->owner == nullptr) {
    co_return make_error(ErrorCode::kCancelled,
                         fmt::format("supervisor destroyed while restarting {}", name));
  }
  if (auto started = start(child->spec); !started) co_return started;
  find(name)->info.restarts = child->info.restarts + 1;
  co_return Status{};
}

asio::awaitable<Result<ExitStatus>> Supervisor::wait_exit(std::string name) {
  const auto child = find(name);
  if (!child) co_return not_found(name);
  co_await Child::wait_exit(child);
  co_return *child->info.last_exit;
}

asio::awaitable<void> Supervisor::stop_all() {
  // A snapshot, so the loop never touches `this` after suspending.
  stopping_all_ = true;
  for (auto& [name, timer] : pending_restarts_) timer->cancel();
  pending_restarts_.clear();
  const std::vector<std::shared_ptr<Child>> newest_first(children_.rbegin(), children_.rend());
  for (const auto& child : newest_first) co_await Child::stop(child);
}

asio::awaitable<Status> Supervisor::wait_ready(std::string name, std::function<asio::awaitable<bool>()> check,
                                               Millis deadline) {
  auto child = find(name);
  if (!child) co_return not_found(name);
  co_return co_await Child::wait_ready(std::move(child), std::move(check), deadline);
}

std::optional<ProcessInfo> Supervisor::info(const std::string& name) const {
  const auto child = find(name);
  if (!child) return std::nullopt;
  return child->info;
}

std::vector<ProcessInfo> Supervisor::list() const {
  std::vector<ProcessInfo> infos;
  infos.reserve(children_.size());
  for (const auto& child : children_) infos.push_back(child->info);
  return infos;
}

std::shared_ptr<Supervisor::Child> Supervisor::find(const std::string& name) const {
  const auto it = std::find_if(children_.begin(), children_.end(),
                               [&](const auto& child) { return child->spec.name == name; });
  return it == children_.end() ? nullptr : *it;
}

uint64_t process_start_ticks(pid_t pid) {
  const auto stat = read_proc_stat(pid);
  return stat ? stat->start_ticks : 0;
}

bool process_alive(pid_t pid, uint64_t start_ticks) {
  const auto stat = read_proc_stat(pid);
  if (!stat || stat->state == 'Z' || stat->state == 'X') return false;
  return start_ticks == 0 || stat->start_ticks == start_ticks;
}

}  // namespace shakeout::cluster
