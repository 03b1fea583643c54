// Supervisor tests against real child processes (/bin/sh scripts, sleep).
// Waits on real processes use generous deadlines and never assert speed.

#include "cluster/supervisor.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

namespace shakeout::cluster {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using std::chrono::steady_clock;

constexpr auto kGenerous = 30s;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

int count_lines(const fs::path& path) {
  const std::string text = read_file(path);
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

// Fields of /proc/<pid>/stat after the command name: state is [0], pgrp [2].
std::vector<std::string> proc_stat_fields(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  std::istringstream rest(line.substr(line.rfind(')') + 1));
  std::vector<std::string> fields;
  for (std::string field; rest >> field;) fields.push_back(field);
  return fields;
}

char proc_state(pid_t pid) {
  const auto fields = proc_stat_fields(pid);
  return fields.empty() ? '\0' : fields[0][0];
}

// Live (non-zombie) processes whose process group is `pgid`.
std::vector<pid_t> live_members_of_group(pid_t pgid) {
  std::vector<pid_t> members;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = std::stoi(name);
    const auto fields = proc_stat_fields(pid);
    if (fields.size() > 2 && std::stoi(fields[2]) == pgid && process_alive(pid)) members.push_back(pid);
  }
  return members;
}

// True if this process has no children at all, not even zombies.
bool has_no_children() {
  siginfo_t info{};
  return ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == -1 && errno == ECHILD;
}

// Polls `condition`: real processes move on their own schedule.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = kGenerous) {
  const auto give_up = steady_clock::now() + timeout;
  while (!condition()) {
    if (steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// Runs `io` until `done()` or the timeout; false on timeout.
bool run_until(asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds timeout = kGenerous) {
  io.restart();
  const auto give_up = steady_clock::now() + timeout;
  while (!done()) {
    if (io.run_one_until(give_up) == 0 && (io.stopped() || steady_clock::now() >= give_up)) return done();
  }
  return true;
}

// Runs `task` on `io` until it completes; false if it has not after `timeout`.
bool run_task(asio::io_context& io, asio::awaitable<void> task,
              std::chrono::milliseconds timeout = kGenerous) {
  auto done = std::make_shared<bool>(false);
  asio::co_spawn(io, std::move(task), [done](std::exception_ptr error) {
    if (error) std::rethrow_exception(error);
    *done = true;
  });
  return run_until(
      io, [&] { return *done; }, timeout);
}

template <typename T>
asio::awaitable<void> store_result(asio::awaitable<T> task, std::shared_ptr<std::optional<T>> result) {
  result->emplace(co_await std::move(task));
}

// Runs `task` on `io` until it completes; nullopt if it has not after `timeout`.
template <typename T>
std::optional<T> run_for(asio::io_context& io, asio::awaitable<T> task,
                         std::chrono::milliseconds timeout = kGenerous) {
  auto result = std::make_shared<std::optional<T>>();
  run_task(io, store_result(std::move(task), result), timeout);
  return std::move(*result);
}

// A readiness check that passes once `file` contains `text`.
std::function<asio::awaitable<bool>()> file_contains(fs::path file, std::string text) {
  return [file, text]() -> asio::awaitable<bool> { co_return contains(read_file(file), text); };
}

class SupervisorTest : public ::testing::Test {
 protected:
  SupervisorTest() {
    std::string pattern = (fs::temp_directory_path() / "supervisor_test.XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    supervisor_.emplace(io_);
  }
  ~SupervisorTest() override {
    supervisor_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  Supervisor& supervisor() { return *supervisor_; }

  ProcessSpec spec(const std::string& name, std::vector<std::string> argv) {
    ProcessSpec spec;
    spec.name = name;
    spec.argv = std::move(argv);
    spec.log_file = dir_ / "logs" / (name + ".log");
    return spec;
  }

  // An executable /bin/sh script in the test directory.
  fs::path script(const std::string& name, const std::string& body) {
    const fs::path path = dir_ / name;
    std::ofstream(path) << "#!/bin/sh\n" << body;
    fs::permissions(path, fs::perms::owner_all);
    return path;
  }

  void start_ok(ProcessSpec spec) {
    const auto started = supervisor().start(std::move(spec));
    ASSERT_TRUE(started.ok()) << started.error().describe();
  }

  Status wait_ready(const std::string& name, std::function<asio::awaitable<bool>()> check,
                    Millis deadline = 30s) {
    auto result = run_for(io_, supervisor().wait_ready(name, std::move(check), deadline), 60s);
    if (!result) return make_error(ErrorCode::kInternal, "wait_ready did not complete");
    return std::move(*result);
  }

  std::optional<ExitStatus> wait_exit(const std::string& name) {
    const auto result = run_for(io_, supervisor().wait_exit(name));
    if (!result || !result->ok()) return std::nullopt;
    return result->value();
  }

  bool stop(const std::string& name) {
    const auto result = run_for(io_, supervisor().stop(name));
    return result && result->ok();
  }

  pid_t pid_of(const std::string& name) { return supervisor().info(name)->pid; }

  fs::path dir_;
  asio::io_context io_;
  std::optional<Supervisor> supervisor_;
};

TEST(ExitStatus, DescribesExitCodeAndSignal) {
  EXPECT_EQ((ExitStatus{false, 3, {}}).describe(), "exit code 3");
  EXPECT_EQ((ExitStatus{true, SIGKILL, {}}).describe(), "killed by SIGKILL");
  EXPECT_STREQ(to_string(ProcessState::kRunning), "running");
  EXPECT_STREQ(to_string(ProcessState::kPaused), "paused");
  EXPECT_STREQ(to_string(ProcessState::kExited), "exited");
}

TEST(ProcessAlive, TellsLiveDeadAndReusedPidsApart) {
  const pid_t self = ::getpid();
  const uint64_t ticks = process_start_ticks(self);
  ASSERT_GT(ticks, 0u);
  EXPECT_TRUE(process_alive(self));
  EXPECT_TRUE(process_alive(self, ticks));
  EXPECT_FALSE(process_alive(self, ticks + 1)) << "a different start time means a reused pid";

  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, child, &info, WEXITED | WNOWAIT), 0);
  EXPECT_FALSE(process_alive(child)) << "a zombie is not alive";
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  EXPECT_FALSE(process_alive(child));
  EXPECT_EQ(process_start_ticks(child), 0u);
}

TEST_F(SupervisorTest, StartAppendsStdoutAndStderrToTheLogFile) {
  ProcessSpec echo = spec("echo", {"sh", "-c", "echo out; echo err >&2"});
  echo.log_file = dir_ / "not" / "yet" / "there.log";
  start_ok(echo);
  auto exit = wait_exit("echo");
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->describe(), "exit code 0");
  EXPECT_EQ(read_file(echo.log_file), "out\nerr\n");

  start_ok(echo);  // the name has exited, so it can start again
  ASSERT_TRUE(wait_exit("echo"));
  EXPECT_EQ(read_file(echo.log_file), "out\nerr\nout\nerr\n");
}

TEST_F(SupervisorTest, ChildGetsDevNullStdinAndNoInheritedFds) {
  const int leaked = ::open("/dev/null", O_RDONLY);  // deliberately not close-on-exec
  ASSERT_GE(leaked, 3);
  start_ok(spec("fds", {"/bin/sh", "-c", "readlink /proc/$$/fd/0; ls /proc/$$/fd"}));
  const auto exit = wait_exit("fds");
  ::close(leaked);
  ASSERT_TRUE(exit);
  EXPECT_EQ(read_file(supervisor().info("fds")->log_file), "/dev/null\n0\n1\n2\n");
}

TEST_F(SupervisorTest, AppliesEnvironmentAndWorkingDirectory) {
  ProcessSpec env = spec("env", {"sh", "-c", "echo \"$SHAKEOUT_TEST_VALUE $HOME $(pwd)\""});
  env.env = {{"SHAKEOUT_TEST_VALUE", "42"}, {"HOME", "/nowhere"}};
  env.working_dir = dir_;
  start_ok(env);
  ASSERT_TRUE(wait_exit("env"));
  EXPECT_EQ(read_file(env.log_file), "42 /nowhere " + dir_.string() + "\n");
}

TEST_F(SupervisorTest, ExecFailureIsReportedAtOnceAndLeavesNothing) {
  const auto missing = supervisor().start(spec("ghost", {"/nonexistent/ghost"}));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kIo);
  EXPECT_TRUE(contains(missing.error().message, "No such file")) << missing.error().message;

  const auto unknown = supervisor().start(spec("ghost", {"shakeout-no-such-program"}));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kIo);
  EXPECT_TRUE(contains(unknown.error().message, "not found in PATH")) << unknown.error().message;

  ProcessSpec bad_dir = spec("ghost", {"sh", "-c", "true"});
  bad_dir.working_dir = dir_ / "missing";
  const auto no_dir = supervisor().start(bad_dir);
  ASSERT_FALSE(no_dir.ok());
  EXPECT_TRUE(contains(no_dir.error().message, "chdir")) << no_dir.error().message;

  EXPECT_FALSE(supervisor().info("ghost"));
  EXPECT_TRUE(supervisor().list().empty());
  EXPECT_TRUE(has_no_children()) << "the failed child must have been reaped";
}

TEST_F(SupervisorTest, RejectsInvalidDuplicateAndUnknownNames) {
  EXPECT_EQ(supervisor().start(spec("empty", {})).error().code, ErrorCode::kInvalidArgument);
  start_ok(spec("sleeper", {"sleep", "1000"}));
  EXPECT_EQ(supervisor().start(spec("sleeper", {"sleep", "1000"})).error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(supervisor().kill("nobody").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(supervisor().pause("nobody").error().code, ErrorCode::kNotFound);
  const auto stopped = run_for(io_, supervisor().stop("nobody"));
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped->error().code, ErrorCode::kNotFound);

  ASSERT_TRUE(stop("sleeper"));
  EXPECT_EQ(supervisor().kill("sleeper", SIGTERM).error().code, ErrorCode::kUnavailable);
}

TEST_F(SupervisorTest, RecordsExitCode) {
  start_ok(spec("three", {"sh", "-c", "exit 3"}));
  const auto exit = wait_exit("three");
  ASSERT_TRUE(exit);
  EXPECT_FALSE(exit->signaled);
  EXPECT_EQ(exit->code, 3);
  const auto info = supervisor().info("three");
  EXPECT_EQ(info->state, ProcessState::kExited);
  ASSERT_TRUE(info->last_exit);
  EXPECT_EQ(info->last_exit->code, 3);
  EXPECT_GE(info->last_exit->at, info->started_at);
}

TEST_F(SupervisorTest, UnexpectedExitTriggersOnExitThroughTheIoContext) {
  std::vector<std::pair<ProcessInfo, ExitStatus>> exits;
  supervisor().on_exit(
      [&](const ProcessInfo& info, const ExitStatus& status) { exits.emplace_back(info, status); });
  start_ok(spec("victim", {"sleep", "1000"}));
  const pid_t pid = pid_of("victim");

  ASSERT_EQ(::kill(pid, SIGKILL), 0);  // behind the supervisor's back
  ASSERT_TRUE(run_until(io_, [&] { return !exits.empty(); }));
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0].first.name, "victim");
  EXPECT_EQ(exits[0].first.pid, pid);
  EXPECT_EQ(exits[0].second.describe(), "killed by SIGKILL");
  EXPECT_EQ(supervisor().info("victim")->state, ProcessState::kExited);
}

TEST_F(SupervisorTest, KillSignalsTheWholeProcessGroup) {
  // The leader ignores SIGTERM and waits for its child, which reports SIGTERM:
  // the leader exits only if the signal reached the grandchild too.
  const fs::path marker = dir_ / "marker";
  const fs::path group = script("group.sh", R"(
sh -c 'trap "echo grandchild-term >> \"$0\"; exit 0" TERM
       echo grandchild-ready >> "$0"
       while :; do sleep 0.05; done' "$1" &
trap '' TERM
echo leader-ready >> "$1"
wait
)");
  start_ok(spec("group", {group.string(), marker.string()}));
  ASSERT_TRUE(wait_ready("group", [marker]() -> asio::awaitable<bool> {
                const std::string text = read_file(marker);
                co_return contains(text, "leader-ready") && contains(text, "grandchild-ready");
              }).ok());

  ASSERT_TRUE(supervisor().kill("group", SIGTERM).ok());
  const auto exit = wait_exit("group");
  ASSERT_TRUE(exit) << "the grandchild never got SIGTERM";
  EXPECT_EQ(exit->describe(), "exit code 0");
  EXPECT_TRUE(contains(read_file(marker), "grandchild-term"));
}

TEST_F(SupervisorTest, PauseFreezesTheProcessAndResumeLetsItContinue) {
  const fs::path counter = dir_ / "counter";
  const fs::path ticker = script("ticker.sh", "while :; do echo tick >> \"$1\"; sleep 0.02; done\n");
  start_ok(spec("ticker", {ticker.string(), counter.string()}));
  const pid_t pid = pid_of("ticker");
  ASSERT_TRUE(eventually([&] { return count_lines(counter) > 0; }));

  ASSERT_TRUE(supervisor().pause("ticker").ok());
  EXPECT_EQ(supervisor().info("ticker")->state, ProcessState::kPaused);
  // 'T', or 'D' when the stop caught the shell inside vfork(): it then waits,
  // uninterruptibly, for its stopped child to exec.
  ASSERT_TRUE(eventually([&] { return proc_state(pid) == 'T' || proc_state(pid) == 'D'; }));
  const int frozen = count_lines(counter);
  std::this_thread::sleep_for(300ms);  // ~15 ticks if it were running
  EXPECT_EQ(count_lines(counter), frozen);

  ASSERT_TRUE(supervisor().resume("ticker").ok());
  EXPECT_EQ(supervisor().info("ticker")->state, ProcessState::kRunning);
  EXPECT_TRUE(eventually([&] { return count_lines(counter) > frozen; }));
  EXPECT_NE(proc_state(pid), 'T');
}

TEST_F(SupervisorTest, StopSendsSigtermFirst) {
  const fs::path polite = script("polite.sh", R"(
trap 'echo got-term; exit 0' TERM
echo ready
while :; do sleep 0.05; done
)");
  ProcessSpec spec_polite = spec("polite", {polite.string()});
  spec_polite.stop_grace = 60s;
  start_ok(spec_polite);
  ASSERT_TRUE(wait_ready("polite", file_contains(spec_polite.log_file, "ready")).ok());

  ASSERT_TRUE(stop("polite"));
  const auto info = supervisor().info("polite");
  EXPECT_EQ(info->state, ProcessState::kExited);
  EXPECT_EQ(info->last_exit->describe(), "exit code 0");
  EXPECT_TRUE(contains(read_file(spec_polite.log_file), "got-term"));
}

TEST_F(SupervisorTest, StopEscalatesToSigkillAfterTheGracePeriod) {
  const fs::path stubborn = script("stubborn.sh", R"(
trap '' TERM
echo ready
while :; do sleep 0.05; done
)");
  ProcessSpec spec_stubborn = spec("stubborn", {stubborn.string()});
  spec_stubborn.stop_grace = 200ms;
  start_ok(spec_stubborn);
  ASSERT_TRUE(wait_ready("stubborn", file_contains(spec_stubborn.log_file, "ready")).ok());

  const auto before = steady_clock::now();
  ASSERT_TRUE(stop("stubborn"));
  EXPECT_GE(steady_clock::now() - before, 200ms);
  EXPECT_EQ(supervisor().info("stubborn")->last_exit->describe(), "killed by SIGKILL");
}

TEST_F(SupervisorTest, StopTerminatesAPausedProcess) {
  ProcessSpec sleeper = spec("sleeper", {"sleep", "1000"});
  sleeper.stop_grace = 60s;  // longer than run_for waits: escalation would fail the test
  start_ok(sleeper);
  ASSERT_TRUE(supervisor().pause("sleeper").ok());
  ASSERT_TRUE(eventually([&] { return proc_state(pid_of("sleeper")) == 'T'; }));

  ASSERT_TRUE(stop("sleeper"));
  EXPECT_EQ(supervisor().info("sleeper")->last_exit->describe(), "killed by SIGTERM");
}

TEST_F(SupervisorTest, StopLeavesNothingOfTheProcessGroup) {
  const fs::path pid_file = dir_ / "grandchild.pid";
  const fs::path parent = script("parent.sh", "sleep 1000 & echo $! > \"$1\"; wait\n");
  start_ok(spec("parent", {parent.string(), pid_file.string()}));
  const pid_t leader = pid_of("parent");
  ASSERT_TRUE(wait_ready("parent", file_contains(pid_file, "\n")).ok());
  const pid_t grandchild = std::stoi(read_file(pid_file));
  ASSERT_TRUE(process_alive(grandchild));

  ASSERT_TRUE(stop("parent"));
  EXPECT_TRUE(
      eventually([&] { return !process_alive(grandchild) && live_members_of_group(leader).empty(); }));
}

TEST_F(SupervisorTest, StopAllStopsInReverseStartOrder) {
  const fs::path order = dir_ / "order";
  const fs::path member = script("member.sh", R"(
trap 'echo "$1" >> "$2"; exit 0' TERM
echo ready
while :; do sleep 0.05; done
)");
  int exits = 0;
  supervisor().on_exit([&](const ProcessInfo&, const ExitStatus&) { ++exits; });
  for (const std::string name : {"a", "b", "c"}) {
    start_ok(spec(name, {member.string(), name, order.string()}));
    ASSERT_TRUE(wait_ready(name, file_contains(supervisor().info(name)->log_file, "ready")).ok());
  }

  ASSERT_TRUE(run_task(io_, supervisor().stop_all()));
  EXPECT_EQ(read_file(order), "c\nb\na\n");
  for (const ProcessInfo& info : supervisor().list())
    EXPECT_EQ(info.state, ProcessState::kExited) << info.name;
  EXPECT_EQ(exits, 3);
}

TEST_F(SupervisorTest, RestartStartsANewProcessWithTheSameSpec) {
  const fs::path service = script("service.sh", "echo started; exec sleep 1000\n");
  start_ok(spec("service", {service.string()}));
  const ProcessInfo before = *supervisor().info("service");
  ASSERT_TRUE(wait_ready("service", file_contains(before.log_file, "started")).ok());

  const auto restarted = run_for(io_, supervisor().restart("service"));
  ASSERT_TRUE(restarted && restarted->ok());
  const ProcessInfo after = *supervisor().info("service");
  EXPECT_NE(after.pid, before.pid);
  EXPECT_EQ(after.restarts, 1);
  EXPECT_EQ(after.state, ProcessState::kRunning);
  EXPECT_EQ(after.log_file, before.log_file);
  EXPECT_FALSE(process_alive(before.pid, before.start_ticks));
  EXPECT_TRUE(wait_ready("service", file_contains(after.log_file, "started\nstarted\n")).ok());
}

TEST_F(SupervisorTest, RestartPolicyRestartsCrashesWithDoublingBackoff) {
  // Crashes at once every time: restarted immediately, then after 100ms,
  // 200ms, 400ms (capped), and on_restart reports each restart.
  ProcessSpec crasher = spec("crasher", {"sh", "-c", "echo run; exit 1"});
  crasher.restart_on_exit = true;
  crasher.restart_backoff = 100ms;
  crasher.restart_backoff_max = 400ms;
  std::vector<int> restarts;
  supervisor().on_restart([&](const ProcessInfo& info) { restarts.push_back(info.restarts); });
  start_ok(crasher);
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(run_until(
      io_, [&] { return restarts.size() >= 4; }, 30s));
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(restarts, (std::vector<int>{1, 2, 3, 4}));
  // 0 + 100 + 200 + 400 ms of backoff at the least.
  EXPECT_GE(took, 700ms);
  EXPECT_EQ(supervisor().info("crasher")->restarts, static_cast<int>(restarts.size()));

  // stop() during a backoff cancels the pending restart for good.
  ASSERT_TRUE(run_until(
      io_, [&] { return supervisor().restart_pending("crasher"); }, 30s));
  EXPECT_TRUE(stop("crasher"));
  EXPECT_FALSE(supervisor().restart_pending("crasher"));
  const auto count = restarts.size();
  run_until(
      io_, [] { return false; }, 1s);
  EXPECT_EQ(restarts.size(), count);
}

TEST_F(SupervisorTest, RestartPolicyRestartsAKilledProcessButNotAStoppedOne) {
  ProcessSpec service = spec("service", {"sleep", "1000"});
  service.restart_on_exit = true;
  service.restart_backoff = 100ms;
  start_ok(service);
  const pid_t first = pid_of("service");
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(run_until(io_, [&] {
    auto info = supervisor().info("service");
    return info->state == ProcessState::kRunning && info->pid != first;
  }));
  EXPECT_EQ(supervisor().info("service")->restarts, 1);

  EXPECT_TRUE(stop("service"));
  run_until(
      io_, [] { return false; }, 500ms);
  EXPECT_EQ(supervisor().info("service")->state, ProcessState::kExited);
  EXPECT_FALSE(supervisor().restart_pending("service"));
}

TEST_F(SupervisorTest, WaitReadySucceedsOnceTheCheckPasses) {
  start_ok(spec("sleeper", {"sleep", "1000"}));
  int calls = 0;
  const Status ready = wait_ready("sleeper", [&calls]() -> asio::awaitable<bool> { co_return ++calls == 3; });
  EXPECT_TRUE(ready.ok()) << ready.error().describe();
  EXPECT_EQ(calls, 3);
}

TEST_F(SupervisorTest, WaitReadyTimesOutAtTheDeadline) {
  start_ok(spec("sleeper", {"sleep", "1000"}));
  const auto before = steady_clock::now();
  const Status ready = wait_ready(
      "sleeper", []() -> asio::awaitable<bool> { co_return false; }, 100ms);
  ASSERT_FALSE(ready.ok());
  EXPECT_EQ(ready.error().code, ErrorCode::kTimeout);
  EXPECT_GE(steady_clock::now() - before, 100ms);
  EXPECT_EQ(supervisor().info("sleeper")->state, ProcessState::kRunning);
}

TEST_F(SupervisorTest, WaitReadyFailsFastWhenTheProcessExits) {
  start_ok(spec("doomed", {"sh", "-c", "echo starting; echo 'fatal: boom' >&2; sleep 0.2; exit 4"}));
  // The deadline is far beyond how long the test waits for an answer.
  const auto result = run_for(
      io_, supervisor().wait_ready(
               "doomed", []() -> asio::awaitable<bool> { co_return false; }, Millis(std::chrono::hours(1))));
  ASSERT_TRUE(result) << "wait_ready waited for the deadline";
  ASSERT_FALSE(result->ok());
  EXPECT_EQ(result->error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(contains(result->error().message, "exit code 4")) << result->error().message;
  EXPECT_TRUE(contains(result->error().message, "starting\nfatal: boom")) << result->error().message;
}

TEST_F(SupervisorTest, DestructorKillsAndReapsEveryProcess) {
  const fs::path pid_file = dir_ / "grandchild.pid";
  const fs::path parent = script("parent.sh", "sleep 1000 & echo $! > \"$1\"; wait\n");
  start_ok(spec("parent", {parent.string(), pid_file.string()}));
  start_ok(spec("paused", {"sleep", "1000"}));
  ASSERT_TRUE(supervisor().pause("paused").ok());
  ASSERT_TRUE(wait_ready("parent", file_contains(pid_file, "\n")).ok());
  const pid_t leader = pid_of("parent");
  const pid_t grandchild = std::stoi(read_file(pid_file));

  // A waiter suspended when the supervisor goes: it must complete, not crash.
  auto waited = std::make_shared<std::optional<Result<ExitStatus>>>();
  asio::co_spawn(io_, store_result(supervisor().wait_exit("paused"), waited), asio::detached);
  io_.restart();
  io_.poll();
  ASSERT_FALSE(*waited);

  supervisor_.reset();
  EXPECT_TRUE(has_no_children()) << "every child must be reaped by the destructor";
  EXPECT_TRUE(
      eventually([&] { return !process_alive(grandchild) && live_members_of_group(leader).empty(); }));

  ASSERT_TRUE(run_until(io_, [&] { return waited->has_value(); }));
  ASSERT_TRUE((*waited)->ok());
  EXPECT_EQ((*waited)->value().describe(), "killed by SIGKILL");
}

TEST_F(SupervisorTest, ChildrenDieWhenTheSupervisingProcessIsKilled) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const ProcessSpec sleeper = spec("sleeper", {"sleep", "1000"});
  const pid_t helper = ::fork();
  ASSERT_GE(helper, 0);
  if (helper == 0) {
    ::close(pipe_fds[0]);
    asio::io_context io;
    Supervisor supervisor(io);
    if (!supervisor.start(sleeper).ok()) ::_exit(1);
    const pid_t child = supervisor.info("sleeper")->pid;
    if (::write(pipe_fds[1], &child, sizeof child) != sizeof child) ::_exit(1);
    for (;;) ::pause();
  }
  ::close(pipe_fds[1]);
  pid_t child = 0;
  const ssize_t n = ::read(pipe_fds[0], &child, sizeof child);
  ::close(pipe_fds[0]);
  const uint64_t ticks = n == sizeof child ? process_start_ticks(child) : 0;

  ::kill(helper, SIGKILL);
  ASSERT_EQ(::waitpid(helper, nullptr, 0), helper);
  ASSERT_EQ(n, static_cast<ssize_t>(sizeof child)) << "the helper could not start its child";
  ASSERT_GT(ticks, 0u);
  const bool died = eventually([&] { return !process_alive(child, ticks); });
  if (!died) ::kill(child, SIGKILL);
  EXPECT_TRUE(died) << "PR_SET_PDEATHSIG did not kill the orphan";
}

}  // namespace
}  // namespace shakeout::cluster
