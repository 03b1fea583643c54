#include "etcd_fixture.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <stdexcept>

namespace shakeout::etcd::testing {

Result<std::unique_ptr<EtcdCluster>> EtcdCluster::start(int size, Millis ready_timeout) {
  static std::atomic<int> counter{0};
  cluster::ClusterOptions options;
  options.name = fmt::format("etcd-{}-{}", ::getpid(), counter++);
  options.etcd_members = size;
  options.apiservers = 0;  // etcd only
  options.start_timeout = ready_timeout;
  std::unique_ptr<EtcdCluster> fixture(new EtcdCluster());
  auto created = cluster::Cluster::create(fixture->io_, options);
  if (!created) return created.error();
  fixture->cluster_ = std::move(*created);
  auto started = run_blocking(fixture->io_, fixture->cluster_->start());
  if (!started) return started.error();
  return fixture;
}

EtcdCluster::~EtcdCluster() {
  cluster_.reset();
}

void EtcdCluster::kill_member(int i) {
  auto& supervisor = cluster_->supervisor();
  if (auto killed = supervisor.kill(name(i), SIGKILL); !killed)
    throw std::runtime_error(killed.error().message);
  auto exit = run_blocking(io_, supervisor.wait_exit(name(i)));
  if (!exit) throw std::runtime_error(exit.error().message);
}

void EtcdCluster::pause_member(int i) {
  if (auto paused = cluster_->supervisor().pause(name(i)); !paused)
    throw std::runtime_error(paused.error().message);
}

void EtcdCluster::resume_member(int i) {
  if (auto resumed = cluster_->supervisor().resume(name(i)); !resumed) {
    throw std::runtime_error(resumed.error().message);
  }
}

}  // namespace shakeout::etcd::testing
