#pragma once
// HttpClient: a small HTTP/1.1 client (plain TCP) for talking to control-plane
// APIs: etcd's JSON gateway today, the Kubernetes API server later.
//
//   request() ──► idle pool[host:port] ──reuse──► write ──► read ──► pool
//                       └──empty──► resolve ► connect (connect_timeout)
//
// Contract:
// - request() is one exchange bounded by one deadline (connect included). On
//   expiry the connection is closed and the call fails with kTimeout.
// - Connections are kept alive and reused per endpoint (host:port). A request
//   that fails on a reused connection because the server had closed it while
//   idle is retried once on a fresh connection.
// - open_stream() sends a request and returns once the response header has
//   arrived; the body is then read piece by piece (or line by line) as it
//   arrives, without a deadline unless one is passed, until the body ends or
//   the caller cancels. Stream connections are never pooled.
// - Errors are values whose message names the endpoint: kUnavailable for
//   refused, reset or closed connections, kTimeout for a deadline, kCancelled
//   for cancel(), kProtocol for a malformed response. A non-2xx status is not
//   an error at this layer.
// Threading: one executor; not thread-safe. The client must outlive every
// call in flight; a stream must not be destroyed while one of its reads is
// in flight (cancel() it and let the read return first).

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace shakeout::net {

namespace asio = boost::asio;

struct Endpoint {
  std::string host;  // a name or an IPv4 address
  uint16_t port = 0;

  std::string to_string() const { return host + ":" + std::to_string(port); }
};

// Parses "http://host:port", "host:port" (a trailing "/" is allowed).
// kInvalidArgument for anything else, including https:// (not supported).
Result<Endpoint> parse_endpoint(std::string_view url);

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// RFC 3986 percent-encoding of everything but the unreserved characters.
std::string percent_encode(std::string_view text);
// "?a=1&b=x%20y" from pairs (empty values kept); "" when there are none.
std::string query_string(const std::vector<std::pair<std::string, std::string>>& params);

struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";
  HttpHeaders headers;       // Host, User-Agent and Content-Length are set for you
  std::string content_type;  // empty: no Content-Type header
  std::string body;
};

struct HttpResponse {
  unsigned status = 0;
  HttpHeaders headers;
  std::string body;

  // The first header named `name` (case-insensitive), or "" if absent.
  std::string_view header(std::string_view name) const;
};

struct HttpClientConfig {
  Millis connect_timeout{1000};  // also capped by each call's deadline
  std::size_t max_idle_per_endpoint = 4;
  std::size_t body_limit = 64 * 1024 * 1024;  // bytes, per response or stream line
  std::string user_agent = "shakeout";
};

// The body of a streamed response. See the contract at the top of the file.
class HttpStream {
 public:
  struct State;
  explicit HttpStream(std::unique_ptr<State> state);
  ~HttpStream();  // closes the connection
  HttpStream(const HttpStream&) = delete;
  HttpStream& operator=(const HttpStream&) = delete;

  unsigned status() const;
  const HttpHeaders& headers() const;

  // The next piece of the body as it arrives; nullopt once the body has
  // ended. `timeout` (if given) bounds this one read.
  asio::awaitable<Result<std::optional<std::string>>> read_piece(std::optional<Millis> timeout = {});
  // The next '\n'-terminated line without its terminator; a last line without
  // one is returned at the end of the body; then nullopt.
  asio::awaitable<Result<std::optional<std::string>>> read_line(std::optional<Millis> timeout = {});
  // Closes the connection: a read in flight and every later read fail with
  // kCancelled. Idempotent.
  void cancel();

 private:
  std::unique_ptr<State> state_;
};

class HttpClient {
 public:
  explicit HttpClient(asio::any_io_executor executor, HttpClientConfig config = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  asio::awaitable<Result<HttpResponse>> request(Endpoint endpoint, HttpRequest request, Millis timeout);
  // `timeout` bounds connecting, sending the request and receiving the header.
  asio::awaitable<Result<std::unique_ptr<HttpStream>>> open_stream(Endpoint endpoint, HttpRequest request,
                                                                   Millis timeout);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shakeout::net
