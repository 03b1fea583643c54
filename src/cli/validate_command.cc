// `shakeout validate FILE...`: parse, then validate, then stop (DESIGN §6):
// what `shakeout run` would refuse, found without a cluster.

#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "experiment/parser.h"

namespace shakeout::cli {

int validate(const std::vector<std::string>& files) {
  bool all_valid = true;
  for (const auto& file : files) {
    const auto result = experiment::parse_experiment_file(file);
    if (!result.experiment) {
      all_valid = false;
      for (const auto& error : result.errors) std::fprintf(stderr, "%s\n", error.describe().c_str());
      continue;
    }
    const auto& plan = *result.experiment;
    std::printf("%s: ok (%s: %zu probes, %zu faults, repeat %d)\n", file.c_str(), plan.name.c_str(),
                plan.probes.size(), plan.faults.size(), plan.repeat);
  }
  std::fflush(nullptr);
  return all_valid ? kExitOk : kExitUsage;
}

}  // namespace shakeout::cli
