#include "net/http_client.h"

#include <fmt/format.h>
#include <strings.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <limits>
#include <map>

namespace shakeout::net {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Deadline = std::chrono::steady_clock::time_point;

namespace {

constexpr std::size_t kPieceSize = 16 * 1024;

struct Connection {
  explicit Connection(const asio::any_io_executor& executor) : stream(executor) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
};

// An idle connection is usable while the server has sent nothing on it:
// end of stream (it closed the connection, e.g. its idle timeout) or stray
// bytes both mean it must not carry another request.
bool still_open(Connection& connection) {
  char byte = 0;
  const ssize_t n = ::recv(connection.stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

using RequestMessage = http::request<http::string_body>;

ErrorCode classify(const beast::error_code& ec) {
  if (ec == beast::error::timeout) return ErrorCode::kTimeout;
  if (ec == asio::error::operation_aborted) return ErrorCode::kCancelled;
  if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message) {
    return ErrorCode::kProtocol;  // the peer sent something that is not HTTP/1.1
  }
  return ErrorCode::kUnavailable;  // refused, reset, closed, unreachable
}

Error io_error(const Endpoint& endpoint, std::string_view stage, const beast::error_code& ec) {
  return make_error(classify(ec),
                    fmt::format("http {}: {}: {}", endpoint.to_string(), stage,
                                ec == beast::error::timeout ? "deadline exceeded" : ec.message()));
}

// A reused connection that the server closed while it sat idle fails before
// any byte of the response arrives; the request was never processed.
bool closed_while_idle(const beast::error_code& ec, bool got_response_bytes) {
  if (got_response_bytes) return false;
  return ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe;
}

HttpHeaders copy_headers(const http::fields& fields) {
  HttpHeaders headers;
  for (const auto& field : fields) {
    headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  return headers;
}

RequestMessage build_message(const Endpoint& endpoint, const HttpRequest& request,
                             const std::string& user_agent) {
  RequestMessage message;
  const http::verb verb = http::string_to_verb(request.method);
  if (verb == http::verb::unknown) {
    message.method_string(request.method);
  } else {
    message.method(verb);
  }
  message.target(request.target);
  message.version(11);
  message.set(http::field::host, endpoint.to_string());
  message.set(http::field::user_agent, user_agent);
  if (!request.content_type.empty()) message.set(http::field::content_type, request.content_type);
  for (const auto& [name, value] : request.headers) message.set(name, value);
  message.body() = request.body;
  message.keep_alive(true);
  message.prepare_payload();
  return message;
}

}  // namespace

namespace {
bool is_unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.' || c == '~';
}
}  // namespace

std::string percent_encode(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (is_unreserved(c)) {
      out.push_back(c);
    } else {
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
  }
  return out;
}

std::string query_string(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string query;
  for (const auto& [name, value] : params) {
    query += query.empty() ? "?" : "&";
    query += percent_encode(name) + "=" + percent_encode(value);
  }
  return query;
}

Result<Endpoint> parse_endpoint(std::string_view url) {
  const auto invalid = [&](std::string_view why) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("endpoint \"{}\": {}", url, why));
  };
  std::string_view rest = url;
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.find("://") != std::string_view::npos) {
    return invalid("only http:// is supported");
  }
  if (rest.ends_with('/')) rest.remove_suffix(1);
  const auto colon = rest.rfind(':');
  if (colon == std::string_view::npos) return invalid("expected host:port");
  std::string_view host = rest.substr(0, colon);
  const std::string_view port_text = rest.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty() || host.find_first_of("/[]") != std::string_view::npos) return invalid("bad host");
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
    return invalid("bad port");
  }
  return Endpoint{std::string(host), static_cast<uint16_t>(port)};
}

std::string_view HttpResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key.size() == name.size() && strncasecmp(key.data(), name.data(), name.size()) == 0) return value;
  }
  return {};
}

// ---------------------------------------------------------------------------
// HttpStream

struct HttpStream::State {
  Endpoint endpoint;
  std::unique_ptr<Connection> connection;
  http::response_parser<http::buffer_body> parser;
  std::size_t line_limit = 0;
  HttpHeaders headers;
  std::string pending;  // bytes read past the last line returned
  bool cancelled = false;
  bool body_done = false;

  asio::awaitable<Result<std::optional<std::string>>> read_piece(std::optional<Deadline> deadline);
};

asio::awaitable<Result<std::optional<std::string>>> HttpStream::State::read_piece(
    std::optional<Deadline> deadline) {
  std::string piece(kPieceSize, '\0');
  while (!body_done) {
    if (cancelled) break;
    if (deadline) connection->stream.expires_at(*deadline);
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    beast::error_code ec;
    co_await http::async_read_some(connection->stream, connection->buffer, parser,
                                   asio::redirect_error(asio::use_awaitable, ec));
    connection->stream.expires_never();
    if (ec == http::error::need_buffer) ec = {};  // our piece buffer is full: hand it over
    if (cancelled) break;
    if (ec) co_return io_error(endpoint, "read body", ec);
    body_done = parser.is_done();
    const std::size_t filled = piece.size() - parser.get().body().size;
    if (filled > 0) {
      piece.resize(filled);
      co_return std::optional<std::string>(std::move(piece));
    }
  }
  if (cancelled)
    co_return make_error(ErrorCode::kCancelled,
                         fmt::format("http {}: stream cancelled", endpoint.to_string()));
  co_return std::optional<std::string>();
}

HttpStream::HttpStream(std::unique_ptr<State> state) : state_(std::move(state)) {}

HttpStream::~HttpStream() {
  cancel();
}

unsigned HttpStream::status() const {
  return state_->parser.get().result_int();
}

const HttpHeaders& HttpStream::headers() const {
  return state_->headers;
}

asio::awaitable<Result<std::optional<std::string>>> HttpStream::read_piece(std::optional<Millis> timeout) {
  std::optional<Deadline> deadline;
  if (timeout) deadline = std::chrono::steady_clock::now() + *timeout;
  if (!state_->pending.empty()) {  // bytes a read_line() call left behind come first
    co_return std::optional<std::string>(std::exchange(state_->pending, {}));
  }
  co_return co_await state_->read_piece(deadline);
}

asio::awaitable<Result<std::optional<std::string>>> HttpStream::read_line(std::optional<Millis> timeout) {
  std::optional<Deadline> deadline;
  if (timeout) deadline = std::chrono::steady_clock::now() + *timeout;
  State& s = *state_;
  for (;;) {
    const auto newline = s.pending.find('\n');
    if (newline != std::string::npos) {
      std::string line = s.pending.substr(0, newline);
      s.pending.erase(0, newline + 1);
      co_return std::optional<std::string>(std::move(line));
    }
    if (s.pending.size() > s.line_limit) {
      co_return make_error(ErrorCode::kProtocol, fmt::format("http {}: line longer than {} bytes",
                                                             s.endpoint.to_string(), s.line_limit));
    }
    auto piece = co_await s.read_piece(deadline);
    if (!piece) co_return piece.error();
    if (!*piece) {  // end of body: a last unterminated line, then the end
      if (s.pending.empty()) co_return std::optional<std::string>();
      co_return std::optional<std::string>(std::exchange(s.pending, {}));
    }
    s.pending += **piece;
  }
}

void HttpStream::cancel() {
  if (state_->cancelled) return;
  state_->cancelled = true;
  state_->connection->stream.close();
}

// ---------------------------------------------------------------------------
// HttpClient

class HttpClient::Impl {
 public:
  Impl(asio::any_io_executor executor, HttpClientConfig config)
      : executor_(std::move(executor)), config_(std::move(config)) {}

  asio::awaitable<Result<HttpResponse>> request(Endpoint endpoint, HttpRequest request, Millis timeout);
  asio::awaitable<Result<std::unique_ptr<HttpStream>>> open_stream(Endpoint endpoint, HttpRequest request,
                                                                   Millis timeout);

 private:
  asio::awaitable<Result<std::unique_ptr<Connection>>> connect(const Endpoint& endpoint, Deadline deadline);
  std::unique_ptr<Connection> take_idle(const Endpoint& endpoint);
  void put_idle(const Endpoint& endpoint, std::unique_ptr<Connection> connection);

  asio::any_io_executor executor_;
  HttpClientConfig config_;
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;  // by host:port
};

asio::awaitable<Result<std::unique_ptr<Connection>>> HttpClient::Impl::connect(const Endpoint& endpoint,
                                                                               Deadline deadline) {
  beast::error_code ec;
  tcp::resolver resolver(executor_);
  const auto addresses = co_await resolver.async_resolve(endpoint.host, std::to_string(endpoint.port),
                                                         tcp::resolver::numeric_service,
                                                         asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return io_error(endpoint, "resolve", ec);
  auto connection = std::make_unique<Connection>(executor_);
  connection->stream.expires_at(
      std::min(deadline, std::chrono::steady_clock::now() + config_.connect_timeout));
  co_await connection->stream.async_connect(addresses, asio::redirect_error(asio::use_awaitable, ec));
  connection->stream.expires_never();
  if (ec) co_return io_error(endpoint, "connect", ec);
  connection->stream.socket().set_option(tcp::no_delay(true), ec);
  co_return connection;
}

std::unique_ptr<Connection> HttpClient::Impl::take_idle(const Endpoint& endpoint) {
  auto it = idle_.find(endpoint.to_string());
  if (it == idle_.end()) return nullptr;
  while (!it->second.empty()) {
    auto connection = std::move(it->second.back());
    it->second.pop_back();
    if (still_open(*connection)) return connection;
  }
  return nullptr;
}

void HttpClient::Impl::put_idle(const Endpoint& endpoint, std::unique_ptr<Connection> connection) {
  auto& pool = idle_[endpoint.to_string()];
  // Unread bytes after a complete response mean the connection is out of step.
  if (pool.size() < config_.max_idle_per_endpoint && connection->buffer.size() == 0) {
    pool.push_back(std::move(connection));
  }
}

asio::awaitable<Result<HttpResponse>> HttpClient::Impl::request(Endpoint endpoint, HttpRequest request,
                                                                Millis timeout) {
  const Deadline deadline = std::chrono::steady_clock::now() + timeout;
  RequestMessage message = build_message(endpoint, request, config_.user_agent);
  for (bool first_attempt = true;; first_attempt = false) {
    // The retry takes a fresh connection: the other idle ones may have been
    // closed by the same server at the same moment.
    std::unique_ptr<Connection> connection = first_attempt ? take_idle(endpoint) : nullptr;
    const bool reused = connection != nullptr;
    if (!reused) {
      auto fresh = co_await connect(endpoint, deadline);
      if (!fresh) co_return fresh.error();
      connection = std::move(*fresh);
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(config_.body_limit);
    beast::error_code ec;
    connection->stream.expires_at(deadline);
    co_await http::async_write(connection->stream, message, asio::redirect_error(asio::use_awaitable, ec));
    const char* stage = "write request";
    if (!ec) {
      co_await http::async_read(connection->stream, connection->buffer, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
      stage = "read response";
    }
    connection->stream.expires_never();
    if (ec) {
      if (reused && first_attempt && closed_while_idle(ec, parser.got_some())) continue;
      co_return io_error(endpoint, stage, ec);
    }
    auto response = parser.release();
    HttpResponse result{response.result_int(), copy_headers(response.base()), std::move(response.body())};
    if (response.keep_alive()) put_idle(endpoint, std::move(connection));
    co_return result;
  }
}

asio::awaitable<Result<std::unique_ptr<HttpStream>>> HttpClient::Impl::open_stream(Endpoint endpoint,
                                                                                   HttpRequest request,
                                                                                   Millis timeout) {
  const Deadline deadline = std::chrono::steady_clock::now() + timeout;
  RequestMessage message = build_message(endpoint, request, config_.user_agent);
  auto connection = co_await connect(endpoint, deadline);
  if (!connection) co_return connection.error();
  auto state = std::make_unique<HttpStream::State>();
  state->endpoint = endpoint;
  state->connection = std::move(*connection);
  state->line_limit = config_.body_limit;
  // A stream may run for hours. Not boost::none: Boost 1.74 compares a
  // Content-Length with that empty optional and always fails (body_limit).
  state->parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  beast::tcp_stream& stream = state->connection->stream;
  beast::error_code ec;
  stream.expires_at(deadline);
  co_await http::async_write(stream, message, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return io_error(endpoint, "write request", ec);
  co_await http::async_read_header(stream, state->connection->buffer, state->parser,
                                   asio::redirect_error(asio::use_awaitable, ec));
  stream.expires_never();
  if (ec) co_return io_error(endpoint, "read response header", ec);
  state->headers = copy_headers(state->parser.get().base());
  state->body_done = state->parser.is_done();
  co_return std::make_unique<HttpStream>(std::move(state));
}

HttpClient::HttpClient(asio::any_io_executor executor, HttpClientConfig config)
    : impl_(std::make_unique<Impl>(std::move(executor), std::move(config))) {}

HttpClient::~HttpClient() = default;

asio::awaitable<Result<HttpResponse>> HttpClient::request(Endpoint endpoint, HttpRequest request,
                                                          Millis timeout) {
  return impl_->request(std::move(endpoint), std::move(request), timeout);
}

asio::awaitable<Result<std::unique_ptr<HttpStream>>> HttpClient::open_stream(Endpoint endpoint,
                                                                             HttpRequest request,
                                                                             Millis timeout) {
  return impl_->open_stream(std::move(endpoint), std::move(request), timeout);
}

}  // namespace shakeout::net
