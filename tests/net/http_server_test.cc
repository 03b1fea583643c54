#include "net/http_server.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/async.h"
#include "net/http_client.h"

namespace shakeout::net {
namespace {

using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr Millis kDeadline{20000};  // generous: only a broken server gets near it

// A one-shot signal with one waiter at a time; wait() reports whether it was
// set before `timeout`.
class Signal {
 public:
  explicit Signal(asio::io_context& io) : timer_(io) {}
  void set() {
    set_ = true;
    timer_.cancel();
  }
  bool is_set() const { return set_; }
  asio::awaitable<bool> wait(Millis timeout) {
    if (set_) co_return true;
    timer_.expires_after(timeout);
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    co_return set_;
  }

 private:
  asio::steady_timer timer_;
  bool set_ = false;
};

struct RawReply {
  std::string data;
  bool closed_by_server = false;
};

// Sends `bytes` on a fresh connection, then reads until the server closes it
// (or `timeout` passes, which leaves closed_by_server false).
asio::awaitable<RawReply> raw_exchange(Endpoint endpoint, std::string bytes, Millis timeout) {
  auto executor = co_await asio::this_coro::executor;
  auto socket = std::make_shared<tcp::socket>(executor);
  tcp::endpoint target(asio::ip::make_address(endpoint.host), endpoint.port);
  co_await socket->async_connect(target, asio::use_awaitable);
  if (!bytes.empty()) co_await asio::async_write(*socket, asio::buffer(bytes), asio::use_awaitable);
  asio::steady_timer timer(executor);
  timer.expires_after(timeout);
  timer.async_wait([socket](boost::system::error_code ec) {
    if (!ec) socket->close();
  });
  RawReply reply;
  std::string buffer(4096, '\0');
  for (;;) {
    boost::system::error_code ec;
    const std::size_t n =
        co_await socket->async_read_some(asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
    reply.data.append(buffer.data(), n);
    if (ec) {
      reply.closed_by_server = ec == asio::error::eof || ec == asio::error::connection_reset;
      break;
    }
  }
  timer.cancel();
  co_return reply;
}

std::size_t count(const std::string& text, std::string_view what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class HttpServerTest : public ::testing::Test {
 protected:
  // Starts the server; each test sets handler_ (and config_) first.
  void start() {
    server_ = std::make_unique<HttpServer>(
        io_.get_executor(), config_,
        [this](ServerRequest& request, ResponseWriter& writer) { return dispatch(request, writer); });
    ASSERT_TRUE(server_->start().ok());
    ASSERT_NE(server_->port(), 0);
  }

  void TearDown() override {
    if (server_) {
      run_blocking(io_, server_->stop());
      EXPECT_EQ(server_->open_connections(), 0u);
      server_.reset();
    }
    client_.reset();
    io_.restart();
    io_.poll();
  }

  asio::awaitable<void> dispatch(ServerRequest& request, ResponseWriter& writer) {
    ++handler_calls_;
    co_await handler_(request, writer);
  }

  HttpRequest get(std::string target) {
    HttpRequest request;
    request.target = std::move(target);
    return request;
  }

  asio::io_context io_;
  std::unique_ptr<HttpClient> client_ = std::make_unique<HttpClient>(io_.get_executor());
  HttpServerConfig config_;
  HttpHandler handler_;
  int handler_calls_ = 0;
  std::unique_ptr<HttpServer> server_;
};

asio::awaitable<void> reply_ok(ServerRequest& request, ResponseWriter& writer) {
  ServerResponse response;
  response.content_type = "text/plain";
  response.body = "ok " + request.path;
  auto sent = co_await writer.send(std::move(response));
  EXPECT_TRUE(sent.ok());
}

TEST_F(HttpServerTest, RoundTripDecodesPathQueryHeadersAndBody) {
  std::optional<ServerRequest> seen;
  handler_ = [&](ServerRequest& request, ResponseWriter& writer) -> asio::awaitable<void> {
    seen = request;
    ServerResponse response;
    response.status = 201;
    response.headers.emplace_back("X-Reply", "yes");
    response.content_type = "application/json";
    response.body = R"({"ok":true})";
    auto sent = co_await writer.send(std::move(response));
    EXPECT_TRUE(sent.ok());
  };
  start();
  HttpRequest request;
  request.method = "POST";
  request.target =
      "/api/v1/namespaces/my%20ns/pods?labelSelector=app%3Dweb%2Ctier%21%3Dfe&x=1&x=2&sp=a+b&flag";
  request.headers.emplace_back("X-Custom", "hello");
  request.content_type = "application/json";
  request.body = "payload";
  auto response = run_blocking(io_, client_->request(server_->endpoint(), request, kDeadline));
  ASSERT_TRUE(response.ok()) << response.error().describe();
  EXPECT_EQ(response->status, 201u);
  EXPECT_EQ(response->header("x-reply"), "yes");
  EXPECT_EQ(response->header("Content-Type"), "application/json");
  EXPECT_EQ(response->body, R"({"ok":true})");

  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->method, "POST");
  EXPECT_EQ(seen->target, request.target);
  EXPECT_EQ(seen->path, "/api/v1/namespaces/my ns/pods");
  EXPECT_EQ(seen->query_value("labelSelector"), "app=web,tier!=fe");
  EXPECT_EQ(seen->query_values("x"), (std::vector<std::string_view>{"1", "2"}));
  EXPECT_EQ(seen->query_value("sp"), "a b");
  EXPECT_TRUE(seen->has_query("flag"));
  EXPECT_FALSE(seen->has_query("missing"));
  EXPECT_EQ(seen->header("x-custom"), "hello");
  EXPECT_EQ(seen->header("X-CUSTOM"), "hello");
  EXPECT_EQ(seen->header("content-type"), "application/json");
  EXPECT_EQ(seen->body, "payload");
  EXPECT_EQ(seen->remote_address.rfind("127.0.0.1:", 0), 0u) << seen->remote_address;
}

TEST_F(HttpServerTest, KeepAliveServesSequentialRequestsOnOneConnection) {
  handler_ = reply_ok;
  start();
  for (int i = 0; i < 3; ++i) {
    auto response =
        run_blocking(io_, client_->request(server_->endpoint(), get("/r" + std::to_string(i)), kDeadline));
    ASSERT_TRUE(response.ok()) << response.error().describe();
    EXPECT_EQ(response->body, "ok /r" + std::to_string(i));
  }
  EXPECT_EQ(server_->connections_accepted_total(), 1u);
  EXPECT_EQ(server_->requests_total(), 3u);
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrderAndConnectionCloseIsHonoured) {
  handler_ = reply_ok;
  start();
  const std::string bytes =
      "GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  // The idle timeout (90 s) is far beyond the deadline: only Connection:
  // close can end this connection in time.
  auto reply = run_blocking(io_, raw_exchange(server_->endpoint(), bytes, kDeadline));
  EXPECT_TRUE(reply.closed_by_server) << reply.data;
  EXPECT_EQ(count(reply.data, "HTTP/1.1 200 OK"), 2u) << reply.data;
  const auto first = reply.data.find("ok /first");
  const auto second = reply.data.find("ok /second");
  ASSERT_NE(first, std::string::npos);
  ASSERT_NE(second, std::string::npos);
  EXPECT_LT(first, second);
  EXPECT_EQ(server_->connections_accepted_total(), 1u);
}

TEST_F(HttpServerTest, BodyOverLimitGets413AndHandlerIsNotCalled) {
  config_.body_limit = 1024;
  handler_ = reply_ok;
  start();
  HttpRequest request;
  request.method = "POST";
  request.target = "/big";
  request.body = std::string(4096, 'x');
  auto response = run_blocking(io_, client_->request(server_->endpoint(), request, kDeadline));
  ASSERT_TRUE(response.ok()) << response.error().describe();
  EXPECT_EQ(response->status, 413u);
  EXPECT_NE(response->body.find("too large"), std::string::npos) << response->body;

  // A chunked body has no Content-Length to check up front.
  const std::string chunked = "POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" +
                              std::string(2048, 'y') + "\r\n0\r\n\r\n";
  auto reply = run_blocking(io_, raw_exchange(server_->endpoint(), chunked, kDeadline));
  EXPECT_EQ(reply.data.rfind("HTTP/1.1 413", 0), 0u) << reply.data;
  EXPECT_TRUE(reply.closed_by_server);
  EXPECT_EQ(handler_calls_, 0);

  request.body = std::string(1024, 'x');  // at the limit is fine
  auto small = run_blocking(io_, client_->request(server_->endpoint(), request, kDeadline));
  ASSERT_TRUE(small.ok()) << small.error().describe();
  EXPECT_EQ(small->status, 200u);
  EXPECT_EQ(handler_calls_, 1);
}

TEST_F(HttpServerTest, MalformedRequestGets400AndClose) {
  handler_ = reply_ok;
  start();
  auto garbage = run_blocking(io_, raw_exchange(server_->endpoint(), "GARBAGE\r\n\r\n", kDeadline));
  EXPECT_EQ(garbage.data.rfind("HTTP/1.1 400", 0), 0u) << garbage.data;
  EXPECT_TRUE(garbage.closed_by_server);
  auto bad_escape = run_blocking(
      io_, raw_exchange(server_->endpoint(), "GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", kDeadline));
  EXPECT_EQ(bad_escape.data.rfind("HTTP/1.1 400", 0), 0u) << bad_escape.data;
  EXPECT_TRUE(bad_escape.closed_by_server);
  auto binary = run_blocking(
      io_, raw_exchange(server_->endpoint(), std::string("\x16\x03\x01\x00\xff\r\n\r\n", 9), kDeadline));
  EXPECT_TRUE(binary.closed_by_server);
  EXPECT_EQ(handler_calls_, 0);
  // The server survives all of it.
  auto response = run_blocking(io_, client_->request(server_->endpoint(), get("/fine"), kDeadline));
  ASSERT_TRUE(response.ok()) << response.error().describe();
  EXPECT_EQ(response->status, 200u);
}

TEST_F(HttpServerTest, IdleAndSlowHeaderConnectionsAreClosed) {
  config_.idle_timeout = 200ms;
  config_.header_timeout = 200ms;
  handler_ = reply_ok;
  start();
  // After one answered request the connection idles until the server closes it.
  auto after_request =
      run_blocking(io_, raw_exchange(server_->endpoint(), "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", kDeadline));
  EXPECT_TRUE(after_request.closed_by_server);
  EXPECT_EQ(count(after_request.data, "HTTP/1.1 200 OK"), 1u) << after_request.data;
  // A connection that never sends anything.
  auto silent = run_blocking(io_, raw_exchange(server_->endpoint(), "", kDeadline));
  EXPECT_TRUE(silent.closed_by_server);
  EXPECT_TRUE(silent.data.empty()) << silent.data;
  // A header that never ends.
  auto partial = run_blocking(io_, raw_exchange(server_->endpoint(), "GET /a HTTP/1.1\r\nHost:", kDeadline));
  EXPECT_TRUE(partial.closed_by_server);
  EXPECT_EQ(handler_calls_, 1);
}

TEST_F(HttpServerTest, StreamDeliversEachChunkBeforeTheNextIsWritten) {
  Signal release(io_);
  handler_ = [&](ServerRequest&, ResponseWriter& writer) -> asio::awaitable<void> {
    ServerResponse head;
    head.content_type = "application/json";
    EXPECT_TRUE((co_await writer.begin_stream(std::move(head))).ok());
    EXPECT_TRUE((co_await writer.write_chunk("one\n")).ok());
    // Chunk 2 is written only after the client has read chunk 1.
    EXPECT_TRUE(co_await release.wait(kDeadline));
    EXPECT_TRUE((co_await writer.write_chunk("two\n")).ok());
    EXPECT_TRUE((co_await writer.end_stream()).ok());
  };
  start();
  run_blocking(io_, [&]() -> asio::awaitable<void> {
    auto stream = co_await client_->open_stream(server_->endpoint(), get("/watch"), kDeadline);
    EXPECT_TRUE(stream.ok());
    if (!stream.ok()) co_return;
    EXPECT_EQ((*stream)->status(), 200u);
    auto one = co_await (*stream)->read_line(kDeadline);
    EXPECT_TRUE(one.ok() && *one == std::optional<std::string>("one"));
    EXPECT_FALSE(release.is_set());
    EXPECT_EQ(server_->open_streams(), 1u);
    EXPECT_EQ(server_->requests_in_flight(), 0u);
    release.set();
    auto two = co_await (*stream)->read_line(kDeadline);
    EXPECT_TRUE(two.ok() && *two == std::optional<std::string>("two"));
    auto end = co_await (*stream)->read_line(kDeadline);
    EXPECT_TRUE(end.ok() && !end->has_value());
  }());
  run_blocking(io_, server_->stop());
  EXPECT_EQ(server_->open_streams(), 0u);
}

// Chunks written faster than the client reads fill the socket buffers: the
// writer then waits for room (partial writes resumed), and every byte
// arrives once and in order.
TEST_F(HttpServerTest, AStreamOutrunningASlowReaderLosesNothing) {
  constexpr int kChunks = 800;
  const std::string filler(16 * 1024, 'x');
  handler_ = [&](ServerRequest&, ResponseWriter& writer) -> asio::awaitable<void> {
    ServerResponse head;
    EXPECT_TRUE((co_await writer.begin_stream(std::move(head))).ok());
    for (int i = 0; i < kChunks; ++i) {
      auto written = co_await writer.write_chunk(fmt::format("{}:{}\n", i, filler));
      EXPECT_TRUE(written.ok()) << written.error().message;
      if (!written.ok()) co_return;
    }
    EXPECT_TRUE((co_await writer.end_stream()).ok());
  };
  start();
  run_blocking(io_, [&]() -> asio::awaitable<void> {
    auto stream = co_await client_->open_stream(server_->endpoint(), get("/watch"), kDeadline);
    EXPECT_TRUE(stream.ok());
    if (!stream.ok()) co_return;
    // Read nothing for a while: ~13 MB cannot all fit in the buffers.
    asio::steady_timer pause(co_await asio::this_coro::executor);
    pause.expires_after(300ms);
    co_await pause.async_wait(asio::use_awaitable);
    for (int i = 0; i < kChunks; ++i) {
      auto line = co_await (*stream)->read_line(kDeadline);
      EXPECT_TRUE(line.ok() && line->has_value()) << i;
      if (!line.ok() || !line->has_value()) co_return;
      EXPECT_EQ(**line, fmt::format("{}:{}", i, filler)) << i;
    }
    auto end = co_await (*stream)->read_line(kDeadline);
    EXPECT_TRUE(end.ok() && !end->has_value());
  }());
}

TEST_F(HttpServerTest, ClientDisconnectDuringStreamIsNoticed) {
  Signal noticed(io_);
  std::optional<Status> write_after_close;
  handler_ = [&](ServerRequest&, ResponseWriter& writer) -> asio::awaitable<void> {
    EXPECT_TRUE((co_await writer.begin_stream(ServerResponse())).ok());
    EXPECT_TRUE((co_await writer.write_chunk("one\n")).ok());
    co_await writer.wait_closed();
    EXPECT_TRUE(writer.closed());
    write_after_close = co_await writer.write_chunk("late\n");
    noticed.set();
  };
  start();
  run_blocking(io_, [&]() -> asio::awaitable<void> {
    auto stream = co_await client_->open_stream(server_->endpoint(), get("/watch"), kDeadline);
    EXPECT_TRUE(stream.ok());
    if (!stream.ok()) co_return;
    auto one = co_await (*stream)->read_line(kDeadline);
    EXPECT_TRUE(one.ok() && *one == std::optional<std::string>("one"));
    EXPECT_EQ(server_->open_streams(), 1u);
    (*stream)->cancel();  // the client goes away
    EXPECT_TRUE(co_await noticed.wait(kDeadline));
  }());
  ASSERT_TRUE(write_after_close.has_value());
  EXPECT_FALSE(write_after_close->ok());
  EXPECT_EQ(write_after_close->error().code, ErrorCode::kUnavailable);
  run_blocking(io_, server_->stop());
  EXPECT_EQ(server_->open_streams(), 0u);
}

// A waiter the handler leaves behind (the API server's watch used to spawn
// one) ends when the handler returns, on a connection that stays open; it
// must not touch the session after the connection is gone either (ASan).
TEST_F(HttpServerTest, WaitClosedSpawnedByAHandlerEndsWhenTheHandlerReturns) {
  Signal waiter_done(io_);
  handler_ = [&](ServerRequest&, ResponseWriter& writer) -> asio::awaitable<void> {
    asio::co_spawn(
        io_,
        [](ResponseWriter* w, Signal* done) -> asio::awaitable<void> {
          co_await w->wait_closed();
          done->set();
        }(&writer, &waiter_done),
        asio::detached);
    EXPECT_TRUE((co_await writer.begin_stream(ServerResponse())).ok());
    EXPECT_TRUE((co_await writer.write_chunk("one\n")).ok());
    EXPECT_TRUE((co_await writer.end_stream()).ok());
  };
  start();
  run_blocking(io_, [&]() -> asio::awaitable<void> {
    auto stream = co_await client_->open_stream(server_->endpoint(), get("/watch"), kDeadline);
    EXPECT_TRUE(stream.ok());
    if (!stream.ok()) co_return;
    auto one = co_await (*stream)->read_line(kDeadline);
    EXPECT_TRUE(one.ok() && *one == std::optional<std::string>("one"));
    EXPECT_TRUE(co_await waiter_done.wait(kDeadline)) << "the waiter outlived its request";
    EXPECT_EQ(server_->open_connections(), 1u);  // kept alive: the waiter did not wait for a close
  }());
  run_blocking(io_, server_->stop());
}

TEST_F(HttpServerTest, OnCloseRunsWhenTheClientGoesAwayAndNotAfterTheHandlerReturned) {
  Signal called(io_);
  int calls = 0;
  handler_ = [&](ServerRequest& request, ResponseWriter& writer) -> asio::awaitable<void> {
    writer.on_close([&] {
      ++calls;
      called.set();
    });
    EXPECT_TRUE((co_await writer.begin_stream(ServerResponse())).ok());
    EXPECT_TRUE((co_await writer.write_chunk("one\n")).ok());
    if (request.path == "/short") co_return;  // ends the stream; on_close is dropped
    co_await writer.wait_closed();
  };
  start();
  run_blocking(io_, [&]() -> asio::awaitable<void> {
    auto short_stream = co_await client_->open_stream(server_->endpoint(), get("/short"), kDeadline);
    EXPECT_TRUE(short_stream.ok());
    if (!short_stream.ok()) co_return;
    auto line = co_await (*short_stream)->read_line(kDeadline);
    EXPECT_TRUE(line.ok() && *line == std::optional<std::string>("one"));
    auto end = co_await (*short_stream)->read_line(kDeadline);
    EXPECT_TRUE(end.ok() && !end->has_value());
    (*short_stream)->cancel();
    EXPECT_FALSE(co_await called.wait(Millis{300})) << "on_close ran after its handler returned";

    auto stream = co_await client_->open_stream(server_->endpoint(), get("/watch"), kDeadline);
    EXPECT_TRUE(stream.ok());
    if (!stream.ok()) co_return;
    line = co_await (*stream)->read_line(kDeadline);
    EXPECT_TRUE(line.ok() && *line == std::optional<std::string>("one"));
    (*stream)->cancel();  // the client goes away
    EXPECT_TRUE(co_await called.wait(kDeadline));
  }());
  EXPECT_EQ(calls, 1);
  run_blocking(io_, server_->stop());
}

TEST_F(HttpServerTest, StopLetsInFlightRequestFinishAndStopsAccepting) {
  Signal started(io_);
  Signal release(io_);
  bool finished = false;
  handler_ = [&](ServerRequest&, ResponseWriter& writer) -> asio::awaitable<void> {
    started.set();
    EXPECT_TRUE(co_await release.wait(kDeadline));
    finished = true;
    ServerResponse response;
    response.body = "done";
    EXPECT_TRUE((co_await writer.send(std::move(response))).ok());
  };
  start();
  std::optional<Result<HttpResponse>> slow;
  Signal slow_done(io_);
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        slow.emplace(co_await client_->request(server_->endpoint(), get("/slow"), kDeadline));
        slow_done.set();
      },
      asio::detached);
  bool stop_returned = false;
  bool finished_when_stop_returned = false;
  Signal stopped(io_);
  run_blocking(io_, [&]() -> asio::awaitable<void> {
    EXPECT_TRUE(co_await started.wait(kDeadline));
    EXPECT_EQ(server_->requests_in_flight(), 1u);
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          co_await server_->stop();
          stop_returned = true;
          finished_when_stop_returned = finished;
          stopped.set();
        },
        asio::detached);
    // Let stop() begin, then show that the listener is gone.
    co_await asio::post(io_, asio::use_awaitable);
    HttpClient fresh(io_.get_executor());
    auto refused = co_await fresh.request(server_->endpoint(), get("/new"), kDeadline);
    EXPECT_FALSE(refused.ok());
    EXPECT_FALSE(stop_returned);
    release.set();
    EXPECT_TRUE(co_await stopped.wait(kDeadline));
    EXPECT_TRUE(co_await slow_done.wait(kDeadline));
  }());
  EXPECT_TRUE(stop_returned);
  EXPECT_TRUE(finished_when_stop_returned);
  ASSERT_TRUE(slow.has_value());
  ASSERT_TRUE(slow->ok()) << slow->error().describe();
  EXPECT_EQ((*slow)->status, 200u);
  EXPECT_EQ((*slow)->body, "done");
  EXPECT_EQ((*slow)->header("Connection"), "close");
  EXPECT_EQ(server_->requests_in_flight(), 0u);
  EXPECT_EQ(server_->open_connections(), 0u);
}

TEST_F(HttpServerTest, StopEndsOpenStreamCleanly) {
  config_.stop_grace = 60s;  // a stream that ignored stop would be cut, not ended
  bool handler_saw_close = false;
  handler_ = [&](ServerRequest&, ResponseWriter& writer) -> asio::awaitable<void> {
    EXPECT_TRUE((co_await writer.begin_stream(ServerResponse())).ok());
    EXPECT_TRUE((co_await writer.write_chunk("one\n")).ok());
    co_await writer.wait_closed();
    handler_saw_close = true;
    EXPECT_TRUE((co_await writer.end_stream()).ok());
  };
  start();
  std::unique_ptr<HttpStream> stream;
  run_blocking(io_, [&]() -> asio::awaitable<void> {
    auto opened = co_await client_->open_stream(server_->endpoint(), get("/watch"), kDeadline);
    EXPECT_TRUE(opened.ok());
    if (!opened.ok()) co_return;
    stream = std::move(*opened);
    auto one = co_await stream->read_line(kDeadline);
    EXPECT_TRUE(one.ok() && *one == std::optional<std::string>("one"));
  }());
  ASSERT_TRUE(stream);
  EXPECT_EQ(server_->open_streams(), 1u);
  EXPECT_EQ(server_->requests_in_flight(), 0u);
  run_blocking(io_, server_->stop());
  EXPECT_TRUE(handler_saw_close);
  EXPECT_EQ(server_->open_streams(), 0u);
  EXPECT_EQ(server_->open_connections(), 0u);
  // The client saw the last chunk: a clean end of body, not a cut connection.
  auto end = run_blocking(io_, stream->read_line(kDeadline));
  ASSERT_TRUE(end.ok()) << end.error().describe();
  EXPECT_FALSE(end->has_value());
}

TEST_F(HttpServerTest, HandlerThatDoesNotAnswerGets500) {
  handler_ = [](ServerRequest&, ResponseWriter&) -> asio::awaitable<void> { co_return; };
  start();
  auto response = run_blocking(io_, client_->request(server_->endpoint(), get("/nothing"), kDeadline));
  ASSERT_TRUE(response.ok()) << response.error().describe();
  EXPECT_EQ(response->status, 500u);
}

TEST(ParseQuery, DecodesAndRejectsBadEscapes) {
  auto query = parse_query("a=1&b=x%20y+z&a=2&&empty=&flag");
  ASSERT_TRUE(query.ok());
  EXPECT_EQ(query->count("a"), 2u);
  EXPECT_EQ(query->find("b")->second, "x y z");
  EXPECT_EQ(query->find("empty")->second, "");
  EXPECT_EQ(query->count("flag"), 1u);
  EXPECT_FALSE(parse_query("a=%2").ok());
  EXPECT_FALSE(parse_query("a=%g0").ok());
  EXPECT_FALSE(percent_decode("%", false).ok());
  EXPECT_EQ(*percent_decode("a+b%2B", false), "a+b+");
}

}  // namespace
}  // namespace shakeout::net
