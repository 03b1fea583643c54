#pragma once
// Service ClusterIP and NodePort allocation over etcd, as upstream's service
// registry does it (pkg/registry/core/service/storage/alloc.go with the
// ipallocator and portallocator packages), for several API servers sharing
// one etcd.
//
// Storage layout: one etcd key per allocated value,
//   /registry/shakeout/serviceips/<ip>          e.g. .../serviceips/127.1.255.17
//   /registry/shakeout/servicenodeports/<port>  e.g. .../servicenodeports/30080
// whose value is the owner, {"namespace":..,"name":..} (for humans and a
// future repair pass). A reservation is a txn guarded by
// create_revision(key) == 0, so two API servers can never both win the same
// IP or port; the loser moves on to the next free one.
//
// Why one key per value and not upstream's bitmaps under /registry/ranges/:
// a bitmap is one hot key that every allocation rewrites with a
// read-modify-write CAS, retried under contention and needing a repair
// controller to find leaks; a key per value makes each reservation an
// independent create-if-absent, makes release a single delete, and shows
// every holder in etcd. Upstream moved the same way for ClusterIPs with
// networking.k8s.io IPAddress objects (KEP-1880, MultiCIDRServiceAllocator).
//
// Dynamic allocation follows upstream's randomScanStrategyWithOffset
// (KEP-3070 for IPs, KEP-3668 for node ports): a random start in the upper
// band of the range, scanning forward, then the lower band, which is kept
// for static (user-chosen) values as long as the upper band has room.
//
// Threading: lives on the executor of its etcd::Client; not thread-safe.
// Keeps a reference to the client. Coroutine arguments are taken by value.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>

#include "api/status.h"
#include "etcd/client.h"

namespace shakeout::api {

namespace asio = boost::asio;

inline constexpr const char* kServiceIpKeyPrefix = "/registry/shakeout/serviceips/";
inline constexpr const char* kServiceNodePortKeyPrefix = "/registry/shakeout/servicenodeports/";

struct ServiceRanges {
  std::string cluster_ip_cidr;  // IPv4, e.g. "127.1.255.0/24" (DESIGN §3)
  int node_port_min = 30000;
  int node_port_max = 32767;  // inclusive
};

// An update body that leaves out what the old object had allocated keeps it
// (upstream patchAllocatedValues): spec.clusterIP / clusterIPs when the new
// ones are empty, and each port's nodePort when the new port (matched by
// name, else by port and protocol) has none and the service still needs
// node ports. Apply before validate_object so "omitted" does not read as
// "changed".
void patch_allocated_values(const nlohmann::json& old_service, nlohmann::json& service);

// The IPs and node ports a service holds (what release() frees).
struct ServiceAllocations {
  std::set<std::string> ips;
  std::set<int> node_ports;
};
ServiceAllocations allocations_of(const nlohmann::json& service);

class ServiceAllocator {
 public:
  // Aborts (assert) on a malformed CIDR: the ranges come from our own
  // cluster configuration. `seed` drives the random scan start.
  ServiceAllocator(etcd::Client& etcd, ServiceRanges ranges, uint64_t seed);

  // For a Service being created (after apply_defaults): spec.clusterIP
  // ""/absent -> a free IP (never the network or broadcast address); a given
  // IP -> reserved, else 422 Invalid on spec.clusterIPs ("failed to allocate
  // IP x: provided IP is already allocated" / "...: the provided IP (x) is
  // not in the valid range. The range of valid IPs is <cidr>"); "None" ->
  // headless, nothing allocated. ExternalName services get no IP.
  // spec.clusterIPs is set to [clusterIP]. For type NodePort/LoadBalancer
  // each port's nodePort 0/absent gets a free port and a given one is
  // reserved (422 on spec.ports[i].nodePort: "provided port is already
  // allocated" / "provided port is not in the valid range. The range of
  // valid ports is 30000-32767"). A full range is 500 "failed to allocate a
  // serviceIP: range is full" / "failed to allocate a nodePort: range is
  // full", as upstream. On any failure everything this call reserved is
  // released. metadata.namespace/name are recorded as the owner.
  asio::awaitable<ApiResult<nlohmann::json>> allocate(nlohmann::json service);

  // For an update (call patch_allocated_values first): reserves what
  // `service` holds that `old_service` does not (a new IP when the service
  // stops being ExternalName or headless is not reallocated here: clusterIP
  // is immutable and validate_object reports it; node ports added, changed,
  // or needed after a type change to NodePort/LoadBalancer). Node ports of a
  // service that stops needing them are dropped from the body. Releases
  // nothing of `old_service`: once the update is stored, call
  // release_unused(old_service, stored) to free what was dropped; if the
  // update fails, release_unused(returned, old_service) undoes this call.
  asio::awaitable<ApiResult<nlohmann::json>> reallocate(nlohmann::json old_service, nlohmann::json service);

  // Releases every IP and node port `held` has and `kept` does not.
  asio::awaitable<void> release_unused(nlohmann::json held, nlohmann::json kept);

  // Releases everything `service` holds (after its delete).
  asio::awaitable<void> release(nlohmann::json service);

 private:
  // Create-if-absent of one key; true when this call created it.
  asio::awaitable<Result<bool>> reserve_key(std::string key, std::string owner);
  // A free value of [0, size) (index into the range), reserved; -1 when full.
  asio::awaitable<Result<int64_t>> reserve_next(std::string prefix, int64_t size, int64_t offset,
                                                std::string owner, bool ips);
  asio::awaitable<void> release_keys(std::set<std::string> keys);
  asio::awaitable<ApiResult<nlohmann::json>> allocate_node_ports(nlohmann::json service,
                                                                 nlohmann::json old_service,
                                                                 std::string owner,
                                                                 std::set<std::string>* reserved);

  std::string ip_at(int64_t index) const;
  std::string ip_key(const std::string& ip) const { return kServiceIpKeyPrefix + ip; }
  std::string port_key(int port) const { return kServiceNodePortKeyPrefix + std::to_string(port); }

  etcd::Client& etcd_;
  ServiceRanges ranges_;
  uint32_t first_ip_ = 0;  // network address + 1
  int64_t ip_count_ = 0;   // usable addresses (network and broadcast excluded)
  int64_t ip_offset_ = 0;  // size of the static band
  int64_t port_offset_ = 0;
  std::mt19937_64 random_;
};

}  // namespace shakeout::api
