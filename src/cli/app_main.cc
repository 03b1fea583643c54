// `shakeout-app`: `shakeout app` as a binary of its own, what the runtime
// runs for the image shakeout/app. Same flags and behaviour (the same
// add_app_command()), but it links only the app, so a pod starts listening
// milliseconds sooner than through the whole `shakeout` binary, which loads
// and relocates every component at exec. `shakeout-app [app] [flags]`.

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"shakeout-app: the default workload (see `shakeout app --help`)", "shakeout-app"};
  app.require_subcommand(1);
  auto role = shakeout::cli::add_app_command(app);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args.front() != "app") args.insert(args.begin(), "app");
  std::reverse(args.begin(), args.end());  // CLI11 takes a vector last argument first
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::fprintf(stderr, "shakeout-app: error: %s\n", e.what());
    return shakeout::cli::kExitUsage;
  }
  return role.run();
}
