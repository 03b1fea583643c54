#pragma once
// etcd v3 client over etcd's JSON gateway (HTTP/1.1 + JSON, /v3/...).
//
// Why the gateway and not gRPC: Debian 12 ships etcd 3.4 with the gateway
// enabled on the client port, while gRPC + protobuf code generation for
// etcd's protos would add a heavy build dependency and generated code. The
// gateway carries the same messages (int64 as JSON strings, bytes as base64).
//
// Contract:
// - Every call has a deadline (Config::request_timeout); on expiry the call
//   fails with ErrorCode::kTimeout and its connection is closed.
//   (Added for clarity:) the deadline bounds each endpoint attempt, so a call
//   returns within endpoints x request_timeout; for watch() it bounds opening
//   the stream, while next() waits as long as the stream is open.
// - Calls fail over across endpoints: a connection error or timeout on one
//   endpoint moves the call (and later calls) to the next one, until each
//   endpoint has been tried once. Errors etcd itself returns (a failed
//   compare, a compacted revision) are not retried, except "unavailable"
//   ones (no leader, leader changed, request timed out): those move on too,
//   so a put whose outcome was unknown may be applied twice; guard it with
//   a txn where that matters.
// - A compacted revision is ErrorCode::kCompacted, for range and watch alike.
// Threading: a Client lives on one executor (one io_context thread) and is
// not thread-safe; run several clients for several threads.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace shakeout::etcd {

namespace asio = boost::asio;

struct Config {
  std::vector<std::string> endpoints;  // "http://127.1.0.11:2379"
  Millis request_timeout{5000};
  Millis dial_timeout{1000};
};

struct ResponseHeader {
  uint64_t cluster_id = 0;
  uint64_t member_id = 0;
  int64_t revision = 0;
  uint64_t raft_term = 0;
};

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

struct RangeOptions {
  bool prefix = false;    // every key starting with `key`
  std::string range_end;  // explicit [key, range_end) when not prefix
  int64_t limit = 0;      // 0 = no limit
  int64_t revision = 0;   // 0 = latest
  bool keys_only = false;
  bool count_only = false;
  bool serializable = false;  // false = linearizable read
};

struct RangeResponse {
  ResponseHeader header;
  std::vector<KeyValue> kvs;
  bool more = false;
  int64_t count = 0;
};

struct PutOptions {
  int64_t lease = 0;
  bool prev_kv = false;
};

struct PutResponse {
  ResponseHeader header;
  std::optional<KeyValue> prev_kv;
};

struct DeleteOptions {
  bool prefix = false;
  std::string range_end;
  bool prev_kv = false;
};

struct DeleteResponse {
  ResponseHeader header;
  int64_t deleted = 0;
  std::vector<KeyValue> prev_kvs;
};

// One comparison of a transaction's guard.
struct Compare {
  enum class Target { kVersion, kCreateRevision, kModRevision, kValue, kLease };
  enum class Op { kEqual, kGreater, kLess, kNotEqual };
  std::string key;
  Target target = Target::kModRevision;
  Op op = Op::kEqual;
  int64_t number = 0;  // for every target but kValue
  std::string value;   // for kValue

  static Compare mod_revision(std::string key, Op op, int64_t rev) {
    return {std::move(key), Target::kModRevision, op, rev, {}};
  }
};

struct RangeOp {
  std::string key;
  RangeOptions options;
};
struct PutOp {
  std::string key;
  std::string value;
  PutOptions options;
};
struct DeleteOp {
  std::string key;
  DeleteOptions options;
};
using TxnOp = std::variant<RangeOp, PutOp, DeleteOp>;
using TxnOpResponse = std::variant<RangeResponse, PutResponse, DeleteResponse>;

struct TxnRequest {
  std::vector<Compare> compare;
  std::vector<TxnOp> success;
  std::vector<TxnOp> failure;
};

struct TxnResponse {
  ResponseHeader header;
  bool succeeded = false;
  std::vector<TxnOpResponse> responses;  // of `success` or `failure`
};

struct LeaseGrant {
  int64_t id = 0;
  int64_t ttl_seconds = 0;
};

struct Member {
  uint64_t id = 0;
  std::string name;
  std::vector<std::string> peer_urls;
  std::vector<std::string> client_urls;
};

struct EndpointStatus {
  std::string endpoint;
  ResponseHeader header;  // header.member_id is the answering member
  std::string version;
  int64_t db_size = 0;
  uint64_t leader = 0;  // member id of the leader as this member sees it
  uint64_t raft_index = 0;
  uint64_t raft_term = 0;
};

struct WatchOptions {
  bool prefix = false;
  std::string range_end;
  int64_t start_revision = 0;  // 0 = from now
  bool prev_kv = false;
  bool progress_notify = false;
};

struct Event {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;
  std::optional<KeyValue> prev_kv;
};

// One message of a watch stream: events, or a progress notification
// (no events, header.revision says how far the watch has seen).
struct WatchBatch {
  ResponseHeader header;
  std::vector<Event> events;
  bool progress_notify() const { return events.empty(); }
};

// A server-streamed watch. next() yields batches in revision order. It fails
// with kCompacted when start_revision is compacted (error().message carries
// the compact revision), kCancelled after cancel(), kUnavailable when the
// stream breaks (resume with a new watch from last revision + 1).
// Not restartable; not thread-safe. Destroying it closes the stream, but only
// while no next() is suspended: cancel() first and let that next() return.
class Watch {
 public:
  virtual ~Watch() = default;
  virtual asio::awaitable<Result<WatchBatch>> next() = 0;
  virtual void cancel() = 0;
  // The compact revision reported by etcd when next() failed with kCompacted.
  virtual int64_t compact_revision() const = 0;
};

class Client {
 public:
  Client(asio::any_io_executor executor, Config config);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One-argument overloads instead of `options = {}`: g++ 12 destroys a
  // defaulted argument of class type twice when the call is the operand of
  // co_await inside a coroutine (a crash in every caller). Call sites read
  // the same as with a default argument.
  asio::awaitable<Result<RangeResponse>> range(std::string key);
  asio::awaitable<Result<RangeResponse>> range(std::string key, RangeOptions options);
  asio::awaitable<Result<PutResponse>> put(std::string key, std::string value, PutOptions options = {});
  asio::awaitable<Result<DeleteResponse>> del(std::string key);
  asio::awaitable<Result<DeleteResponse>> del(std::string key, DeleteOptions options);
  asio::awaitable<Result<TxnResponse>> txn(TxnRequest request);

  // Opens a watch; fails if no endpoint accepts the stream.
  asio::awaitable<Result<std::unique_ptr<Watch>>> watch(std::string key);
  asio::awaitable<Result<std::unique_ptr<Watch>>> watch(std::string key, WatchOptions options);

  asio::awaitable<Result<LeaseGrant>> lease_grant(int64_t ttl_seconds);
  // One keepalive round trip; returns the new TTL (0 if the lease expired).
  asio::awaitable<Result<int64_t>> lease_keep_alive_once(int64_t lease_id);
  asio::awaitable<Status> lease_revoke(int64_t lease_id);

  asio::awaitable<Status> compact(int64_t revision, bool physical = true);

  asio::awaitable<Result<std::vector<Member>>> member_list();
  // Status of one endpoint (no failover: asks exactly that endpoint).
  asio::awaitable<Result<EndpointStatus>> status(std::string endpoint);
  // etcd's own /health on one endpoint (served by etcd directly, not through
  // the gateway): OK when the member sees a leader and a quorum read succeeds.
  asio::awaitable<Status> health(std::string endpoint);

  const Config& config() const { return config_; }

 private:
  class Impl;
  Config config_;
  std::unique_ptr<Impl> impl_;
};

// Identifies the current leader exactly: asks every endpoint for its status
// and returns the member that reports itself as leader at the highest term
// seen, provided a majority of all the client's endpoints (the members) agree
// on it. A leader cut off from its quorum is therefore not reported.
// kUnavailable when no such member exists (election in progress, no quorum).
struct LeaderInfo {
  uint64_t member_id = 0;
  std::string endpoint;
  uint64_t raft_term = 0;
};
asio::awaitable<Result<LeaderInfo>> find_leader(Client& client);

}  // namespace shakeout::etcd
