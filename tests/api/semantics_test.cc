// Pure object rules: what an update stores, generation, generated names.

#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "api/store.h"

namespace shakeout::api {
namespace {

using nlohmann::json;

const ResourceInfo& resource(const char* group, const char* plural) {
  return *ResourceRegistry::builtin().by_plural(group, plural);
}

const json kOld = json::parse(R"({"kind":"Deployment","metadata":{"name":"d","uid":"u1",
  "creationTimestamp":"2024-01-01T00:00:00Z","generation":3},"spec":{"replicas":1},"status":{"replicas":1}})");

TEST(Semantics, SpecChangeBumpsGeneration) {
  json incoming = kOld;
  incoming["spec"]["replicas"] = 2;
  json out = prepare_update(resource("apps", "deployments"), kOld, incoming, UpdateTarget::kMain);
  EXPECT_EQ(out["metadata"]["generation"], 4);
}

TEST(Semantics, MetadataOnlyChangeKeepsGeneration) {
  json incoming = kOld;
  incoming["metadata"]["labels"] = {{"a", "b"}};
  incoming["metadata"]["generation"] = 99;  // clients cannot set it
  json out = prepare_update(resource("apps", "deployments"), kOld, incoming, UpdateTarget::kMain);
  EXPECT_EQ(out["metadata"]["generation"], 3);
  EXPECT_EQ(out["metadata"]["labels"]["a"], "b");
}

TEST(Semantics, MainUpdateIgnoresStatusAndKeepsSystemFields) {
  json incoming = kOld;
  incoming["status"]["replicas"] = 7;
  incoming["metadata"].erase("uid");
  incoming["metadata"]["creationTimestamp"] = "2030-01-01T00:00:00Z";
  incoming["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z";
  json out = prepare_update(resource("apps", "deployments"), kOld, incoming, UpdateTarget::kMain);
  EXPECT_EQ(out["status"]["replicas"], 1);
  EXPECT_EQ(out["metadata"]["uid"], "u1");
  EXPECT_EQ(out["metadata"]["creationTimestamp"], "2024-01-01T00:00:00Z");
  EXPECT_FALSE(out["metadata"].contains("deletionTimestamp"));
}

TEST(Semantics, StatusUpdateIgnoresEverythingButStatus) {
  json incoming = kOld;
  incoming["status"]["replicas"] = 7;
  incoming["spec"]["replicas"] = 9;
  incoming["metadata"]["labels"] = {{"a", "b"}};
  json out = prepare_update(resource("apps", "deployments"), kOld, incoming, UpdateTarget::kStatus);
  EXPECT_EQ(out["status"]["replicas"], 7);
  EXPECT_EQ(out["spec"]["replicas"], 1);
  EXPECT_FALSE(out["metadata"].contains("labels"));
  EXPECT_EQ(out["metadata"]["generation"], 3);
}

TEST(Semantics, ResourcesWithoutGenerationNeverGetOne) {
  json old = json::parse(R"({"metadata":{"name":"s"},"spec":{"a":1}})");
  json incoming = old;
  incoming["spec"]["a"] = 2;
  json out = prepare_update(resource("", "services"), old, incoming, UpdateTarget::kMain);
  EXPECT_FALSE(out["metadata"].contains("generation"));
  EXPECT_TRUE(spec_changed(old, incoming));
  EXPECT_FALSE(spec_changed(old, old));
}

TEST(Semantics, GeneratedNamesUseUpstreamAlphabet) {
  std::mt19937_64 random(42);
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    std::string name = generate_name("web-", random);
    EXPECT_TRUE(std::regex_match(name, std::regex("web-[bcdfghjklmnpqrstvwxz2456789]{5}"))) << name;
    seen.insert(name);
  }
  EXPECT_GT(seen.size(), 190U);
  EXPECT_EQ(generate_name(std::string(70, 'a'), random).size(), 63U);
}

TEST(Semantics, UuidsAreVersion4) {
  std::mt19937_64 random(7);
  std::string uuid = random_uuid(random);
  EXPECT_TRUE(std::regex_match(
      uuid, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << uuid;
  EXPECT_NE(uuid, random_uuid(random));
}

TEST(Semantics, TimestampsAreRfc3339Seconds) {
  auto t = std::chrono::system_clock::from_time_t(1718932742) + std::chrono::milliseconds(900);
  EXPECT_EQ(format_timestamp(t), "2024-06-21T01:19:02Z");
  EXPECT_EQ(parse_timestamp("2024-06-21T01:19:02Z"), std::chrono::system_clock::from_time_t(1718932742));
  EXPECT_FALSE(parse_timestamp("yesterday").has_value());
}

}  // namespace
}  // namespace shakeout::api
