#pragma once
// The user commands of the `shakeout` binary. Each returns the process exit
// code: 0 success, 1 an expectation failed, 2 bad input or setup failure,
// 130 interrupted before the cluster was ready.

#include <filesystem>
#include <string>

#include "cluster/cluster.h"

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

// Entry point: parses argv and dispatches; bad flags exit 2 with one line.
int run(int argc, char** argv);

}  // namespace shakeout::cli
