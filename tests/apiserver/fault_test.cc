// The fault filter of a real `shakeout apiserver` over real etcd: its
// control endpoint and what each fault type does to requests and watches.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "api_fixture.h"
#include "common/async.h"

namespace shakeout::apiserver::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kFaults = "/debug/shakeout/faults";

std::string header(const Reply& reply, const std::string& name) {
  for (const auto& [key, value] : reply.headers)
    if (key == name) return value;
  return "";
}

// The value of the sample `key` ("name{labels}") in a /metrics body; -1 if absent.
double sample(const std::string& metrics, const std::string& key) {
  const auto at = metrics.find("\n" + key + " ");
  return at == std::string::npos ? -1 : std::stod(metrics.substr(at + key.size() + 2));
}

// The value of `shakeout_apiserver_injected_faults_total{type="<type>"}`.
double injected(const std::string& metrics, const std::string& type) {
  return sample(metrics, "shakeout_apiserver_injected_faults_total{type=\"" + type + "\"}");
}

class FaultTest : public ApiFixture {
 protected:
  Reply add(const std::string& body) { return call("POST", kFaults, body); }
  Reply as(const std::string& user, const std::string& method, const std::string& target,
           const std::string& body = "") {
    net::HttpHeaders headers;
    headers.emplace_back("Authorization", "Bearer " + cluster_->token(user));
    return call_with(method, target, body, "application/json", headers);
  }
};

TEST_F(FaultTest, ErrorAnswersTheStatusForMatchingVerbAndResourceOnly) {
  ASSERT_EQ(add(R"({"id": "f1", "type": "error", "status": 503, "verbs": ["list"], "resources": ["pods"],
                    "durationMs": 30000})")
                .status,
            201u);
  const Reply hit = get("/api/v1/namespaces/default/pods");
  EXPECT_EQ(hit.status, 503u);
  EXPECT_EQ(hit.object()["kind"], "Status");
  EXPECT_EQ(hit.object()["reason"], "ServiceUnavailable");
  EXPECT_EQ(hit.object()["code"], 503);
  EXPECT_EQ(get("/api/v1/namespaces/default/services").status, 200u);   // another resource
  EXPECT_EQ(get("/api/v1/namespaces/default/pods/nope").status, 404u);  // another verb
  // Never matched: health, version, discovery, metrics, the control endpoint.
  ASSERT_EQ(add(R"({"id": "all", "type": "error", "status": 429, "durationMs": 30000})").status, 201u);
  const Reply throttled = get("/api/v1/namespaces/default/services");
  EXPECT_EQ(throttled.status, 429u);
  EXPECT_EQ(throttled.object()["reason"], "TooManyRequests");
  EXPECT_EQ(header(throttled, "Retry-After"), "1");
  for (const char* path :
       {"/healthz", "/livez", "/readyz", "/version", "/api", "/apis", "/api/v1", "/openapi/v3"})
    EXPECT_EQ(get(path).status, 200u) << path;
  const Reply listed = get(kFaults);
  ASSERT_EQ(listed.status, 200u);
  EXPECT_EQ(listed.object()["items"].size(), 2u);
  const std::string metrics = get("/metrics").body;
  EXPECT_EQ(injected(metrics, "error"), 2) << metrics;
  EXPECT_EQ(injected(metrics, "latency"), 0);
}

TEST_F(FaultTest, HalfTheRequestsFailWithASeededFiftyPercent) {
  ASSERT_EQ(add(R"({"id": "half", "type": "error", "status": 500, "percent": 50, "resources": ["pods"],
                    "durationMs": 60000, "seed": 1})")
                .status,
            201u);
  int failed = 0;
  for (int i = 0; i < 200; ++i) {
    const unsigned status = get("/api/v1/namespaces/default/pods").status;
    ASSERT_TRUE(status == 200 || status == 500) << status;
    failed += status == 500 ? 1 : 0;
  }
  EXPECT_GT(failed, 70);
  EXPECT_LT(failed, 130);
}

TEST_F(FaultTest, LatencyDelaysMatchingRequestsWithoutBlockingOthers) {
  ASSERT_EQ(add(R"({"id": "slow", "type": "latency", "latencyMs": 800, "jitterMs": 0, "resources": ["pods"],
                    "durationMs": 60000})")
                .status,
            201u);
  auto took = [this](const std::string& target) {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(get(target).status, 200u);
    return std::chrono::steady_clock::now() - start;
  };
  EXPECT_GE(took("/api/v1/namespaces/default/pods"), 800ms);
  EXPECT_LT(took("/api/v1/namespaces/default/services"), 500ms);
  // A delayed request in flight does not hold up another one.
  Reply slow;
  std::thread delayed([&] { slow = call_from_thread("GET", "/api/v1/namespaces/default/pods"); });
  std::this_thread::sleep_for(100ms);
  EXPECT_LT(took("/api/v1/namespaces/default/services"), 500ms);
  delayed.join();
  EXPECT_EQ(slow.status, 200u);
  EXPECT_EQ(injected(get("/metrics").body, "latency"), 2);
}

TEST_F(FaultTest, DropWatchEndsOpenAndNewWatchesUntilRemoved) {
  auto open = [this](const std::string& target) {
    net::HttpRequest request;
    request.target = target;
    request.headers.emplace_back("Authorization", "Bearer " + token());
    auto stream = run_blocking(io_, http_->open_stream(endpoint(), std::move(request), 10000ms));
    EXPECT_TRUE(stream.ok());
    return stream.ok() ? std::move(*stream) : nullptr;
  };
  // true: the body ended cleanly within `wait`; false: still open (or broken).
  auto ends_within = [this](net::HttpStream& stream, std::chrono::milliseconds wait) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return false;
      auto line = run_blocking(io_, stream.read_line(left));
      if (!line.ok()) return false;
      if (!*line) return true;
    }
  };
  auto pods = open("/api/v1/namespaces/default/pods?watch=true");
  auto services = open("/api/v1/namespaces/default/services?watch=true");
  ASSERT_TRUE(pods && services);
  // (A read that times out closes the stream, so "still open" is asked of
  // the server, or last.)
  EXPECT_EQ(sample(get("/metrics").body, "shakeout_apiserver_open_watches"), 2);
  ASSERT_EQ(add(R"({"id": "dw", "type": "drop-watch", "resources": ["pods"], "durationMs": 60000})").status,
            201u);
  EXPECT_TRUE(ends_within(*pods, 2000ms));
  EXPECT_FALSE(ends_within(*services, 300ms));
  auto again = open("/api/v1/namespaces/default/pods?watch=true");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status(), 200u);
  EXPECT_TRUE(ends_within(*again, 2000ms));
  EXPECT_EQ(get("/api/v1/namespaces/default/pods").status, 200u);  // lists are served
  EXPECT_EQ(injected(get("/metrics").body, "drop-watch"), 2);

  ASSERT_EQ(call("DELETE", std::string(kFaults) + "/dw").status, 200u);
  auto after = open("/api/v1/namespaces/default/pods?watch=true");
  ASSERT_TRUE(after);
  EXPECT_FALSE(ends_within(*after, 500ms));
}

TEST_F(FaultTest, DeleteAndExpiryRestoreService) {
  const std::string pods = "/api/v1/namespaces/default/pods";
  ASSERT_EQ(add(R"({"id": "e", "type": "error", "durationMs": 60000})").status, 201u);
  EXPECT_EQ(add(R"({"id": "e", "type": "error", "durationMs": 60000})").status, 409u);
  EXPECT_EQ(get(pods).status, 503u);
  EXPECT_EQ(call("DELETE", std::string(kFaults) + "/e").status, 200u);
  EXPECT_EQ(get(pods).status, 200u);
  EXPECT_EQ(call("DELETE", std::string(kFaults) + "/e").status, 404u);

  ASSERT_EQ(add(R"({"id": "short", "type": "error", "durationMs": 700})").status, 201u);
  EXPECT_EQ(get(pods).status, 503u);
  std::this_thread::sleep_for(1000ms);
  EXPECT_EQ(get(pods).status, 200u);
  EXPECT_TRUE(get(kFaults).object()["items"].empty());
}

TEST_F(FaultTest, OnlyAdminsControlFaults) {
  const std::string body = R"({"id": "x", "type": "error", "durationMs": 60000})";
  const Reply denied = as("system:kube-scheduler", "POST", kFaults, body);
  EXPECT_EQ(denied.status, 403u);
  EXPECT_EQ(denied.object()["reason"], "Forbidden");
  EXPECT_EQ(as("system:node:node-1", "GET", kFaults).status, 403u);
  EXPECT_EQ(as("system:kube-scheduler", "DELETE", std::string(kFaults) + "/x").status, 403u);
  EXPECT_EQ(get("/api/v1/namespaces/default/pods").status, 200u);         // nothing was added
  EXPECT_EQ(as("kubernetes-admin", "POST", kFaults, body).status, 201u);  // system:masters
}

TEST_F(FaultTest, BadBodiesAre400NamingTheField) {
  auto message = [this](const std::string& body) {
    const Reply reply = add(body);
    EXPECT_EQ(reply.status, 400u) << body;
    EXPECT_EQ(reply.object()["reason"], "BadRequest");
    return reply.object().value("message", "");
  };
  EXPECT_NE(message("not json").find("body"), std::string::npos);
  EXPECT_NE(message(R"({"id": "a", "type": "error"})").find("durationMs"), std::string::npos);
  EXPECT_NE(message(R"({"id": "a", "type": "error", "status": 99, "durationMs": 5})").find("status"),
            std::string::npos);
  EXPECT_NE(message(R"({"id": "a", "type": "latency", "durationMs": 5})").find("latencyMs"),
            std::string::npos);
  EXPECT_NE(message(R"({"id": "a", "type": "flaky", "durationMs": 5})").find("type"), std::string::npos);
  EXPECT_TRUE(get(kFaults).object()["items"].empty());
}

}  // namespace
}  // namespace shakeout::apiserver::testing
