#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "proxy/proxy.h"

namespace shakeout::cli {
namespace {

struct ProxyFlags {
  proxy::Options options;
  std::string token_file;
  std::string sync_period = "30s";
  std::string min_sync_period = "1s";
};

}  // namespace

RoleCommand add_proxy_command(CLI::App& app) {
  auto flags = std::make_shared<ProxyFlags>();
  auto& options = flags->options;
  RoleCommand role;
  auto* cmd = app.add_subcommand("proxy", "Role: kube-proxy, programs its node's Service dataplane");
  cmd->add_option("--master", options.master, "API server URLs (http://host:port), in order")
      ->delimiter(',')
      ->required();
  cmd->add_option("--token", options.token, "bearer token for the API server");
  cmd->add_option("--token-file", flags->token_file,
                  "file whose first line is the bearer token (not in argv)");
  cmd->add_option("--hostname-override", options.hostname_override, "the node's name")->required();
  cmd->add_option("--runtime-endpoint", options.runtime_endpoint,
                  "the node runtime that hosts the dataplane (http://host:port)")
      ->required();
  cmd->add_option("--proxy-mode", options.proxy_mode, "iptables (random endpoint) or ipvs (round-robin)")
      ->capture_default_str();
  cmd->add_option("--iptables-sync-period", flags->sync_period, "full resync of the dataplane")
      ->capture_default_str();
  cmd->add_option("--iptables-min-sync-period", flags->min_sync_period,
                  "changes are applied at most this often")
      ->capture_default_str();
  cmd->add_option("--healthz-bind-address", options.healthz_bind_address, "host:port for /healthz")
      ->capture_default_str();
  role.command = cmd;
  role.run = [flags] {
    auto& options = flags->options;
    if (!read_token_file(flags->token_file, options.token) ||
        !parse_duration_flag("--iptables-sync-period", flags->sync_period, options.sync_period) ||
        !parse_duration_flag("--iptables-min-sync-period", flags->min_sync_period, options.min_sync_period))
      return kExitUsage;
    if (auto valid = proxy::validate(options); !valid) {
      std::fprintf(stderr, "shakeout: error: %s\n", valid.error().message.c_str());
      return kExitUsage;
    }
    return proxy::run(options);
  };
  return role;
}

}  // namespace shakeout::cli
