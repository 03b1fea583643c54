#include "runtime/ip_pool.h"

#include <fmt/format.h>

#include <cstdio>

namespace shakeout::runtime {

Result<IpPool> IpPool::make(std::string_view cidr) {
  unsigned a = 0;
  unsigned b = 0;
  unsigned c = 0;
  unsigned d = 0;
  unsigned bits = 0;
  char tail = 0;
  const std::string text(cidr);
  if (std::sscanf(text.c_str(), "%u.%u.%u.%u/%u%c", &a, &b, &c, &d, &bits, &tail) != 5 || a > 255 ||
      b > 255 || c > 255 || d != 0 || bits != 24) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("pod CIDR '{}' is not a.b.c.0/24", cidr));
  }
  return IpPool(fmt::format("{}.{}.{}.", a, b, c));
}

Result<std::string> IpPool::allocate(const std::string& uid) {
  if (const auto it = by_uid_.find(uid); it != by_uid_.end()) return prefix_ + std::to_string(it->second);
  for (int octet = 2; octet <= 254; ++octet) {
    if (by_octet_.contains(octet)) continue;
    by_octet_.emplace(octet, uid);
    by_uid_.emplace(uid, octet);
    return prefix_ + std::to_string(octet);
  }
  return make_error(ErrorCode::kUnavailable, fmt::format("pod CIDR {}0/24 is exhausted", prefix_));
}

void IpPool::release(const std::string& uid) {
  const auto it = by_uid_.find(uid);
  if (it == by_uid_.end()) return;
  by_octet_.erase(it->second);
  by_uid_.erase(it);
}

}  // namespace shakeout::runtime
