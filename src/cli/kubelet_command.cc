#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"

namespace shakeout::cli {

RoleCommand add_kubelet_command(CLI::App& app) {
  RoleCommand role;
  role.command = app.add_subcommand("kubelet", "Role: kubelet (not built yet)");
  role.run = [] {
    std::fprintf(stderr, "shakeout: error: the kubelet role is not built yet\n");
    return kExitUsage;
  };
  return role;
}

}  // namespace shakeout::cli
