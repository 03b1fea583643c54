#include "runtime/ip_pool.h"

#include <gtest/gtest.h>

#include <set>

namespace shakeout::runtime {
namespace {

TEST(IpPool, HandsOutFromDotTwoAndIsIdempotentByUid) {
  auto pool = IpPool::make("127.5.3.0/24");
  ASSERT_TRUE(pool.ok());
  EXPECT_EQ(pool->gateway(), "127.5.3.1");
  EXPECT_EQ(*pool->allocate("a"), "127.5.3.2");
  EXPECT_EQ(*pool->allocate("b"), "127.5.3.3");
  EXPECT_EQ(*pool->allocate("a"), "127.5.3.2");
  EXPECT_EQ(pool->in_use(), 2U);
}

TEST(IpPool, ReleasedIpIsReused) {
  auto pool = IpPool::make("127.5.3.0/24");
  ASSERT_TRUE(pool.ok());
  (void)pool->allocate("a");
  (void)pool->allocate("b");
  pool->release("a");
  pool->release("unknown");
  EXPECT_EQ(*pool->allocate("c"), "127.5.3.2");
}

TEST(IpPool, ExhaustionIsUnavailableAndNeverHandsOutNodeOrBroadcast) {
  auto pool = IpPool::make("127.5.3.0/24");
  ASSERT_TRUE(pool.ok());
  std::set<std::string> ips;
  for (int i = 0; i < 253; ++i) {
    auto ip = pool->allocate("pod-" + std::to_string(i));
    ASSERT_TRUE(ip.ok());
    ips.insert(*ip);
  }
  EXPECT_EQ(ips.size(), 253U);
  EXPECT_FALSE(ips.contains("127.5.3.1"));
  EXPECT_FALSE(ips.contains("127.5.3.255"));
  EXPECT_FALSE(ips.contains("127.5.3.0"));
  auto full = pool->allocate("one-more");
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, ErrorCode::kUnavailable);
}

TEST(IpPool, RejectsAnythingButASlash24) {
  for (const char* bad :
       {"127.5.3.0/16", "127.5.3.1/24", "127.5.3.0", "300.1.1.0/24", "x", "127.5.3.0/24x"}) {
    EXPECT_FALSE(IpPool::make(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace shakeout::runtime
