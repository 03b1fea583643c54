#pragma once
// A real cluster of etcd and API servers only, for tests that play (or
// start) the controllers, scheduler and nodes themselves. Header-only: the
// targets that use it already link shakeout_cluster.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "cluster/cluster.h"
#include "common/async.h"
#include "test_support.h"

namespace shakeout::testing {

// Options named "<prefix>-<pid>-<seed>", one apiserver, no controller
// managers, schedulers or node components, and the roles run from the shakeout binary (never
// this test binary).
inline cluster::ClusterOptions api_cluster_options(const std::string& prefix) {
  cluster::ClusterOptions options;
  options.name =
      fmt::format("{}-{}-{}", prefix, ::getpid(), ::testing::UnitTest::GetInstance()->random_seed());
  options.apiservers = 1;
  options.controller_managers = 0;
  options.schedulers = 0;
  options.node_components = false;
  options.shakeout_binary = shakeout_binary();
  return options;
}

// Creates and starts the cluster; nullptr (with the failure recorded) if
// either step fails.
inline std::unique_ptr<cluster::Cluster> boot_cluster(boost::asio::io_context& io,
                                                      const cluster::ClusterOptions& options) {
  auto created = cluster::Cluster::create(io, options);
  if (!created.ok()) {
    ADD_FAILURE() << "create: " << created.error().message;
    return nullptr;
  }
  auto started = run_blocking(io, (*created)->start());
  if (!started.ok()) {
    ADD_FAILURE() << "start: " << started.error().describe();
    return nullptr;
  }
  return std::move(*created);
}

// `shakeout controller-manager` replica `index` against `cluster`: every
// apiserver, the controller manager's token, its metrics address, debug
// logs in the run dir, then `flags` (leader election, --controllers, ...).
inline cluster::ProcessSpec controller_manager_spec(const cluster::Cluster& cluster, int index,
                                                    const std::vector<std::string>& flags) {
  cluster::ProcessSpec spec;
  spec.name = fmt::format("controller-manager-{}", index);
  spec.argv = {shakeout_binary(), "controller-manager",
               "--master",        fmt::format("{}", fmt::join(cluster.apiserver_urls(), ",")),
               "--token",         cluster.token("system:kube-controller-manager"),
               "--bind-address",  cluster.addresses().controller_manager_ip(index),
               "--port",          "10257",
               "--log-level",     "debug"};
  spec.argv.insert(spec.argv.end(), flags.begin(), flags.end());
  spec.log_file = cluster.run_dir().path() / (spec.name + ".log");
  return spec;
}

}  // namespace shakeout::testing
