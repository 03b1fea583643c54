#include "runtime/runtime_server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <charconv>
#include <csignal>
#include <fstream>

#include "common/async.h"
#include "common/log.h"
#include "runtime/codec.h"

namespace shakeout::runtime {

namespace {

constexpr const char* kLog = "runtime";
constexpr Millis kLogPollInterval{100};

using nlohmann::json;

net::ServerResponse json_response(unsigned status, const json& body) {
  net::ServerResponse response;
  response.status = status;
  response.content_type = "application/json";
  response.body = body.dump();
  return response;
}

net::ServerResponse error_response(const Error& error) {
  net::ServerResponse response;
  response.status = http_status(error.code);
  response.content_type = "application/json";
  response.body = error_body(error);
  return response;
}

template <typename T>
net::ServerResponse to_response(const Result<T>& result) {
  if (!result) return error_response(result.error());
  const json body = result.value();
  return json_response(200, body);
}

net::ServerResponse status_response(const Status& status) {
  if (!status) return error_response(status.error());
  return json_response(200, json::object());
}

template <typename T>
net::ServerResponse items_response(const Result<std::vector<T>>& result) {
  if (!result) return error_response(result.error());
  const json body = {{"items", result.value()}};
  return json_response(200, body);
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t start = 1;
  while (start <= path.size()) {
    const std::size_t slash = path.find('/', start);
    const std::size_t end = slash == std::string::npos ? path.size() : slash;
    if (end > start) parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

std::optional<int64_t> parse_int(std::string_view text) {
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// The file's bytes from `offset` on (nothing if it shrank or is gone).
std::string read_from(const std::string& path, std::streamoff offset) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  const std::streamoff size = in.tellg();
  if (size <= offset) return "";
  in.seekg(offset);
  std::string data(static_cast<std::size_t>(size - offset), '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<std::size_t>(in.gcount()));
  return data;
}

// The last `lines` lines of `text` (a trailing newline does not start a line).
std::string tail_lines(const std::string& text, int64_t lines) {
  if (lines < 0) return text;
  if (lines == 0) return "";
  std::size_t end = text.size();
  if (end > 0 && text[end - 1] == '\n') --end;
  std::size_t begin = end;
  for (int64_t n = 0; n < lines; ++n) {
    const std::size_t newline = begin == 0 ? std::string::npos : text.rfind('\n', begin - 1);
    if (newline == std::string::npos) return text;
    begin = newline;
  }
  return text.substr(begin + 1);
}

asio::awaitable<void> serve_logs(Runtime& runtime, std::string id, net::ServerRequest& request,
                                 net::ResponseWriter& writer) {
  const auto status = runtime.status_now(id);
  if (!status) {
    net::ServerResponse missing = error_response(status.error());
    co_await writer.send(std::move(missing));
    co_return;
  }
  int64_t tail = -1;
  if (request.has_query("tailLines")) {
    const auto parsed = parse_int(request.query_value("tailLines"));
    if (!parsed || *parsed < 0) {
      net::ServerResponse bad =
          error_response(make_error(ErrorCode::kInvalidArgument, "tailLines: not a number >= 0"));
      co_await writer.send(std::move(bad));
      co_return;
    }
    tail = *parsed;
  }
  const bool follow = request.query_value("follow") == "true";
  const std::string path = status->log_path;
  const std::string whole = read_from(path, 0);
  std::streamoff offset = static_cast<std::streamoff>(whole.size());
  net::ServerResponse head;
  head.content_type = "text/plain; charset=utf-8";
  head.body = tail_lines(whole, tail);
  if (!follow) {
    co_await writer.send(std::move(head));
    co_return;
  }
  if (auto begun = co_await writer.begin_stream(std::move(head)); !begun) co_return;
  // Polled: log files are written by the containers directly, and a tenth of
  // a second is well inside what `kubectl logs -f` users notice.
  asio::steady_timer timer(co_await asio::this_coro::executor);
  bool running = true;
  while (running) {
    const auto now = runtime.status_now(id);
    const bool exited = !now || now->state == ContainerState::kExited;
    std::string data = read_from(path, offset);
    offset += static_cast<std::streamoff>(data.size());
    if (!data.empty()) {
      if (auto written = co_await writer.write_chunk(std::move(data)); !written) co_return;
    }
    // (No continue after a co_await: g++ 12 miscompiled that in coroutines.)
    if (exited || writer.closed()) {
      running = false;
    } else {
      timer.expires_after(kLogPollInterval);
      boost::system::error_code ignored;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
  }
  if (!writer.closed()) (void)co_await writer.end_stream();
}

asio::awaitable<net::ServerResponse> route(Runtime& runtime, const net::ServerRequest& request) {
  const std::vector<std::string> parts = split_path(request.path);
  const std::string& method = request.method;
  auto not_found = [&request] {
    return error_response(
        make_error(ErrorCode::kNotFound, fmt::format("no route {} {}", request.method, request.path)));
  };
  if (parts.size() == 1 && parts[0] == "healthz" && method == "GET") {
    net::ServerResponse ok;
    ok.content_type = "text/plain";
    ok.body = "ok";
    co_return ok;
  }
  if (parts.size() < 2 || parts[0] != "v1") co_return not_found();
  const std::string& kind = parts[1];
  if (kind == "sandboxes") {
    if (parts.size() == 2 && method == "POST") {
      auto config = parse_body<PodSandboxConfig>(request.body, "sandbox config");
      if (!config) co_return error_response(config.error());
      {
        auto result = co_await runtime.run_sandbox(std::move(*config));
        co_return to_response(result);
      }
    }
    if (parts.size() == 2 && method == "GET") {
      auto result = co_await runtime.list_sandboxes();
      co_return items_response(result);
    }
    if (parts.size() == 3 && method == "DELETE") {
      auto result = co_await runtime.remove_sandbox(parts[2]);
      co_return status_response(result);
    }
    co_return not_found();
  }
  if (kind == "containers") {
    if (parts.size() == 2 && method == "POST") {
      auto config = parse_body<ContainerConfig>(request.body, "container config");
      if (!config) co_return error_response(config.error());
      {
        auto result = co_await runtime.start_container(std::move(*config));
        co_return to_response(result);
      }
    }
    if (parts.size() == 2 && method == "GET") {
      std::string pod_uid(request.query_value("podUid"));
      auto result = co_await runtime.list_containers(pod_uid);
      co_return items_response(result);
    }
    if (parts.size() == 3 && method == "GET") {
      auto result = co_await runtime.container_status(parts[2]);
      co_return to_response(result);
    }
    if (parts.size() == 3 && method == "DELETE") {
      auto result = co_await runtime.remove_container(parts[2]);
      co_return status_response(result);
    }
    if (parts.size() == 4 && parts[3] == "stop" && method == "POST") {
      int64_t timeout_ms = 0;
      if (!request.body.empty()) {
        auto body = parse_body<json>(request.body, "stop");
        if (!body) co_return error_response(body.error());
        if (body->contains("timeoutMs") && !(*body)["timeoutMs"].is_number_integer())
          co_return error_response(
              make_error(ErrorCode::kInvalidArgument, "stop: timeoutMs is not an integer"));
        timeout_ms = body->value("timeoutMs", int64_t{0});
      }
      {
        auto result = co_await runtime.stop_container(parts[2], timeout_ms);
        co_return status_response(result);
      }
    }
    if (parts.size() == 4 && parts[3] == "exec" && method == "POST") {
      auto body = parse_body<json>(request.body, "exec");
      if (!body) co_return error_response(body.error());
      std::vector<std::string> command;
      int64_t timeout_ms = 10000;
      try {
        if (body->contains("command")) (*body)["command"].get_to(command);
        if (body->contains("timeoutMs")) (*body)["timeoutMs"].get_to(timeout_ms);
      } catch (const std::exception& e) {
        co_return error_response(make_error(ErrorCode::kInvalidArgument, std::string("exec: ") + e.what()));
      }
      {
        auto result = co_await runtime.exec_sync(parts[2], std::move(command), timeout_ms);
        co_return to_response(result);
      }
    }
    co_return not_found();
  }
  if (kind == "dataplane" && parts.size() == 2) {
    if (method == "PUT") {
      auto rules = parse_body<DataplaneRules>(request.body, "dataplane rules");
      if (!rules) co_return error_response(rules.error());
      if (auto set = co_await runtime.set_dataplane(std::move(*rules)); !set)
        co_return error_response(set.error());
      {
        auto result = co_await runtime.dataplane();
        co_return to_response(result);
      }
    }
    if (method == "GET") {
      auto result = co_await runtime.dataplane();
      co_return to_response(result);
    }
  }
  co_return not_found();
}

// Waits for `done` to be cancelled (a signal), then kills the containers
// first (the node goes away) and stops the API.
asio::awaitable<void> serve_until(asio::steady_timer& done, net::HttpServer& server, Runtime& runtime) {
  boost::system::error_code ignored;
  co_await done.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  runtime.shutdown();
  co_await server.stop();
}

}  // namespace

asio::awaitable<void> handle_request(Runtime& runtime, net::ServerRequest& request,
                                     net::ResponseWriter& writer) {
  const std::vector<std::string> parts = split_path(request.path);
  if (parts.size() == 4 && parts[0] == "v1" && parts[1] == "containers" && parts[3] == "logs" &&
      request.method == "GET") {
    co_await serve_logs(runtime, parts[2], request, writer);
    co_return;
  }
  net::ServerResponse response = co_await route(runtime, request);
  co_await writer.send(std::move(response));
}

int run(const Options& options) {
  asio::io_context io;
  std::error_code error;
  std::filesystem::create_directories(options.root, error);
  if (error) {
    log::error(kLog, "cannot create --root {}: {}", options.root.string(), error.message());
    return 2;
  }
  Runtime runtime(io, options);
  net::HttpServerConfig config;
  config.address = options.node_ip;
  config.port = static_cast<uint16_t>(options.port);
  config.stop_grace = Millis(2000);
  net::HttpServer server(io.get_executor(), config,
                         [&runtime](net::ServerRequest& request, net::ResponseWriter& writer) {
                           return handle_request(runtime, request, writer);
                         });
  if (auto started = server.start(); !started) {
    log::error(kLog, "cannot serve on {}:{}: {}", options.node_ip, options.port, started.error().message);
    return 2;
  }
  log::info(kLog, "node {}: serving on {}:{}, pods in {}, root {}", options.node_name, options.node_ip,
            server.port(), options.pod_cidr, options.root.string());
  asio::steady_timer done(io, asio::steady_timer::time_point::max());
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& e, int signal) {
    if (e) return;
    log::info(kLog, "{} received: the node goes away, killing its containers",
              signal == SIGTERM ? "SIGTERM" : "SIGINT");
    done.cancel();
  });
  run_blocking(io, serve_until(done, server, runtime));
  signals.cancel();
  return 0;
}

}  // namespace shakeout::runtime
