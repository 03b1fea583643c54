#include "scheduler/taints.h"

#include <gtest/gtest.h>

namespace shakeout::scheduler {
namespace {

json taint(const std::string& key, const std::string& value, const std::string& effect) {
  return {{"key", key}, {"value", value}, {"effect", effect}};
}

TEST(Tolerations, EqualNeedsSameKeyValueAndEffect) {
  json t = {{"key", "dedicated"}, {"operator", "Equal"}, {"value", "db"}, {"effect", "NoSchedule"}};
  EXPECT_TRUE(tolerates(t, taint("dedicated", "db", "NoSchedule")));
  EXPECT_FALSE(tolerates(t, taint("dedicated", "web", "NoSchedule")));
  EXPECT_FALSE(tolerates(t, taint("other", "db", "NoSchedule")));
  EXPECT_FALSE(tolerates(t, taint("dedicated", "db", "NoExecute")));
}

TEST(Tolerations, EmptyOperatorMeansEqual) {
  json t = {{"key", "dedicated"}, {"value", "db"}};
  EXPECT_TRUE(tolerates(t, taint("dedicated", "db", "NoExecute")));
  EXPECT_FALSE(tolerates(t, taint("dedicated", "", "NoExecute")));
}

TEST(Tolerations, ExistsMatchesAnyValue) {
  json t = {{"key", "dedicated"}, {"operator", "Exists"}, {"effect", "NoSchedule"}};
  EXPECT_TRUE(tolerates(t, taint("dedicated", "anything", "NoSchedule")));
  EXPECT_FALSE(tolerates(t, taint("other", "anything", "NoSchedule")));
}

TEST(Tolerations, EmptyKeyWithExistsToleratesEverything) {
  json t = {{"operator", "Exists"}};
  EXPECT_TRUE(tolerates(t, taint("a", "b", "NoSchedule")));
  EXPECT_TRUE(tolerates(t, taint("node.kubernetes.io/unreachable", "", "NoExecute")));
}

TEST(Tolerations, EmptyEffectMatchesEveryEffect) {
  json t = {{"key", "k"}, {"operator", "Exists"}};
  EXPECT_TRUE(tolerates(t, taint("k", "", "NoSchedule")));
  EXPECT_TRUE(tolerates(t, taint("k", "", "NoExecute")));
  EXPECT_TRUE(tolerates(t, taint("k", "", "PreferNoSchedule")));
}

TEST(Tolerations, UnknownOperatorMatchesNothing) {
  json t = {{"key", "k"}, {"operator", "Gt"}, {"value", "1"}};
  EXPECT_FALSE(tolerates(t, taint("k", "1", "NoSchedule")));
}

TEST(Tolerations, PreferNoScheduleNeverFilters) {
  json taints = json::array({taint("soft", "", "PreferNoSchedule"), taint("hard", "x", "NoExecute")});
  auto found = find_untolerated_taint(taints, json());
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ((*found)["key"], "hard");
  json tolerations = json::array({{{"key", "hard"}, {"operator", "Exists"}}});
  EXPECT_FALSE(find_untolerated_taint(taints, tolerations).has_value());
  EXPECT_EQ(describe_taint(*found), "{hard: x}");
}

}  // namespace
}  // namespace shakeout::scheduler
