#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>

#include "app/app.h"
#include "cli/commands.h"

namespace shakeout::cli {

RoleCommand add_app_command(CLI::App& app) {
  struct Flags {
    app::Options options;
    std::string latency = "0s";
    std::string shutdown_delay = "0s";
  };
  auto flags = std::make_shared<Flags>();
  RoleCommand role;
  role.command = app.add_subcommand("app", "Role: the default workload, an HTTP server like agnhost netexec");
  auto* cmd = role.command;
  cmd->add_option("--http-port", flags->options.http_port, "port to serve on")->capture_default_str();
  cmd->add_option("--bind-address", flags->options.bind_address,
                  "address to serve on (default $POD_IP, else 127.0.0.1)");
  cmd->add_flag("--fail-readiness", flags->options.fail_readiness, "start with /readyz answering 503");
  cmd->add_flag("--fail-liveness", flags->options.fail_liveness, "start with /healthz answering 500");
  cmd->add_option("--latency", flags->latency, "delay every GET / by this long")->capture_default_str();
  cmd->add_flag("--ignore-sigterm", flags->options.ignore_sigterm, "log SIGTERM and keep serving");
  cmd->add_option("--shutdown-delay", flags->shutdown_delay,
                  "on SIGTERM keep serving this long with /readyz 503, like a preStop sleep")
      ->capture_default_str();
  role.run = [flags] {
    app::Options options = flags->options;
    if (!parse_duration_flag("--latency", flags->latency, options.latency) ||
        !parse_duration_flag("--shutdown-delay", flags->shutdown_delay, options.shutdown_delay))
      return kExitUsage;
    app::resolve_defaults(options);
    if (auto valid = app::validate(options); !valid) {
      std::fprintf(stderr, "shakeout: error: %s\n", valid.error().message.c_str());
      return kExitUsage;
    }
    return app::run(options);
  };
  return role;
}

}  // namespace shakeout::cli
