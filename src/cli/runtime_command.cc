#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "runtime/runtime.h"

namespace shakeout::cli {

RoleCommand add_runtime_command(CLI::App& app) {
  auto options = std::make_shared<runtime::Options>();
  RoleCommand role;
  role.command = app.add_subcommand("runtime",
                                    "Role: container runtime of one node (containerd's role) and its "
                                    "Service dataplane");
  auto* cmd = role.command;
  cmd->add_option("--node-name", options->node_name, "the node's name")->required();
  cmd->add_option("--node-ip", options->node_ip, "the node IP (127.C.k.1); the API listens here")->required();
  cmd->add_option("--pod-cidr", options->pod_cidr, "the node's pod CIDR (127.C.k.0/24)")->required();
  cmd->add_option("--root", options->root, "state directory; container logs under ROOT/pods")->required();
  cmd->add_option("--port", options->port, "API port on the node IP")->capture_default_str();
  cmd->add_option("--app-binary", options->app_binary,
                  "binary run for image shakeout/app as `<binary> app ...` (default: this binary)");
  role.run = [options] {
    if (auto valid = runtime::validate(*options); !valid) {
      std::fprintf(stderr, "shakeout: error: %s\n", valid.error().message.c_str());
      return kExitUsage;
    }
    return runtime::run(*options);
  };
  return role;
}

}  // namespace shakeout::cli
