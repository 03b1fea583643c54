#pragma once
// IpPool: pod IPs from a node's /24 pod CIDR (127.C.k.0/24), as a CNI's
// host-local IPAM hands them out. .1 is the node IP; pods get .2-.254, the
// lowest free one first; an IP is held by a sandbox uid until released.
// Threading: not thread-safe.

#include <map>
#include <string>
#include <string_view>

#include "common/result.h"

namespace shakeout::runtime {

class IpPool {
 public:
  // kInvalidArgument unless `cidr` is an IPv4 a.b.c.0/24.
  static Result<IpPool> make(std::string_view cidr);

  // The IP held by `uid`, allocating one if it has none (idempotent);
  // kUnavailable when all 253 are taken.
  Result<std::string> allocate(const std::string& uid);
  // Frees the IP of `uid`; no-op if it holds none.
  void release(const std::string& uid);

  std::string gateway() const { return prefix_ + "1"; }  // the node IP
  std::size_t in_use() const { return by_uid_.size(); }

 private:
  explicit IpPool(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string prefix_;                 // "127.C.k."
  std::map<std::string, int> by_uid_;  // uid -> last octet
  std::map<int, std::string> by_octet_;
};

}  // namespace shakeout::runtime
