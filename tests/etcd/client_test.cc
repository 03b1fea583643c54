// Integration tests of the etcd client against real etcd 3.4 members.

#include "etcd/client.h"

#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "etcd_fixture.h"

namespace shakeout::etcd {
namespace {

using namespace std::chrono_literals;
using testing::EtcdCluster;

// Option builders (designated initializers trip -Wmissing-field-initializers
// on g++ 12 for the members left out).
RangeOptions prefixed() {
  RangeOptions options;
  options.prefix = true;
  return options;
}

RangeOptions at_revision(int64_t revision) {
  RangeOptions options;
  options.revision = revision;
  return options;
}

WatchOptions watch_from(int64_t start_revision) {
  WatchOptions options;
  options.start_revision = start_revision;
  return options;
}

class EtcdClientTest : public ::testing::Test {
 protected:
  void boot(int size) {
    auto cluster = EtcdCluster::start(size);
    ASSERT_TRUE(cluster.ok()) << cluster.error().describe();
    cluster_ = std::move(*cluster);
    client_ = make_client(cluster_->endpoints(), 5000ms);
  }

  std::unique_ptr<Client> make_client(std::vector<std::string> endpoints, Millis timeout) {
    return std::make_unique<Client>(io_.get_executor(), Config{std::move(endpoints), timeout, 1000ms});
  }

  template <typename T>
  T run(asio::awaitable<T> task) {
    return run_blocking(io_, std::move(task));
  }

  int64_t put(const std::string& key, const std::string& value, PutOptions options = {}) {
    auto response = run(client_->put(key, value, options));
    EXPECT_TRUE(response.ok()) << response.error().describe();
    return response.ok() ? response->header.revision : 0;
  }

  // next(), but a watch that stays silent for 10s is cancelled (a failure).
  Result<WatchBatch> next(Watch& watch) {
    asio::steady_timer guard(io_, 10s);
    guard.async_wait([&watch](boost::system::error_code ec) {
      if (!ec) watch.cancel();
    });
    auto batch = run(watch.next());
    guard.cancel();
    return batch;
  }

  std::unique_ptr<Watch> open_watch(const std::string& key, WatchOptions options = {}) {
    auto watch = run(client_->watch(key, options));
    EXPECT_TRUE(watch.ok()) << watch.error().describe();
    return watch.ok() ? std::move(*watch) : nullptr;
  }

  asio::io_context io_;
  std::unique_ptr<EtcdCluster> cluster_;
  std::unique_ptr<Client> client_;
};

TEST_F(EtcdClientTest, PutThenRangeReturnsTheValueAndRevision) {
  ASSERT_NO_FATAL_FAILURE(boot(1));
  const std::string binary("\0\xff\n\"x", 5);
  const int64_t revision = put("k", binary);
  auto range = run(client_->range("k"));
  ASSERT_TRUE(range.ok()) << range.error().describe();
  ASSERT_EQ(range->kvs.size(), 1u);
  EXPECT_EQ(range->kvs[0].key, "k");
  EXPECT_EQ(range->kvs[0].value, binary);
  EXPECT_EQ(range->kvs[0].mod_revision, revision);
  EXPECT_EQ(range->kvs[0].version, 1);
  EXPECT_EQ(range->header.revision, revision);
  EXPECT_NE(range->header.member_id, 0u);
}

TEST_F(EtcdClientTest, RangeHonoursPrefixLimitAndRevision) {
  ASSERT_NO_FATAL_FAILURE(boot(1));
  const int64_t first = put("/p/1", "a");
  put("/p/2", "b");
  put("/p/3", "c");
  put("/q", "x");
  put("/p/1", "a2");

  auto all = run(client_->range("/p/", prefixed()));
  ASSERT_TRUE(all.ok()) << all.error().describe();
  ASSERT_EQ(all->kvs.size(), 3u);
  EXPECT_EQ(all->kvs[0].key, "/p/1");
  EXPECT_EQ(all->kvs[0].value, "a2");
  EXPECT_EQ(all->kvs[2].key, "/p/3");
  EXPECT_EQ(all->count, 3);

  RangeOptions limited_options = prefixed();
  limited_options.limit = 2;
  auto limited = run(client_->range("/p/", limited_options));
  ASSERT_TRUE(limited.ok()) << limited.error().describe();
  EXPECT_EQ(limited->kvs.size(), 2u);
  EXPECT_TRUE(limited->more);
  EXPECT_EQ(limited->count, 3);

  auto old = run(client_->range("/p/1", at_revision(first)));
  ASSERT_TRUE(old.ok()) << old.error().describe();
  ASSERT_EQ(old->kvs.size(), 1u);
  EXPECT_EQ(old->kvs[0].value, "a");

  RangeOptions count_options = prefixed();
  count_options.count_only = true;
  auto counted = run(client_->range("/p/", count_options));
  ASSERT_TRUE(counted.ok()) << counted.error().describe();
  EXPECT_TRUE(counted->kvs.empty());
  EXPECT_EQ(counted->count, 3);

  auto everything = run(client_->range("", prefixed()));
  ASSERT_TRUE(everything.ok()) << everything.error().describe();
  EXPECT_EQ(everything->count, 4);
}

TEST_F(EtcdClientTest, DeleteWithPrevKvReturnsDeletedPairs) {
  ASSERT_NO_FATAL_FAILURE(boot(1));
  put("/d/1", "one");
  put("/d/2", "two");
  DeleteOptions delete_options;
  delete_options.prefix = true;
  delete_options.prev_kv = true;
  auto deleted = run(client_->del("/d/", delete_options));
  ASSERT_TRUE(deleted.ok()) << deleted.error().describe();
  EXPECT_EQ(deleted->deleted, 2);
  ASSERT_EQ(deleted->prev_kvs.size(), 2u);
  EXPECT_EQ(deleted->prev_kvs[0].value, "one");
  EXPECT_EQ(deleted->prev_kvs[1].value, "two");
  auto range = run(client_->range("/d/", prefixed()));
  ASSERT_TRUE(range.ok()) << range.error().describe();
  EXPECT_EQ(range->count, 0);
}

TEST_F(EtcdClientTest, TxnAppliesSuccessOnlyWhileModRevisionMatches) {
  ASSERT_NO_FATAL_FAILURE(boot(1));
  const int64_t revision = put("t", "v1");
  const TxnRequest request{{Compare::mod_revision("t", Compare::Op::kEqual, revision)},
                           {PutOp{"t", "v2", {}}},
                           {RangeOp{"t", {}}}};
  auto won = run(client_->txn(request));
  ASSERT_TRUE(won.ok()) << won.error().describe();
  EXPECT_TRUE(won->succeeded);
  ASSERT_EQ(won->responses.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<PutResponse>(won->responses[0]));

  // Same guard again: the revision is stale now, so the failure branch runs.
  auto lost = run(client_->txn(request));
  ASSERT_TRUE(lost.ok()) << lost.error().describe();
  EXPECT_FALSE(lost->succeeded);
  ASSERT_EQ(lost->responses.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<RangeResponse>(lost->responses[0]));
  const auto& current = std::get<RangeResponse>(lost->responses[0]);
  ASSERT_EQ(current.kvs.size(), 1u);
  EXPECT_EQ(current.kvs[0].value, "v2");
  EXPECT_EQ(current.kvs[0].mod_revision, won->header.revision);
}

TEST_F(EtcdClientTest, WatchDeliversManyPutsInRevisionOrder) {
  ASSERT_NO_FATAL_FAILURE(boot(1));
  WatchOptions prefix_watch;
  prefix_watch.prefix = true;
  auto watch = open_watch("/w/", prefix_watch);
  ASSERT_NE(watch, nullptr);
  constexpr int kPuts = 200;
  std::vector<int64_t> revisions;
  for (int i = 0; i < kPuts; ++i) revisions.push_back(put(fmt::format("/w/{}", i % 7), std::to_string(i)));
  std::vector<Event> events;
  while (events.size() < revisions.size()) {
    auto batch = next(*watch);
    ASSERT_TRUE(batch.ok()) << batch.error().describe();
    events.insert(events.end(), batch->events.begin(), batch->events.end());
  }
  ASSERT_EQ(events.size(), revisions.size());
  for (int i = 0; i < kPuts; ++i) {
    EXPECT_EQ(events[i].type, Event::Type::kPut);
    EXPECT_EQ(events[i].kv.mod_revision, revisions[i]);
    EXPECT_EQ(events[i].kv.value, std::to_string(i));
  }
}

TEST_F(EtcdClientTest, WatchFromStartRevisionReplaysHistoryWithPrevKv) {
  ASSERT_NO_FATAL_FAILURE(boot(1));
  put("r", "1");
  const int64_t second = put("r", "2");
  put("r", "3");
  ASSERT_TRUE(run(client_->del("r")).ok());
  WatchOptions replay = watch_from(second);
  replay.prev_kv = true;
  auto watch = open_watch("r", replay);
  ASSERT_NE(watch, nullptr);
  std::vector<Event> events;
  while (events.size() < 3) {
    auto batch = next(*watch);
    ASSERT_TRUE(batch.ok()) << batch.error().describe();
    events.insert(events.end(), batch->events.begin(), batch->events.end());
  }
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kv.mod_revision, second);
  EXPECT_EQ(events[0].kv.value, "2");
  ASSERT_TRUE(events[0].prev_kv.has_value());
  EXPECT_EQ(events[0].prev_kv->value, "1");
  EXPECT_EQ(events[1].kv.value, "3");
  EXPECT_EQ(events[2].type, Event::Type::kDelete);
  ASSERT_TRUE(events[2].prev_kv.has_value());
  EXPECT_EQ(events[2].prev_kv->value, "3");
}

TEST_F(EtcdClientTest, IdleWatchReceivesProgressNotification) {
  ASSERT_NO_FATAL_FAILURE(boot(1));
  const int64_t revision = put("elsewhere", "x");
  WatchOptions progress;
  progress.progress_notify = true;
  auto watch = open_watch("idle", progress);
  ASSERT_NE(watch, nullptr);
  auto batch = next(*watch);
  ASSERT_TRUE(batch.ok()) << batch.error().describe();
  EXPECT_TRUE(batch->progress_notify());
  EXPECT_EQ(batch->header.revision, revision);
}

TEST_F(EtcdClientTest, CancelEndsAPendingNext) {
  ASSERT_NO_FATAL_FAILURE(boot(1));
  auto watch = open_watch("quiet");
  ASSERT_NE(watch, nullptr);
  asio::steady_timer timer(io_, 200ms);
  timer.async_wait([&](boost::system::error_code ec) {
    if (!ec) watch->cancel();
  });
  auto batch = run(watch->next());
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(batch.error().code, ErrorCode::kCancelled) << batch.error().describe();
  auto again = run(watch->next());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kCancelled);
}

TEST_F(EtcdClientTest, CompactedRevisionFailsRangeAndWatch) {
  ASSERT_NO_FATAL_FAILURE(boot(1));
  const int64_t old = put("c", "1");
  put("c", "2");
  const int64_t latest = put("c", "3");
  ASSERT_TRUE(run(client_->compact(latest)).ok());

  auto range = run(client_->range("c", at_revision(old)));
  ASSERT_FALSE(range.ok());
  EXPECT_EQ(range.error().code, ErrorCode::kCompacted) << range.error().describe();

  auto watch = open_watch("c", watch_from(old));
  ASSERT_NE(watch, nullptr);
  auto batch = next(*watch);
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(batch.error().code, ErrorCode::kCompacted) << batch.error().describe();
  EXPECT_EQ(watch->compact_revision(), latest);
}

TEST_F(EtcdClientTest, LeaseKeepsAttachedKeyUntilRevoked) {
  ASSERT_NO_FATAL_FAILURE(boot(1));
  auto lease = run(client_->lease_grant(30));
  ASSERT_TRUE(lease.ok()) << lease.error().describe();
  EXPECT_NE(lease->id, 0);
  EXPECT_EQ(lease->ttl_seconds, 30);
  PutOptions with_lease;
  with_lease.lease = lease->id;
  put("leased", "v", with_lease);
  auto range = run(client_->range("leased"));
  ASSERT_TRUE(range.ok() && range->kvs.size() == 1u);
  EXPECT_EQ(range->kvs[0].lease, lease->id);

  auto ttl = run(client_->lease_keep_alive_once(lease->id));
  ASSERT_TRUE(ttl.ok()) << ttl.error().describe();
  EXPECT_GT(*ttl, 0);
  EXPECT_LE(*ttl, 30);

  ASSERT_TRUE(run(client_->lease_revoke(lease->id)).ok());
  auto gone = run(client_->range("leased"));
  ASSERT_TRUE(gone.ok()) << gone.error().describe();
  EXPECT_TRUE(gone->kvs.empty());

  auto expired = run(client_->lease_keep_alive_once(lease->id));
  ASSERT_TRUE(expired.ok()) << expired.error().describe();
  EXPECT_EQ(*expired, 0);
  auto revoked_twice = run(client_->lease_revoke(lease->id));
  ASSERT_FALSE(revoked_twice.ok());
  EXPECT_EQ(revoked_twice.error().code, ErrorCode::kNotFound);
}

TEST_F(EtcdClientTest, MemberListAndStatusDescribeThreeMembers) {
  ASSERT_NO_FATAL_FAILURE(boot(3));
  auto members = run(client_->member_list());
  ASSERT_TRUE(members.ok()) << members.error().describe();
  ASSERT_EQ(members->size(), 3u);
  std::set<uint64_t> ids;
  for (int i = 0; i < 3; ++i) {
    const auto named = std::find_if(members->begin(), members->end(),
                                    [&](const Member& m) { return m.name == cluster_->name(i); });
    ASSERT_NE(named, members->end()) << cluster_->name(i);
    EXPECT_EQ(named->client_urls, std::vector<std::string>{cluster_->endpoint(i)});
    EXPECT_EQ(named->peer_urls.size(), 1u);
    ids.insert(named->id);
  }
  std::set<uint64_t> answering, leaders;
  for (int i = 0; i < 3; ++i) {
    auto status = run(client_->status(cluster_->endpoint(i)));
    ASSERT_TRUE(status.ok()) << status.error().describe();
    EXPECT_EQ(status->endpoint, cluster_->endpoint(i));
    EXPECT_EQ(status->version.rfind("3.", 0), 0u) << status->version;  // Debian 12 ships etcd 3.4
    EXPECT_GT(status->raft_term, 0u);
    EXPECT_GT(status->raft_index, 0u);
    EXPECT_GT(status->db_size, 0);
    answering.insert(status->header.member_id);
    leaders.insert(status->leader);
  }
  EXPECT_EQ(answering, ids);
  ASSERT_EQ(leaders.size(), 1u);
  EXPECT_TRUE(ids.contains(*leaders.begin()));
}

TEST_F(EtcdClientTest, NewLeaderIsFoundAfterLeaderIsKilledAndClientFailsOver) {
  ASSERT_NO_FATAL_FAILURE(boot(3));
  auto leader = run(find_leader(*client_));
  ASSERT_TRUE(leader.ok()) << leader.error().describe();
  const auto endpoints = cluster_->endpoints();
  const int leader_index =
      static_cast<int>(std::find(endpoints.begin(), endpoints.end(), leader->endpoint) - endpoints.begin());
  ASSERT_LT(leader_index, 3);
  auto status = run(client_->status(leader->endpoint));
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->header.member_id, leader->member_id);

  // A client that prefers the leader's endpoint: it is first in its list.
  std::vector<std::string> leader_first{leader->endpoint};
  for (const auto& endpoint : endpoints) {
    if (endpoint != leader->endpoint) leader_first.push_back(endpoint);
  }
  client_ = make_client(leader_first, 5000ms);
  put("before", "1");

  cluster_->kill_member(leader_index);
  Result<LeaderInfo> successor = make_error(ErrorCode::kUnavailable, "not asked yet");
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < give_up) {
    successor = run(find_leader(*client_));
    if (successor.ok() && successor->member_id != leader->member_id) break;
    asio::steady_timer pause(io_, 50ms);
    pause.wait();  // nothing else needs the io_context meanwhile
  }
  ASSERT_TRUE(successor.ok()) << successor.error().describe();
  EXPECT_NE(successor->member_id, leader->member_id);
  EXPECT_NE(successor->endpoint, leader->endpoint);
  EXPECT_GT(successor->raft_term, leader->raft_term);

  put("after", "2");
  auto range = run(client_->range("after"));
  ASSERT_TRUE(range.ok()) << range.error().describe();
  ASSERT_EQ(range->kvs.size(), 1u);
  EXPECT_EQ(range->kvs[0].value, "2");
  EXPECT_NE(range->header.member_id, leader->member_id);
}

TEST_F(EtcdClientTest, CallToPausedMemberTimesOutThenRecovers) {
  ASSERT_NO_FATAL_FAILURE(boot(1));
  client_ = make_client(cluster_->endpoints(), 500ms);
  put("p", "1");
  cluster_->pause_member(0);
  const auto started = std::chrono::steady_clock::now();
  auto range = run(client_->range("p"));
  const auto waited = std::chrono::steady_clock::now() - started;
  cluster_->resume_member(0);
  ASSERT_FALSE(range.ok());
  EXPECT_EQ(range.error().code, ErrorCode::kTimeout) << range.error().describe();
  EXPECT_GE(waited, 500ms);  // the deadline, not an earlier failure, ended it

  auto after = run(client_->range("p"));
  ASSERT_TRUE(after.ok()) << after.error().describe();
  ASSERT_EQ(after->kvs.size(), 1u);
}

TEST_F(EtcdClientTest, InvalidEndpointIsAnInvalidArgument) {
  Client client(io_.get_executor(), Config{{"https://127.0.0.1:2379"}, 1000ms, 1000ms});
  auto range = run(client.range("k"));
  ASSERT_FALSE(range.ok());
  EXPECT_EQ(range.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace shakeout::etcd
