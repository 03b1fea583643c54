#include "runtime/codec.h"

#include <gtest/gtest.h>

namespace shakeout::runtime {
namespace {

using nlohmann::json;

TEST(RuntimeCodec, ContainerConfigRoundTripsWithCamelCaseKeys) {
  ContainerConfig config;
  config.pod_uid = "u1";
  config.name = "web";
  config.attempt = 3;
  config.image = "shakeout/app:v2";
  config.command = {"/bin/sh"};
  config.args = {"-c", "echo hi"};
  config.env = {{"A", "1"}, {"B", "two"}};
  config.working_dir = "/tmp";
  const json encoded = config;
  EXPECT_EQ(encoded.at("podUid"), "u1");
  EXPECT_EQ(encoded.at("workingDir"), "/tmp");
  const auto decoded = encoded.get<ContainerConfig>();
  EXPECT_EQ(decoded.pod_uid, "u1");
  EXPECT_EQ(decoded.attempt, 3);
  EXPECT_EQ(decoded.command, config.command);
  EXPECT_EQ(decoded.args, config.args);
  EXPECT_EQ(decoded.env, config.env);
  EXPECT_EQ(decoded.working_dir, "/tmp");
}

TEST(RuntimeCodec, ContainerStatusKeepsExitedState) {
  ContainerStatus status;
  status.id = "c1";
  status.state = ContainerState::kExited;
  status.exit_code = 137;
  status.reason = "Error";
  status.finished_unix_ms = 42;
  const json encoded = status;
  EXPECT_EQ(encoded.at("state"), "exited");
  const auto decoded = encoded.get<ContainerStatus>();
  EXPECT_EQ(decoded.state, ContainerState::kExited);
  EXPECT_EQ(decoded.exit_code, 137);
  EXPECT_EQ(decoded.reason, "Error");
  EXPECT_EQ(decoded.finished_unix_ms, 42);
}

TEST(RuntimeCodec, UnknownContainerStateIsRejected) {
  const auto parsed = parse_body<ContainerStatus>(R"({"state": "paused"})", "status");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
}

TEST(RuntimeCodec, DataplaneRulesRoundTripWithStatus) {
  DataplaneRules rules;
  rules.generation = 7;
  ServiceRule rule;
  rule.name = "default/web:http";
  rule.cluster_ip = "127.1.255.10";
  rule.port = 80;
  rule.node_port = 30080;
  rule.mode = "round-robin";
  rule.endpoints = {{"127.1.1.2", 8080}, {"127.1.2.2", 8080}};
  rules.services = {rule};
  ServiceRuleStatus status;
  status.name = rule.name;
  status.connections_total = 5;
  status.bind_errors = {"127.1.1.1:80: Permission denied"};
  rules.status = {status};
  const json encoded = rules;
  const auto decoded = encoded.get<DataplaneRules>();
  EXPECT_EQ(decoded.generation, 7);
  ASSERT_EQ(decoded.services.size(), 1U);
  EXPECT_EQ(decoded.services[0].cluster_ip, "127.1.255.10");
  EXPECT_EQ(decoded.services[0].node_port, 30080);
  EXPECT_EQ(decoded.services[0].mode, "round-robin");
  ASSERT_EQ(decoded.services[0].endpoints.size(), 2U);
  EXPECT_EQ(decoded.services[0].endpoints[1].ip, "127.1.2.2");
  ASSERT_EQ(decoded.status.size(), 1U);
  EXPECT_EQ(decoded.status[0].connections_total, 5U);
  EXPECT_EQ(decoded.status[0].bind_errors, status.bind_errors);
}

TEST(RuntimeCodec, MalformedBodyIsInvalidArgument) {
  EXPECT_EQ(parse_body<ContainerConfig>("{not json", "config").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(parse_body<ContainerConfig>(R"({"attempt": "three"})", "config").error().code,
            ErrorCode::kInvalidArgument);
}

TEST(RuntimeCodec, ErrorBodyRestoresCodeAndMessage) {
  const Error error = make_error(ErrorCode::kInvalidArgument, "ErrImagePull: nginx");
  const Error restored = error_from_response(http_status(error.code), error_body(error));
  EXPECT_EQ(restored.code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(restored.message, "ErrImagePull: nginx");
  EXPECT_EQ(http_status(ErrorCode::kNotFound), 404U);
  EXPECT_EQ(error_from_response(404, error_body(make_error(ErrorCode::kNotFound, "x"))).code,
            ErrorCode::kNotFound);
  EXPECT_EQ(error_from_response(502, "<html>bad gateway</html>").code, ErrorCode::kInternal);
}

}  // namespace
}  // namespace shakeout::runtime
