// `shakeout link`: one link proxy (src/faults/link.h) as a process of its
// own, for manual tests and benchmarks. The harness runs its links in its own
// process; this role is internal/debug.

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/log.h"
#include "faults/link.h"
#include "net/http_client.h"

namespace shakeout::cli {
namespace {

namespace asio = boost::asio;

struct LinkFlags {
  std::string name = "client->server";
  std::string listen;
  std::string upstream;
  uint64_t seed = 1;
  std::string stream = "downstream";
  std::string latency = "0s";
  std::string jitter = "0s";
  int64_t bandwidth_kbps = 0;
  double toxicity = 1.0;
};

int run_link(const LinkFlags& flags) {
  auto listen = net::parse_endpoint(flags.listen);
  auto upstream = net::parse_endpoint(flags.upstream);
  auto stream = faults::parse_stream(flags.stream);
  for (const Error* error :
       {listen.ok() ? nullptr : &listen.error(), upstream.ok() ? nullptr : &upstream.error(),
        stream.ok() ? nullptr : &stream.error()}) {
    if (error) {
      std::fprintf(stderr, "shakeout: error: %s\n", error->message.c_str());
      return kExitUsage;
    }
  }
  Millis latency{0};
  Millis jitter{0};
  if (!parse_duration_flag("--latency", flags.latency, latency) ||
      !parse_duration_flag("--jitter", flags.jitter, jitter))
    return kExitUsage;

  asio::io_context io(1);
  faults::Link link(io, flags.name, *listen, *upstream, flags.seed);
  std::vector<faults::Toxic> toxics;
  if (latency.count() > 0 || jitter.count() > 0) {
    faults::Toxic toxic;
    toxic.name = "latency";
    toxic.type = faults::ToxicType::kLatency;
    toxic.latency = latency;
    toxic.jitter = jitter;
    toxics.push_back(toxic);
  }
  if (flags.bandwidth_kbps > 0) {
    faults::Toxic toxic;
    toxic.name = "bandwidth";
    toxic.type = faults::ToxicType::kBandwidth;
    toxic.rate_kbps = flags.bandwidth_kbps;
    toxics.push_back(toxic);
  }
  for (auto& toxic : toxics) {
    toxic.stream = *stream;
    toxic.toxicity = flags.toxicity;
    if (auto added = link.add_toxic(toxic); !added) {
      std::fprintf(stderr, "shakeout: error: %s\n", added.error().message.c_str());
      return kExitUsage;
    }
  }
  if (auto started = link.start(); !started) {
    std::fprintf(stderr, "shakeout: error: %s\n", started.error().message.c_str());
    return kExitUsage;
  }
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    link.stop();
    const auto& s = link.stats();
    log::info("link", "{}: {} connections, {} bytes up, {} bytes down", link.name(), s.connections_accepted,
              s.bytes_upstream, s.bytes_downstream);
  });
  io.run();
  return kExitOk;
}

}  // namespace

RoleCommand add_link_command(CLI::App& app) {
  auto flags = std::make_shared<LinkFlags>();
  RoleCommand role;
  auto* cmd = app.add_subcommand(
      "link", "Internal/debug: one L4 link proxy with optional toxics, until SIGTERM/SIGINT");
  cmd->add_option("--name", flags->name, "the link's name, <client>-><server>")->capture_default_str();
  cmd->add_option("--listen", flags->listen, "host:port to accept connections on")->required();
  cmd->add_option("--upstream", flags->upstream, "host:port each connection is forwarded to")->required();
  cmd->add_option("--seed", flags->seed, "seed of every random choice (toxicity, jitter)")
      ->capture_default_str();
  cmd->add_option("--stream", flags->stream, "direction of the toxics below: upstream or downstream")
      ->capture_default_str();
  cmd->add_option("--latency", flags->latency, "latency toxic: delay per chunk (e.g. 10ms)");
  cmd->add_option("--jitter", flags->jitter, "latency toxic: uniform +- jitter");
  cmd->add_option("--bandwidth", flags->bandwidth_kbps, "bandwidth toxic: rate in KB/s");
  cmd->add_option("--toxicity", flags->toxicity, "chance per connection that the toxics apply")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  role.command = cmd;
  role.run = [flags] { return run_link(*flags); };
  return role;
}

}  // namespace shakeout::cli
