// `shakeout validate FILE...` as a user runs it: the real binary, exit codes,
// what goes to stdout and stderr, and that it starts nothing.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "test_support.h"

namespace shakeout::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const fs::path kGoodFile = fs::path(SHAKEOUT_SOURCE_DIR) / "tests/experiment/testdata/good.yaml";

class ValidateCommand : public ::testing::Test {
 protected:
  // A private runtime root: validating must leave it empty.
  CommandResult validate(const std::vector<std::string>& files) {
    std::vector<std::string> argv = {shakeout_binary(), "validate"};
    argv.insert(argv.end(), files.begin(), files.end());
    return run_command(argv, {{"SHAKEOUT_RUNTIME_DIR", (root_.path() / "runtime").string()}}, 60s);
  }
  fs::path write(const std::string& name, const std::string& text) {
    const auto path = files_.path() / name;
    std::ofstream(path) << text;
    return path;
  }
  void TearDown() override { EXPECT_FALSE(fs::exists(root_.path() / "runtime")); }

  TempDir root_;
  TempDir files_;
};

TEST_F(ValidateCommand, GoodFileExits0WithItsSummary) {
  auto result = validate({kGoodFile.string()});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, kGoodFile.string() + ": ok (etcd-leader-kill: 7 probes, 5 faults, repeat 3)\n");
  EXPECT_EQ(result.err, "");
}

TEST_F(ValidateCommand, BadFileExits2WithEveryErrorAtItsLineAndColumn) {
  const auto bad = write("bad.yaml",
                         "apiVersion: shakeout/v1\n"
                         "kind: Experiment\n"
                         "metadata: {name: bad}\n"
                         "spec:\n"
                         "  faults: [{at: 1s, action: kill, target: etcdd:leader}]\n"
                         "  repeat: 0\n");
  auto result = validate({bad.string()});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(
      result.err,
      bad.string() +
          ":5:43: spec.faults[0].target: unknown component 'etcdd' (expected one of etcd, apiserver, "
          "controller-manager, scheduler, kubelet, runtime, proxy, node, pod, deployment, link, api)\n" +
          bad.string() + ":6:11: spec.repeat: must be between 1 and 1000, got 0\n");
}

TEST_F(ValidateCommand, OneBadFileAmongGoodOnesExits2AndStillReportsTheGoodOnes) {
  const auto missing = files_.path() / "missing.yaml";
  auto result = validate({kGoodFile.string(), missing.string()});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.out, kGoodFile.string() + ": ok (etcd-leader-kill: 7 probes, 5 faults, repeat 3)\n");
  EXPECT_EQ(result.err, missing.string() + ": cannot read file: No such file or directory\n");
}

TEST_F(ValidateCommand, NoFileIsAUsageError) {
  auto result = validate({});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("files is required"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace shakeout::testing
