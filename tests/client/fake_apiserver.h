#pragma once
// A scripted fake API server for the client's unit tests: pods in one
// namespace over real HTTP (net::HttpServer), with list (paged), watch
// (newline-delimited JSON events, bookmarks on request), get, and knobs to
// end watches, forget history (410 Expired) and fail requests.
//
// resourceVersions are a counter bumped by every change; watches from RV r
// replay every event after r, unless r is older than the compaction point,
// in which case the stream carries one ERROR 410 event, as kube-apiserver's
// watch cache does. Threading: the io_context's thread only.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/status.h"
#include "net/http_server.h"

namespace shakeout::client::testing {

namespace asio = boost::asio;
using json = nlohmann::json;

class FakeApiServer {
 public:
  explicit FakeApiServer(asio::io_context& io);
  ~FakeApiServer();

  // Listens on `port` (0: an ephemeral one; the same port again after stop()).
  Status start(uint16_t port = 0);
  // Ends open watches, then stops the HTTP server.
  asio::awaitable<void> stop();
  net::Endpoint endpoint() const;
  uint16_t port() const { return port_; }

  // Changes to pods in namespace "default"; each bumps the RV and is
  // delivered to open watches. Return the stored object.
  json add(const std::string& name);
  json modify(const std::string& name);
  void remove(const std::string& name);

  // Moves the RV on without a visible change (writes to other resources).
  void advance_rv() { ++rv_; }
  // Forgets the history up to now: watches from an older RV get ERROR 410.
  void compact();
  // Ends every open watch stream cleanly (as timeoutSeconds does).
  void end_watches();
  // Sends a BOOKMARK at the current RV on every open watch that asked for them.
  void bookmark();
  // The next `n` list requests answer `error`.
  void fail_lists(int n, api::ApiError error);

  int64_t resource_version() const { return rv_; }
  std::size_t open_watches() const { return open_watches_; }
  // Every request's target, and its Authorization header, in order.
  const std::vector<std::string>& targets() const { return targets_; }
  const std::vector<std::string>& authorizations() const { return authorizations_; }
  // The resourceVersion query of each watch request, in order.
  const std::vector<std::string>& watch_from() const { return watch_from_; }
  int list_requests() const { return list_requests_; }

 private:
  struct Event {
    int64_t rv;
    std::string type;
    json object;
  };
  asio::awaitable<void> handle(net::ServerRequest& request, net::ResponseWriter& writer);
  asio::awaitable<void> list(net::ServerRequest& request, net::ResponseWriter& writer);
  asio::awaitable<void> watch(net::ServerRequest& request, net::ResponseWriter& writer);
  json make_pod(const std::string& name, int generation) const;
  void record(std::string type, const json& object);

  asio::io_context& io_;
  std::unique_ptr<net::HttpServer> server_;
  uint16_t port_ = 0;
  int64_t rv_ = 1;
  int64_t compacted_ = 0;
  std::map<std::string, json> pods_;
  std::deque<Event> events_;
  asio::steady_timer notify_;
  uint64_t end_generation_ = 0;
  uint64_t bookmark_generation_ = 0;
  bool stopping_ = false;
  std::size_t open_watches_ = 0;
  int failing_lists_ = 0;
  std::optional<api::ApiError> list_error_;
  int list_requests_ = 0;
  std::vector<std::string> targets_;
  std::vector<std::string> authorizations_;
  std::vector<std::string> watch_from_;
};

}  // namespace shakeout::client::testing
