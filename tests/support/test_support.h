#pragma once
// Helpers shared by tests: temporary directories and /proc scans.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace shakeout::testing {

// A fresh directory under /dev/shm (or /tmp), removed with its contents on
// destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "shakeout-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Pids of live (non-zombie) processes whose command line contains `needle`.
std::vector<pid_t> processes_matching(const std::string& needle);

// True if `pid` is running (exists and is not a zombie awaiting its reaper).
bool process_running(pid_t pid);

// Polls `processes_matching(needle)` until it is empty or `timeout` passes;
// returns what is left.
std::vector<pid_t> wait_no_processes_matching(const std::string& needle, std::chrono::milliseconds timeout);

// Result of running a command to completion.
struct CommandResult {
  int exit_code = -1;  // -1 if killed by a signal
  std::string out;
  std::string err;
};
// Runs argv with `env` additions, waits up to `timeout` (then SIGKILL).
CommandResult run_command(const std::vector<std::string>& argv,
                          const std::vector<std::pair<std::string, std::string>>& env,
                          std::chrono::milliseconds timeout);

// The shakeout binary under test ($SHAKEOUT_BINARY, set by ctest).
std::string shakeout_binary();

}  // namespace shakeout::testing
