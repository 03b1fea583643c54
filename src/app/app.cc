#include "app/app.h"
#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "common/async.h"
#include "common/log.h"
#include "net/http_server.h"

namespace shakeout::app {

namespace {

constexpr const char* kLog = "app";

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

net::ServerResponse text(unsigned status, std::string body) {
  net::ServerResponse response;
  response.status = status;
  response.content_type = "text/plain; charset=utf-8";
  response.body = std::move(body);
  return response;
}

// "true"/"false" (also 1/0); nullopt for anything else.
std::optional<bool> parse_bool(std::string_view value) {
  if (value == "true" || value == "1") return true;
  if (value == "false" || value == "0") return false;
  return std::nullopt;
}

std::optional<int64_t> parse_int(std::string_view value) {
  if (value.empty() || value.size() > 12) return std::nullopt;
  int64_t number = 0;
  std::size_t i = value.front() == '-' ? 1 : 0;
  if (i == value.size()) return std::nullopt;
  for (; i < value.size(); ++i) {
    if (value[i] < '0' || value[i] > '9') return std::nullopt;
    number = number * 10 + (value[i] - '0');
  }
  return value.front() == '-' ? -number : number;
}

// The server and the knobs the control endpoints turn. Lives in run()'s frame.
class App {
 public:
  App(asio::io_context& io, const Options& options)
      : io_(io),
        options_(options),
        fail_readiness_(options.fail_readiness),
        fail_liveness_(options.fail_liveness),
        latency_(options.latency),
        ignore_sigterm_(options.ignore_sigterm),
        done_(io) {
    net::HttpServerConfig config;
    config.address = options.bind_address;
    config.port = static_cast<uint16_t>(options.http_port);
    config.stop_grace = Millis(60000);  // the kubelet's SIGKILL bounds a slow drain
    server_ = std::make_unique<net::HttpServer>(
        io.get_executor(), config,
        [this](net::ServerRequest& request, net::ResponseWriter& writer) { return handle(request, writer); });
    done_.expires_at(asio::steady_timer::time_point::max());
  }

  Status start() { return server_->start(); }
  uint16_t port() const { return server_->port(); }

  // SIGTERM: graceful unless ignored; SIGINT: always graceful.
  void on_signal(int signal) {
    if (signal == SIGTERM && ignore_sigterm_) {
      log::info(kLog, "SIGTERM received and ignored (--ignore-sigterm)");
      return;
    }
    if (shutting_down_) return;
    shutting_down_ = true;
    log::info(kLog, "{} received: /readyz now 503, stopping in {}ms",
              signal == SIGTERM ? "SIGTERM" : "SIGINT", options_.shutdown_delay.count());
    asio::co_spawn(io_, shutdown(options_.shutdown_delay), asio::detached);
  }

  // Until shutdown completes; the exit code.
  asio::awaitable<int> run() {
    boost::system::error_code ignored;
    co_await done_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    co_return 0;
  }

 private:
  asio::awaitable<void> shutdown(Millis delay) {
    asio::steady_timer timer(io_, delay);
    boost::system::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    co_await server_->stop();
    log::info(kLog, "stopped");
    done_.cancel();
  }

  // Every response is a named local: g++ 12 mishandles temporaries passed
  // to a coroutine inside a co_await expression.
  asio::awaitable<void> handle(net::ServerRequest& request, net::ResponseWriter& writer) {
    if (request.path == "/" && request.method == "GET" && latency_.count() > 0) {
      asio::steady_timer timer(io_, latency_);
      boost::system::error_code ignored;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    net::ServerResponse response = answer(request);
    co_await writer.send(std::move(response));
    if (exit_code_) {
      const int code = *exit_code_;
      // Like os.Exit in agnhost: no drain; the response is already written.
      asio::post(io_, [code] {
        log::info(kLog, "exiting with code {} (/control/exit)", code);
        std::fflush(nullptr);
        ::_exit(code);
      });
    }
  }

  net::ServerResponse answer(const net::ServerRequest& request) {
    if (request.path == "/" && request.method == "GET") {
      net::ServerResponse response;
      response.content_type = "application/json";
      response.body = identity_json(options_);
      return response;
    }
    if (request.path == "/healthz" && request.method == "GET")
      return fail_liveness_ ? text(500, "liveness failed\n") : text(200, "ok");
    if (request.path == "/readyz" && request.method == "GET") {
      if (shutting_down_) return text(503, "shutting down\n");
      if (fail_readiness_) return text(503, "readiness failed\n");
      return text(200, "ok");
    }
    if (request.path.starts_with("/control/")) {
      if (request.method != "POST") return text(405, "control endpoints take POST\n");
      return control(request);
    }
    return text(404, "not found\n");
  }

  net::ServerResponse control(const net::ServerRequest& request) {
    const std::string_view what = std::string_view(request.path).substr(std::string_view("/control/").size());
    if (what == "readiness" || what == "liveness" || what == "sigterm") {
      const char* param = what == "sigterm" ? "ignore" : "fail";
      const auto value = parse_bool(request.query_value(param));
      if (!value) return text(400, fmt::format("{}: want ?{}=true|false\n", what, param));
      bool& knob = what == "readiness"  ? fail_readiness_
                   : what == "liveness" ? fail_liveness_
                                        : ignore_sigterm_;
      knob = *value;
      log::info(kLog, "control: {} {}={}", what, param, *value);
      return text(200, "ok");
    }
    if (what == "latency") {
      const auto ms = parse_int(request.query_value("ms"));
      if (!ms || *ms < 0) return text(400, "latency: want ?ms=N (N >= 0)\n");
      latency_ = Millis(*ms);
      log::info(kLog, "control: latency {}ms", *ms);
      return text(200, "ok");
    }
    if (what == "exit") {
      const auto code = parse_int(request.query_value("code"));
      if (!code || *code < 0 || *code > 255) return text(400, "exit: want ?code=N (0..255)\n");
      exit_code_ = static_cast<int>(*code);
      return text(200, "ok");
    }
    return text(404, "unknown control endpoint\n");
  }

  asio::io_context& io_;
  const Options& options_;
  bool fail_readiness_;
  bool fail_liveness_;
  Millis latency_;
  bool ignore_sigterm_;
  bool shutting_down_ = false;
  std::optional<int> exit_code_;
  asio::steady_timer done_;
  std::unique_ptr<net::HttpServer> server_;
};

}  // namespace

void resolve_defaults(Options& options) {
  options.pod_name = env_or("POD_NAME", options.pod_name);
  options.pod_namespace = env_or("POD_NAMESPACE", options.pod_namespace);
  options.node_name = env_or("NODE_NAME", options.node_name);
  options.pod_ip = env_or("POD_IP", options.pod_ip);
  if (options.bind_address.empty())
    options.bind_address = options.pod_ip.empty() ? "127.0.0.1" : options.pod_ip;
}

Status validate(const Options& options) {
  if (options.http_port < 0 || options.http_port > 65535)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--http-port: {} is not 0..65535", options.http_port));
  boost::system::error_code error;
  asio::ip::make_address(options.bind_address, error);
  if (error)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--bind-address: '{}' is not an IP address", options.bind_address));
  if (options.latency.count() < 0) return make_error(ErrorCode::kInvalidArgument, "--latency: negative");
  if (options.shutdown_delay.count() < 0)
    return make_error(ErrorCode::kInvalidArgument, "--shutdown-delay: negative");
  return {};
}

std::string identity_json(const Options& options) {
  const nlohmann::ordered_json body = {{"pod", options.pod_name},
                                       {"namespace", options.pod_namespace},
                                       {"node", options.node_name},
                                       {"ip", options.pod_ip}};
  return body.dump() + "\n";
}

int run(const Options& options) {
  asio::io_context io;
  App app(io, options);
  if (auto started = app.start(); !started) {
    log::error(kLog, "cannot serve on {}:{}: {}", options.bind_address, options.http_port,
               started.error().message);
    return 1;
  }
  log::info(kLog, "serving on {}:{} as pod {}/{}", options.bind_address, app.port(), options.pod_namespace,
            options.pod_name);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  std::function<void()> arm;
  arm = [&] {
    signals.async_wait([&](const boost::system::error_code& error, int signal) {
      if (error) return;
      app.on_signal(signal);
      arm();
    });
  };
  arm();
  const int code = run_blocking(io, app.run());
  signals.cancel();
  return code;
}

}  // namespace shakeout::app
