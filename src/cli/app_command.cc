#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"

namespace shakeout::cli {

RoleCommand add_app_command(CLI::App& app) {
  RoleCommand role;
  role.command = app.add_subcommand("app", "Role: app (not built yet)");
  role.run = [] {
    std::fprintf(stderr, "shakeout: error: the app role is not built yet\n");
    return kExitUsage;
  };
  return role;
}

}  // namespace shakeout::cli
