#pragma once
// A running cluster (real etcd + `shakeout apiserver` with token auth) and a
// small HTTP client for tests of the REST API, plus real kubectl against it.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cluster/cluster.h"
#include "net/http_client.h"
#include "test_support.h"

namespace shakeout::apiserver::testing {

namespace asio = boost::asio;
using json = nlohmann::json;

struct Reply {
  unsigned status = 0;
  std::string body;
  net::HttpHeaders headers;
  json object() const { return json::parse(body, nullptr, false); }
};

class ApiFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // One request as the harness ("shakeout" token) unless `token` is given.
  Reply call(const std::string& method, const std::string& target, const std::string& body = "",
             const std::string& content_type = "application/json");
  Reply call_with(const std::string& method, const std::string& target, const std::string& body,
                  const std::string& content_type, const net::HttpHeaders& headers);
  // call() for another thread: its own io_context and connection, so it
  // may run while the test's thread waits for kubectl.
  Reply call_from_thread(const std::string& method, const std::string& target, const std::string& body = "");
  Reply post(const std::string& target, const json& body) { return call("POST", target, body.dump()); }
  Reply get(const std::string& target) { return call("GET", target); }

  // Opens a watch and collects `count` event lines (or what arrived before
  // `timeout`).
  std::vector<json> watch_events(const std::string& target, size_t count, std::chrono::milliseconds timeout,
                                 const std::function<void()>& after_open = {});

  // Real kubectl with the cluster's kubeconfig.
  shakeout::testing::CommandResult kubectl(const std::vector<std::string>& args,
                                           const std::string& binary = "kubectl");
  // Writes `text` to a file in the fixture's temp dir; returns its path.
  std::string write_file(const std::string& name, const std::string& text);

  net::Endpoint endpoint() const;
  std::string token() const { return cluster_->token("shakeout"); }

  asio::io_context io_;
  std::unique_ptr<net::HttpClient> http_;
  std::unique_ptr<cluster::Cluster> cluster_;
  std::unique_ptr<shakeout::testing::TempDir> files_;
};

}  // namespace shakeout::apiserver::testing
