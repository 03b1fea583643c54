// `shakeout app` and `shakeout-app` (the lean binary the runtimes run for the
// image) as real processes on a loopback address of their own (127.232.0.x),
// exercised through every endpoint and both SIGTERM modes: every test runs
// once with each.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <string>
#include <vector>

#include "role_fixture.h"

namespace shakeout::testing {
namespace {

class AppTest : public RoleFixture, public ::testing::WithParamInterface<bool> {
 protected:
  // `shakeout app`, or `shakeout-app` (beside it) with no subcommand word.
  static std::vector<std::string> app_command() {
    if (!GetParam()) return {shakeout_binary(), "app"};
    return {(std::filesystem::path(shakeout_binary()).parent_path() / "shakeout-app").string()};
  }

  // Starts the app on 127.232.0.<host>:8080 and waits until it answers.
  std::string start_app(int host, std::vector<std::string> flags = {}) {
    const std::string ip = "127.232.0." + std::to_string(host + (GetParam() ? 100 : 0));
    cluster::ProcessSpec spec;
    spec.name = "app-" + std::to_string(host);
    spec.argv = app_command();
    spec.argv.insert(spec.argv.end(), {"--http-port", "8080"});
    spec.argv.insert(spec.argv.end(), flags.begin(), flags.end());
    spec.env = {{"POD_NAME", "web-" + std::to_string(host)},
                {"POD_NAMESPACE", "shop"},
                {"NODE_NAME", "node-7"},
                {"POD_IP", ip}};
    spec.log_file = dir_.path() / (spec.name + ".log");
    EXPECT_TRUE(supervisor_.start(spec).ok());
    EXPECT_TRUE(eventually([&] { return http("GET", ip, 8080, "/healthz", 1000ms).ok(); }))
        << "app never answered on " << ip;
    return ip;
  }

  unsigned status(const std::string& method, const std::string& ip, const std::string& target) {
    auto response = http(method, ip, 8080, target);
    return response ? response->status : 0;
  }
};

TEST_P(AppTest, RootAnswersItsIdentityAsOneJsonLine) {
  const auto ip = start_app(1);
  auto response = http("GET", ip, 8080, "/");
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 200U);
  ASSERT_FALSE(response->body.empty());
  EXPECT_EQ(response->body.back(), '\n');
  EXPECT_EQ(response->body.find('\n'), response->body.size() - 1);
  const auto body = nlohmann::json::parse(response->body);
  EXPECT_EQ(body.at("pod"), "web-1");
  EXPECT_EQ(body.at("namespace"), "shop");
  EXPECT_EQ(body.at("node"), "node-7");
  EXPECT_EQ(body.at("ip"), ip);
  EXPECT_EQ(status("GET", ip, "/healthz"), 200U);
  EXPECT_EQ(status("GET", ip, "/readyz"), 200U);
  EXPECT_EQ(status("GET", ip, "/nope"), 404U);
}

TEST_P(AppTest, ControlEndpointsFlipLivenessAndReadiness) {
  const auto ip = start_app(2);
  EXPECT_EQ(status("POST", ip, "/control/readiness?fail=true"), 200U);
  EXPECT_EQ(status("GET", ip, "/readyz"), 503U);
  EXPECT_EQ(status("GET", ip, "/healthz"), 200U);
  EXPECT_EQ(status("POST", ip, "/control/readiness?fail=false"), 200U);
  EXPECT_EQ(status("GET", ip, "/readyz"), 200U);
  EXPECT_EQ(status("POST", ip, "/control/liveness?fail=true"), 200U);
  EXPECT_EQ(status("GET", ip, "/healthz"), 500U);
  EXPECT_EQ(status("POST", ip, "/control/liveness?fail=false"), 200U);
  EXPECT_EQ(status("GET", ip, "/healthz"), 200U);
  EXPECT_EQ(status("GET", ip, "/control/liveness?fail=true"), 405U);
  EXPECT_EQ(status("POST", ip, "/control/liveness?fail=maybe"), 400U);
  EXPECT_EQ(status("POST", ip, "/control/latency?ms=-3"), 400U);
  EXPECT_EQ(status("POST", ip, "/control/exit?code=x"), 400U);
  EXPECT_EQ(status("GET", ip, "/healthz"), 200U);
}

TEST_P(AppTest, StartFlagsFailProbesAndAddLatency) {
  const auto ip = start_app(3, {"--fail-readiness", "--fail-liveness", "--latency", "300ms"});
  EXPECT_EQ(status("GET", ip, "/readyz"), 503U);
  EXPECT_EQ(status("GET", ip, "/healthz"), 500U);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(status("GET", ip, "/"), 200U);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);
}

TEST_P(AppTest, LatencyControlDelaysLaterRootAnswers) {
  const auto ip = start_app(4);
  EXPECT_EQ(status("POST", ip, "/control/latency?ms=400"), 200U);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(status("GET", ip, "/"), 200U);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 400ms);
}

TEST_P(AppTest, ExitControlAnswersThenExitsWithTheCode) {
  const auto ip = start_app(5);
  EXPECT_EQ(status("POST", ip, "/control/exit?code=3"), 200U);
  ASSERT_TRUE(eventually([&] { return exit_of("app-5").has_value(); }));
  EXPECT_FALSE(exit_of("app-5")->signaled);
  EXPECT_EQ(exit_of("app-5")->code, 3);
}

TEST_P(AppTest, SigtermDrainsInFlightRequestsAndExitsZero) {
  const auto ip = start_app(6, {"--latency", "1500ms"});
  std::optional<Result<net::HttpResponse>> in_flight;
  auto request = [](net::HttpClient& client, std::string host,
                    std::optional<Result<net::HttpResponse>>& out) -> asio::awaitable<void> {
    net::HttpRequest get;
    get.target = "/";
    net::Endpoint endpoint;
    endpoint.host = host;
    endpoint.port = 8080;
    out.emplace(co_await client.request(endpoint, get, 20000ms));
  };
  asio::co_spawn(io_, request(http_, ip, in_flight), asio::detached);
  sleep(500ms);  // the request is now waiting out its latency
  ASSERT_TRUE(supervisor_.kill("app-6", SIGTERM).ok());
  ASSERT_TRUE(eventually([&] { return in_flight.has_value(); }));
  ASSERT_TRUE(in_flight->ok()) << in_flight->error().message;
  EXPECT_EQ((*in_flight)->status, 200U);
  ASSERT_TRUE(eventually([&] { return exit_of("app-6").has_value(); }));
  EXPECT_FALSE(exit_of("app-6")->signaled);
  EXPECT_EQ(exit_of("app-6")->code, 0);
}

TEST_P(AppTest, ShutdownDelayKeepsServingWithReadyzFailing) {
  const auto ip = start_app(7, {"--shutdown-delay", "3s"});
  ASSERT_TRUE(supervisor_.kill("app-7", SIGTERM).ok());
  ASSERT_TRUE(eventually([&] { return status("GET", ip, "/readyz") == 503U; }, 2500ms));
  EXPECT_EQ(status("GET", ip, "/"), 200U);
  ASSERT_TRUE(eventually([&] { return exit_of("app-7").has_value(); }));
  EXPECT_EQ(exit_of("app-7")->code, 0);
  EXPECT_FALSE(exit_of("app-7")->signaled);
}

TEST_P(AppTest, IgnoredSigtermKeepsServingUntilToldOtherwise) {
  const auto ip = start_app(8, {"--ignore-sigterm"});
  ASSERT_TRUE(supervisor_.kill("app-8", SIGTERM).ok());
  sleep(500ms);
  EXPECT_FALSE(exit_of("app-8").has_value());
  EXPECT_EQ(status("GET", ip, "/"), 200U);
  EXPECT_EQ(status("GET", ip, "/readyz"), 200U);
  EXPECT_EQ(status("POST", ip, "/control/sigterm?ignore=false"), 200U);
  ASSERT_TRUE(supervisor_.kill("app-8", SIGTERM).ok());
  ASSERT_TRUE(eventually([&] { return exit_of("app-8").has_value(); }));
  EXPECT_EQ(exit_of("app-8")->code, 0);
}

TEST_P(AppTest, SigtermControlMakesTheAppIgnoreSigterm) {
  const auto ip = start_app(9);
  EXPECT_EQ(status("POST", ip, "/control/sigterm?ignore=true"), 200U);
  ASSERT_TRUE(supervisor_.kill("app-9", SIGTERM).ok());
  sleep(500ms);
  EXPECT_FALSE(exit_of("app-9").has_value());
  EXPECT_EQ(status("GET", ip, "/healthz"), 200U);
}

TEST_P(AppTest, BadFlagsExitTwoWithOneLine) {
  for (const std::vector<std::string>& flags : {std::vector<std::string>{"--http-port", "70000"},
                                                {"--latency", "soon"},
                                                {"--bind-address", "nowhere"},
                                                {"--no-such-flag"}}) {
    std::vector<std::string> argv = app_command();
    argv.insert(argv.end(), flags.begin(), flags.end());
    const auto result = run_command(argv, {}, 10000ms);
    EXPECT_EQ(result.exit_code, 2) << flags.front();
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  }
}

INSTANTIATE_TEST_SUITE_P(Binaries, AppTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? std::string("ShakeoutApp") : std::string("ShakeoutSubcommand");
                         });

}  // namespace
}  // namespace shakeout::testing
