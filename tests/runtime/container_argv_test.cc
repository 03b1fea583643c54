#include <gtest/gtest.h>

#include "app/app.h"
#include "runtime/runtime.h"

namespace shakeout::runtime {
namespace {

ContainerConfig config(const std::string& image, std::vector<std::string> command,
                       std::vector<std::string> args) {
  ContainerConfig c;
  c.image = image;
  c.command = std::move(command);
  c.args = std::move(args);
  return c;
}

TEST(ContainerArgv, AppImageRunsTheAppBinaryWithArgs) {
  auto argv = container_argv(config("shakeout/app:v1", {}, {"--http-port", "9000"}), "/bin/shakeout");
  ASSERT_TRUE(argv.ok());
  EXPECT_EQ(*argv, (std::vector<std::string>{"/bin/shakeout", "app", "--http-port", "9000"}));
  EXPECT_TRUE(container_argv(config("shakeout/app", {}, {}), "/bin/shakeout").ok());
}

TEST(ContainerArgv, CommandOverridesTheEntrypoint) {
  auto argv = container_argv(config("busybox", {"/bin/sleep"}, {"10"}), "/bin/shakeout");
  ASSERT_TRUE(argv.ok());
  EXPECT_EQ(*argv, (std::vector<std::string>{"/bin/sleep", "10"}));
}

TEST(ContainerArgv, OtherImageWithoutCommandIsErrImagePull) {
  for (const char* image : {"nginx:1.25", "shakeout/apps", "shakeout/app:"}) {
    auto argv = container_argv(config(image, {}, {}), "/bin/shakeout");
    ASSERT_FALSE(argv.ok()) << image;
    EXPECT_EQ(argv.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(argv.error().message.rfind("ErrImagePull: ", 0), 0U) << argv.error().message;
  }
}

TEST(ContainerArgv, EmptyOrMalformedImageIsInvalidImageName) {
  for (const char* image : {"", "has space"}) {
    auto argv = container_argv(config(image, {"/bin/true"}, {}), "/bin/shakeout");
    ASSERT_FALSE(argv.ok());
    EXPECT_EQ(argv.error().message.rfind("InvalidImageName: ", 0), 0U) << argv.error().message;
  }
}

TEST(RuntimeOptions, NodeIpMustBeTheGatewayOfThePodCidr) {
  Options options;
  options.node_name = "node-1";
  options.node_ip = "127.9.1.1";
  options.pod_cidr = "127.9.1.0/24";
  options.root = "/tmp/x";
  EXPECT_TRUE(validate(options).ok());
  options.node_ip = "127.9.2.1";
  EXPECT_FALSE(validate(options).ok());
  options.node_ip = "nope";
  EXPECT_FALSE(validate(options).ok());
}

TEST(AppIdentity, IsOneLineOfJson) {
  app::Options options;
  options.pod_name = "web-1";
  options.pod_namespace = "default";
  options.node_name = "node-2";
  options.pod_ip = "127.1.2.5";
  EXPECT_EQ(app::identity_json(options),
            R"({"pod":"web-1","namespace":"default","node":"node-2","ip":"127.1.2.5"})"
            "\n");
}

TEST(AppOptions, RejectsBadPortAndAddress) {
  app::Options options;
  options.bind_address = "127.0.0.1";
  EXPECT_TRUE(app::validate(options).ok());
  options.http_port = 70000;
  EXPECT_FALSE(app::validate(options).ok());
  options.http_port = 8080;
  options.bind_address = "localhost-ish";
  EXPECT_FALSE(app::validate(options).ok());
}

}  // namespace
}  // namespace shakeout::runtime
