// `shakeout runtime` as a real process, driven through its HTTP client
// (make_runtime_client). Each test runs a node of its own: node IP
// 127.231.<k>.1, pod CIDR 127.231.<k>.0/24, ClusterIPs 127.231.255.<k>.

#include <nlohmann/json.hpp>

#include <csignal>
#include <set>

#include "role_fixture.h"
#include "runtime/runtime_service.h"

namespace shakeout::testing {
namespace {

using runtime::ContainerConfig;
using runtime::ContainerState;
using runtime::ContainerStatus;
using runtime::PodSandbox;

class RuntimeTest : public RoleFixture {
 protected:
  void TearDown() override {
    client_.reset();
    RoleFixture::TearDown();
  }

  // Starts the runtime of node k and waits for /healthz.
  void start_runtime(int k) {
    k_ = k;
    node_ip_ = fmt::format("127.231.{}.1", k);
    cluster::ProcessSpec spec;
    spec.name = "runtime";
    spec.argv = {shakeout_binary(), "runtime",
                 "--node-name",     fmt::format("node-{}", k),
                 "--node-ip",       node_ip_,
                 "--pod-cidr",      fmt::format("127.231.{}.0/24", k),
                 "--root",          (dir_.path() / "root").string()};
    // Must not reach any container: containers get exactly their own env.
    spec.env = {{"RUNTIME_ONLY_MARKER", "1"}};
    spec.log_file = dir_.path() / "runtime.log";
    ASSERT_TRUE(supervisor_.start(spec).ok());
    ASSERT_TRUE(
        eventually([&] { return http("GET", node_ip_, runtime::kRuntimePort, "/healthz", 1000ms).ok(); }));
    client_ = runtime::make_runtime_client(io_.get_executor(),
                                           fmt::format("http://{}:{}", node_ip_, runtime::kRuntimePort));
  }

  PodSandbox sandbox(const std::string& name) {
    runtime::PodSandboxConfig config;
    config.uid = "uid-" + name;
    config.ns = "default";
    config.name = name;
    config.labels = {{"app", name}, {"tier", "front"}};
    auto made = run(client_->run_sandbox(config));
    EXPECT_TRUE(made.ok()) << (made ? "" : made.error().message);
    return made ? *made : PodSandbox{};
  }

  ContainerConfig app_config(const PodSandbox& pod, std::vector<std::string> args = {}) {
    ContainerConfig config;
    config.pod_uid = pod.uid;
    config.name = "app";
    config.image = "shakeout/app:latest";
    config.args = std::move(args);
    config.env = {{"POD_NAME", pod.name},
                  {"POD_NAMESPACE", pod.ns},
                  {"POD_IP", pod.ip},
                  {"NODE_NAME", fmt::format("node-{}", k_)}};
    return config;
  }

  ContainerConfig command_config(const PodSandbox& pod, const std::string& name,
                                 std::vector<std::string> command) {
    ContainerConfig config;
    config.pod_uid = pod.uid;
    config.name = name;
    config.image = "busybox";
    config.command = std::move(command);
    return config;
  }

  ContainerStatus start(ContainerConfig config) {
    auto started = run(client_->start_container(std::move(config)));
    EXPECT_TRUE(started.ok()) << (started ? "" : started.error().message);
    return started ? *started : ContainerStatus{};
  }

  // An app container on a new sandbox, serving on its pod IP.
  PodSandbox running_app(const std::string& name, std::vector<std::string> args = {}) {
    const auto pod = sandbox(name);
    start(app_config(pod, std::move(args)));
    EXPECT_TRUE(eventually([&] { return http("GET", pod.ip, 8080, "/healthz", 1000ms).ok(); }))
        << name << " never served on " << pod.ip;
    return pod;
  }

  std::optional<ContainerStatus> status(const std::string& id) {
    auto got = run(client_->container_status(id));
    if (!got) return std::nullopt;
    return *got;
  }

  bool exited(const std::string& id) {
    const auto now = status(id);
    return now && now->state == ContainerState::kExited;
  }

  // The pod name an app behind host:port answers with, over a new TCP
  // connection (so a dataplane picks an endpoint for it); "" on failure.
  std::string who(const std::string& host, int port) {
    RawConnection connection(host, port);
    if (!connection.connected()) return "";
    const auto body = connection.get("/");
    if (!body) return "";
    return nlohmann::json::parse(*body).value("pod", "");
  }

  runtime::ServiceRule service(const std::string& mode,
                               std::vector<runtime::ServiceRule::Endpoint> endpoints) {
    runtime::ServiceRule rule;
    rule.name = "default/web:http";
    rule.cluster_ip = fmt::format("127.231.255.{}", k_);
    rule.port = 8000;
    rule.node_port = 30000 + k_;
    rule.mode = mode;
    rule.endpoints = std::move(endpoints);
    return rule;
  }

  void program(std::vector<runtime::ServiceRule> rules) {
    runtime::DataplaneRules set;
    set.services = std::move(rules);
    auto done = run(client_->set_dataplane(set));
    ASSERT_TRUE(done.ok()) << done.error().message;
  }

  int k_ = 0;
  std::string node_ip_;
  std::unique_ptr<runtime::RuntimeService> client_;
};

TEST_F(RuntimeTest, AppContainerServesOnItsPodIp) {
  start_runtime(1);
  const auto pod = sandbox("web-a");
  EXPECT_EQ(pod.ip, "127.231.1.2");
  EXPECT_EQ(sandbox("web-a").ip, pod.ip);  // idempotent by uid
  EXPECT_EQ(sandbox("web-b").ip, "127.231.1.3");
  const auto container = start(app_config(pod));
  EXPECT_EQ(container.state, ContainerState::kRunning);
  EXPECT_GT(container.pid, 0);
  EXPECT_NE(container.log_path.find("/pods/default_web-a_uid-web-a/app/0.log"), std::string::npos)
      << container.log_path;
  ASSERT_TRUE(eventually([&] { return who(pod.ip, 8080) == "web-a"; }));
  auto listed = run(client_->list_containers(pod.uid));
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1U);
  EXPECT_EQ(listed->front().id, container.id);
  auto sandboxes = run(client_->list_sandboxes());
  ASSERT_TRUE(sandboxes.ok());
  EXPECT_EQ(sandboxes->size(), 2U);
  // Labels go through the HTTP API both ways (the replicas probe's ground
  // truth matches them against a Deployment's selector).
  for (const auto& listed_sandbox : *sandboxes)
    EXPECT_EQ(listed_sandbox.labels,
              (std::map<std::string, std::string>{{"app", listed_sandbox.name}, {"tier", "front"}}));
}

TEST_F(RuntimeTest, ContainerGetsExactlyItsEnvWorkingDirAndExitStatus) {
  start_runtime(2);
  const auto pod = sandbox("env");
  auto config = command_config(pod, "env", {"/bin/sh", "-c", "env; echo cwd=$(pwd)"});
  config.env = {{"FOO", "bar baz"}};
  config.working_dir = dir_.path().string();
  const auto container = start(config);
  ASSERT_TRUE(eventually([&] { return exited(container.id); }));
  const auto done = *status(container.id);
  EXPECT_EQ(done.exit_code, 0);
  EXPECT_EQ(done.reason, "Completed");
  EXPECT_GT(done.finished_unix_ms, 0);
  const std::string log = read_file(done.log_path);
  EXPECT_NE(log.find("FOO=bar baz\n"), std::string::npos) << log;
  EXPECT_NE(log.find("PATH=/usr/local/sbin"), std::string::npos) << log;
  EXPECT_NE(log.find("HOME=/\n"), std::string::npos) << log;
  EXPECT_NE(log.find("cwd=" + dir_.path().string()), std::string::npos) << log;
  EXPECT_EQ(log.find("RUNTIME_ONLY_MARKER"), std::string::npos) << log;
  EXPECT_EQ(log.find("SHAKEOUT_BINARY"), std::string::npos) << log;

  const auto failing = start(command_config(pod, "fail", {"/bin/sh", "-c", "exit 3"}));
  const auto killed = start(command_config(pod, "killed", {"/bin/sh", "-c", "kill -9 $$"}));
  ASSERT_TRUE(eventually([&] { return exited(failing.id) && exited(killed.id); }));
  EXPECT_EQ(status(failing.id)->exit_code, 3);
  EXPECT_EQ(status(failing.id)->reason, "Error");
  EXPECT_EQ(status(killed.id)->exit_code, 128 + SIGKILL);
  EXPECT_EQ(status(killed.id)->reason, "Error");
}

TEST_F(RuntimeTest, LogsTailAndFollowUntilTheContainerExits) {
  start_runtime(3);
  const auto pod = sandbox("logs");
  const auto container = start(command_config(
      pod, "logger", {"/bin/sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done; sleep 1.5; echo late"}));
  const std::string route = "/v1/containers/" + container.id + "/logs";
  ASSERT_TRUE(eventually([&] {
    auto all = http("GET", node_ip_, runtime::kRuntimePort, route);
    return all && all->body.find("line5\n") != std::string::npos;
  }));
  auto tail = http("GET", node_ip_, runtime::kRuntimePort, route + "?tailLines=2");
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail->body, "line4\nline5\n");

  net::HttpRequest request;
  request.target = route + "?follow=true&tailLines=1";
  auto stream = run(http_.open_stream(net::Endpoint{node_ip_, static_cast<uint16_t>(runtime::kRuntimePort)},
                                      request, 10000ms));
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  std::string followed;
  bool ended = false;
  while (!ended) {
    auto piece = run((*stream)->read_piece(20000ms));
    ASSERT_TRUE(piece.ok()) << piece.error().message << " after: " << followed;
    if (!piece->has_value()) {
      ended = true;
    } else {
      followed += **piece;
    }
  }
  // The stream ended by itself when the container exited, with the late line in it.
  EXPECT_EQ(followed.rfind("line5\n", 0), 0U) << followed;
  EXPECT_NE(followed.find("late\n"), std::string::npos) << followed;
  EXPECT_TRUE(exited(container.id));
  EXPECT_EQ(http("GET", node_ip_, runtime::kRuntimePort, "/v1/containers/nope/logs")->status, 404U);
}

TEST_F(RuntimeTest, FollowSurvivesAClientLeavingAndEndsWhenTheContainerGoes) {
  start_runtime(15);
  const auto pod = sandbox("follow");
  const auto container =
      start(command_config(pod, "talker", {"/bin/sh", "-c", "echo first; exec sleep 300"}));
  net::HttpRequest request;
  request.target = "/v1/containers/" + container.id + "/logs?follow=true";
  net::Endpoint endpoint;
  endpoint.host = node_ip_;
  endpoint.port = static_cast<uint16_t>(runtime::kRuntimePort);
  auto read_until = [&](net::HttpStream& stream, const std::string& needle) {
    std::string seen;
    while (seen.find(needle) == std::string::npos) {
      auto piece = run(stream.read_piece(20000ms));
      if (!piece.ok() || !piece->has_value()) return false;
      seen += **piece;
    }
    return true;
  };
  {
    auto leaving = run(http_.open_stream(endpoint, request, 10000ms));
    ASSERT_TRUE(leaving.ok()) << leaving.error().message;
    ASSERT_TRUE(read_until(**leaving, "first\n"));
  }  // the client leaves mid-stream
  auto staying = run(http_.open_stream(endpoint, request, 10000ms));
  ASSERT_TRUE(staying.ok()) << staying.error().message;
  ASSERT_TRUE(read_until(**staying, "first\n"));
  ASSERT_TRUE(run(client_->remove_container(container.id)).ok());
  bool ended = false;
  while (!ended) {
    auto piece = run((*staying)->read_piece(20000ms));
    ASSERT_TRUE(piece.ok()) << piece.error().message;
    ended = !piece->has_value();
  }
  EXPECT_EQ(http("GET", node_ip_, runtime::kRuntimePort, "/healthz")->status, 200U);
}

TEST_F(RuntimeTest, ExecRunsInTheContainersEnvironmentWithATimeout) {
  start_runtime(4);
  const auto pod = sandbox("exec");
  auto config = command_config(pod, "sleeper", {"/bin/sleep", "300"});
  config.env = {{"FOO", "from-container"}};
  config.working_dir = "/tmp";
  const auto container = start(config);
  const std::vector<std::string> script = {"/bin/sh", "-c", "echo $FOO $(pwd); echo oops >&2; exit 4"};
  auto result = run(client_->exec_sync(container.id, script, 10000));
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->exit_code, 4);
  EXPECT_EQ(result->output, "from-container /tmp\noops\n");

  const std::vector<std::string> sleep_long = {"/bin/sleep", "30"};
  auto slow = run(client_->exec_sync(container.id, sleep_long, 300));
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.error().code, ErrorCode::kTimeout);

  const std::vector<std::string> no_probe = {"/no/such/probe"};
  auto missing = run(client_->exec_sync(container.id, no_probe, 5000));
  ASSERT_TRUE(missing.ok());
  EXPECT_NE(missing->exit_code, 0);
  const std::string unknown = "nope";
  const std::vector<std::string> no_op = {"/bin/true"};
  EXPECT_FALSE(run(client_->exec_sync(unknown, no_op, 1000)).ok());
}

TEST_F(RuntimeTest, StopIsGracefulAndKillsAfterTheTimeout) {
  start_runtime(5);
  const auto graceful = running_app("graceful");
  const auto stubborn = running_app("stubborn", {"--ignore-sigterm"});
  auto graceful_list = run(client_->list_containers(graceful.uid));
  auto stubborn_list = run(client_->list_containers(stubborn.uid));
  ASSERT_TRUE(graceful_list.ok() && stubborn_list.ok());
  const std::string graceful_id = graceful_list->front().id;
  const std::string stubborn_id = stubborn_list->front().id;

  ASSERT_TRUE(run(client_->stop_container(graceful_id, 20000)).ok());
  auto now = status(graceful_id);
  ASSERT_TRUE(now.has_value());
  EXPECT_EQ(now->state, ContainerState::kExited);  // answered once exited
  EXPECT_EQ(now->exit_code, 0);                    // the app's own graceful exit, not a SIGKILL
  EXPECT_EQ(now->reason, "Completed");

  ASSERT_TRUE(run(client_->stop_container(stubborn_id, 500)).ok());
  now = status(stubborn_id);
  ASSERT_TRUE(now.has_value());
  EXPECT_EQ(now->state, ContainerState::kExited);
  EXPECT_EQ(now->exit_code, 128 + SIGKILL);
  EXPECT_TRUE(run(client_->stop_container(stubborn_id, 500)).ok());  // stopping an exited one is fine

  ASSERT_TRUE(run(client_->remove_container(stubborn_id)).ok());
  EXPECT_EQ(run(client_->container_status(stubborn_id)).error().code, ErrorCode::kNotFound);
}

TEST_F(RuntimeTest, BadInputIsAnErrorAndTheRuntimeStaysHealthy) {
  start_runtime(6);
  const auto pod = sandbox("bad");
  ContainerConfig image;
  image.pod_uid = pod.uid;
  image.name = "nginx";
  image.image = "nginx:1.25";
  auto pulled = run(client_->start_container(image));
  ASSERT_FALSE(pulled.ok());
  EXPECT_EQ(pulled.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(pulled.error().message.rfind("ErrImagePull: ", 0), 0U) << pulled.error().message;

  auto missing_config = command_config(pod, "missing", {"/no/such/binary"});
  auto missing = run(client_->start_container(missing_config));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message.rfind("CreateContainerError: ", 0), 0U) << missing.error().message;
  auto not_in_path_config = command_config(pod, "missing", {"no-such-command-here"});
  auto not_in_path = run(client_->start_container(not_in_path_config));
  ASSERT_FALSE(not_in_path.ok());
  EXPECT_EQ(not_in_path.error().message.rfind("CreateContainerError: ", 0), 0U)
      << not_in_path.error().message;
  auto bad_dir = command_config(pod, "dir", {"/bin/true"});
  bad_dir.working_dir = "/no/such/dir";
  auto chdir_failed = run(client_->start_container(bad_dir));
  ASSERT_FALSE(chdir_failed.ok());
  EXPECT_EQ(chdir_failed.error().message.rfind("CreateContainerError: ", 0), 0U);

  auto orphan = command_config(pod, "orphan", {"/bin/true"});
  orphan.pod_uid = "no-such-sandbox";
  EXPECT_EQ(run(client_->start_container(orphan)).error().code, ErrorCode::kNotFound);
  auto malformed = http("POST", node_ip_, runtime::kRuntimePort, "/v1/containers");
  ASSERT_TRUE(malformed.ok());
  EXPECT_EQ(malformed->status, 400U);

  EXPECT_EQ(http("GET", node_ip_, runtime::kRuntimePort, "/healthz")->status, 200U);
  EXPECT_FALSE(exit_of("runtime").has_value());
  const std::string all;
  auto listed = run(client_->list_containers(all));
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
}

TEST_F(RuntimeTest, RemoveSandboxKillsItsContainersAndFreesTheIp) {
  start_runtime(7);
  const auto pod = sandbox("gone");
  const auto container = start(command_config(pod, "sleeper", {"/bin/sleep", "300"}));
  ASSERT_TRUE(process_running(container.pid));
  ASSERT_TRUE(run(client_->remove_sandbox(pod.uid)).ok());
  EXPECT_TRUE(eventually([&] { return !process_running(container.pid); }));
  EXPECT_EQ(run(client_->container_status(container.id)).error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(run(client_->remove_sandbox(pod.uid)).ok());  // idempotent
  EXPECT_EQ(sandbox("next").ip, pod.ip);
}

TEST_F(RuntimeTest, SigkilledRuntimeTakesItsContainersWithIt) {
  start_runtime(8);
  const auto app = running_app("app");
  const auto pod = sandbox("sleeper");
  const auto sleeper = start(command_config(pod, "sleeper", {"/bin/sleep", "300"}));
  auto apps = run(client_->list_containers(app.uid));
  ASSERT_TRUE(apps.ok() && apps->size() == 1);
  const int app_pid = apps->front().pid;
  ASSERT_TRUE(process_running(app_pid) && process_running(sleeper.pid));
  ASSERT_TRUE(supervisor_.kill("runtime", SIGKILL).ok());
  EXPECT_TRUE(eventually([&] { return !process_running(app_pid) && !process_running(sleeper.pid); }));
}

TEST_F(RuntimeTest, SigtermedRuntimeKillsItsContainers) {
  start_runtime(9);
  const auto pod = sandbox("sleeper");
  const auto sleeper = start(command_config(pod, "sleeper", {"/bin/sleep", "300"}));
  ASSERT_TRUE(supervisor_.kill("runtime", SIGTERM).ok());
  ASSERT_TRUE(eventually([&] { return exit_of("runtime").has_value(); }));
  EXPECT_EQ(exit_of("runtime")->code, 0);
  EXPECT_FALSE(exit_of("runtime")->signaled);
  EXPECT_TRUE(eventually([&] { return !process_running(sleeper.pid); }));
}

TEST_F(RuntimeTest, ClusterIpNodePortAndNodePortReachEveryEndpoint) {
  start_runtime(10);
  const auto a = running_app("web-a");
  const auto b = running_app("web-b");
  program({service("random", {{a.ip, 8080}, {b.ip, 8080}})});
  const std::string cluster_ip = fmt::format("127.231.255.{}", k_);
  for (const auto& [host, port] : std::vector<std::pair<std::string, int>>{
           {cluster_ip, 8000}, {node_ip_, 8000}, {node_ip_, 30000 + k_}}) {
    std::set<std::string> seen;
    for (int i = 0; i < 60 && seen.size() < 2; ++i) seen.insert(who(host, port));
    EXPECT_EQ(seen, (std::set<std::string>{"web-a", "web-b"})) << host << ":" << port;
  }
  auto rules = run(client_->dataplane());
  ASSERT_TRUE(rules.ok());
  ASSERT_EQ(rules->status.size(), 1U);
  EXPECT_EQ(rules->status[0].listening.size(), 3U);
  EXPECT_TRUE(rules->status[0].bind_errors.empty());
  EXPECT_GE(rules->status[0].connections_total, 6U);
  EXPECT_EQ(rules->status[0].connect_failures_total, 0U);
  EXPECT_GE(rules->generation, 1);
}

TEST_F(RuntimeTest, RoundRobinAlternatesEndpoints) {
  start_runtime(11);
  const auto a = running_app("web-a");
  const auto b = running_app("web-b");
  program({service("round-robin", {{a.ip, 8080}, {b.ip, 8080}})});
  std::vector<std::string> order;
  for (int i = 0; i < 6; ++i) order.push_back(who(node_ip_, 30000 + k_));
  for (std::size_t i = 1; i < order.size(); ++i) {
    EXPECT_NE(order[i], order[i - 1]) << i;
    EXPECT_FALSE(order[i].empty());
  }
}

TEST_F(RuntimeTest, OpenConnectionSurvivesRuleChangesAndEmptyEndpointsRefuse) {
  start_runtime(12);
  const auto a = running_app("web-a");
  program({service("random", {{a.ip, 8080}})});
  const std::string cluster_ip = fmt::format("127.231.255.{}", k_);
  RawConnection held(cluster_ip, 8000);
  ASSERT_TRUE(held.connected());
  auto first = held.get("/");
  ASSERT_TRUE(first.has_value());
  EXPECT_NE(first->find("web-a"), std::string::npos);

  program({service("random", {})});  // the endpoint is gone from the rules
  auto second = held.get("/");
  ASSERT_TRUE(second.has_value()) << "a forwarded connection was cut by a rule change";
  EXPECT_NE(second->find("web-a"), std::string::npos);

  RawConnection refused(cluster_ip, 8000);
  ASSERT_TRUE(refused.connected());  // the listener stays; the connection is closed at once
  EXPECT_TRUE(refused.closed_by_peer());
  auto counted = run(client_->dataplane());
  ASSERT_TRUE(counted.ok());
  ASSERT_EQ(counted->status.size(), 1U);
  EXPECT_EQ(counted->status[0].connections_active, 1U);  // the held one
  EXPECT_EQ(counted->status[0].connect_failures_total, 1U);
  EXPECT_EQ(counted->status[0].connections_total, 2U);

  program({});  // no rules at all: the listener goes, the held connection stays
  auto third = held.get("/");
  ASSERT_TRUE(third.has_value());
  EXPECT_FALSE(RawConnection(cluster_ip, 8000).connected());
  auto rules = run(client_->dataplane());
  ASSERT_TRUE(rules.ok());
  EXPECT_TRUE(rules->services.empty());
}

// An endpoint that answers only after the client's end of file (reads all,
// echoes all, closes): the dataplane must pass the half-close on and lose
// no byte either way.
TEST_F(RuntimeTest, ForwardingIsHalfCloseAwareAndLosesNoBytes) {
  if (!std::filesystem::exists("/usr/bin/python3"))
    GTEST_SKIP() << "the echo endpoint needs /usr/bin/python3";
  start_runtime(14);
  const auto pod = sandbox("echo");
  const std::string script =
      "import os, socket\n"
      "s = socket.socket()\n"
      "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
      "s.bind((os.environ['POD_IP'], 9000))\n"
      "s.listen(16)\n"
      "while True:\n"
      "    c, _ = s.accept()\n"
      "    data = b''\n"
      "    while True:\n"
      "        b = c.recv(65536)\n"
      "        if not b: break\n"
      "        data += b\n"
      "    c.sendall(data)\n"
      "    c.close()\n";
  auto config = command_config(pod, "echo", {"/usr/bin/python3", "-c", script});
  config.env = {{"POD_IP", pod.ip}};
  start(config);
  ASSERT_TRUE(eventually([&] { return RawConnection(pod.ip, 9000).connected(); }));
  auto rule = service("random", {{pod.ip, 9000}});
  program({rule});

  std::string payload;
  for (int i = 0; payload.size() < 2 * 1024 * 1024; ++i)
    payload += fmt::format("chunk {} of the payload\n", i);
  RawConnection connection(fmt::format("127.231.255.{}", k_), 8000);
  ASSERT_TRUE(connection.connected());
  ASSERT_TRUE(connection.send_all(payload));
  connection.shutdown_write();
  const auto echoed = connection.read_to_end();
  ASSERT_TRUE(echoed.has_value());
  EXPECT_EQ(echoed->size(), payload.size());
  EXPECT_TRUE(*echoed == payload);
}

TEST_F(RuntimeTest, BindFailureIsReportedAndOtherListenersWork) {
  start_runtime(13);
  const auto a = running_app("web-a");
  auto rule = service("random", {{a.ip, 8080}});
  rule.node_port = runtime::kRuntimePort;  // taken by the runtime's own API
  program({rule});
  auto rules = run(client_->dataplane());
  ASSERT_TRUE(rules.ok());
  ASSERT_EQ(rules->status.size(), 1U);
  ASSERT_EQ(rules->status[0].bind_errors.size(), 1U);
  EXPECT_NE(rules->status[0].bind_errors[0].find(std::to_string(runtime::kRuntimePort)), std::string::npos);
  EXPECT_EQ(who(fmt::format("127.231.255.{}", k_), 8000), "web-a");
  EXPECT_EQ(http("GET", node_ip_, runtime::kRuntimePort, "/healthz")->status, 200U);

  runtime::DataplaneRules bad;
  auto malformed = service("sticky", {});
  bad.services = {malformed};
  EXPECT_EQ(run(client_->set_dataplane(bad)).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(who(fmt::format("127.231.255.{}", k_), 8000), "web-a");  // the last good rules stay
}

TEST(RuntimeFlags, BadFlagsExitTwoWithOneLine) {
  const std::vector<std::vector<std::string>> cases = {
      {"--node-name", "n", "--node-ip", "127.231.99.1", "--pod-cidr", "127.231.99.0/16", "--root", "/tmp/x"},
      {"--node-name", "n", "--node-ip", "127.231.98.1", "--pod-cidr", "127.231.99.0/24", "--root", "/tmp/x"},
      {"--node-name", "n", "--node-ip", "127.231.99.1", "--pod-cidr", "127.231.99.0/24"},
      {"--node-name", "n", "--node-ip", "127.231.99.1", "--pod-cidr", "127.231.99.0/24", "--root", "/tmp/x",
       "--port", "99999"}};
  for (const auto& flags : cases) {
    std::vector<std::string> argv = {shakeout_binary(), "runtime"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    const auto result = run_command(argv, {}, 10000ms);
    EXPECT_EQ(result.exit_code, 2) << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  }
}

}  // namespace
}  // namespace shakeout::testing
