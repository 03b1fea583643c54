#include "net/http_client.h"

#include <gtest/gtest.h>

#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <memory>
#include <string>
#include <vector>

#include "common/async.h"
#include "net/base64.h"

namespace shakeout::net {
namespace {

using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// run_blocking() needs a default-constructible result; Result<T> is not one.
template <typename T>
T run_result(asio::io_context& io, asio::awaitable<T> task) {
  std::optional<T> out;
  run_blocking(io, [](std::optional<T>& out, asio::awaitable<T> task) -> asio::awaitable<void> {
    out.emplace(co_await std::move(task));
  }(out, std::move(task)));
  return std::move(*out);
}

// A raw HTTP/1.1 server on 127.0.0.1:<ephemeral> whose behaviour depends on
// the request target:
//   /echo      200, body "<method> <body>", keep-alive
//   /close-after  200 "ok", then closes the connection without saying so
//   /hang      reads the request and never answers
//   /stream    chunked: "one\n", then waits for release_stream(), "two\n", end
//   /endless   chunked: "one\n", then nothing until the client closes
// It counts accepted connections and records when a client closes one.
class TestServer {
 public:
  explicit TestServer(asio::io_context& io)
      : io_(io), acceptor_(io, {asio::ip::make_address("127.0.0.1"), 0}), release_(io), forever_(io) {
    release_.expires_at(asio::steady_timer::time_point::max());
    forever_.expires_at(asio::steady_timer::time_point::max());
    asio::co_spawn(io_, accept_loop(), asio::detached);
  }

  Endpoint endpoint() const { return {"127.0.0.1", acceptor_.local_endpoint().port()}; }
  int accepted() const { return accepted_; }
  int closed_by_client() const { return closed_by_client_; }
  void release_stream() { release_.cancel(); }

  // Stops accepting, closes every session and lets their coroutines finish.
  void stop() {
    acceptor_.close();
    forever_.cancel();
    release_.cancel();
    for (auto& weak : sessions_) {
      if (auto socket = weak.lock()) socket->close();
    }
    io_.restart();
    io_.run();
  }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      auto socket = std::make_shared<tcp::socket>(
          co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec)));
      if (ec) co_return;
      ++accepted_;
      sessions_.push_back(socket);
      asio::co_spawn(io_, session(socket), asio::detached);
    }
  }

  asio::awaitable<void> session(std::shared_ptr<tcp::socket> socket) {
    boost::system::error_code ec;
    asio::streambuf input;
    for (;;) {
      const std::size_t header_size = co_await asio::async_read_until(
          *socket, input, "\r\n\r\n", asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      std::string header(asio::buffers_begin(input.data()), asio::buffers_begin(input.data()) + header_size);
      input.consume(header_size);
      const std::string body = co_await read_body(*socket, input, header, ec);
      if (ec) break;
      const std::string method = header.substr(0, header.find(' '));
      const std::string target =
          header.substr(method.size() + 1, header.find(' ', method.size() + 1) - method.size() - 1);
      if (target == "/echo") {
        const std::string reply = method + " " + body;
        co_await send(
            *socket,
            "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(reply.size()) + "\r\n\r\n" + reply, ec);
      } else if (target == "/close-after") {
        co_await send(*socket, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", ec);
        break;  // closes a connection the client believes it may keep
      } else if (target == "/stream") {
        co_await send(*socket, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\none\n\r\n", ec);
        co_await release_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        co_await send(*socket, "4\r\ntwo\n\r\n0\r\n\r\n", ec);
      } else if (target == "/endless") {
        co_await send(*socket, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\none\n\r\n", ec);
        char byte;  // returns only when the client closes the connection
        co_await socket->async_read_some(asio::buffer(&byte, 1),
                                         asio::redirect_error(asio::use_awaitable, ec));
        break;
      } else {  // "/hang"
        co_await forever_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      if (!socket->is_open()) break;
    }
    if (ec == asio::error::eof || ec == asio::error::connection_reset) ++closed_by_client_;
  }

  asio::awaitable<std::string> read_body(tcp::socket& socket, asio::streambuf& input,
                                         const std::string& header, boost::system::error_code& ec) {
    const auto at = header.find("Content-Length: ");
    const std::size_t length = at == std::string::npos ? 0 : std::stoul(header.substr(at + 16));
    if (input.size() < length) {
      co_await asio::async_read(socket, input, asio::transfer_exactly(length - input.size()),
                                asio::redirect_error(asio::use_awaitable, ec));
    }
    std::string body(asio::buffers_begin(input.data()), asio::buffers_begin(input.data()) + length);
    input.consume(length);
    co_return body;
  }

  static asio::awaitable<void> send(tcp::socket& socket, std::string bytes, boost::system::error_code& ec) {
    co_await asio::async_write(socket, asio::buffer(bytes), asio::redirect_error(asio::use_awaitable, ec));
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  asio::steady_timer release_;
  asio::steady_timer forever_;
  std::vector<std::weak_ptr<tcp::socket>> sessions_;
  int accepted_ = 0;
  int closed_by_client_ = 0;
};

class HttpClientTest : public ::testing::Test {
 protected:
  ~HttpClientTest() override {
    client_.reset();
    server_.stop();
  }

  HttpRequest post(std::string target, std::string body) {
    HttpRequest request;
    request.method = "POST";
    request.target = std::move(target);
    request.content_type = "text/plain";
    request.body = std::move(body);
    return request;
  }

  asio::io_context io_;
  TestServer server_{io_};
  std::unique_ptr<HttpClient> client_ = std::make_unique<HttpClient>(io_.get_executor());
};

TEST_F(HttpClientTest, RequestReturnsStatusAndBody) {
  auto response = run_result(io_, client_->request(server_.endpoint(), post("/echo", "hello"), 5s));
  ASSERT_TRUE(response.ok()) << response.error().describe();
  EXPECT_EQ(response->status, 200u);
  EXPECT_EQ(response->body, "POST hello");
  EXPECT_EQ(response->header("content-length"), "10");
}

TEST_F(HttpClientTest, KeepAliveReusesOneConnection) {
  for (int i = 0; i < 3; ++i) {
    auto response =
        run_result(io_, client_->request(server_.endpoint(), post("/echo", std::to_string(i)), 5s));
    ASSERT_TRUE(response.ok()) << response.error().describe();
    EXPECT_EQ(response->body, "POST " + std::to_string(i));
  }
  EXPECT_EQ(server_.accepted(), 1);
}

TEST_F(HttpClientTest, PooledConnectionClosedByServerIsReplacedTransparently) {
  auto first = run_result(io_, client_->request(server_.endpoint(), post("/close-after", ""), 5s));
  ASSERT_TRUE(first.ok()) << first.error().describe();
  auto second = run_result(io_, client_->request(server_.endpoint(), post("/echo", "again"), 5s));
  ASSERT_TRUE(second.ok()) << second.error().describe();
  EXPECT_EQ(second->body, "POST again");
  EXPECT_EQ(server_.accepted(), 2);
}

// The scheduler once failed a binding this way: its pool held several
// connections the API server had closed for idleness, and the retry took
// another of them.
TEST_F(HttpClientTest, EveryPooledConnectionClosedByServerStillLeavesRequestsWorking) {
  int done = 0;
  for (int i = 0; i < 3; ++i) {  // three at once: three pooled connections
    asio::co_spawn(
        io_,
        [](HttpClient& client, Endpoint endpoint, HttpRequest request, int& done) -> asio::awaitable<void> {
          auto response = co_await client.request(endpoint, std::move(request), 5s);
          if (response.ok()) ++done;
        }(*client_, server_.endpoint(), post("/close-after", ""), done),
        asio::detached);
  }
  for (int turns = 0; done < 3 && turns < 100000; ++turns) io_.run_one_for(10ms);
  ASSERT_EQ(done, 3);
  ASSERT_EQ(server_.accepted(), 3);
  auto next = run_result(io_, client_->request(server_.endpoint(), post("/echo", "after"), 5s));
  ASSERT_TRUE(next.ok()) << next.error().describe();
  EXPECT_EQ(next->body, "POST after");
  EXPECT_EQ(server_.accepted(), 4);  // the closed ones were seen closed, not tried
}

TEST_F(HttpClientTest, DeadlineOnSilentServerIsTimeout) {
  auto response = run_result(io_, client_->request(server_.endpoint(), post("/hang", ""), 200ms));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, ErrorCode::kTimeout) << response.error().describe();
  EXPECT_NE(response.error().message.find(server_.endpoint().to_string()), std::string::npos);
}

TEST_F(HttpClientTest, TimedOutConnectionIsNotReused) {
  ASSERT_FALSE(run_result(io_, client_->request(server_.endpoint(), post("/hang", ""), 200ms)).ok());
  auto response = run_result(io_, client_->request(server_.endpoint(), post("/echo", "after"), 5s));
  ASSERT_TRUE(response.ok()) << response.error().describe();
  EXPECT_EQ(response->body, "POST after");
  EXPECT_EQ(server_.accepted(), 2);
}

TEST_F(HttpClientTest, RefusedConnectionIsUnavailable) {
  // Bind a port, then close it: nothing listens there any more.
  tcp::acceptor probe(io_, {asio::ip::make_address("127.0.0.1"), 0});
  const Endpoint closed{"127.0.0.1", probe.local_endpoint().port()};
  probe.close();
  auto response = run_result(io_, client_->request(closed, post("/echo", ""), 5s));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, ErrorCode::kUnavailable) << response.error().describe();
  EXPECT_NE(response.error().message.find(closed.to_string()), std::string::npos);
}

TEST_F(HttpClientTest, StreamHandsOverPiecesBeforeResponseEnds) {
  std::vector<std::string> lines;
  run_blocking(io_, [&]() -> asio::awaitable<void> {
    auto stream = co_await client_->open_stream(server_.endpoint(), post("/stream", ""), 5s);
    EXPECT_TRUE(stream.ok()) << stream.error().describe();
    if (!stream) co_return;
    EXPECT_EQ((*stream)->status(), 200u);
    // The server sends "two" only after release_stream(), so this line can
    // only arrive here if pieces are handed over as they come.
    auto first = co_await (*stream)->read_line(5s);
    EXPECT_TRUE(first.ok() && *first);
    if (!first || !*first) co_return;
    lines.push_back(**first);
    server_.release_stream();
    for (;;) {
      auto line = co_await (*stream)->read_line(5s);
      EXPECT_TRUE(line.ok()) << line.error().describe();
      if (!line || !*line) break;
      lines.push_back(**line);
    }
  }());
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two"}));
}

TEST_F(HttpClientTest, CancelEndsReadInFlightAndClosesConnection) {
  Result<std::optional<std::string>> second = std::optional<std::string>();
  run_blocking(io_, [&]() -> asio::awaitable<void> {
    auto stream = co_await client_->open_stream(server_.endpoint(), post("/endless", ""), 5s);
    EXPECT_TRUE(stream.ok()) << stream.error().describe();
    if (!stream) co_return;
    auto first = co_await (*stream)->read_piece();
    EXPECT_TRUE(first.ok() && *first && **first == "one\n");
    asio::steady_timer timer(co_await asio::this_coro::executor, 100ms);
    timer.async_wait([&](boost::system::error_code ec) {
      if (!ec) (*stream)->cancel();
    });
    second = co_await (*stream)->read_piece();  // no deadline: only cancel() ends it
  }());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, ErrorCode::kCancelled) << second.error().describe();
  io_.restart();
  while (server_.closed_by_client() == 0 && io_.run_one_for(5s) > 0) {
  }
  EXPECT_EQ(server_.closed_by_client(), 1);
}

TEST(ParseEndpoint, AcceptsHttpUrlsAndHostPort) {
  auto url = parse_endpoint("http://127.201.3.4:2379");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->host, "127.201.3.4");
  EXPECT_EQ(url->port, 2379);
  auto plain = parse_endpoint("localhost:6443/");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->to_string(), "localhost:6443");
  EXPECT_FALSE(parse_endpoint("https://x:1").ok());
  EXPECT_FALSE(parse_endpoint("x").ok());
  EXPECT_FALSE(parse_endpoint("x:0").ok());
  EXPECT_FALSE(parse_endpoint("x:70000").ok());
  EXPECT_FALSE(parse_endpoint("x:12ab").ok());
}

TEST(Base64, RoundTripsEveryLengthAndByte) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  for (std::size_t n = 0; n <= bytes.size(); ++n) {
    const std::string input = bytes.substr(0, n);
    EXPECT_EQ(base64_decode(base64_encode(input)), input) << n;
  }
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("f"), "Zg==");
}

TEST(Base64, RejectsNonCanonicalInput) {
  EXPECT_FALSE(base64_decode("Zm9").has_value());
  EXPECT_FALSE(base64_decode("Zm9*").has_value());
  EXPECT_FALSE(base64_decode("Z===").has_value());
  EXPECT_FALSE(base64_decode("Zh==").has_value());  // stray low bits
  EXPECT_FALSE(base64_decode("Zg=v").has_value());
}

}  // namespace
}  // namespace shakeout::net
