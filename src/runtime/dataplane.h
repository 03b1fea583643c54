#pragma once
// Dataplane: a node's Service forwarding, what kube-proxy's iptables/ipvs
// rules do, as userspace L4 proxies owned by the runtime.
//
//   client ──► listener (ClusterIP:port | nodeIP:port | nodeIP:nodePort)
//                 └─ pick endpoint (random | round-robin) ──connect──► pod
//                 └─ splice both ways, half-close aware, until both sides end
//
// Contract:
// - set_rules() replaces the whole rule set, as iptables-restore. Listeners
//   are diffed by address: kept ones switch to the new endpoints, gone ones
//   stop accepting, new ones are bound. Connections already forwarded are
//   never cut by a rule change (they hold their own sockets).
// - ClusterIP listeners use SO_REUSEPORT (every node binds the same
//   ClusterIP:port; the kernel spreads connections). A bind failure is
//   logged and reported in status(); it fails neither the call nor the
//   rule's other listeners.
// - A connection accepted while its rule has no endpoints is closed at once;
//   an endpoint that refuses (or does not answer within connect_timeout)
//   closes the client connection. Both count as connect failures.
// - Rules stay as last programmed until the next set_rules() or stop().
// - stop() closes the listeners and every forwarded connection.
// Threading: one executor; not thread-safe.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/result.h"
#include "runtime/runtime_service.h"

namespace shakeout::runtime {

// One address to listen on and the rule it serves.
struct ListenSpec {
  std::string ip;
  int port = 0;
  std::string rule;  // ServiceRule::name
  bool reuse_port = false;

  std::string key() const { return ip + ":" + std::to_string(port); }
  bool operator==(const ListenSpec&) const = default;
};

// The listeners `rules` need on a node with `node_ip`, keyed by "ip:port".
// When two rules want one address the first keeps it and the second gets a
// conflict in `conflicts` (rule name -> "ip:port: ...").
struct ListenPlan {
  std::map<std::string, ListenSpec> listeners;
  std::multimap<std::string, std::string> conflicts;
};
ListenPlan plan_listeners(const std::vector<ServiceRule>& rules, const std::string& node_ip);

// What set_rules() must do to go from `current` to `desired`: an address
// wanted with other socket options is closed and opened again; a kept one
// may switch to another rule.
struct ListenDiff {
  std::vector<std::string> close;
  std::vector<ListenSpec> open;
  std::vector<ListenSpec> keep;
};
ListenDiff diff_listeners(const std::map<std::string, ListenSpec>& current,
                          const std::map<std::string, ListenSpec>& desired);

class Dataplane {
 public:
  Dataplane(asio::any_io_executor executor, std::string node_ip, uint64_t seed);
  ~Dataplane();
  Dataplane(const Dataplane&) = delete;
  Dataplane& operator=(const Dataplane&) = delete;

  // Replaces the rule set; returns the generation it was given.
  // kInvalidArgument (nothing changed) if a rule is malformed.
  Result<int64_t> set_rules(std::vector<ServiceRule> rules);
  // The rules as last programmed, with one status per rule.
  DataplaneRules rules() const;
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace shakeout::runtime
