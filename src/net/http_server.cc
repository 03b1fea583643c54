#include "net/http_server.h"

#include <fmt/format.h>
#include <strings.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <exception>
#include <list>

#include "common/log.h"

namespace shakeout::net {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kReadSize = 16 * 1024;
// While a stream is open the client should send nothing; bytes it does send
// (a pipelined request) are kept for later, up to this much.
constexpr std::size_t kStreamReadAhead = 64 * 1024;
// After an error reply, how long and how much we read and discard before
// closing, so that unread request bytes do not turn our FIN into a RST that
// would destroy the reply before the client reads it.
constexpr Millis kLingerTime{1000};
constexpr std::size_t kLingerBytes = 1024 * 1024;
constexpr std::string_view kComponent = "http-server";

// A one-shot signal on a timer that never expires: set() wakes every waiter.
class Event {
 public:
  explicit Event(const asio::any_io_executor& executor) : timer_(executor) {
    timer_.expires_at(asio::steady_timer::time_point::max());
  }
  bool is_set() const { return set_; }
  void set() {
    set_ = true;
    timer_.cancel();
  }
  // Only while nobody waits.
  void reset() {
    set_ = false;
    timer_.expires_at(asio::steady_timer::time_point::max());
  }
  asio::awaitable<void> wait() {
    while (!set_) co_await wait_notified();
  }
  // Wakes the current waiters without setting the event.
  void notify() { timer_.cancel(); }
  // Until the next set() or notify() (the caller re-checks its condition).
  asio::awaitable<void> wait_notified() {
    beast::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

 private:
  asio::steady_timer timer_;
  bool set_ = false;
};

// An error Beast's parser reports about the bytes themselves, as opposed to
// the connection ending or timing out.
bool is_parse_error(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

Result<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      const int high = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
      const int low = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
      if (high < 0 || low < 0) {
        return make_error(ErrorCode::kInvalidArgument, fmt::format("bad percent escape in \"{}\"", text));
      }
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Result<QueryParams> parse_query(std::string_view query) {
  QueryParams params;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    auto name = percent_decode(pair.substr(0, eq), true);
    if (!name) return name.error();
    auto value =
        percent_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
    if (!value) return value.error();
    params.emplace(std::move(*name), std::move(*value));
  }
  return params;
}

std::string_view ServerRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (equals_ignore_case(key, name)) return value;
  }
  return {};
}

std::string_view ServerRequest::query_value(std::string_view name) const {
  const auto it = query.find(name);
  return it == query.end() ? std::string_view() : std::string_view(it->second);
}

std::vector<std::string_view> ServerRequest::query_values(std::string_view name) const {
  std::vector<std::string_view> values;
  const auto [begin, end] = query.equal_range(name);
  for (auto it = begin; it != end; ++it) values.emplace_back(it->second);
  return values;
}

namespace detail {

// State shared by the server object, its accept loop and its sessions; each
// of them holds it, so it outlives the last coroutine that uses it.
class ServerCore {
 public:
  ServerCore(asio::any_io_executor executor, HttpServerConfig config, HttpHandler handler)
      : executor(std::move(executor)),
        config(std::move(config)),
        handler(std::move(handler)),
        acceptor(this->executor),
        stop_timer(this->executor),
        stopped_event(this->executor) {}

  // The gate: the accept loop and every session hold one unit.
  void enter() { ++active; }
  void leave() {
    if (--active == 0 && stopping) stop_timer.cancel();
  }
  void close_all();

  asio::any_io_executor executor;
  const HttpServerConfig config;
  const HttpHandler handler;
  tcp::acceptor acceptor;
  std::unique_ptr<asio::ssl::context> tls;  // set by start() when configured
  asio::steady_timer stop_timer;
  Event stopped_event;
  std::list<ServerSession*> sessions;
  std::size_t active = 0;
  uint16_t port = 0;
  bool started = false;
  bool stopping = false;
  bool stopped = false;

  std::size_t in_flight = 0;
  std::size_t streams = 0;
  uint64_t accepted_total = 0;
  uint64_t requests_total = 0;
};

class ServerSession : public std::enable_shared_from_this<ServerSession> {
 public:
  enum class Phase { kReading, kHandling };

  ServerSession(std::shared_ptr<ServerCore> core, tcp::socket socket)
      : core(std::move(core)),
        stream(std::move(socket)),
        closed(this->core->executor),
        watcher_done(this->core->executor) {
    beast::error_code ec;
    const auto remote_endpoint = stream.socket().remote_endpoint(ec);
    if (!ec) remote = fmt::format("{}:{}", remote_endpoint.address().to_string(), remote_endpoint.port());
    this->core->enter();
    position = this->core->sessions.insert(this->core->sessions.end(), this);
  }
  ~ServerSession() {
    core->sessions.erase(position);
    core->leave();
  }
  ServerSession(const ServerSession&) = delete;
  ServerSession& operator=(const ServerSession&) = delete;

  void begin_request(bool request_keep_alive, bool request_head) {
    ++request_number;
    request_finished = false;
    keep_alive = request_keep_alive;
    head = request_head;
    responded = false;
    status = 0;
    streaming = false;
    stream_ended = false;
  }
  // The connection is unusable: wake the handler and stop reusing it.
  void mark_gone() {
    gone = true;
    keep_alive = false;
    signal_closed();
  }
  // The client went away or the server is stopping: wake wait_closed() and
  // run the request's on_close callback.
  void signal_closed() {
    closed.set();
    if (auto callback = std::exchange(on_close, nullptr)) callback();
  }
  // The handler returned: its on_close is dropped and its wait_closed() ends.
  void finish_handler() {
    request_finished = true;
    on_close = nullptr;
    closed.notify();
  }
  Status write_failed(std::string_view stage, const beast::error_code& ec) {
    mark_gone();
    const ErrorCode code = ec == beast::error::timeout ? ErrorCode::kTimeout : ErrorCode::kUnavailable;
    return make_error(code, fmt::format("http server: {} to {}: {}", stage, remote, ec.message()));
  }
  Error gone_error() const {
    return make_error(ErrorCode::kUnavailable, fmt::format("http server: client {} went away", remote));
  }
  Error answered_error() const {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("http server: request from {} already answered", remote));
  }

  std::shared_ptr<ServerCore> core;
  beast::tcp_stream stream;
  // Over `stream` once the client opened with a TLS handshake; every read
  // and write then goes through it (see on_stream). Timeouts stay on stream.
  std::unique_ptr<asio::ssl::stream<beast::tcp_stream&>> tls;
  beast::flat_buffer buffer;
  std::string remote;
  std::list<ServerSession*>::iterator position;
  Phase phase = Phase::kReading;
  Event closed;        // the client went away or the server is stopping
  Event watcher_done;  // the disconnect watcher of the current stream ended
  bool gone = false;   // the connection is dead (client closed, write failed)

  // The current request.
  bool keep_alive = true;
  bool head = false;
  bool responded = false;
  unsigned status = 0;  // of the response sent, 0 before
  bool streaming = false;
  bool stream_ended = false;
  uint64_t request_number = 0;
  bool request_finished = false;
  std::function<void()> on_close;
};

void ServerCore::close_all() {
  beast::error_code ec;
  acceptor.close(ec);
  for (ServerSession* session : sessions) {
    session->signal_closed();
    session->stream.close();
  }
}

namespace {

// Runs `op` (a generic lambda starting one async operation) on the session's
// TLS stream if it has one, else on its TCP stream; both give the same
// awaitable type.
template <typename Op>
auto on_stream(ServerSession& session, Op&& op) {
  return session.tls ? op(*session.tls) : op(session.stream);
}

template <typename Message>
void apply_headers(Message& message, const ServerResponse& response, bool keep_alive) {
  message.version(11);
  message.result(response.status);
  for (const auto& [name, value] : response.headers) message.insert(name, value);
  if (!response.content_type.empty()) message.set(http::field::content_type, response.content_type);
  message.keep_alive(keep_alive);
}

Status check_status(const ServerResponse& response) {
  if (response.status < 100 || response.status > 999) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("http server: bad status {}", response.status));
  }
  return {};
}

// Reads while the client sends, so that its FIN or RST is seen while a
// stream is open; see the contract in the header.
asio::awaitable<void> watch_disconnect(std::shared_ptr<ServerSession> session) {
  for (;;) {
    if (session->buffer.size() >= kStreamReadAhead) break;
    beast::error_code ec;
    const std::size_t n = co_await on_stream(*session, [&](auto& stream) {
      return stream.async_read_some(session->buffer.prepare(kReadSize),
                                    asio::redirect_error(asio::use_awaitable, ec));
    });
    session->buffer.commit(n);
    if (ec) {
      // operation_aborted: the stream ended and we were cancelled, or the
      // server closed the socket (and marked the session itself).
      if (ec != asio::error::operation_aborted) session->mark_gone();
      break;
    }
  }
  session->watcher_done.set();
}

// Answers a request we refuse before the handler sees it, then closes.
asio::awaitable<void> reject(std::shared_ptr<ServerSession> session, unsigned status, std::string reason) {
  log::debug(kComponent, "{}: {} {}", session->remote, status, reason);
  http::response<http::string_body> message;
  message.version(11);
  message.result(status);
  message.set(http::field::content_type, "text/plain; charset=utf-8");
  message.keep_alive(false);
  message.body() = reason + "\n";
  message.prepare_payload();
  beast::error_code ec;
  session->stream.expires_after(session->core->config.write_timeout);
  co_await on_stream(*session, [&](auto& stream) {
    return http::async_write(stream, message, asio::redirect_error(asio::use_awaitable, ec));
  });
  if (ec) co_return;
  session->stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  session->stream.expires_after(kLingerTime);
  std::string scratch(kReadSize, '\0');
  for (std::size_t drained = 0; drained < kLingerBytes;) {
    const std::size_t n = co_await on_stream(*session, [&](auto& stream) {
      return stream.async_read_some(asio::buffer(scratch), asio::redirect_error(asio::use_awaitable, ec));
    });
    if (ec) break;
    drained += n;
  }
}

// The request line and headers, parsed and decoded; nullopt-like error for a
// target we cannot decode.
Result<ServerRequest> build_request(http::request<http::string_body>& message, const ServerSession& session) {
  ServerRequest request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  if (request.target.empty() || request.target.front() != '/') {
    return make_error(ErrorCode::kInvalidArgument, "request target must start with '/'");
  }
  const auto question = request.target.find('?');
  auto path = percent_decode(std::string_view(request.target).substr(0, question), false);
  if (!path) return path.error();
  request.path = std::move(*path);
  if (question != std::string::npos) {
    auto query = parse_query(std::string_view(request.target).substr(question + 1));
    if (!query) return query.error();
    request.query = std::move(*query);
  }
  for (const auto& field : message.base()) {
    request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  request.body = std::move(message.body());
  request.remote_address = session.remote;
  request.tls = session.tls != nullptr;
  return request;
}

// After the handler returned: finish what it left unfinished and count.
asio::awaitable<void> finish_request(ServerSession& session, ResponseWriter& writer, bool threw) {
  ServerCore& core = *session.core;
  session.finish_handler();
  if (session.streaming) {
    --core.streams;
    if (threw) {
      session.keep_alive = false;  // a truncated body tells the client something broke
    } else if (!session.stream_ended && !session.gone) {
      auto ended = co_await writer.end_stream();
      (void)ended;
    }
    if (!session.watcher_done.is_set()) {
      session.stream.cancel();
      co_await session.watcher_done.wait();
    }
    co_return;
  }
  --core.in_flight;
  if (threw) session.keep_alive = false;
  if (!session.responded && !session.gone) {
    ServerResponse response;
    response.status = 500;
    response.content_type = "text/plain; charset=utf-8";
    response.body = threw ? "internal error: handler failed\n" : "internal error: handler did not respond\n";
    auto sent = co_await writer.send(std::move(response));
    (void)sent;
  }
}

// With TLS configured: waits for the first bytes; a TLS ClientHello gets a
// handshake, anything else stays in the buffer as plain HTTP. False if the
// connection failed or the handshake did.
asio::awaitable<bool> negotiate_tls(ServerSession& session) {
  const HttpServerConfig& config = session.core->config;
  beast::error_code ec;
  session.stream.expires_after(config.idle_timeout);
  const bool hello = co_await beast::async_detect_ssl(session.stream, session.buffer,
                                                      asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return false;
  if (hello) {
    session.tls = std::make_unique<asio::ssl::stream<beast::tcp_stream&>>(session.stream, *session.core->tls);
    session.stream.expires_after(config.header_timeout);
    const std::size_t used = co_await session.tls->async_handshake(
        asio::ssl::stream_base::server, session.buffer.data(), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      log::debug(kComponent, "{}: TLS handshake: {}", session.remote, ec.message());
      co_return false;
    }
    session.buffer.consume(used);
  }
  session.stream.expires_never();
  co_return true;
}

asio::awaitable<void> run_session(std::shared_ptr<ServerSession> session) {
  ServerCore& core = *session->core;
  const HttpServerConfig& config = core.config;
  ResponseWriter writer(*session);
  bool usable = !core.tls || co_await negotiate_tls(*session);
  for (; usable;) {
    if (core.stopping) break;
    session->phase = ServerSession::Phase::kReading;
    beast::error_code ec;
    if (session->buffer.size() == 0) {  // idle until the next request begins
      session->stream.expires_after(config.idle_timeout);
      const std::size_t n = co_await on_stream(*session, [&](auto& stream) {
        return stream.async_read_some(session->buffer.prepare(kReadSize),
                                      asio::redirect_error(asio::use_awaitable, ec));
      });
      session->buffer.commit(n);
      if (ec) break;  // idle timeout, client closed, or stop
    }
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(config.header_limit, UINT32_MAX)));
    parser.body_limit(config.body_limit);
    session->stream.expires_after(config.header_timeout);
    co_await on_stream(*session, [&](auto& stream) {
      return http::async_read_header(stream, session->buffer, parser,
                                     asio::redirect_error(asio::use_awaitable, ec));
    });
    if (!ec && parser.content_length() && *parser.content_length() > config.body_limit) {
      ec = http::error::body_limit;
    }
    if (!ec && !parser.is_done()) {
      session->stream.expires_after(config.body_timeout);
      co_await on_stream(*session, [&](auto& stream) {
        return http::async_read(stream, session->buffer, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
      });
    }
    session->stream.expires_never();
    if (ec == http::error::body_limit) {
      co_await reject(session, 413,
                      fmt::format("request entity too large: limit is {} bytes", config.body_limit));
      break;
    }
    if (ec == http::error::header_limit) {
      co_await reject(session, 431, "request header fields too large");
      break;
    }
    if (ec && is_parse_error(ec)) {
      co_await reject(session, 400, fmt::format("bad request: {}", ec.message()));
      break;
    }
    if (ec) break;  // timeout, closed mid-request, or stop
    if (core.stopping) break;

    auto message = parser.release();
    auto request = build_request(message, *session);
    if (!request) {
      co_await reject(session, 400, fmt::format("bad request: {}", request.error().message));
      break;
    }
    session->phase = ServerSession::Phase::kHandling;
    session->begin_request(message.keep_alive(), message.method() == http::verb::head);
    ++core.in_flight;
    ++core.requests_total;
    bool threw = false;
    try {
      co_await core.handler(*request, writer);
    } catch (const std::exception& e) {
      log::error(kComponent, "handler for {} {} from {} threw: {}", request->method, request->target,
                 session->remote, e.what());
      threw = true;
    } catch (...) {
      log::error(kComponent, "handler for {} {} from {} threw", request->method, request->target,
                 session->remote);
      threw = true;
    }
    co_await finish_request(*session, writer, threw);
    if (!session->keep_alive || session->gone) break;
  }
  session->stream.expires_never();
  beast::error_code ec;
  session->stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  session->stream.close();
  session->signal_closed();  // a wait_closed() still pending ends (it holds the session)
}

asio::awaitable<void> accept_loop(std::shared_ptr<ServerCore> core) {
  for (;;) {
    beast::error_code ec;
    tcp::socket socket = co_await core->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (core->stopping || ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) break;
    if (ec) {
      // Out of descriptors and the like: back off instead of spinning.
      log::warn(kComponent, "accept on port {}: {}", core->port, ec.message());
      asio::steady_timer pause(core->executor);
      pause.expires_after(Millis(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    ++core->accepted_total;
    socket.set_option(tcp::no_delay(true), ec);  // chunks of a watch must leave at once
    auto session = std::make_shared<ServerSession>(core, std::move(socket));
    asio::co_spawn(core->executor, run_session(std::move(session)), asio::detached);
  }
  core->leave();
}

asio::awaitable<void> stop_core(std::shared_ptr<ServerCore> core) {
  if (!core->started || core->stopped) co_return;
  if (core->stopping) {
    co_await core->stopped_event.wait();
    co_return;
  }
  core->stopping = true;
  beast::error_code ec;
  core->acceptor.close(ec);
  for (ServerSession* session : core->sessions) {
    if (session->phase == ServerSession::Phase::kHandling) {
      session->signal_closed();  // let a stream handler end its stream
    } else {
      session->stream.close();  // idle or mid-request: nothing to finish
    }
  }
  if (core->active > 0) {
    core->stop_timer.expires_after(core->config.stop_grace);
    co_await core->stop_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!ec && core->active > 0) {  // grace is over: leave() did not cancel us
      log::warn(kComponent, "port {}: {} sessions outlived the stop grace; closing them", core->port,
                core->sessions.size());
      core->close_all();
      core->stop_timer.expires_at(asio::steady_timer::time_point::max());
      co_await core->stop_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
  core->stopped = true;
  core->stopped_event.set();
}

}  // namespace
}  // namespace detail

// ---------------------------------------------------------------------------
// ResponseWriter

asio::awaitable<Status> ResponseWriter::send(ServerResponse response) {
  detail::ServerSession& s = *session_;
  if (s.responded) co_return s.answered_error();
  auto valid = detail::check_status(response);
  if (!valid) co_return valid;
  s.responded = true;
  s.status = response.status;
  if (s.gone) co_return s.gone_error();
  s.keep_alive = s.keep_alive && !s.core->stopping;
  http::response<http::string_body> message;
  detail::apply_headers(message, response, s.keep_alive);
  const std::size_t size = response.body.size();
  message.body() = std::move(response.body);
  message.prepare_payload();
  if (s.head) {  // HEAD: the length of the body we would send, no body
    message.body().clear();
    message.content_length(size);
  }
  beast::error_code ec;
  s.stream.expires_after(s.core->config.write_timeout);
  co_await detail::on_stream(s, [&](auto& stream) {
    return http::async_write(stream, message, asio::redirect_error(asio::use_awaitable, ec));
  });
  s.stream.expires_never();
  if (ec) co_return s.write_failed("write response", ec);
  co_return Status();
}

asio::awaitable<Status> ResponseWriter::begin_stream(ServerResponse head) {
  detail::ServerSession& s = *session_;
  if (s.responded) co_return s.answered_error();
  auto valid = detail::check_status(head);
  if (!valid) co_return valid;
  s.responded = true;
  s.status = head.status;
  if (s.gone) co_return s.gone_error();
  s.keep_alive = s.keep_alive && !s.core->stopping;
  http::response<http::empty_body> message;
  detail::apply_headers(message, head, s.keep_alive);
  message.chunked(true);
  http::response_serializer<http::empty_body> serializer(message);
  beast::error_code ec;
  s.stream.expires_after(s.core->config.write_timeout);
  co_await detail::on_stream(s, [&](auto& stream) {
    return http::async_write_header(stream, serializer, asio::redirect_error(asio::use_awaitable, ec));
  });
  s.stream.expires_never();
  if (ec) co_return s.write_failed("write stream header", ec);
  s.streaming = true;
  --s.core->in_flight;
  ++s.core->streams;
  s.watcher_done.reset();
  asio::co_spawn(s.core->executor, detail::watch_disconnect(s.shared_from_this()), asio::detached);
  if (!head.body.empty()) co_return co_await write_chunk(std::move(head.body));
  co_return Status();
}

asio::awaitable<Status> ResponseWriter::write_chunk(std::string data) {
  detail::ServerSession& s = *session_;
  if (!s.streaming || s.stream_ended) {
    co_return make_error(ErrorCode::kInvalidArgument, "http server: write_chunk outside a stream");
  }
  if (s.gone) co_return s.gone_error();
  if (data.empty()) co_return Status();
  beast::error_code ec;
  if (!s.tls) {
    // Plain TCP: try the whole chunk at once without suspending. With room
    // in the socket buffer (the usual case for a watch event) this skips
    // the write timer and an async round trip per chunk, which is what a
    // fan-out to many watchers spends its time on.
    std::string framed = fmt::format("{:x}\r\n", data.size());
    framed += data;
    framed += "\r\n";
    auto& socket = s.stream.socket();
    if (!socket.non_blocking()) socket.non_blocking(true, ec);
    std::size_t written = ec ? 0 : socket.write_some(asio::buffer(framed), ec);
    if (!ec && written == framed.size()) co_return Status();
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again)
      co_return s.write_failed("write chunk", ec);
    ec = {};
    s.stream.expires_after(s.core->config.write_timeout);
    co_await asio::async_write(s.stream, asio::buffer(framed) + written,
                               asio::redirect_error(asio::use_awaitable, ec));
    s.stream.expires_never();
    if (ec) co_return s.write_failed("write chunk", ec);
    co_return Status();
  }
  // A read (the disconnect watcher) is pending, so this sets only the write
  // timeout.
  s.stream.expires_after(s.core->config.write_timeout);
  co_await detail::on_stream(s, [&](auto& stream) {
    return asio::async_write(stream, http::make_chunk(asio::buffer(data)),
                             asio::redirect_error(asio::use_awaitable, ec));
  });
  s.stream.expires_never();
  if (ec) co_return s.write_failed("write chunk", ec);
  co_return Status();
}

asio::awaitable<Status> ResponseWriter::end_stream() {
  detail::ServerSession& s = *session_;
  if (!s.streaming || s.stream_ended) {
    co_return make_error(ErrorCode::kInvalidArgument, "http server: end_stream outside a stream");
  }
  s.stream_ended = true;
  if (s.gone) co_return s.gone_error();
  beast::error_code ec;
  s.stream.expires_after(s.core->config.write_timeout);
  co_await detail::on_stream(s, [&](auto& stream) {
    return asio::async_write(stream, http::make_chunk_last(), asio::redirect_error(asio::use_awaitable, ec));
  });
  s.stream.expires_never();
  if (ec) co_return s.write_failed("write last chunk", ec);
  co_return Status();
}

asio::awaitable<void> ResponseWriter::wait_closed() {
  // The session, not this writer, may outlive the request: hold it.
  auto session = session_->shared_from_this();
  const uint64_t request = session->request_number;
  while (!session->closed.is_set() && session->request_number == request && !session->request_finished) {
    co_await session->closed.wait_notified();
  }
}

void ResponseWriter::on_close(std::function<void()> callback) {
  detail::ServerSession& s = *session_;
  if (s.closed.is_set()) {
    callback();
    return;
  }
  s.on_close = std::move(callback);
}

bool ResponseWriter::closed() const {
  return session_->closed.is_set();
}

bool ResponseWriter::responded() const {
  return session_->responded;
}

unsigned ResponseWriter::status() const {
  return session_->status;
}

// ---------------------------------------------------------------------------
// HttpServer

HttpServer::HttpServer(asio::any_io_executor executor, HttpServerConfig config, HttpHandler handler)
    : core_(
          std::make_shared<detail::ServerCore>(std::move(executor), std::move(config), std::move(handler))) {}

HttpServer::~HttpServer() {
  if (core_->started && !core_->stopped) {
    core_->stopping = true;
    core_->close_all();
  }
}

namespace {

// The TLS context from the configured PEM files, if any.
Status load_tls(detail::ServerCore& core) {
  const auto& config = core.config;
  if (config.tls_certificate_file.empty() && config.tls_private_key_file.empty()) return {};
  if (config.tls_certificate_file.empty() || config.tls_private_key_file.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "http server: TLS needs both a certificate file and a private key file");
  }
  auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1);
  beast::error_code ec;
  context->use_certificate_chain_file(config.tls_certificate_file, ec);
  if (ec) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("http server: TLS certificate {}: {}",
                                                               config.tls_certificate_file, ec.message()));
  }
  context->use_private_key_file(config.tls_private_key_file, asio::ssl::context::pem, ec);
  if (ec) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("http server: TLS key {}: {}", config.tls_private_key_file, ec.message()));
  }
  core.tls = std::move(context);
  return {};
}

}  // namespace

Status HttpServer::start() {
  detail::ServerCore& core = *core_;
  if (core.started) return make_error(ErrorCode::kInternal, "http server: already started");
  const std::string where = fmt::format("http server {}:{}", core.config.address, core.config.port);
  beast::error_code ec;
  const auto address = asio::ip::make_address(core.config.address, ec);
  if (ec)
    return make_error(ErrorCode::kInvalidArgument, fmt::format("{}: bad address: {}", where, ec.message()));
  const tcp::endpoint endpoint(address, core.config.port);
  const auto fail = [&](std::string_view stage) {
    beast::error_code ignored;
    core.acceptor.close(ignored);
    return make_error(ErrorCode::kUnavailable, fmt::format("{}: {}: {}", where, stage, ec.message()));
  };
  if (auto loaded = load_tls(core); !loaded) return loaded;
  core.acceptor.open(endpoint.protocol(), ec);
  if (ec) return fail("open");
  core.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (ec) return fail("reuse_address");
  core.acceptor.bind(endpoint, ec);
  if (ec) return fail("bind");
  core.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  core.port = core.acceptor.local_endpoint(ec).port();
  if (ec) return fail("local_endpoint");
  core.started = true;
  core.enter();  // the accept loop
  asio::co_spawn(core.executor, detail::accept_loop(core_), asio::detached);
  log::debug(kComponent, "listening on {}:{}", core.config.address, core.port);
  return {};
}

uint16_t HttpServer::port() const {
  return core_->port;
}

Endpoint HttpServer::endpoint() const {
  return Endpoint{core_->config.address, core_->port};
}

asio::awaitable<void> HttpServer::stop() {
  return detail::stop_core(core_);
}

std::size_t HttpServer::requests_in_flight() const {
  return core_->in_flight;
}

std::size_t HttpServer::open_streams() const {
  return core_->streams;
}

std::size_t HttpServer::open_connections() const {
  return core_->sessions.size();
}

uint64_t HttpServer::connections_accepted_total() const {
  return core_->accepted_total;
}

uint64_t HttpServer::requests_total() const {
  return core_->requests_total;
}

}  // namespace shakeout::net
