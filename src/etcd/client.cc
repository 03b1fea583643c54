#include "etcd/client.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string_view>

#include "net/base64.h"
#include "net/http_client.h"

namespace shakeout::etcd {

namespace {

using json = nlohmann::json;

// ---------------------------------------------------------------------------
// Decoding gateway JSON. The gateway writes int64 as strings, bytes as base64
// and leaves out every field at its zero value. A malformed field throws
// BadReply, which decode() turns into a kProtocol value at the one place a
// reply is decoded, so the field readers stay one-liners.

struct BadReply : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename Int>
Int get_int(const json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return 0;
  if (it->is_number_integer()) return it->get<Int>();
  if (!it->is_string()) throw BadReply(fmt::format("field {} is not an integer", name));
  const auto& text = it->get_ref<const std::string&>();
  try {
    std::size_t used = 0;
    const Int value = std::is_signed_v<Int> ? static_cast<Int>(std::stoll(text, &used))
                                            : static_cast<Int>(std::stoull(text, &used));
    if (used == text.size()) return value;
  } catch (const std::logic_error&) {  // invalid_argument, out_of_range
  }
  throw BadReply(fmt::format("field {} is not an integer: \"{}\"", name, text));
}

bool get_bool(const json& object, const char* name) {
  const auto it = object.find(name);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

std::string get_string(const json& object, const char* name) {
  const auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string get_bytes(const json& object, const char* name) {
  auto decoded = net::base64_decode(get_string(object, name));
  if (!decoded) throw BadReply(fmt::format("field {} is not base64", name));
  return std::move(*decoded);
}

const json& get_object(const json& object, const char* name) {
  static const json kEmpty = json::object();
  const auto it = object.find(name);
  return it != object.end() && it->is_object() ? *it : kEmpty;
}

const json& get_array(const json& object, const char* name) {
  static const json kEmpty = json::array();
  const auto it = object.find(name);
  return it != object.end() && it->is_array() ? *it : kEmpty;
}

ResponseHeader parse_header(const json& reply) {
  const json& header = get_object(reply, "header");
  return {get_int<uint64_t>(header, "cluster_id"), get_int<uint64_t>(header, "member_id"),
          get_int<int64_t>(header, "revision"), get_int<uint64_t>(header, "raft_term")};
}

KeyValue parse_kv(const json& kv) {
  return {get_bytes(kv, "key"),
          get_bytes(kv, "value"),
          get_int<int64_t>(kv, "create_revision"),
          get_int<int64_t>(kv, "mod_revision"),
          get_int<int64_t>(kv, "version"),
          get_int<int64_t>(kv, "lease")};
}

std::optional<KeyValue> parse_optional_kv(const json& object, const char* name) {
  if (!object.contains(name)) return std::nullopt;
  return parse_kv(get_object(object, name));
}

std::vector<KeyValue> parse_kvs(const json& object, const char* name) {
  std::vector<KeyValue> kvs;
  for (const json& kv : get_array(object, name)) kvs.push_back(parse_kv(kv));
  return kvs;
}

RangeResponse parse_range(const json& reply) {
  return {parse_header(reply), parse_kvs(reply, "kvs"), get_bool(reply, "more"),
          get_int<int64_t>(reply, "count")};
}

PutResponse parse_put(const json& reply) {
  return {parse_header(reply), parse_optional_kv(reply, "prev_kv")};
}

DeleteResponse parse_delete(const json& reply) {
  return {parse_header(reply), get_int<int64_t>(reply, "deleted"), parse_kvs(reply, "prev_kvs")};
}

TxnOpResponse parse_txn_op(const json& op) {
  if (op.contains("response_range")) return parse_range(op["response_range"]);
  if (op.contains("response_put")) return parse_put(op["response_put"]);
  if (op.contains("response_delete_range")) return parse_delete(op["response_delete_range"]);
  throw BadReply("txn response of unknown kind");
}

TxnResponse parse_txn(const json& reply) {
  TxnResponse response{parse_header(reply), get_bool(reply, "succeeded"), {}};
  for (const json& op : get_array(reply, "responses")) response.responses.push_back(parse_txn_op(op));
  return response;
}

Member parse_member(const json& member) {
  Member result{get_int<uint64_t>(member, "ID"), get_string(member, "name"), {}, {}};
  for (const json& url : get_array(member, "peerURLs")) result.peer_urls.push_back(url.get<std::string>());
  for (const json& url : get_array(member, "clientURLs"))
    result.client_urls.push_back(url.get<std::string>());
  return result;
}

std::vector<Member> parse_members(const json& reply) {
  std::vector<Member> members;
  for (const json& member : get_array(reply, "members")) members.push_back(parse_member(member));
  return members;
}

// Field names as etcd 3.4's StatusResponse spells them (camelCase in the proto).
EndpointStatus parse_status(const json& reply) {
  EndpointStatus status;
  status.header = parse_header(reply);
  status.version = get_string(reply, "version");
  status.db_size = get_int<int64_t>(reply, "dbSize");
  status.leader = get_int<uint64_t>(reply, "leader");
  status.raft_index = get_int<uint64_t>(reply, "raftIndex");
  status.raft_term = get_int<uint64_t>(reply, "raftTerm");
  return status;
}

Event parse_event(const json& event) {
  const bool is_delete = get_string(event, "type") == "DELETE";  // PUT is the zero value, left out
  return {is_delete ? Event::Type::kDelete : Event::Type::kPut, parse_kv(get_object(event, "kv")),
          parse_optional_kv(event, "prev_kv")};
}

template <typename T, typename Parse>
Result<T> decode(const net::Endpoint& endpoint, const json& reply, Parse parse) {
  try {
    return parse(reply);
  } catch (const BadReply& e) {
    return make_error(ErrorCode::kProtocol,
                      fmt::format("etcd {}: malformed reply: {}", endpoint.to_string(), e.what()));
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kProtocol,
                      fmt::format("etcd {}: malformed reply: {}", endpoint.to_string(), e.what()));
  }
}

// ---------------------------------------------------------------------------
// Errors

// gRPC status codes carried in gateway errors ({"error","code","message"}).
ErrorCode from_grpc(int code, std::string_view message) {
  if (message.find("required revision has been compacted") != std::string_view::npos)
    return ErrorCode::kCompacted;
  if (message.find("no leader") != std::string_view::npos) return ErrorCode::kUnavailable;
  switch (code) {
    case 1:
      return ErrorCode::kCancelled;
    case 4:
      return ErrorCode::kTimeout;  // DEADLINE_EXCEEDED
    case 5:
      return ErrorCode::kNotFound;  // e.g. "requested lease not found"
    case 6:
      return ErrorCode::kAlreadyExists;
    case 10:
      return ErrorCode::kConflict;  // ABORTED
    case 8:                         // RESOURCE_EXHAUSTED: "too many requests"
    case 14:
      return ErrorCode::kUnavailable;  // "leader changed", "request timed out", ...
    case 3:                            // INVALID_ARGUMENT
    case 7:                            // PERMISSION_DENIED
    case 9:                            // FAILED_PRECONDITION
    case 11:                           // OUT_OF_RANGE: "future revision"
    case 16:
      return ErrorCode::kInvalidArgument;  // UNAUTHENTICATED
    default:
      return ErrorCode::kInternal;
  }
}

Error gateway_error(const net::Endpoint& endpoint, const json& error) {
  std::string message = get_string(error, "message");
  if (message.empty()) message = get_string(error, "error");
  const auto code =
      error.contains("code") && error["code"].is_number_integer() ? error["code"].get<int>() : 2;
  return make_error(from_grpc(code, message), fmt::format("etcd {}: {}", endpoint.to_string(), message));
}

// Another member may serve the call: the endpoint is down, slow, or has no leader.
bool worth_retrying_elsewhere(const Error& error) {
  return error.code == ErrorCode::kUnavailable || error.code == ErrorCode::kTimeout;
}

// Turns one gateway reply (a JSON object, or a stream message wrapping one in
// "result") into the object, or the error it carries.
Result<json> parse_reply(const net::Endpoint& endpoint, unsigned status, std::string_view body) {
  json reply = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (reply.is_discarded() || !reply.is_object()) {
    return make_error(ErrorCode::kProtocol, fmt::format("etcd {}: HTTP {} with a non-JSON body: {}",
                                                        endpoint.to_string(), status, body.substr(0, 200)));
  }
  if (reply.contains("error")) {
    const json& error = reply["error"];
    return gateway_error(endpoint, error.is_object() ? error : reply);  // stream errors nest one level
  }
  if (status != 200) {
    return make_error(ErrorCode::kProtocol, fmt::format("etcd {}: HTTP {}", endpoint.to_string(), status));
  }
  if (reply.contains("result")) return std::move(reply["result"]);
  return reply;
}

// ---------------------------------------------------------------------------
// Encoding requests

std::string b64(std::string_view bytes) {
  return net::base64_encode(bytes);
}

// The first key after every key that starts with `prefix` ("\0" = no end).
std::string prefix_end(std::string prefix) {
  while (!prefix.empty()) {
    if (static_cast<unsigned char>(prefix.back()) < 0xff) {
      prefix.back() = static_cast<char>(prefix.back() + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');
}

// etcd rejects an empty key; "\0" with range_end "\0" means every key.
void set_key_range(json& body, const std::string& key, bool prefix, const std::string& range_end) {
  const std::string first = key.empty() && prefix ? std::string(1, '\0') : key;
  body["key"] = b64(first);
  if (prefix) {
    body["range_end"] = b64(prefix_end(key));
  } else if (!range_end.empty()) {
    body["range_end"] = b64(range_end);
  }
}

json range_body(const std::string& key, const RangeOptions& options) {
  json body = json::object();
  set_key_range(body, key, options.prefix, options.range_end);
  if (options.limit != 0) body["limit"] = std::to_string(options.limit);
  if (options.revision != 0) body["revision"] = std::to_string(options.revision);
  if (options.keys_only) body["keys_only"] = true;
  if (options.count_only) body["count_only"] = true;
  if (options.serializable) body["serializable"] = true;
  return body;
}

json put_body(const std::string& key, const std::string& value, const PutOptions& options) {
  json body = {{"key", b64(key)}, {"value", b64(value)}};
  if (options.lease != 0) body["lease"] = std::to_string(options.lease);
  if (options.prev_kv) body["prev_kv"] = true;
  return body;
}

json delete_body(const std::string& key, const DeleteOptions& options) {
  json body = json::object();
  set_key_range(body, key, options.prefix, options.range_end);
  if (options.prev_kv) body["prev_kv"] = true;
  return body;
}

json compare_json(const Compare& compare) {
  static const std::map<Compare::Op, const char*> kOps = {{Compare::Op::kEqual, "EQUAL"},
                                                          {Compare::Op::kGreater, "GREATER"},
                                                          {Compare::Op::kLess, "LESS"},
                                                          {Compare::Op::kNotEqual, "NOT_EQUAL"}};
  json body = {{"key", b64(compare.key)}, {"result", kOps.at(compare.op)}};
  const std::string number = std::to_string(compare.number);
  switch (compare.target) {
    case Compare::Target::kVersion:
      body["target"] = "VERSION";
      body["version"] = number;
      break;
    case Compare::Target::kCreateRevision:
      body["target"] = "CREATE";
      body["create_revision"] = number;
      break;
    case Compare::Target::kModRevision:
      body["target"] = "MOD";
      body["mod_revision"] = number;
      break;
    case Compare::Target::kValue:
      body["target"] = "VALUE";
      body["value"] = b64(compare.value);
      break;
    case Compare::Target::kLease:
      body["target"] = "LEASE";
      body["lease"] = number;
      break;
  }
  return body;
}

json txn_op_json(const TxnOp& op) {
  if (const auto* range = std::get_if<RangeOp>(&op))
    return {{"request_range", range_body(range->key, range->options)}};
  if (const auto* put = std::get_if<PutOp>(&op)) {
    return {{"request_put", put_body(put->key, put->value, put->options)}};
  }
  const auto& del = std::get<DeleteOp>(op);
  return {{"request_delete_range", delete_body(del.key, del.options)}};
}

json txn_body(const TxnRequest& request) {
  json body = {{"compare", json::array()}, {"success", json::array()}, {"failure", json::array()}};
  for (const auto& compare : request.compare) body["compare"].push_back(compare_json(compare));
  for (const auto& op : request.success) body["success"].push_back(txn_op_json(op));
  for (const auto& op : request.failure) body["failure"].push_back(txn_op_json(op));
  return body;
}

json watch_body(const std::string& key, const WatchOptions& options) {
  json create = json::object();
  set_key_range(create, key, options.prefix, options.range_end);
  if (options.start_revision != 0) create["start_revision"] = std::to_string(options.start_revision);
  if (options.prev_kv) create["prev_kv"] = true;
  if (options.progress_notify) create["progress_notify"] = true;
  return {{"create_request", create}};
}

net::HttpRequest post(std::string path, const json& body) {
  net::HttpRequest request;
  request.method = "POST";
  request.target = std::move(path);
  request.content_type = "application/json";
  request.body = body.dump();
  return request;
}

net::HttpClientConfig http_config(const Config& config) {
  net::HttpClientConfig http;
  http.connect_timeout = config.dial_timeout;
  return http;
}

// ---------------------------------------------------------------------------
// Watch over the gateway's server stream: one JSON message per line,
//   {"result":{"header":{..},"created":true}}           first, then
//   {"result":{"header":{..},"events":[..]}}             or, idle with
//   {"result":{"header":{..}}}                           progress_notify, or
//   {"result":{"header":{..},"canceled":true,"compact_revision":"N"}}

class GatewayWatch final : public Watch {
 public:
  GatewayWatch(net::Endpoint endpoint, std::unique_ptr<net::HttpStream> stream)
      : endpoint_(std::move(endpoint)), stream_(std::move(stream)) {}

  asio::awaitable<Result<WatchBatch>> next() override {
    while (!finished_) {
      auto line = co_await stream_->read_line();
      if (!line) {
        finish(cancelled_ ? make_error(ErrorCode::kCancelled, "etcd watch cancelled") : line.error());
      } else if (!*line) {
        finish(make_error(ErrorCode::kUnavailable,
                          fmt::format("etcd {}: watch stream ended", endpoint_.to_string())));
      } else if (!(*line)->empty()) {
        auto batch = interpret(**line);
        if (!batch)
          finish(batch.error());
        else if (*batch)
          co_return std::move(**batch);
      }
    }
    co_return *finished_;
  }

  void cancel() override {
    cancelled_ = true;
    stream_->cancel();
  }

  int64_t compact_revision() const override { return compact_revision_; }

 private:
  void finish(Error error) {
    if (!finished_) finished_ = std::move(error);
  }

  // A batch to hand out, nullopt for a message that is not one (created).
  Result<std::optional<WatchBatch>> interpret(const std::string& line) {
    auto message = parse_reply(endpoint_, 200, line);
    if (!message) return message.error();
    const json& result = *message;
    if (get_bool(result, "canceled")) return canceled(result);
    if (get_bool(result, "created")) return std::optional<WatchBatch>();
    return decode<std::optional<WatchBatch>>(endpoint_, result, [](const json& reply) {
      WatchBatch batch{parse_header(reply), {}};
      for (const json& event : get_array(reply, "events")) batch.events.push_back(parse_event(event));
      return std::optional<WatchBatch>(std::move(batch));
    });
  }

  Error canceled(const json& result) {
    auto compacted = decode<int64_t>(
        endpoint_, result, [](const json& reply) { return get_int<int64_t>(reply, "compact_revision"); });
    if (compacted.ok() && *compacted > 0) {
      compact_revision_ = *compacted;
      return make_error(ErrorCode::kCompacted,
                        fmt::format("etcd {}: watch start revision is compacted (compact revision {})",
                                    endpoint_.to_string(), compact_revision_));
    }
    return make_error(ErrorCode::kUnavailable,
                      fmt::format("etcd {}: watch cancelled by the server: {}", endpoint_.to_string(),
                                  get_string(result, "cancel_reason")));
  }

  net::Endpoint endpoint_;
  std::unique_ptr<net::HttpStream> stream_;
  int64_t compact_revision_ = 0;
  std::optional<Error> finished_;  // the error every next() returns once the stream is over
  bool cancelled_ = false;
};

}  // namespace

// ---------------------------------------------------------------------------
// Client

class Client::Impl {
 public:
  Impl(asio::any_io_executor executor, const Config& config)
      : config_(config), http_(std::move(executor), http_config(config)) {
    for (const auto& url : config.endpoints) {
      auto endpoint = net::parse_endpoint(url);
      if (!endpoint) {
        config_error_ = endpoint.error();
        return;
      }
      endpoints_.push_back(std::move(*endpoint));
    }
    if (endpoints_.empty())
      config_error_ = make_error(ErrorCode::kInvalidArgument, "etcd: no endpoints configured");
  }

  net::HttpClient& http() { return http_; }

  // POSTs `body` to `path`, failing over across endpoints.
  template <typename T, typename Parse>
  asio::awaitable<Result<T>> call(std::string path, json body, Parse parse) {
    co_return co_await with_failover<T>(
        [&](const net::Endpoint& endpoint) { return call_endpoint<T>(endpoint, path, body, parse); });
  }

  // POSTs `body` to `path` on exactly `endpoint`.
  template <typename T, typename Parse>
  asio::awaitable<Result<T>> call_endpoint(net::Endpoint endpoint, std::string path, json body, Parse parse) {
    auto response = co_await http_.request(endpoint, post(std::move(path), body), config_.request_timeout);
    if (!response) co_return response.error();
    auto reply = parse_reply(endpoint, response->status, response->body);
    if (!reply) co_return reply.error();
    co_return decode<T>(endpoint, *reply, parse);
  }

  asio::awaitable<Result<std::unique_ptr<Watch>>> watch(json body) {
    co_return co_await with_failover<std::unique_ptr<Watch>>(
        [&](const net::Endpoint& endpoint) { return open_watch(endpoint, body); });
  }

 private:
  // Runs `attempt` on the preferred endpoint, then on each other one while
  // the failure is one another member might not have. The endpoint that
  // answered becomes the preferred one.
  template <typename T, typename Attempt>
  asio::awaitable<Result<T>> with_failover(Attempt attempt) {
    if (config_error_) co_return *config_error_;
    std::string failures;
    bool timed_out = false;
    for (std::size_t i = 0; i < endpoints_.size(); ++i) {
      const std::size_t index = (preferred_ + i) % endpoints_.size();
      Result<T> result = co_await attempt(endpoints_[index]);
      if (result.ok() || !worth_retrying_elsewhere(result.error())) {
        preferred_ = index;
        co_return result;
      }
      timed_out = timed_out || result.error().code == ErrorCode::kTimeout;
      failures += (failures.empty() ? "" : "; ") + result.error().message;
    }
    co_return make_error(timed_out ? ErrorCode::kTimeout : ErrorCode::kUnavailable,
                         fmt::format("etcd: no endpoint answered: {}", failures));
  }

  asio::awaitable<Result<std::unique_ptr<Watch>>> open_watch(net::Endpoint endpoint, json body) {
    auto stream = co_await http_.open_stream(endpoint, post("/v3/watch", body), config_.request_timeout);
    if (!stream) co_return stream.error();
    // The first message is an error, or "created": etcd has accepted the watch.
    auto first = co_await (*stream)->read_line(config_.request_timeout);
    if (!first) co_return first.error();
    if (!*first)
      co_return make_error(ErrorCode::kUnavailable,
                           fmt::format("etcd {}: watch stream ended", endpoint.to_string()));
    auto created = parse_reply(endpoint, (*stream)->status(), **first);
    if (!created) co_return created.error();
    if (!get_bool(*created, "created")) {
      co_return make_error(ErrorCode::kProtocol, fmt::format("etcd {}: watch opened without \"created\": {}",
                                                             endpoint.to_string(), **first));
    }
    co_return std::make_unique<GatewayWatch>(std::move(endpoint), std::move(*stream));
  }

  Config config_;
  net::HttpClient http_;
  std::vector<net::Endpoint> endpoints_;
  std::optional<Error> config_error_;
  std::size_t preferred_ = 0;
};

Client::Client(asio::any_io_executor executor, Config config)
    : config_(std::move(config)), impl_(std::make_unique<Impl>(std::move(executor), config_)) {}

Client::~Client() = default;

// The calls are not coroutines themselves but hand over to one, so that no
// by-value argument of class type lives in a coroutine frame of ours (g++ 12
// mishandles defaulted ones; see client.h).

asio::awaitable<Result<RangeResponse>> Client::range(std::string key) {
  return range(std::move(key), {});
}

asio::awaitable<Result<RangeResponse>> Client::range(std::string key, RangeOptions options) {
  return impl_->call<RangeResponse>("/v3/kv/range", range_body(key, options), parse_range);
}

asio::awaitable<Result<PutResponse>> Client::put(std::string key, std::string value, PutOptions options) {
  return impl_->call<PutResponse>("/v3/kv/put", put_body(key, value, options), parse_put);
}

asio::awaitable<Result<DeleteResponse>> Client::del(std::string key) {
  return del(std::move(key), {});
}

asio::awaitable<Result<DeleteResponse>> Client::del(std::string key, DeleteOptions options) {
  return impl_->call<DeleteResponse>("/v3/kv/deleterange", delete_body(key, options), parse_delete);
}

asio::awaitable<Result<TxnResponse>> Client::txn(TxnRequest request) {
  return impl_->call<TxnResponse>("/v3/kv/txn", txn_body(request), parse_txn);
}

asio::awaitable<Result<std::unique_ptr<Watch>>> Client::watch(std::string key) {
  return watch(std::move(key), {});
}

asio::awaitable<Result<std::unique_ptr<Watch>>> Client::watch(std::string key, WatchOptions options) {
  return impl_->watch(watch_body(key, options));
}

asio::awaitable<Result<LeaseGrant>> Client::lease_grant(int64_t ttl_seconds) {
  json body = {{"TTL", std::to_string(ttl_seconds)}};
  return impl_->call<LeaseGrant>("/v3/lease/grant", body, [](const json& reply) {
    if (const auto error = get_string(reply, "error"); !error.empty())
      throw BadReply("lease grant: " + error);
    return LeaseGrant{get_int<int64_t>(reply, "ID"), get_int<int64_t>(reply, "TTL")};
  });
}

// The gateway serves keepalive as a stream; one request message yields one
// {"result":{..}} reply and the end of the response.
asio::awaitable<Result<int64_t>> Client::lease_keep_alive_once(int64_t lease_id) {
  json body = {{"ID", std::to_string(lease_id)}};
  return impl_->call<int64_t>("/v3/lease/keepalive", body, [](const json& reply) {
    return std::max<int64_t>(0, get_int<int64_t>(reply, "TTL"));
  });
}

asio::awaitable<Status> Client::lease_revoke(int64_t lease_id) {
  json body = {{"ID", std::to_string(lease_id)}};
  auto result = co_await impl_->call<bool>("/v3/lease/revoke", body, [](const json&) { return true; });
  if (!result) co_return result.error();
  co_return Status();
}

asio::awaitable<Status> Client::compact(int64_t revision, bool physical) {
  json body = {{"revision", std::to_string(revision)}, {"physical", physical}};
  auto result = co_await impl_->call<bool>("/v3/kv/compaction", body, [](const json&) { return true; });
  if (!result) co_return result.error();
  co_return Status();
}

asio::awaitable<Result<std::vector<Member>>> Client::member_list() {
  return impl_->call<std::vector<Member>>("/v3/cluster/member/list", json::object(), parse_members);
}

asio::awaitable<Result<EndpointStatus>> Client::status(std::string endpoint) {
  auto parsed = net::parse_endpoint(endpoint);
  if (!parsed) co_return parsed.error();
  auto status = co_await impl_->call_endpoint<EndpointStatus>(*parsed, "/v3/maintenance/status",
                                                              json::object(), parse_status);
  if (status) status->endpoint = std::move(endpoint);
  co_return status;
}

asio::awaitable<Status> Client::health(std::string endpoint) {
  auto parsed = net::parse_endpoint(endpoint);
  if (!parsed) co_return parsed.error();
  net::HttpRequest request;
  request.target = "/health";
  auto response = co_await impl_->http().request(*parsed, std::move(request), config_.request_timeout);
  if (!response) co_return response.error();
  const auto body = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (response->status != 200 || !body.is_object() || body.value("health", "") != "true") {
    co_return make_error(ErrorCode::kUnavailable, fmt::format("etcd {}: unhealthy (HTTP {}): {}", endpoint,
                                                              response->status, response->body));
  }
  co_return Status{};
}

// ---------------------------------------------------------------------------
// find_leader

asio::awaitable<Result<LeaderInfo>> find_leader(Client& client) {
  std::vector<EndpointStatus> answers;
  std::string failures;
  for (const auto& endpoint : client.config().endpoints) {
    auto status = co_await client.status(endpoint);
    if (status) {
      answers.push_back(std::move(*status));
    } else {
      failures += "; " + status.error().message;
    }
  }
  uint64_t term = 0;
  for (const auto& answer : answers) term = std::max(term, answer.raft_term);
  // The leader of the highest term, by its own word...
  const auto self_declared = std::find_if(answers.begin(), answers.end(), [&](const EndpointStatus& s) {
    return s.raft_term == term && s.leader != 0 && s.leader == s.header.member_id;
  });
  if (self_declared != answers.end()) {
    // ...confirmed by a majority of all the members.
    const auto agree = std::count_if(answers.begin(), answers.end(), [&](const EndpointStatus& s) {
      return s.raft_term == term && s.leader == self_declared->leader;
    });
    if (static_cast<std::size_t>(agree) * 2 > client.config().endpoints.size()) {
      co_return LeaderInfo{self_declared->leader, self_declared->endpoint, term};
    }
  }
  co_return make_error(
      ErrorCode::kUnavailable,
      fmt::format("etcd: no leader agreed on by a majority of {} answering members at term {}{}",
                  answers.size(), term, failures));
}

}  // namespace shakeout::etcd
