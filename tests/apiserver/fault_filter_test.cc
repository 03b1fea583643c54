#include "apiserver/fault_filter.h"

#include <gtest/gtest.h>

namespace shakeout::apiserver {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

ApiFault parsed(const std::string& text) {
  auto fault = parse_fault(json::parse(text));
  EXPECT_TRUE(fault) << fault.error().message;
  return fault ? *fault : ApiFault();
}

std::string parse_error(const std::string& text) {
  auto fault = parse_fault(json::parse(text));
  EXPECT_FALSE(fault) << text;
  return fault ? "" : fault.error().message;
}

TEST(FaultFilter, ParsesTheControlBody) {
  const ApiFault fault = parsed(
      R"({"id": "f1", "type": "error", "status": 429, "percent": 25, "verbs": ["get", "list"],
          "resources": ["pods"], "durationMs": 2000, "seed": 7})");
  EXPECT_EQ(fault.id, "f1");
  EXPECT_EQ(fault.type, FaultType::kError);
  EXPECT_EQ(fault.status, 429);
  EXPECT_EQ(fault.percent, 25);
  EXPECT_EQ(fault.verbs, (std::vector<std::string>{"get", "list"}));
  EXPECT_EQ(fault.resources, (std::vector<std::string>{"pods"}));
  EXPECT_EQ(fault.duration, 2000ms);
  EXPECT_EQ(fault.seed, 7u);
  const ApiFault latency =
      parsed(R"({"id": "l", "type": "latency", "latencyMs": 200, "jitterMs": 50, "durationMs": 1})");
  EXPECT_EQ(latency.latency, 200ms);
  EXPECT_EQ(latency.jitter, 50ms);
  EXPECT_EQ(parse_fault(latency.to_json())->latency, 200ms);  // to_json reads back
}

TEST(FaultFilter, BadBodiesNameTheField) {
  EXPECT_EQ(parse_error(R"([1])").rfind("body:", 0), 0u);
  EXPECT_EQ(parse_error(R"({"type": "error", "durationMs": 1})").rfind("id:", 0), 0u);
  EXPECT_EQ(parse_error(R"({"id": "a", "type": "boom", "durationMs": 1})").rfind("type:", 0), 0u);
  EXPECT_EQ(parse_error(R"({"id": "a", "type": "error"})").rfind("durationMs:", 0), 0u);
  EXPECT_EQ(parse_error(R"({"id": "a", "type": "error", "durationMs": 0})").rfind("durationMs:", 0), 0u);
  EXPECT_EQ(
      parse_error(R"({"id": "a", "type": "error", "status": 200, "durationMs": 1})").rfind("status:", 0), 0u);
  EXPECT_EQ(
      parse_error(R"({"id": "a", "type": "error", "percent": 0, "durationMs": 1})").rfind("percent:", 0), 0u);
  EXPECT_EQ(
      parse_error(R"({"id": "a", "type": "error", "verbs": ["fetch"], "durationMs": 1})").rfind("verbs:", 0),
      0u);
  EXPECT_EQ(parse_error(R"({"id": "a", "type": "latency", "durationMs": 1})").rfind("latencyMs:", 0), 0u);
  EXPECT_EQ(parse_error(R"({"id": "a", "type": "latency", "latencyMs": 5, "jitterMs": 6, "durationMs": 1})")
                .rfind("jitterMs:", 0),
            0u);
  EXPECT_EQ(
      parse_error(R"({"id": "a", "type": "error", "durationMs": 1, "sttaus": 500})").rfind("sttaus:", 0), 0u);
}

TEST(FaultFilter, ErrorsMatchOnlyTheirVerbsAndResources) {
  FakeClock clock;
  FaultFilter filter(clock);
  ASSERT_TRUE(filter.add(parsed(
      R"({"id": "f", "type": "error", "status": 503, "verbs": ["list"], "resources": ["pods"], "durationMs": 1000})")));
  auto hit = filter.decide("list", "pods");
  ASSERT_TRUE(hit.error);
  EXPECT_EQ(hit.error->code, 503);
  EXPECT_EQ(hit.error->reason(), "ServiceUnavailable");
  EXPECT_EQ(hit.injected, (std::vector<std::string>{"error"}));
  EXPECT_FALSE(filter.decide("get", "pods").error);
  EXPECT_FALSE(filter.decide("list", "services").error);
  EXPECT_FALSE(filter.add(parsed(R"({"id": "f", "type": "error", "durationMs": 1})")));  // id taken
}

TEST(FaultFilter, ReasonsFollowTheStatusCode) {
  EXPECT_EQ(injected_error(500, "f").reason(), "InternalError");
  EXPECT_EQ(injected_error(504, "f").reason(), "Timeout");
  EXPECT_EQ(injected_error(409, "f").reason(), "Conflict");
  const auto throttled = injected_error(429, "f");
  EXPECT_EQ(throttled.reason(), "TooManyRequests");
  EXPECT_EQ(throttled.status["details"]["retryAfterSeconds"], 1);
  EXPECT_EQ(throttled.status["code"], 429);
  EXPECT_EQ(throttled.status["kind"], "Status");
}

TEST(FaultFilter, SeededPercentFailsAboutThatShareAndRepeats) {
  auto failures = [](uint64_t seed) {
    FakeClock clock;
    FaultFilter filter(clock);
    auto fault = parsed(R"({"id": "f", "type": "error", "percent": 50, "durationMs": 1000})");
    fault.seed = seed;
    EXPECT_TRUE(filter.add(fault));
    std::vector<bool> failed;
    for (int i = 0; i < 1000; ++i) failed.push_back(filter.decide("get", "pods").error.has_value());
    return failed;
  };
  const auto first = failures(1);
  const auto count = std::count(first.begin(), first.end(), true);
  EXPECT_GT(count, 420);
  EXPECT_LT(count, 580);
  EXPECT_EQ(failures(1), first);  // the same seed, the same requests fail
  EXPECT_NE(failures(2), first);
}

TEST(FaultFilter, LatencyStaysWithinJitter) {
  FakeClock clock;
  FaultFilter filter(clock);
  ASSERT_TRUE(filter.add(
      parsed(R"({"id": "l", "type": "latency", "latencyMs": 200, "jitterMs": 50, "resources": ["pods"],
                 "durationMs": 1000})")));
  for (int i = 0; i < 100; ++i) {
    const auto delay = filter.decide("list", "pods").delay;
    EXPECT_GE(delay, 150ms);
    EXPECT_LE(delay, 250ms);
  }
  EXPECT_EQ(filter.decide("list", "services").delay, 0ms);
}

TEST(FaultFilter, FaultsExpireOnTheirOwnAndCanBeRemoved) {
  FakeClock clock;
  FaultFilter filter(clock);
  ASSERT_TRUE(
      filter.add(parsed(R"({"id": "a", "type": "drop-watch", "resources": ["pods"], "durationMs": 1000})")));
  ASSERT_TRUE(filter.add(parsed(R"({"id": "b", "type": "error", "durationMs": 5000})")));
  EXPECT_TRUE(filter.drops_watches("pods"));
  EXPECT_FALSE(filter.drops_watches("services"));
  clock.advance(1000ms);
  EXPECT_FALSE(filter.drops_watches("pods"));
  ASSERT_EQ(filter.active().size(), 1u);
  EXPECT_TRUE(filter.decide("get", "pods").error);
  EXPECT_TRUE(filter.remove("b"));
  EXPECT_FALSE(filter.remove("b"));
  EXPECT_FALSE(filter.decide("get", "pods").error);
  EXPECT_TRUE(filter.active().empty());
}

}  // namespace
}  // namespace shakeout::apiserver
