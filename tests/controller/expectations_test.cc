// Expectations (upstream UIDTrackingControllerExpectations) on a fake clock.

#include "controller/expectations.h"

#include <gtest/gtest.h>

namespace shakeout::controller {
namespace {

using namespace std::chrono_literals;

TEST(Expectations, UnknownKeyIsSatisfied) {
  FakeClock clock;
  Expectations e(clock);
  EXPECT_TRUE(e.satisfied("ns/rs"));
}

TEST(Expectations, CreationsMustAllBeObserved) {
  FakeClock clock;
  Expectations e(clock);
  e.expect_creations("ns/rs", 2);
  EXPECT_FALSE(e.satisfied("ns/rs"));
  e.creation_observed("ns/rs");
  EXPECT_FALSE(e.satisfied("ns/rs"));
  e.creation_observed("ns/rs");
  EXPECT_TRUE(e.satisfied("ns/rs"));
  e.creation_observed("ns/other");  // no record: nothing happens
  EXPECT_TRUE(e.satisfied("ns/other"));
}

TEST(Expectations, DeletionsCountOncePerExpectedPod) {
  FakeClock clock;
  Expectations e(clock);
  e.expect_deletions("ns/rs", {"ns/p1", "ns/p2"});
  e.deletion_observed("ns/rs", "ns/p1");
  e.deletion_observed("ns/rs", "ns/p1");  // terminating, then gone: once
  e.deletion_observed("ns/rs", "ns/p3");  // not one we deleted
  EXPECT_FALSE(e.satisfied("ns/rs"));
  EXPECT_EQ(e.pending("ns/rs"), std::make_pair(0, 1));
  e.deletion_observed("ns/rs", "ns/p2");
  EXPECT_TRUE(e.satisfied("ns/rs"));
}

TEST(Expectations, ExpireAfterFiveMinutes) {
  FakeClock clock;
  Expectations e(clock);
  e.expect_creations("ns/rs", 1);
  clock.advance(5min);
  EXPECT_FALSE(e.satisfied("ns/rs")) << "not before the TTL has passed";
  clock.advance(1ms);
  EXPECT_TRUE(e.satisfied("ns/rs"));
}

TEST(Expectations, EraseForgetsTheKey) {
  FakeClock clock;
  Expectations e(clock);
  e.expect_creations("ns/rs", 3);
  e.erase("ns/rs");
  EXPECT_TRUE(e.satisfied("ns/rs"));
}

}  // namespace
}  // namespace shakeout::controller
