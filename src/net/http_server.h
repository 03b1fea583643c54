#pragma once
// HttpServer: a small HTTP/1.1 server (plain TCP, and TLS on the same port
// when given a certificate) for the Kubernetes-compatible API server. It parses requests and writes
// responses; what a request means is the handler's business.
//
//   accept ──► session ──► [idle: idle_timeout] ──► read header (header_timeout)
//                 ▲          ──► read body (body_timeout, body_limit → 413)
//                 │          ──► handler(ServerRequest&, ResponseWriter&)
//                 └── keep-alive ◄── send() | begin_stream/write_chunk/end_stream
//
// Contract:
// - One request at a time per connection; pipelined requests are answered in
//   order. HTTP/1.1 connections are kept alive unless the request says
//   `Connection: close` (or is HTTP/1.0 without keep-alive).
// - Bad input never reaches the handler: a malformed request gets 400, a
//   header over header_limit 431, a body over body_limit 413 (checked against
//   Content-Length before the body is read, and while reading a chunked
//   body); each is followed by closing the connection. A connection idle for
//   idle_timeout, or that does not deliver a header within header_timeout of
//   its first byte (or a body within body_timeout), is closed without reply.
// - The handler answers exactly once: send() a complete response, or
//   begin_stream() then write_chunk()* then end_stream(). A handler that
//   returns without answering gets 500; one that throws gets 500 (or, if it
//   was streaming, a truncated stream) and the connection is closed.
// - Streams: each chunk is written to the socket before write_chunk()
//   returns (TCP_NODELAY is set). While a stream is open the server watches
//   the connection; when the client goes away, or the server stops,
//   wait_closed() completes and closed() turns true. After the client went
//   away, write_chunk()/end_stream() fail with kUnavailable. A stream handler
//   must return promptly once wait_closed() completes or a write fails.
// - stop(): stops accepting, closes idle connections, marks every in-flight
//   request closed() (a stream handler should then end_stream() and return),
//   lets in-flight handlers finish for up to stop_grace, then closes every
//   remaining connection and waits until every session has ended (seastar's
//   gate). After stop() returns no session or accept coroutine is left.
// - Destroying a started server without stop() closes everything abruptly;
//   the sessions then unwind on the io_context (they keep the shared state
//   alive), so the io_context must run or be destroyed afterwards.
// Threading: everything (server, handlers, writers) runs on the one executor
// passed in; nothing is thread-safe. ServerRequest and ResponseWriter are
// valid only until the handler's coroutine completes, and a ResponseWriter
// takes one write at a time.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "net/http_client.h"  // Endpoint, HttpHeaders

namespace shakeout::net {

struct HttpServerConfig {
  std::string address = "127.0.0.1";         // an IPv4 or IPv6 literal
  uint16_t port = 0;                         // 0: an ephemeral port, see HttpServer::port()
  std::size_t body_limit = 3 * 1024 * 1024;  // kube-apiserver's default max request body
  std::size_t header_limit = 1024 * 1024;    // Go's http.DefaultMaxHeaderBytes
  Millis header_timeout{10000};              // from the first byte of a request to the end of its header
  Millis body_timeout{60000};                // for the whole request body
  Millis idle_timeout{90000};                // between requests on a kept-alive connection
  Millis write_timeout{60000};               // for each write (a response, a header, a chunk)
  Millis stop_grace{10000};                  // how long stop() lets in-flight handlers run
  // TLS (PEM files; both or neither). With them, a connection that opens with
  // a TLS handshake is served over TLS and any other as plain HTTP, on the one
  // port (ServerRequest::tls tells which).
  std::string tls_certificate_file;
  std::string tls_private_key_file;
};

// Query parameters, percent-decoded ('+' is a space), in order per name.
using QueryParams = std::multimap<std::string, std::string, std::less<>>;

// Percent-decodes `text`; '+' becomes a space if `plus_is_space`.
// kInvalidArgument on a malformed escape.
Result<std::string> percent_decode(std::string_view text, bool plus_is_space);
// Parses "a=1&b=x%20y&a=2&flag" (a name without '=' has an empty value).
Result<QueryParams> parse_query(std::string_view query);

struct ServerRequest {
  std::string method;          // as sent, e.g. "GET"
  std::string target;          // as sent, e.g. "/api/v1/pods?watch=true"
  std::string path;            // the target before '?', percent-decoded
  QueryParams query;           // the target after '?', decoded
  HttpHeaders headers;         // as sent, in order
  std::string body;            // at most body_limit bytes
  std::string remote_address;  // "ip:port" of the client
  bool tls = false;            // the connection is TLS

  // The first header named `name` (case-insensitive), or "" if absent.
  std::string_view header(std::string_view name) const;
  // The first value of query parameter `name`, or "" if absent.
  std::string_view query_value(std::string_view name) const;
  std::vector<std::string_view> query_values(std::string_view name) const;
  bool has_query(std::string_view name) const { return query.find(name) != query.end(); }
};

struct ServerResponse {
  unsigned status = 200;
  HttpHeaders headers;       // Content-Length / Transfer-Encoding are set for you
  std::string content_type;  // empty: no Content-Type header
  std::string body;
};

namespace detail {
class ServerCore;
class ServerSession;
}  // namespace detail

// How a handler answers. See the contract at the top of the file.
class ResponseWriter {
 public:
  explicit ResponseWriter(detail::ServerSession& session) : session_(&session) {}

  // A complete response with Content-Length. kInvalidArgument if the request
  // was already answered; kUnavailable/kTimeout if the write failed.
  asio::awaitable<Status> send(ServerResponse response);
  // Sends the status line and headers of a chunked response; a non-empty
  // `head.body` is sent as the first chunk.
  asio::awaitable<Status> begin_stream(ServerResponse head);
  // Sends one chunk and returns once it is written to the socket. An empty
  // `data` sends nothing (an empty chunk would end the body).
  asio::awaitable<Status> write_chunk(std::string data);
  // Sends the last chunk. The handler should return afterwards.
  asio::awaitable<Status> end_stream();

  // Completes once the client has gone away (noticed while a stream is open,
  // or when a write fails) or the server is stopping; at once if closed().
  // Also completes when the handler returns, so a waiter spawned by the
  // handler never outlives the connection (it may outlive this writer).
  asio::awaitable<void> wait_closed();
  // Calls `callback` once when the client goes away or the server stops
  // while this request is being handled (at once if closed()); dropped
  // uncalled when the handler returns. Replaces an earlier callback.
  void on_close(std::function<void()> callback);
  bool closed() const;
  bool responded() const;   // send() or begin_stream() was called
  unsigned status() const;  // the status sent, 0 before send()/begin_stream()

 private:
  detail::ServerSession* session_;
};

using HttpHandler = std::function<asio::awaitable<void>(ServerRequest&, ResponseWriter&)>;

class HttpServer {
 public:
  HttpServer(asio::any_io_executor executor, HttpServerConfig config, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts accepting. kInvalidArgument for a bad address
  // or TLS files that do not load, kUnavailable if the address cannot be
  // bound. Call once.
  Status start();
  // The bound port (the ephemeral one if config.port was 0); 0 before start().
  uint16_t port() const;
  Endpoint endpoint() const;

  // Graceful stop; see the contract at the top of the file. Idempotent: a
  // second caller waits for the first stop to finish.
  asio::awaitable<void> stop();

  // Handlers running that have not begun a stream (kube-apiserver's
  // in-flight count excludes long-running requests).
  std::size_t requests_in_flight() const;
  // Handlers that have begun a stream and not yet returned.
  std::size_t open_streams() const;
  std::size_t open_connections() const;
  uint64_t connections_accepted_total() const;
  uint64_t requests_total() const;  // requests handed to the handler

 private:
  std::shared_ptr<detail::ServerCore> core_;
};

}  // namespace shakeout::net
