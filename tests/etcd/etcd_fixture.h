#pragma once
// TEST-ONLY: a real etcd cluster of 1 or 3 members, each a child process of
// the test on its own loopback address (a random 127.X.Y.Z, X in 200..250,
// client port 2379, peer port 2380), data and logs in a temporary directory
// under /dev/shm, with the fast election profile (heartbeat 10ms, election
// 100ms) and progress notifications every 100ms.
//
// Nothing outlives the test: children die with the test process
// (PR_SET_PDEATHSIG), and the destructor SIGKILLs and reaps every member and
// removes the directory. A later change replaces this with the product's own
// cluster code; keep the interface this small.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/async.h"
#include "common/clock.h"
#include "common/result.h"

namespace shakeout::etcd::testing {

class EtcdCluster {
 public:
  // Boots `size` members and returns once every one answers a linearizable
  // range, or fails when `ready_timeout` passes first.
  static Result<std::unique_ptr<EtcdCluster>> start(int size, Millis ready_timeout = Millis(60000));
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  int size() const { return static_cast<int>(members_.size()); }
  std::vector<std::string> endpoints() const;
  const std::string& endpoint(int i) const { return members_.at(i).endpoint; }
  const std::string& name(int i) const { return members_.at(i).name; }

  void kill_member(int i);    // SIGKILL, then reap
  void pause_member(int i);   // SIGSTOP
  void resume_member(int i);  // SIGCONT

 private:
  struct Member {
    std::string name;
    std::string ip;
    std::string endpoint;  // http://ip:2379
    pid_t pid = -1;
  };

  explicit EtcdCluster(std::filesystem::path dir) : dir_(std::move(dir)) {}
  Status spawn(Member& member, const std::string& initial_cluster);
  Status wait_ready(Millis timeout);
  std::string log_tail(const Member& member) const;

  std::filesystem::path dir_;
  std::vector<Member> members_;
};

// run_blocking() for a task whose result is not default-constructible
// (Result<T>).
template <typename T>
T run_result(boost::asio::io_context& io, boost::asio::awaitable<T> task) {
  std::optional<T> out;
  run_blocking(io, [](std::optional<T>& out, boost::asio::awaitable<T> task) -> boost::asio::awaitable<void> {
    out.emplace(co_await std::move(task));
  }(out, std::move(task)));
  return std::move(*out);
}

}  // namespace shakeout::etcd::testing
