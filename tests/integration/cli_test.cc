// The `shakeout` binary end to end: flags, up --detach / status / down, and
// what is left after a normal end, Ctrl-C, and a SIGKILLed supervisor.

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <thread>

#include "test_support.h"

namespace shakeout::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ =
        fmt::format("cli-{}-{}", ::getpid(), ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::transform(name_.begin(), name_.end(), name_.begin(), [](char c) { return std::tolower(c); });
    name_ = name_.substr(0, 40);
    if (name_.back() == '-') name_.pop_back();
  }
  // Nothing a test starts may outlive it, whether it passed or not.
  void TearDown() override {
    run({"down", "--name", name_});
    EXPECT_TRUE(wait_no_processes_matching(run_dir().string(), 10s).empty());
    EXPECT_FALSE(fs::exists(run_dir()));
  }

  CommandResult run(std::vector<std::string> args, std::chrono::milliseconds timeout = 60s) {
    args.insert(args.begin(), shakeout_binary());
    return run_command(args, {{"SHAKEOUT_RUNTIME_DIR", root().string()}}, timeout);
  }
  fs::path root() const { return fs::path(std::getenv("SHAKEOUT_RUNTIME_DIR")); }
  fs::path run_dir() const { return root() / "clusters" / name_; }
  nlohmann::json record() const {
    std::ifstream in(run_dir() / "cluster.json");
    return nlohmann::json::parse(in);
  }

  std::string name_;
};

TEST_F(CliTest, BadFlagsExit2WithOneLineAndStartNothing) {
  const std::vector<std::vector<std::string>> bad = {
      {"up", "--nodes", "0", "--name", name_},
      {"up", "--etcd-members", "2", "--name", name_},
      {"up", "--profile", "slow", "--name", name_},
      {"up", "--bogus", "--name", name_},
      {"up", "--name", "Not_A_Label"},
      {"frobnicate"},
      {},
      {"down", "--all", "--name", "x"},
      {"kubeconfig", "--name", "no-such-cluster"},
      {"kubelet", "--hostname-override", "node-1"},
      {"proxy", "--master", "http://127.0.0.1:1", "--hostname-override", "n", "--runtime-endpoint", "bogus"},
  };
  // A root of its own: a broken `--all` must not reach other tests' clusters,
  // and "nothing started" means nothing at all appears in it.
  TempDir private_root;
  for (const auto& args : bad) {
    std::vector<std::string> argv = args;
    argv.insert(argv.begin(), shakeout_binary());
    auto result = run_command(argv, {{"SHAKEOUT_RUNTIME_DIR", private_root.path().string()}}, 60s);
    EXPECT_EQ(result.exit_code, 2) << fmt::format("{}", fmt::join(args, " "));
    EXPECT_TRUE(result.out.empty()) << result.out;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
    EXPECT_NE(result.err.find("error"), std::string::npos) << result.err;
  }
  EXPECT_TRUE(fs::is_empty(private_root.path()));
}

TEST_F(CliTest, HelpOnEveryCommandExits0) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--help"}, {"up", "--help"}, {"down", "--help"}, {"status", "--help"}, {"version", "--help"}}) {
    auto result = run(args);
    EXPECT_EQ(result.exit_code, 0) << args.front();
    EXPECT_NE(result.out.find("Usage"), std::string::npos) << result.out;
  }
  auto version = run({"version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out.rfind("shakeout ", 0), 0u) << version.out;
}

TEST_F(CliTest, UpDetachThenDownLeavesNothingBehind) {
  auto up = run({"up", "--detach", "--name", name_, "--etcd-members", "3", "--nodes", "3"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_NE(up.out.find("ready"), std::string::npos) << up.out;
  EXPECT_NE(up.out.find("leader"), std::string::npos) << up.out;

  const auto rec = record();
  EXPECT_EQ(rec["state"], "ready");
  // Three etcd members, the API server, a controller manager, a scheduler,
  // and a runtime, kubelet and proxy per node.
  // (By name: a controller manager that lost its Lease on a loaded machine
  // is restarted, and its record moves to the end.)
  ASSERT_EQ(rec["processes"].size(), 15u);
  std::map<std::string, std::string> roles;
  pid_t apiserver = 0;
  for (const auto& process : rec["processes"]) {
    roles[process["name"]] = process["role"];
    if (process["name"] == "apiserver-1") apiserver = process["pid"];
  }
  EXPECT_EQ(roles["etcd-3"], "etcd");
  EXPECT_EQ(roles["apiserver-1"], "apiserver");
  EXPECT_EQ(roles["controller-manager-1"], "controller-manager");
  EXPECT_EQ(roles["scheduler-1"], "scheduler");
  for (const char* node : {"node-1", "node-2", "node-3"}) {
    for (const char* role : {"runtime", "kubelet", "proxy"})
      EXPECT_EQ(roles[fmt::format("{}-{}", role, node)], role) << node;
  }
  auto kubeconfig = run({"kubeconfig", "--name", name_});
  EXPECT_EQ(kubeconfig.exit_code, 0) << kubeconfig.err;
  EXPECT_EQ(kubeconfig.out, (run_dir() / "kubeconfig").string() + "\n");
  EXPECT_NE(up.out.find((run_dir() / "kubeconfig").string()), std::string::npos) << up.out;
  auto kubectl =
      run_command({"kubectl", "--kubeconfig", (run_dir() / "kubeconfig").string(), "api-resources"}, {}, 60s);
  EXPECT_EQ(kubectl.exit_code, 0) << kubectl.err;
  EXPECT_NE(kubectl.out.find("deployments"), std::string::npos) << kubectl.out;
  // `up` returned once every node was Ready.
  auto nodes =
      run_command({"kubectl", "--kubeconfig", (run_dir() / "kubeconfig").string(), "get", "nodes"}, {}, 60s);
  EXPECT_EQ(nodes.exit_code, 0) << nodes.err;
  EXPECT_EQ(std::count(nodes.out.begin(), nodes.out.end(), '\n'), 4) << nodes.out;  // header + 3
  for (const char* node : {"node-1", "node-2", "node-3"}) {
    EXPECT_NE(nodes.out.find(std::string(node) + "   Ready"), std::string::npos) << nodes.out;
  }
  const pid_t supervisor = rec["supervisor"]["pid"];
  EXPECT_TRUE(process_running(supervisor));
  // All fifteen name the run dir (--token-auth-file, --token-file, --root).
  EXPECT_EQ(processes_matching(run_dir().string()).size(), 15u);

  auto status = run({"status", "--name", name_});
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_NE(status.out.find("etcd-3"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("yes"), std::string::npos) << status.out;  // one member is leader

  auto listing = run({"status"});
  EXPECT_NE(listing.out.find(name_), std::string::npos);

  auto down = run({"down", "--name", name_});
  EXPECT_EQ(down.exit_code, 0) << down.err;
  EXPECT_NE(down.out.find("stopped"), std::string::npos) << down.out;
  EXPECT_TRUE(processes_matching(run_dir().string()).empty());
  EXPECT_FALSE(process_running(supervisor));
  EXPECT_FALSE(process_running(apiserver));
  EXPECT_FALSE(fs::exists(run_dir()));
}

TEST_F(CliTest, KilledSupervisorTakesItsProcessesAndDownCleansTheStaleDir) {
  auto up = run({"up", "--detach", "--name", name_});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  const pid_t supervisor = record()["supervisor"]["pid"];
  const pid_t apiserver = record()["processes"][1]["pid"];
  ASSERT_TRUE(process_running(apiserver));
  ASSERT_EQ(::kill(supervisor, SIGKILL), 0);

  // PDEATHSIG: the members die with their supervisor, without anyone's help.
  EXPECT_TRUE(wait_no_processes_matching(run_dir().string(), 10s).empty());
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (process_running(apiserver) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(process_running(apiserver));
  auto status = run({"status", "--name", name_});
  EXPECT_NE(status.out.find("stale"), std::string::npos) << status.out;

  auto down = run({"down", "--name", name_});
  EXPECT_EQ(down.exit_code, 0);
  EXPECT_NE(down.out.find("stale"), std::string::npos) << down.out;
  EXPECT_FALSE(fs::exists(run_dir()));
}

TEST_F(CliTest, ForegroundUpStopsCleanlyOnCtrlC) {
  TempDir out_dir;
  const auto out_file = out_dir.path() / "out.txt";
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    ::setenv("SHAKEOUT_RUNTIME_DIR", root().c_str(), 1);
    ::execl(shakeout_binary().c_str(), "shakeout", "up", "--name", name_.c_str(), nullptr);
    ::_exit(127);
  }
  auto output = [&] {
    std::ifstream in(out_file);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (output().find("Ctrl-C") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_NE(output().find("Ctrl-C"), std::string::npos) << output();
  // etcd-1, apiserver-1, controller-manager-1, scheduler-1, and node-1's
  // runtime, kubelet and proxy
  EXPECT_EQ(processes_matching(run_dir().string()).size(), 7u);

  ::kill(pid, SIGINT);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status)) << output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << output();
  EXPECT_TRUE(processes_matching(run_dir().string()).empty());
  EXPECT_FALSE(fs::exists(run_dir()));
}

TEST_F(CliTest, UpOfARunningNameFailsWithExit2AndLeavesTheFirstAlone) {
  ASSERT_EQ(run({"up", "--detach", "--name", name_}).exit_code, 0);
  auto again = run({"up", "--detach", "--name", name_});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("already running"), std::string::npos) << again.err;
  EXPECT_EQ(record()["state"], "ready");
  // etcd-1, apiserver-1, controller-manager-1, scheduler-1, and node-1's
  // runtime, kubelet and proxy
  EXPECT_EQ(processes_matching(run_dir().string()).size(), 7u);
}

}  // namespace
}  // namespace shakeout::testing
