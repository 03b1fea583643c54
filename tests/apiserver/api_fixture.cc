#include "api_fixture.h"

#include <unistd.h>

#include <fstream>

#include "api_cluster.h"
#include "common/async.h"

namespace shakeout::apiserver::testing {

using namespace std::chrono_literals;

void ApiFixture::SetUp() {
  auto options = shakeout::testing::api_cluster_options("api");
  cluster_ = shakeout::testing::boot_cluster(io_, options);
  ASSERT_TRUE(cluster_);
  net::HttpClientConfig config;
  http_ = std::make_unique<net::HttpClient>(io_.get_executor(), config);
  files_ = std::make_unique<shakeout::testing::TempDir>("shakeout-api");
}

void ApiFixture::TearDown() {
  http_.reset();
  if (cluster_) run_blocking(io_, cluster_->stop());
  cluster_.reset();
}

net::Endpoint ApiFixture::endpoint() const {
  net::Endpoint endpoint;
  endpoint.host = cluster_->addresses().apiserver_ip(1);
  endpoint.port = cluster::AddressPlan::kApiserverPort;
  return endpoint;
}

Reply ApiFixture::call(const std::string& method, const std::string& target, const std::string& body,
                       const std::string& content_type) {
  net::HttpHeaders headers;
  headers.emplace_back("Authorization", "Bearer " + token());
  return call_with(method, target, body, content_type, headers);
}

namespace {

Reply perform(asio::io_context& io, net::HttpClient& http, const net::Endpoint& endpoint,
              net::HttpRequest request) {
  const std::string what = request.method + " " + request.target;
  auto response = run_blocking(io, http.request(endpoint, std::move(request), 10000ms));
  Reply reply;
  if (!response) {
    ADD_FAILURE() << what << ": " << response.error().describe();
    return reply;
  }
  reply.status = response->status;
  reply.body = response->body;
  reply.headers = response->headers;
  return reply;
}

net::HttpRequest make_request(const std::string& method, const std::string& target, const std::string& body,
                              const std::string& content_type, const net::HttpHeaders& headers) {
  net::HttpRequest request;
  request.method = method;
  request.target = target;
  request.headers = headers;
  if (!body.empty()) {
    request.body = body;
    request.content_type = content_type;
  }
  return request;
}

}  // namespace

Reply ApiFixture::call_with(const std::string& method, const std::string& target, const std::string& body,
                            const std::string& content_type, const net::HttpHeaders& headers) {
  return perform(io_, *http_, endpoint(), make_request(method, target, body, content_type, headers));
}

Reply ApiFixture::call_from_thread(const std::string& method, const std::string& target,
                                   const std::string& body) {
  asio::io_context io;
  net::HttpClientConfig config;
  net::HttpClient http(io.get_executor(), config);
  net::HttpHeaders headers;
  headers.emplace_back("Authorization", "Bearer " + token());
  return perform(io, http, endpoint(), make_request(method, target, body, "application/json", headers));
}

std::vector<json> ApiFixture::watch_events(const std::string& target, size_t count,
                                           std::chrono::milliseconds timeout,
                                           const std::function<void()>& after_open) {
  std::vector<json> events;
  net::HttpRequest request;
  request.target = target;
  request.headers.emplace_back("Authorization", "Bearer " + token());
  auto stream = run_blocking(io_, http_->open_stream(endpoint(), std::move(request), 10000ms));
  if (!stream) {
    ADD_FAILURE() << "watch " << target << ": " << stream.error().describe();
    return events;
  }
  EXPECT_EQ((*stream)->status(), 200u);
  if (after_open) after_open();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (events.size() < count) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= 0ms) break;
    auto line = run_blocking(io_, (*stream)->read_line(left));
    if (!line || !*line) break;
    events.push_back(json::parse(**line, nullptr, false));
  }
  return events;
}

shakeout::testing::CommandResult ApiFixture::kubectl(const std::vector<std::string>& args,
                                                     const std::string& binary) {
  std::vector<std::string> argv = {binary, "--kubeconfig", cluster_->kubeconfig_path().string(),
                                   "--request-timeout=20s"};
  argv.insert(argv.end(), args.begin(), args.end());
  // A private cache dir: discovery and OpenAPI caches never leak between tests.
  return shakeout::testing::run_command(
      argv, {{"HOME", files_->path().string()}, {"KUBECACHEDIR", (files_->path() / "cache").string()}}, 60s);
}

std::string ApiFixture::write_file(const std::string& name, const std::string& text) {
  const auto path = files_->path() / name;
  std::ofstream out(path);
  out << text;
  return path.string();
}

}  // namespace shakeout::apiserver::testing
