#include "fake_apiserver.h"

#include <fmt/format.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <charconv>

namespace shakeout::client::testing {

namespace {

constexpr const char* kCollection = "/api/v1/namespaces/default/pods";

int64_t parse_int(std::string_view text, int64_t fallback) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return fallback;
  return value;
}

net::ServerResponse json_response(unsigned status, const json& body) {
  net::ServerResponse response;
  response.status = status;
  response.content_type = "application/json";
  response.body = body.dump();
  return response;
}

net::ServerResponse error_response(const api::ApiError& error) {
  return json_response(static_cast<unsigned>(error.code), error.status);
}

std::string event_line(const std::string& type, const json& object) {
  json event = json::object();
  event["type"] = type;
  event["object"] = object;
  return event.dump() + "\n";
}

const api::ResourceInfo& pods() {
  static const api::ResourceInfo* const kPods = api::ResourceRegistry::builtin().by_plural("", "pods");
  return *kPods;
}

}  // namespace

FakeApiServer::FakeApiServer(asio::io_context& io)
    : io_(io), notify_(io, asio::steady_timer::time_point::max()) {}

FakeApiServer::~FakeApiServer() = default;

Status FakeApiServer::start(uint16_t port) {
  net::HttpServerConfig config;
  config.port = port;
  config.stop_grace = Millis(500);
  stopping_ = false;
  server_ = std::make_unique<net::HttpServer>(
      io_.get_executor(), config,
      [this](net::ServerRequest& request, net::ResponseWriter& writer) { return handle(request, writer); });
  auto started = server_->start();
  if (started) port_ = server_->port();
  return started;
}

asio::awaitable<void> FakeApiServer::stop() {
  stopping_ = true;
  notify_.cancel();
  if (server_) co_await server_->stop();
}

net::Endpoint FakeApiServer::endpoint() const {
  net::Endpoint endpoint;
  endpoint.host = "127.0.0.1";
  endpoint.port = port_;
  return endpoint;
}

json FakeApiServer::make_pod(const std::string& name, int generation) const {
  json pod = json::object();
  pod["apiVersion"] = "v1";
  pod["kind"] = "Pod";
  pod["metadata"]["name"] = name;
  pod["metadata"]["namespace"] = "default";
  pod["metadata"]["resourceVersion"] = std::to_string(rv_);
  pod["metadata"]["labels"]["generation"] = std::to_string(generation);
  return pod;
}

void FakeApiServer::record(std::string type, const json& object) {
  Event event;
  event.rv = rv_;
  event.type = std::move(type);
  event.object = object;
  events_.push_back(std::move(event));
  notify_.cancel();
}

json FakeApiServer::add(const std::string& name) {
  ++rv_;
  json pod = make_pod(name, 1);
  pods_[name] = pod;
  record("ADDED", pod);
  return pod;
}

json FakeApiServer::modify(const std::string& name) {
  ++rv_;
  const int generation = std::stoi(pods_.at(name)["metadata"]["labels"]["generation"].get<std::string>()) + 1;
  json pod = make_pod(name, generation);
  pods_[name] = pod;
  record("MODIFIED", pod);
  return pod;
}

void FakeApiServer::remove(const std::string& name) {
  ++rv_;
  json pod = pods_.at(name);
  pod["metadata"]["resourceVersion"] = std::to_string(rv_);
  pods_.erase(name);
  record("DELETED", pod);
}

void FakeApiServer::compact() {
  compacted_ = rv_;
  events_.clear();
}

void FakeApiServer::end_watches() {
  ++end_generation_;
  notify_.cancel();
}

void FakeApiServer::bookmark() {
  ++bookmark_generation_;
  notify_.cancel();
}

void FakeApiServer::fail_lists(int n, api::ApiError error) {
  failing_lists_ = n;
  list_error_ = std::move(error);
}

asio::awaitable<void> FakeApiServer::handle(net::ServerRequest& request, net::ResponseWriter& writer) {
  targets_.push_back(request.target);
  authorizations_.emplace_back(request.header("Authorization"));
  if (request.method == "GET" && request.path == kCollection) {
    if (request.query_value("watch") == "true") {
      co_await watch(request, writer);
    } else {
      co_await list(request, writer);
    }
    co_return;
  }
  const std::string prefix = std::string(kCollection) + "/";
  if (request.method == "GET" && request.path.starts_with(prefix)) {
    const std::string name = request.path.substr(prefix.size());
    const auto it = pods_.find(name);
    if (it == pods_.end()) {
      co_await writer.send(error_response(api::not_found(pods(), name)));
    } else {
      co_await writer.send(json_response(200, it->second));
    }
    co_return;
  }
  co_await writer.send(error_response(api::path_not_found()));
}

asio::awaitable<void> FakeApiServer::list(net::ServerRequest& request, net::ResponseWriter& writer) {
  ++list_requests_;
  if (failing_lists_ > 0) {
    --failing_lists_;
    co_await writer.send(error_response(*list_error_));
    co_return;
  }
  const int64_t limit = parse_int(request.query_value("limit"), 0);
  // continue = "<rv>/<last name returned>"; expired once compacted past rv.
  std::string after;
  int64_t snapshot = rv_;
  const std::string token(request.query_value("continue"));
  if (!token.empty()) {
    const auto slash = token.find('/');
    snapshot = parse_int(std::string_view(token).substr(0, slash), 0);
    after = token.substr(slash + 1);
    if (snapshot < compacted_) {
      co_await writer.send(error_response(
          api::expired("The provided continue parameter is too old to display a consistent list result.")));
      co_return;
    }
  }
  json body = json::object();
  body["kind"] = "PodList";
  body["apiVersion"] = "v1";
  body["metadata"]["resourceVersion"] = std::to_string(snapshot);
  body["items"] = json::array();
  std::string last;
  for (auto it = pods_.upper_bound(after); it != pods_.end(); ++it) {
    if (limit > 0 && static_cast<int64_t>(body["items"].size()) == limit) {
      body["metadata"]["continue"] = fmt::format("{}/{}", snapshot, last);
      break;
    }
    json item = it->second;
    item.erase("kind");  // list items carry no kind/apiVersion on the wire
    item.erase("apiVersion");
    body["items"].push_back(std::move(item));
    last = it->first;
  }
  co_await writer.send(json_response(200, body));
}

asio::awaitable<void> FakeApiServer::watch(net::ServerRequest& request, net::ResponseWriter& writer) {
  watch_from_.emplace_back(request.query_value("resourceVersion"));
  const std::string from_text(request.query_value("resourceVersion"));
  const bool bookmarks = request.query_value("allowWatchBookmarks") == "true";
  net::ServerResponse head;
  head.content_type = "application/json";
  if (!co_await writer.begin_stream(std::move(head))) co_return;
  ++open_watches_;
  int64_t sent = 0;
  std::string initial;
  if (from_text.empty() || from_text == "0") {
    for (const auto& [name, pod] : pods_) initial += event_line("ADDED", pod);
    sent = rv_;
  } else {
    sent = parse_int(from_text, 0);
    if (sent < compacted_) {
      const api::ApiError error =
          api::expired(fmt::format("too old resource version: {} ({})", sent, compacted_ + 1));
      initial = event_line("ERROR", error.status);
      sent = -1;
    }
  }
  bool ok = initial.empty() || (co_await writer.write_chunk(std::move(initial))).ok();
  const uint64_t end_generation = end_generation_;
  uint64_t bookmark_generation = bookmark_generation_;
  while (ok && sent >= 0 && !stopping_ && end_generation == end_generation_) {
    std::string chunk;
    for (const auto& event : events_) {
      if (event.rv > sent) {
        chunk += event_line(event.type, event.object);
        sent = event.rv;
      }
    }
    if (bookmarks && bookmark_generation != bookmark_generation_) {
      bookmark_generation = bookmark_generation_;
      json object = json::object();
      object["kind"] = "Pod";
      object["apiVersion"] = "v1";
      object["metadata"]["resourceVersion"] = std::to_string(rv_);
      chunk += event_line("BOOKMARK", object);
      sent = std::max(sent, rv_);
    }
    if (!chunk.empty()) {
      ok = (co_await writer.write_chunk(std::move(chunk))).ok();
      continue;
    }
    boost::system::error_code ec;
    co_await notify_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  --open_watches_;
  if (ok && !writer.closed()) co_await writer.end_stream();
}

}  // namespace shakeout::client::testing
