#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "kubelet/kubelet.h"

namespace shakeout::cli {
namespace {

// The kubelet's flags as CLI11 fills them, before parsing and validation.
struct KubeletFlags {
  kubelet::Options options;
  std::string master;
  std::string token_file;
  struct Duration {
    const char* name;
    std::string text;
    Millis* target;
    const char* help;
  };
  std::vector<Duration> durations;
};

int run_kubelet(KubeletFlags& flags) {
  for (auto& d : flags.durations)
    if (!parse_duration_flag(d.name, d.text, *d.target)) return kExitUsage;
  kubelet::Options& options = flags.options;
  options.master.clear();
  std::string rest = flags.master;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string url = rest.substr(0, comma);
    if (!url.empty()) options.master.push_back(url);
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
  }
  if (!read_token_file(flags.token_file, options.token)) return kExitUsage;
  if (auto valid = kubelet::validate(options); !valid) {
    std::fprintf(stderr, "shakeout: error: %s\n", valid.error().message.c_str());
    return kExitUsage;
  }
  return kubelet::run(options);
}

}  // namespace

RoleCommand add_kubelet_command(CLI::App& app) {
  auto flags = std::make_shared<KubeletFlags>();
  kubelet::Options& o = flags->options;
  RoleCommand role;
  auto* cmd =
      app.add_subcommand("kubelet", "Role: kubelet, the node agent (registers the node, runs its pods)");
  cmd->add_option("--master", flags->master, "API server URLs (http://host:port), comma-separated, in order")
      ->required();
  cmd->add_option("--token-file", flags->token_file, "file whose first line is the bearer token");
  cmd->add_option("--hostname-override", o.node_name, "the Node's name")->required();
  cmd->add_option("--node-ip", o.node_ip, "the node's IP (127.C.k.1)")->required();
  cmd->add_option("--pod-cidr", o.pod_cidr, "the node's pod CIDR (127.C.k.0/24)")->required();
  cmd->add_option("--runtime-endpoint", o.runtime_endpoint, "the runtime's URL (http://127.C.k.1:10010)")
      ->required();
  cmd->add_option("--port", o.port, "the kubelet API's port on --node-ip (0 = any)")->capture_default_str();
  cmd->add_option("--authentication-token-file", o.authentication_token_file,
                  "accepted bearer tokens, token,user,uid,\"groups\" per line");
  cmd->add_option("--pod-time-scale", o.pod_time_scale,
                  "multiplies every duration a pod spec gives (probes, termination grace)")
      ->capture_default_str();
  flags->durations = {
      {"--node-status-update-frequency", "10s", &o.node_status_update_frequency,
       "how often node status is posted"},
      {"--node-lease-duration", "40s", &o.node_lease_duration, "leaseDurationSeconds of the node Lease"},
      {"--node-lease-renew-interval", "10s", &o.node_lease_renew_interval,
       "how often the node Lease is renewed"},
      {"--crashloop-backoff-initial", "10s", &o.crashloop_backoff_initial, "first CrashLoopBackOff delay"},
      {"--crashloop-backoff-max", "300s", &o.crashloop_backoff_max, "maximum CrashLoopBackOff delay"},
      {"--crashloop-backoff-reset", "600s", &o.crashloop_backoff_reset,
       "a container that ran this long restarts without back-off"},
  };
  for (auto& d : flags->durations) cmd->add_option(d.name, d.text, d.help)->capture_default_str();
  role.command = cmd;
  role.run = [flags] { return run_kubelet(*flags); };
  return role;
}

}  // namespace shakeout::cli
