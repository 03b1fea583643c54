#include "runtime/dataplane.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <set>

#include "common/clock.h"
#include "common/log.h"

namespace shakeout::runtime {

namespace {

constexpr const char* kLog = "dataplane";
constexpr Millis kConnectTimeout{3000};
using tcp = asio::ip::tcp;

Status validate_rule(const ServiceRule& rule) {
  auto bad = [&rule](const std::string& why) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("service rule '{}': {}", rule.name, why));
  };
  if (rule.name.empty()) return bad("name is empty");
  if (rule.port < 1 || rule.port > 65535) return bad(fmt::format("port {} is not 1..65535", rule.port));
  if (rule.node_port < 0 || rule.node_port > 65535)
    return bad(fmt::format("nodePort {} is not 0..65535", rule.node_port));
  if (rule.protocol != "TCP")
    return bad(fmt::format("protocol {} is not supported (TCP only)", rule.protocol));
  if (rule.mode != "random" && rule.mode != "round-robin")
    return bad(fmt::format("mode '{}' is not random|round-robin", rule.mode));
  boost::system::error_code error;
  if (!rule.cluster_ip.empty()) {
    asio::ip::make_address_v4(rule.cluster_ip, error);
    if (error) return bad(fmt::format("clusterIP '{}' is not an IPv4 address", rule.cluster_ip));
  }
  for (const auto& endpoint : rule.endpoints) {
    asio::ip::make_address_v4(endpoint.ip, error);
    if (error || endpoint.port < 1 || endpoint.port > 65535)
      return bad(fmt::format("endpoint {}:{} is not an IPv4 address and port", endpoint.ip, endpoint.port));
  }
  return {};
}

// A rule's endpoints, picker and counters; shared by its listeners and the
// connections they forwarded (which may outlive the rule).
struct RuleState {
  ServiceRule rule;
  uint64_t next = 0;  // round-robin position
  uint64_t connections_total = 0;
  uint64_t connections_active = 0;
  uint64_t connect_failures_total = 0;
};

struct Listener {
  Listener(const asio::any_io_executor& executor, ListenSpec listen_spec)
      : spec(std::move(listen_spec)), acceptor(executor) {}
  ListenSpec spec;
  tcp::acceptor acceptor;
  std::shared_ptr<RuleState> rule;  // switched by set_rules()
  bool open = true;
};

// One forwarded connection. Both pumps hold it; the last one out closes it.
struct Connection {
  Connection(tcp::socket accepted, std::shared_ptr<RuleState> owner)
      : client(std::move(accepted)), upstream(client.get_executor()), rule(std::move(owner)) {
    ++rule->connections_active;
  }
  ~Connection() { --rule->connections_active; }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void close() {
    boost::system::error_code ignored;
    client.close(ignored);
    upstream.close(ignored);
  }

  tcp::socket client;
  tcp::socket upstream;
  std::shared_ptr<RuleState> rule;
};

// Copies `from` to `to` until end of file (then half-closes `to`) or an
// error (then closes both, which also ends the other direction).
asio::awaitable<void> pump(std::shared_ptr<Connection> connection, bool client_to_upstream) {
  tcp::socket& from = client_to_upstream ? connection->client : connection->upstream;
  tcp::socket& to = client_to_upstream ? connection->upstream : connection->client;
  std::array<char, 16384> buffer{};
  bool running = true;
  while (running) {
    boost::system::error_code error;
    const std::size_t n =
        co_await from.async_read_some(asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, error));
    boost::system::error_code write_error;
    if (n > 0) {
      co_await asio::async_write(to, asio::buffer(buffer.data(), n),
                                 asio::redirect_error(asio::use_awaitable, write_error));
    }
    // (No continue after a co_await: g++ 12 miscompiled that in coroutines.)
    if (!write_error && error == asio::error::eof) {
      boost::system::error_code ignored;
      to.shutdown(tcp::socket::shutdown_send, ignored);
      running = false;
    } else if (write_error || error) {
      connection->close();
      running = false;
    }
  }
}

}  // namespace

ListenPlan plan_listeners(const std::vector<ServiceRule>& rules, const std::string& node_ip) {
  ListenPlan plan;
  auto want = [&plan](const ServiceRule& rule, const std::string& ip, int port, bool reuse_port) {
    ListenSpec spec{ip, port, rule.name, reuse_port};
    const auto [it, added] = plan.listeners.emplace(spec.key(), spec);
    if (!added)
      plan.conflicts.emplace(rule.name,
                             fmt::format("{}: already served by rule '{}'", spec.key(), it->second.rule));
  };
  for (const auto& rule : rules) {
    if (!rule.cluster_ip.empty()) want(rule, rule.cluster_ip, rule.port, true);
    want(rule, node_ip, rule.port, false);
    if (rule.node_port != 0) want(rule, node_ip, rule.node_port, false);
  }
  return plan;
}

ListenDiff diff_listeners(const std::map<std::string, ListenSpec>& current,
                          const std::map<std::string, ListenSpec>& desired) {
  ListenDiff diff;
  for (const auto& [key, spec] : current) {
    const auto it = desired.find(key);
    if (it == desired.end() || it->second.reuse_port != spec.reuse_port) diff.close.push_back(key);
  }
  for (const auto& [key, spec] : desired) {
    const auto it = current.find(key);
    if (it == current.end() || it->second.reuse_port != spec.reuse_port) {
      diff.open.push_back(spec);
    } else {
      diff.keep.push_back(spec);
    }
  }
  return diff;
}

struct Dataplane::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor ex, std::string ip, uint64_t seed)
      : executor(std::move(ex)), node_ip(std::move(ip)), random(seed) {}

  asio::any_io_executor executor;
  std::string node_ip;
  std::mt19937_64 random;
  int64_t generation = 0;
  std::vector<ServiceRule> rules;
  std::map<std::string, std::shared_ptr<RuleState>> states;    // by rule name
  std::map<std::string, std::shared_ptr<Listener>> listeners;  // by "ip:port"
  std::multimap<std::string, std::string> errors;              // rule name -> why a listener is missing
  std::vector<std::weak_ptr<Connection>> connections;          // for stop()
  bool stopped = false;

  std::optional<ServiceRule::Endpoint> pick(RuleState& state) {
    const auto& endpoints = state.rule.endpoints;
    if (endpoints.empty()) return std::nullopt;
    if (state.rule.mode == "round-robin") return endpoints[state.next++ % endpoints.size()];
    return endpoints[std::uniform_int_distribution<std::size_t>(0, endpoints.size() - 1)(random)];
  }

  Status bind(Listener& listener) {
    boost::system::error_code error;
    const auto address = asio::ip::make_address_v4(listener.spec.ip, error);
    if (error) return make_error(ErrorCode::kInvalidArgument, error.message());
    const tcp::endpoint endpoint(address, static_cast<uint16_t>(listener.spec.port));
    listener.acceptor.open(endpoint.protocol(), error);
    if (!error) listener.acceptor.set_option(asio::socket_base::reuse_address(true), error);
    if (!error && listener.spec.reuse_port) {
      const int one = 1;
      if (::setsockopt(listener.acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        error.assign(errno, boost::system::system_category());
    }
    if (!error) listener.acceptor.bind(endpoint, error);
    if (!error) listener.acceptor.listen(asio::socket_base::max_listen_connections, error);
    if (error) {
      boost::system::error_code ignored;
      listener.acceptor.close(ignored);
      return make_error(ErrorCode::kUnavailable, error.message());
    }
    return {};
  }

  void close(Listener& listener) {
    listener.open = false;
    boost::system::error_code ignored;
    listener.acceptor.close(ignored);
  }

  static asio::awaitable<void> accept_loop(std::shared_ptr<Impl> self, std::shared_ptr<Listener> listener) {
    while (listener->open) {
      boost::system::error_code error;
      tcp::socket socket =
          co_await listener->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, error));
      // (No continue after a co_await: g++ 12 miscompiled that in coroutines.)
      if (!listener->open) {
        // closed while accepting: the loop ends
      } else if (error) {
        // EMFILE and the like: back off instead of spinning.
        log::warn(kLog, "accept on {}: {}", listener->spec.key(), error.message());
        asio::steady_timer pause(self->executor, Millis(100));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, error));
      } else {
        asio::co_spawn(self->executor, forward(self, listener->rule, std::move(socket)), asio::detached);
      }
    }
  }

  static asio::awaitable<void> forward(std::shared_ptr<Impl> self, std::shared_ptr<RuleState> rule,
                                       tcp::socket socket) {
    ++rule->connections_total;
    const auto endpoint = self->pick(*rule);
    if (!endpoint) {
      ++rule->connect_failures_total;
      boost::system::error_code ignored;
      socket.close(ignored);  // no ready endpoints: refuse at once, as a REJECT rule
      co_return;
    }
    auto connection = std::make_shared<Connection>(std::move(socket), rule);
    self->connections.push_back(connection);
    std::erase_if(self->connections, [](const std::weak_ptr<Connection>& c) { return c.expired(); });
    boost::system::error_code error;
    const auto address = asio::ip::make_address_v4(endpoint->ip, error);
    asio::steady_timer deadline(self->executor, kConnectTimeout);
    deadline.async_wait([weak = std::weak_ptr<Connection>(connection)](const boost::system::error_code& e) {
      if (e) return;
      if (auto c = weak.lock()) {
        boost::system::error_code ignored;
        c->upstream.close(ignored);
      }
    });
    const tcp::endpoint target(address, static_cast<uint16_t>(endpoint->port));
    co_await connection->upstream.async_connect(target, asio::redirect_error(asio::use_awaitable, error));
    deadline.cancel();
    if (error || !connection->upstream.is_open()) {
      ++rule->connect_failures_total;
      log::debug(kLog, "{}: connect {}:{}: {}", rule->rule.name, endpoint->ip, endpoint->port,
                 error.message());
      connection->close();
      co_return;
    }
    connection->upstream.set_option(tcp::no_delay(true), error);
    connection->client.set_option(tcp::no_delay(true), error);
    asio::co_spawn(self->executor, pump(connection, true), asio::detached);
    asio::co_spawn(self->executor, pump(connection, false), asio::detached);
  }
};

Dataplane::Dataplane(asio::any_io_executor executor, std::string node_ip, uint64_t seed)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(node_ip), seed)) {}

Dataplane::~Dataplane() {
  stop();
}

Result<int64_t> Dataplane::set_rules(std::vector<ServiceRule> rules) {
  std::set<std::string> names;
  for (const auto& rule : rules) {
    if (auto valid = validate_rule(rule); !valid) return valid.error();
    if (!names.insert(rule.name).second)
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("service rule '{}' appears twice", rule.name));
  }
  Impl& impl = *impl_;
  const ListenPlan plan = plan_listeners(rules, impl.node_ip);

  // Rule states: kept by name so counters and the round-robin position survive updates.
  std::map<std::string, std::shared_ptr<RuleState>> states;
  for (const auto& rule : rules) {
    auto it = impl.states.find(rule.name);
    auto state = it != impl.states.end() ? it->second : std::make_shared<RuleState>();
    state->rule = rule;
    states.emplace(rule.name, std::move(state));
  }
  impl.states = std::move(states);

  std::map<std::string, ListenSpec> current;
  for (const auto& [key, listener] : impl.listeners) current.emplace(key, listener->spec);
  const ListenDiff diff = diff_listeners(current, plan.listeners);
  for (const auto& key : diff.close) {
    impl.close(*impl.listeners.at(key));
    impl.listeners.erase(key);
    log::info(kLog, "stopped listening on {}", key);
  }
  for (const auto& spec : diff.keep) {
    auto& listener = *impl.listeners.at(spec.key());
    listener.spec = spec;
    listener.rule = impl.states.at(spec.rule);
  }
  impl.errors = plan.conflicts;
  for (const auto& spec : diff.open) {
    auto listener = std::make_shared<Listener>(impl.executor, spec);
    listener->rule = impl.states.at(spec.rule);
    if (auto bound = impl.bind(*listener); !bound) {
      log::warn(kLog, "{}: cannot listen on {}: {}", spec.rule, spec.key(), bound.error().message);
      impl.errors.emplace(spec.rule, fmt::format("{}: {}", spec.key(), bound.error().message));
      continue;
    }
    log::info(kLog, "{}: listening on {}", spec.rule, spec.key());
    impl.listeners.emplace(spec.key(), listener);
    asio::co_spawn(impl.executor, Impl::accept_loop(impl_, listener), asio::detached);
  }
  impl.rules = std::move(rules);
  return ++impl.generation;
}

DataplaneRules Dataplane::rules() const {
  const Impl& impl = *impl_;
  DataplaneRules out;
  out.generation = impl.generation;
  out.services = impl.rules;
  for (const auto& rule : impl.rules) {
    ServiceRuleStatus status;
    status.name = rule.name;
    for (const auto& [key, listener] : impl.listeners)
      if (listener->spec.rule == rule.name) status.listening.push_back(key);
    const auto [first, last] = impl.errors.equal_range(rule.name);
    for (auto it = first; it != last; ++it) status.bind_errors.push_back(it->second);
    if (const auto it = impl.states.find(rule.name); it != impl.states.end()) {
      status.connections_total = it->second->connections_total;
      status.connections_active = it->second->connections_active;
      status.connect_failures_total = it->second->connect_failures_total;
    }
    out.status.push_back(std::move(status));
  }
  return out;
}

void Dataplane::stop() {
  Impl& impl = *impl_;
  if (impl.stopped) return;
  impl.stopped = true;
  for (auto& [key, listener] : impl.listeners) impl.close(*listener);
  impl.listeners.clear();
  for (auto& weak : impl.connections)
    if (auto connection = weak.lock()) connection->close();
  impl.connections.clear();
}

}  // namespace shakeout::runtime
