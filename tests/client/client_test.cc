// Client requests and response decoding against a scripted HTTP server.

#include "client/client.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <functional>
#include <string>
#include <vector>

#include "common/async.h"
#include "net/http_server.h"

namespace shakeout::client {
namespace {

using namespace std::chrono_literals;

const api::ResourceInfo& resource(const char* group, const char* plural) {
  return *api::ResourceRegistry::builtin().by_plural(group, plural);
}

struct Seen {
  std::string method;
  std::string target;
  std::string content_type;
  std::string body;
  std::string authorization;
  std::string accept;
  std::string user_agent;
};

// Answers every request with reply_(request) (a whole response), or, when
// stream_lines_ is set, with a chunked 200 carrying those lines.
class ScriptedServer {
 public:
  explicit ScriptedServer(asio::io_context& io)
      : server_(io.get_executor(), config(),
                [this](net::ServerRequest& r, net::ResponseWriter& w) { return handle(r, w); }) {}

  static net::HttpServerConfig config() {
    net::HttpServerConfig c;
    c.stop_grace = Millis(200);
    return c;
  }

  asio::awaitable<void> handle(net::ServerRequest& request, net::ResponseWriter& writer) {
    Seen seen;
    seen.method = request.method;
    seen.target = request.target;
    seen.content_type = std::string(request.header("Content-Type"));
    seen.body = request.body;
    seen.authorization = std::string(request.header("Authorization"));
    seen.accept = std::string(request.header("Accept"));
    seen.user_agent = std::string(request.header("User-Agent"));
    seen_.push_back(seen);
    if (stream_lines_) {
      net::ServerResponse head;
      head.content_type = "application/json";
      co_await writer.begin_stream(std::move(head));
      for (const auto& line : *stream_lines_) co_await writer.write_chunk(line);
      co_await writer.end_stream();
      co_return;
    }
    co_await writer.send(reply_(request));
  }

  net::HttpServer server_;
  std::function<net::ServerResponse(const net::ServerRequest&)> reply_ = [](const net::ServerRequest&) {
    net::ServerResponse r;
    r.content_type = "application/json";
    r.body = R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-1"}})";
    return r;
  };
  std::optional<std::vector<std::string>> stream_lines_;
  std::vector<Seen> seen_;
};

net::ServerResponse reply(unsigned status, std::string body) {
  net::ServerResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

// A port nothing listens on (bound, then closed).
net::Endpoint dead_endpoint(asio::io_context& io) {
  net::HttpServer probe(
      io.get_executor(), net::HttpServerConfig(),
      [](net::ServerRequest&, net::ResponseWriter&) -> asio::awaitable<void> { co_return; });
  EXPECT_TRUE(probe.start().ok());
  net::Endpoint endpoint = probe.endpoint();
  run_blocking(io, probe.stop());
  return endpoint;
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(scripted_.server_.start().ok()); }
  void TearDown() override {
    client_.reset();
    run_blocking(io_, scripted_.server_.stop());
  }

  Client& client(std::vector<net::Endpoint> servers) {
    Config config;
    config.servers = std::move(servers);
    config.bearer_token = "s3cret";
    config.user_agent = "shakeout-test/1";
    config.request_timeout = 5000ms;
    client_ = std::make_unique<Client>(io_.get_executor(), config);
    return *client_;
  }
  Client& client() { return client({scripted_.server_.endpoint()}); }

  template <typename T>
  T run(asio::awaitable<T> task) {
    return run_blocking(io_, std::move(task));
  }

  asio::io_context io_;
  ScriptedServer scripted_{io_};
  std::unique_ptr<Client> client_;
};

TEST(ClientPaths, FollowTheKubernetesRestLayout) {
  EXPECT_EQ(path_for(resource("", "pods"), "default", "web-1", ""), "/api/v1/namespaces/default/pods/web-1");
  EXPECT_EQ(path_for(resource("", "pods"), "default", "web-1", "status"),
            "/api/v1/namespaces/default/pods/web-1/status");
  EXPECT_EQ(path_for(resource("", "pods"), "", "", ""), "/api/v1/pods") << "all namespaces";
  EXPECT_EQ(path_for(resource("apps", "deployments"), "prod", "web", "scale"),
            "/apis/apps/v1/namespaces/prod/deployments/web/scale");
  EXPECT_EQ(path_for(resource("", "nodes"), "ignored", "node-1", ""), "/api/v1/nodes/node-1")
      << "cluster-scoped resources take no namespace";
  EXPECT_EQ(path_for(resource("coordination.k8s.io", "leases"), "kube-system", "kube-scheduler", ""),
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler");
}

TEST(ClientPaths, QueryValuesArePercentEncoded) {
  EXPECT_EQ(query_string({{"labelSelector", "app in (web,db)"}, {"limit", "5"}}),
            "?labelSelector=app%20in%20%28web%2Cdb%29&limit=5");
  EXPECT_EQ(query_string({}), "");
}

TEST(ClientPaths, ParsesServerLists) {
  auto servers = parse_servers("http://127.1.0.21:6443,127.1.0.22:6443");
  ASSERT_TRUE(servers.ok());
  ASSERT_EQ(servers->size(), 2u);
  EXPECT_EQ((*servers)[1].to_string(), "127.1.0.22:6443");
  EXPECT_FALSE(parse_servers("").ok());
  EXPECT_FALSE(parse_servers("https://x:1").ok());
}

TEST_F(ClientTest, RequestsCarryTheBearerTokenAndAskForJson) {
  auto pod = run(client().get(resource("", "pods"), "default", "web-1"));
  ASSERT_TRUE(pod.ok()) << pod.error().message();
  EXPECT_EQ((*pod)["metadata"]["name"], "web-1");
  ASSERT_EQ(scripted_.seen_.size(), 1u);
  EXPECT_EQ(scripted_.seen_[0].method, "GET");
  EXPECT_EQ(scripted_.seen_[0].target, "/api/v1/namespaces/default/pods/web-1");
  EXPECT_EQ(scripted_.seen_[0].authorization, "Bearer s3cret");
  EXPECT_EQ(scripted_.seen_[0].accept, "application/json");
  EXPECT_EQ(scripted_.seen_[0].user_agent, "shakeout-test/1");
}

TEST_F(ClientTest, WritesUseTheRightVerbsPathsAndBodies) {
  Client& c = client();
  const auto& deployments = resource("apps", "deployments");
  json object = json::object();
  object["metadata"]["name"] = "web";
  ASSERT_TRUE(run(c.create(deployments, "prod", object)).ok());
  ASSERT_TRUE(run(c.update(deployments, "prod", object)).ok());
  ASSERT_TRUE(run(c.update_status(deployments, "prod", object)).ok());
  ASSERT_TRUE(
      run(c.patch(deployments, "prod", "web", PatchType::kStrategicMergePatch, R"({"spec":{}})", "")).ok());
  ASSERT_TRUE(run(c.scale(deployments, "prod", "web", 5)).ok());
  DeleteOptions options;
  options.grace_period_seconds = 0;
  options.propagation_policy = "Foreground";
  ASSERT_TRUE(run(c.remove(deployments, "prod", "web", options)).ok());
  json binding = json::object();
  binding["target"]["name"] = "node-1";
  ASSERT_TRUE(run(c.create_subresource(resource("", "pods"), "default", "web-1", "binding", binding)).ok());
  ListOptions list;
  list.label_selector = "app=web";
  list.limit = 10;
  list.continue_token = "abc";
  ASSERT_TRUE(run(c.list(deployments, "prod", list)).ok());

  const auto& s = scripted_.seen_;
  ASSERT_EQ(s.size(), 8u);
  EXPECT_EQ(s[0].method + " " + s[0].target, "POST /apis/apps/v1/namespaces/prod/deployments");
  EXPECT_EQ(s[0].content_type, "application/json");
  EXPECT_EQ(json::parse(s[0].body), object);
  EXPECT_EQ(s[1].method + " " + s[1].target, "PUT /apis/apps/v1/namespaces/prod/deployments/web");
  EXPECT_EQ(s[2].method + " " + s[2].target, "PUT /apis/apps/v1/namespaces/prod/deployments/web/status");
  EXPECT_EQ(s[3].method + " " + s[3].target, "PATCH /apis/apps/v1/namespaces/prod/deployments/web");
  EXPECT_EQ(s[3].content_type, "application/strategic-merge-patch+json");
  EXPECT_EQ(s[4].method + " " + s[4].target, "PATCH /apis/apps/v1/namespaces/prod/deployments/web/scale");
  EXPECT_EQ(s[4].content_type, "application/merge-patch+json");
  EXPECT_EQ(json::parse(s[4].body)["spec"]["replicas"], 5);
  EXPECT_EQ(s[5].method + " " + s[5].target, "DELETE /apis/apps/v1/namespaces/prod/deployments/web");
  const json delete_options = json::parse(s[5].body);
  EXPECT_EQ(delete_options["kind"], "DeleteOptions");
  EXPECT_EQ(delete_options["gracePeriodSeconds"], 0);
  EXPECT_EQ(delete_options["propagationPolicy"], "Foreground");
  EXPECT_EQ(s[6].method + " " + s[6].target, "POST /api/v1/namespaces/default/pods/web-1/binding");
  EXPECT_EQ(s[7].target,
            "/apis/apps/v1/namespaces/prod/deployments?labelSelector=app%3Dweb&limit=10&continue=abc");
}

TEST_F(ClientTest, StatusErrorsDecodeIntoApiErrors) {
  const api::ApiError sent = api::not_found(resource("", "pods"), "web-1");
  scripted_.reply_ = [&](const net::ServerRequest&) { return reply(404, sent.status.dump()); };
  auto got = run(client().get(resource("", "pods"), "default", "web-1"));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, 404);
  EXPECT_EQ(got.error().status, sent.status);
  EXPECT_EQ(got.error().message(), "pods \"web-1\" not found");
  EXPECT_TRUE(is_not_found(got.error()));
  EXPECT_FALSE(is_transport_error(got.error()));

  const api::ApiError conflict = api::conflict(resource("", "pods"), "web-1", api::kOptimisticLockMessage);
  scripted_.reply_ = [&](const net::ServerRequest&) { return reply(409, conflict.status.dump()); };
  auto updated =
      run(client_->update(resource("", "pods"), "default", json::parse(R"({"metadata":{"name":"x"}})")));
  ASSERT_FALSE(updated.ok());
  EXPECT_TRUE(is_conflict(updated.error()));
}

TEST_F(ClientTest, ANonStatusErrorBodyGetsAGenericStatus) {
  scripted_.reply_ = [](const net::ServerRequest&) { return reply(503, "overloaded"); };
  auto got = run(client().get(resource("", "pods"), "default", "web-1"));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, 503);
  EXPECT_EQ(got.error().reason(), "ServiceUnavailable");
  EXPECT_EQ(got.error().status["kind"], "Status");
  EXPECT_FALSE(is_transport_error(got.error())) << "the server answered";
}

TEST_F(ClientTest, RefusedConnectionsFailOverToTheNextServer) {
  const net::Endpoint dead = dead_endpoint(io_);
  Client& c = client({dead, scripted_.server_.endpoint()});
  auto pod = run(c.get(resource("", "pods"), "default", "web-1"));
  ASSERT_TRUE(pod.ok()) << pod.error().message();
  EXPECT_EQ(c.current_server().port, scripted_.server_.endpoint().port)
      << "later calls start at the live server";

  Client& all_dead = client({dead});
  auto failed = run(all_dead.get(resource("", "pods"), "default", "web-1"));
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(is_transport_error(failed.error()));
  EXPECT_EQ(failed.error().code, 503);
  EXPECT_NE(failed.error().message().find(dead.to_string()), std::string::npos) << failed.error().message();
}

TEST_F(ClientTest, WatchStreamsDecodedEventsUntilTheServerEndsIt) {
  scripted_.stream_lines_ =
      std::vector<std::string>{R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"5"}}})"
                               "\n",
                               "\n",  // a blank keep-alive line is skipped
                               R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}})"
                               "\n"
                               R"({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired"}})"
                               "\n"};
  WatchOptions options;
  options.resource_version = "4";
  options.timeout_seconds = 30;
  options.label_selector = "app=web";
  auto opened = run(client().watch(resource("", "pods"), "default", options));
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  EXPECT_EQ(scripted_.seen_[0].target,
            "/api/v1/namespaces/default/pods?watch=true&resourceVersion=4&allowWatchBookmarks=true"
            "&timeoutSeconds=30&labelSelector=app%3Dweb");
  WatchStream& stream = **opened;
  std::vector<std::string> types;
  for (;;) {
    auto event = run(stream.next());
    ASSERT_TRUE(event.ok()) << event.error().message();
    if (!*event) break;
    types.emplace_back(to_string((*event)->type));
    if ((*event)->type == WatchEvent::Type::kError) {
      EXPECT_EQ((*event)->object["code"], 410);
    }
  }
  EXPECT_EQ(types, (std::vector<std::string>{"ADDED", "BOOKMARK", "ERROR"}));
}

TEST_F(ClientTest, AWatchRefusedByTheServerIsAnApiError) {
  scripted_.reply_ = [](const net::ServerRequest&) {
    return reply(410, api::expired("too old resource version: 1 (5)").status.dump());
  };
  WatchOptions options;
  options.resource_version = "1";
  auto opened = run(client().watch(resource("", "pods"), "default", options));
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, 410) << opened.error().message();
  EXPECT_TRUE(is_expired(opened.error()));
}

TEST(ClientWatchEvents, RejectLinesThatAreNotEvents) {
  EXPECT_TRUE(parse_watch_event(R"({"type":"MODIFIED","object":{}})").ok());
  EXPECT_FALSE(parse_watch_event("not json").ok());
  EXPECT_FALSE(parse_watch_event(R"({"type":"RENAMED","object":{}})").ok());
  EXPECT_FALSE(parse_watch_event(R"({"type":"ADDED"})").ok());
}

}  // namespace
}  // namespace shakeout::client
