#include "proxy/proxy.h"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <csignal>
#include <random>

#include "api/resource_registry.h"
#include "client/client.h"
#include "client/component.h"
#include "client/informer.h"
#include "client/timers.h"
#include "common/async.h"
#include "common/log.h"
#include "net/http_server.h"
#include "proxy/rules.h"

namespace shakeout::proxy {
namespace {

using json = nlohmann::json;
constexpr const char* kLog = "proxy";

net::ServerResponse text(unsigned status, std::string body) {
  net::ServerResponse response;
  response.status = status;
  response.content_type = "text/plain; charset=utf-8";
  response.body = std::move(body);
  return response;
}

Result<net::Endpoint> healthz_endpoint(const std::string& address) {
  auto endpoint = net::parse_endpoint(address);
  if (!endpoint)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--healthz-bind-address: '{}' is not host:port", address));
  return endpoint;
}

asio::awaitable<void> run_informer(client::Informer* informer) {
  co_await informer->run();
}

}  // namespace

Status validate(const Options& options) {
  if (options.master.empty()) return make_error(ErrorCode::kInvalidArgument, "--master is required");
  for (const auto& url : options.master)
    if (!net::parse_endpoint(url))
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("--master: '{}' is not http://host:port", url));
  if (options.hostname_override.empty())
    return make_error(ErrorCode::kInvalidArgument, "--hostname-override is required");
  if (!net::parse_endpoint(options.runtime_endpoint))
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format("--runtime-endpoint: '{}' is not http://host:port", options.runtime_endpoint));
  if (options.proxy_mode != "iptables" && options.proxy_mode != "ipvs")
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--proxy-mode: '{}' is not iptables or ipvs", options.proxy_mode));
  if (options.sync_period <= Millis(0))
    return make_error(ErrorCode::kInvalidArgument, "--iptables-sync-period must be positive");
  if (options.min_sync_period < Millis(0))
    return make_error(ErrorCode::kInvalidArgument, "--iptables-min-sync-period must not be negative");
  if (auto endpoint = healthz_endpoint(options.healthz_bind_address); !endpoint) return endpoint.error();
  return {};
}

Proxy::Proxy(asio::any_io_executor executor, Options options,
             std::unique_ptr<runtime::RuntimeService> runtime, client::Timers& timers, client::Random& random)
    : executor_(executor),
      options_(std::move(options)),
      runtime_(std::move(runtime)),
      timers_(timers),
      random_(random),
      wake_(executor) {
  client_ = std::make_unique<client::Client>(
      executor,
      client::component_config(options_.master, options_.token, options_.request_timeout, "shakeout-proxy"));
  client::InformerOptions informer;
  services_ = std::make_unique<client::Informer>(*client_, client::builtin_resource("", "services"), informer,
                                                 timers_, random_);
  slices_ = std::make_unique<client::Informer>(
      *client_, client::builtin_resource("discovery.k8s.io", "endpointslices"), informer, timers_, random_);
  client::EventHandlers handlers;
  handlers.on_add = [this](const json&) { changed(); };
  handlers.on_update = [this](const json& old_object, const json& new_object) {
    if (old_object != new_object) changed();
  };
  handlers.on_delete = [this](const json&, bool) { changed(); };
  services_->add_handlers(handlers);
  slices_->add_handlers(handlers);

  auto endpoint = *healthz_endpoint(options_.healthz_bind_address);
  net::HttpServerConfig http;
  http.address = endpoint.host;
  http.port = endpoint.port;
  http.stop_grace = Millis(1000);
  http_ = std::make_unique<net::HttpServer>(
      executor, http,
      [this](net::ServerRequest& request, net::ResponseWriter& writer) { return handle(request, writer); });
}

Proxy::~Proxy() = default;

Status Proxy::start() {
  return http_->start();
}

uint16_t Proxy::healthz_port() const {
  return http_->port();
}

void Proxy::changed() {
  dirty_ = true;
  wake_.cancel();
}

bool Proxy::unchanged() const {
  const auto rules =
      compute_rules(services_->store().list(), slices_->store().list(), dataplane_mode(options_.proxy_mode));
  return same_rules(rules, programmed_);
}

asio::awaitable<bool> Proxy::sync() {
  std::vector<json> services = services_->store().list();
  std::vector<json> slices = slices_->store().list();
  runtime::DataplaneRules rules;
  rules.services = compute_rules(services, slices, dataplane_mode(options_.proxy_mode));
  const bool same = same_rules(rules.services, programmed_);
  const std::size_t count = rules.services.size();
  auto rules_copy = rules.services;
  auto status = co_await runtime_->set_dataplane(std::move(rules));
  if (!status) {
    ++counters_.sync_failures_total;
    log::warn(kLog, "cannot program the dataplane at {}: {}", options_.runtime_endpoint,
              status.error().message);
    co_return false;
  }
  ++counters_.syncs_total;
  counters_.rules = count;
  if (!same) log::debug(kLog, "programmed {} service rules", count);
  programmed_ = std::move(rules_copy);
  last_success_ = timers_.clock().now();
  co_return true;
}

asio::awaitable<void> Proxy::sync_loop() {
  std::optional<SteadyTime> last_attempt;
  std::optional<SteadyTime> last_full;
  while (!stopping_) {
    const SteadyTime now = timers_.clock().now();
    const bool synced = services_->has_synced() && slices_->has_synced();
    // Bounded frequency: no two attempts closer than min_sync_period.
    const bool allowed = !last_attempt || now - *last_attempt >= options_.min_sync_period;
    const bool full_due = !last_full || now - *last_full >= options_.sync_period;
    // A change that leaves the rules as programmed (say a not-ready endpoint
    // added) needs no write, so it does not use up the min-sync-period: the
    // change after it goes out at once.
    if (synced && dirty_ && !full_due && unchanged()) {
      dirty_ = false;
      ++counters_.unchanged_total;
    }
    // (No continue across a co_await: g++ 12 miscompiled that in coroutines.)
    if (synced && allowed && (dirty_ || full_due)) {
      dirty_ = false;
      last_attempt = now;
      if (co_await sync()) {
        last_full = now;
      } else {
        dirty_ = true;  // retried after min_sync_period
      }
    } else {
      Millis wait = options_.sync_period;
      if (!synced) {
        wait = Millis(20);
      } else if (!allowed && (dirty_ || full_due)) {
        wait = std::chrono::duration_cast<Millis>(*last_attempt + options_.min_sync_period - now) + Millis(1);
      } else if (last_full) {
        wait = std::chrono::duration_cast<Millis>(*last_full + options_.sync_period - now) + Millis(1);
      }
      wake_.expires_after(std::max(wait, Millis(1)));
      boost::system::error_code ignored;
      co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
  }
}

asio::awaitable<void> Proxy::handle(net::ServerRequest& request, net::ResponseWriter& writer) {
  const bool read = request.method == "GET" || request.method == "HEAD";
  if (read && (request.path == "/healthz" || request.path == "/livez")) {
    const bool healthy = last_success_ && timers_.clock().now() - *last_success_ <= 2 * options_.sync_period;
    co_await writer.send(healthy ? text(200, "ok") : text(503, "dataplane not programmed recently"));
    co_return;
  }
  co_await writer.send(text(404, "404 page not found\n"));
}

asio::awaitable<int> Proxy::run() {
  log::info(kLog, "{}: programming {} (mode {}) from API {}", options_.hostname_override,
            options_.runtime_endpoint, options_.proxy_mode, fmt::join(options_.master, ","));
  for (client::Informer* informer : {services_.get(), slices_.get()}) {
    ++running_;
    asio::co_spawn(executor_, run_informer(informer), [this](const std::exception_ptr&) { --running_; });
  }
  co_await sync_loop();
  services_->stop();
  slices_->stop();
  asio::steady_timer pause(executor_);
  while (running_ > 0) {
    pause.expires_after(Millis(5));
    boost::system::error_code ignored;
    co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  co_await http_->stop();
  co_return 0;
}

void Proxy::stop() {
  stopping_ = true;
  wake_.cancel();
}

int run(const Options& options) {
  asio::io_context io;
  std::random_device device;
  client::SeededRandom random((static_cast<uint64_t>(device()) << 32) ^ device());
  Proxy proxy(io.get_executor(), options,
              runtime::make_runtime_client(io.get_executor(), options.runtime_endpoint),
              client::real_timers(), random);
  if (auto started = proxy.start(); !started) {
    log::error(kLog, "cannot serve /healthz on {}: {}", options.healthz_bind_address,
               started.error().message);
    return 2;
  }
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&proxy](const boost::system::error_code& error, int) {
    if (!error) proxy.stop();
  });
  const int code = run_blocking(io, proxy.run());
  signals.cancel();
  return code;
}

}  // namespace shakeout::proxy
