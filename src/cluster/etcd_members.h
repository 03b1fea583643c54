#pragma once
// Booting real etcd members (Debian's etcd-server) for a cluster.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "cluster/address_plan.h"
#include "cluster/profile.h"
#include "cluster/supervisor.h"
#include "common/result.h"

namespace shakeout::cluster {

struct EtcdMember {
  int index = 0;           // 1-based
  std::string name;        // "etcd-1"
  std::string client_url;  // "http://127.C.0.11:2379"
  std::string peer_url;    // "http://127.C.0.11:2380"
  std::filesystem::path data_dir;
  std::filesystem::path log_file;
};

struct EtcdClusterPlan {
  std::string token;  // --initial-cluster-token, unique per cluster
  std::vector<EtcdMember> members;

  std::string initial_cluster() const;  // "etcd-1=http://...:2380,etcd-2=..."
  std::vector<std::string> client_urls() const;
};

// Members 1..count on `plan`'s addresses, data and logs under `run_dir`.
EtcdClusterPlan plan_etcd(const AddressPlan& plan, int count, const std::filesystem::path& run_dir,
                          const std::string& cluster_name);

// The etcd command line for one member, timings from the profile.
ProcessSpec etcd_process_spec(const EtcdClusterPlan& plan, const EtcdMember& member, const Profile& profile,
                              const std::string& etcd_binary);

// Completes when `member` answers on its peer port (GET /version), i.e. it
// has finished starting and serves its peers; fails fast if it exits.
//
// Why the cluster waits for this between members of a new cluster: at start,
// etcd 3.4 asks every peer whether it was already bootstrapped, with a 1s
// timeout per peer. A peer whose listener is open but which is still starting
// accepts the connection and never answers, so a parallel start costs 1-2s
// about one boot in ten. Starting members one after another, each once the
// previous one serves its peers, makes every such question answered or
// refused at once.
asio::awaitable<Status> wait_etcd_peer_serving(Supervisor& supervisor, const EtcdMember& member,
                                               Millis deadline);

// Completes when `member` serves a linearizable read and its status names a
// leader (so the cluster has quorum); fails fast if the process exits.
asio::awaitable<Status> wait_etcd_member_ready(Supervisor& supervisor, const EtcdMember& member,
                                               Millis deadline);

}  // namespace shakeout::cluster
