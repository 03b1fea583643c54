#include "cluster/cluster.h"

#include <fmt/format.h>
#include <unistd.h>

#include <csignal>

#include "common/log.h"

namespace shakeout::cluster {

Status validate(const ClusterOptions& options) {
  if (auto valid = validate_cluster_name(options.name); !valid) return valid;
  if (options.nodes < 1 || options.nodes > AddressPlan::kMaxNodes) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("nodes: must be 1..{}, got {}", AddressPlan::kMaxNodes, options.nodes));
  }
  if (options.etcd_members != 1 && options.etcd_members != 3) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("etcd-members: must be 1 or 3, got {}", options.etcd_members));
  }
  if (options.start_timeout.count() <= 0) {
    return make_error(ErrorCode::kInvalidArgument, "start timeout must be positive");
  }
  return {};
}

Result<std::unique_ptr<Cluster>> Cluster::create(asio::io_context& io, ClusterOptions options) {
  if (auto valid = validate(options); !valid) return valid.error();
  auto run_dir = RunDir::create(options.runtime_root, options.name);
  if (!run_dir) return run_dir.error();
  auto subnet = lease_subnet(options.runtime_root);
  if (!subnet) return subnet.error();
  return std::unique_ptr<Cluster>(
      new Cluster(io, std::move(options), std::move(*run_dir), std::move(*subnet)));
}

Cluster::Cluster(asio::io_context& io, ClusterOptions options, RunDir run_dir, SubnetLease subnet)
    : options_(std::move(options)),
      run_dir_(std::move(run_dir)),
      subnet_(std::move(subnet)),
      addresses_(subnet_.subnet),
      etcd_(plan_etcd(addresses_, options_.etcd_members, run_dir_.path(), options_.name)),
      supervisor_(io) {
  record_.name = options_.name;
  record_.subnet = addresses_.subnet();
  record_.run_dir = run_dir_.path().string();
  record_.profile = options_.profile.name();
  record_.supervisor_pid = ::getpid();
  record_.supervisor_start_ticks = process_start_ticks(::getpid());
  record_.etcd_endpoints = etcd_.client_urls();
  record_.timings = options_.profile.effective_values();
  for (int k = 1; k <= options_.nodes; ++k) {
    record_.nodes.push_back({fmt::format("node-{}", k), addresses_.node_ip(k), addresses_.pod_cidr(k)});
  }
  supervisor_.on_exit([this](const ProcessInfo& info, const ExitStatus& status) {
    if (record_.state != "stopping") {
      log::warn("cluster", "{} (pid {}) exited unexpectedly: {}", info.name, info.pid, status.describe());
    }
    write_record(record_.state);
  });
  write_record("starting");
}

Cluster::~Cluster() = default;

void Cluster::write_record(const std::string& state) {
  record_.state = state;
  record_.processes.clear();
  for (const auto& info : supervisor_.list()) {
    ProcessRecord p{info.name, "", info.pid, info.start_ticks, to_string(info.state), info.log_file.string(),
                    {}};
    for (const auto& m : etcd_.members) {
      if (m.name == info.name) {
        p.role = "etcd";
        p.addresses = {{"client", m.client_url}, {"peer", m.peer_url}};
      }
    }
    record_.processes.push_back(std::move(p));
  }
  if (auto written = run_dir_.write_record(record_); !written) {
    log::warn("cluster", "cannot update cluster.json: {}", written.error().message);
  }
}

asio::awaitable<Status> Cluster::start() {
  // Members of a multi-member cluster start one after another, each once the
  // previous one serves its peers (see wait_etcd_peer_serving for why).
  const bool one_by_one = etcd_.members.size() > 1;
  for (const auto& member : etcd_.members) {
    auto started =
        supervisor_.start(etcd_process_spec(etcd_, member, options_.profile, options_.etcd_binary));
    if (!started) co_return started;
    write_record("starting");
    if (!one_by_one) continue;
    auto serving = co_await wait_etcd_peer_serving(supervisor_, member, options_.start_timeout);
    if (!serving) {
      co_return make_error(serving.error().code, fmt::format("{}: {}", member.name, serving.error().message));
    }
  }
  for (const auto& member : etcd_.members) {
    auto ready = co_await wait_etcd_member_ready(supervisor_, member, options_.start_timeout);
    if (!ready) {
      co_return make_error(ready.error().code, fmt::format("{}: {}", member.name, ready.error().message));
    }
  }
  write_record("ready");
  co_return Status{};
}

asio::awaitable<void> Cluster::stop() {
  write_record("stopping");
  co_await supervisor_.stop_all();
}

void Cluster::abort() {
  for (const auto& info : supervisor_.list()) {
    if (info.state != ProcessState::kExited) (void)supervisor_.kill(info.name, SIGKILL);
  }
}

}  // namespace shakeout::cluster
