#pragma once
// The user commands of the `shakeout` binary. Each returns the process exit
// code: 0 success, 1 an expectation failed, 2 bad input or setup failure,
// 130 interrupted before the cluster was ready.

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "cluster/cluster.h"
#include "common/clock.h"

namespace CLI {  // NOLINT(readability-identifier-naming): CLI11's namespace
class App;
}  // namespace CLI

namespace shakeout::cli {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;
constexpr int kExitInterrupted = 130;

struct UpOptions {
  cluster::ClusterOptions cluster;
  bool detach = false;
};

int up(const UpOptions& options);
int down(const std::filesystem::path& root, const std::string& name, bool all);
int status(const std::filesystem::path& root, const std::string& name, bool json);
// Prints the path of a running cluster's kubeconfig; 2 if there is none.
int kubeconfig(const std::filesystem::path& root, const std::string& name);
// Parses and checks experiment files, starting nothing: one "FILE: ok (...)"
// line each on stdout, every error as file:line:column on stderr; 0 when
// all are valid, 2 otherwise.
int validate(const std::vector<std::string>& files);

// Flag helpers for the role commands; each prints one line and returns false
// on bad input. read_token_file: the first line of `path` becomes `token`
// (so it is not in argv; an empty path leaves `token` alone).
bool read_token_file(const std::string& path, std::string& token);
// A Go duration flag ("15s", "750ms").
bool parse_duration_flag(const char* name, const std::string& text, Millis& out);

// A node role's subcommand (`shakeout runtime|kubelet|proxy|app`), each in
// its own <role>_command.cc: add_*_command() adds the subcommand and its flags
// to `app`; once argv is parsed and the subcommand was chosen, run() validates
// what the flags hold (exit 2 with one line on bad input) and runs the role.
struct RoleCommand {
  CLI::App* command = nullptr;
  std::function<int()> run;
};
RoleCommand add_runtime_command(CLI::App& app);
RoleCommand add_kubelet_command(CLI::App& app);
RoleCommand add_proxy_command(CLI::App& app);
RoleCommand add_app_command(CLI::App& app);
// `shakeout run PATH...` (run_command.cc): experiments, reports, exit 0/1/2.
RoleCommand add_run_command(CLI::App& app);
RoleCommand add_link_command(CLI::App& app);  // internal/debug: one link proxy

// Entry point: parses argv and dispatches; bad flags exit 2 with one line.
int run(int argc, char** argv);

}  // namespace shakeout::cli
