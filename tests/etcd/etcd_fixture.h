#pragma once
// TEST-ONLY: a real etcd cluster of 1 or 3 members booted by the product's
// own cluster code (cluster::Cluster: run dir, subnet lease, supervisor with
// PDEATHSIG, readiness waits) with the fast profile. Nothing outlives the
// test: the destructor kills every member and removes the run directory.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <memory>
#include <string>
#include <vector>

#include "cluster/cluster.h"
#include "common/async.h"
#include "common/clock.h"
#include "common/result.h"

namespace shakeout::etcd::testing {

class EtcdCluster {
 public:
  // Boots `size` members and returns once every one is ready, or fails when
  // `ready_timeout` passes first.
  static Result<std::unique_ptr<EtcdCluster>> start(int size, Millis ready_timeout = Millis(60000));
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  int size() const { return static_cast<int>(members().size()); }
  std::vector<std::string> endpoints() const { return cluster_->etcd().client_urls(); }
  const std::string& endpoint(int i) const { return members().at(i).client_url; }
  const std::string& name(int i) const { return members().at(i).name; }

  void kill_member(int i);    // SIGKILL, then wait for the exit
  void pause_member(int i);   // SIGSTOP
  void resume_member(int i);  // SIGCONT

 private:
  EtcdCluster() = default;
  const std::vector<cluster::EtcdMember>& members() const { return cluster_->etcd().members; }

  // The cluster's supervisor lives on its own io_context, run only while the
  // fixture waits on it; the tests' clients use theirs.
  asio::io_context io_;
  std::unique_ptr<cluster::Cluster> cluster_;
};

}  // namespace shakeout::etcd::testing
