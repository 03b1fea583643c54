// Leader election on an in-memory Lease with fake time: acquire, renew,
// losing on failed renewals, takeover after expiry, release, and two
// candidates never leading together.

#include "client/leader_election.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <memory>
#include <string>
#include <vector>

namespace shakeout::client {
namespace {

using namespace std::chrono_literals;

// The Lease as the API server would keep it: a record and a version.
struct FakeLeaseStore {
  std::optional<LeaderElectionRecord> record;
  int64_t version = 0;
  int writes = 0;
};

api::ApiError status_error(int code, const char* reason) {
  api::ApiError error;
  error.code = code;
  error.status = json::object();
  error.status["kind"] = "Status";
  error.status["reason"] = reason;
  error.status["message"] = reason;
  error.status["code"] = code;
  return error;
}

// One candidate's view of the store; `partitioned` makes every call fail.
class FakeLock final : public LeaseLock {
 public:
  explicit FakeLock(FakeLeaseStore& store) : store_(store) {}
  bool partitioned = false;

  asio::awaitable<api::ApiResult<Observed>> get() override {
    if (partitioned) co_return status_error(503, "ServiceUnavailable");
    if (!store_.record) co_return status_error(404, "NotFound");
    seen_version_ = store_.version;
    Observed observed;
    observed.record = *store_.record;
    observed.raw = lease_spec(*store_.record).dump();
    co_return observed;
  }
  asio::awaitable<api::ApiResult<void>> create(LeaderElectionRecord record) override {
    if (partitioned) co_return status_error(503, "ServiceUnavailable");
    if (store_.record) co_return status_error(409, "AlreadyExists");
    co_return write(record);
  }
  asio::awaitable<api::ApiResult<void>> update(LeaderElectionRecord record) override {
    if (partitioned) co_return status_error(503, "ServiceUnavailable");
    if (seen_version_ != store_.version) co_return status_error(409, "Conflict");
    co_return write(record);
  }
  std::string describe() const override { return "kube-system/test"; }

 private:
  api::ApiResult<void> write(const LeaderElectionRecord& record) {
    store_.record = record;
    ++store_.version;
    ++store_.writes;
    seen_version_ = store_.version;
    return {};
  }
  FakeLeaseStore& store_;
  int64_t seen_version_ = -1;
};

// A candidate: its lock, elector and what its callbacks saw.
struct Candidate {
  Candidate(asio::io_context& io, FakeLeaseStore& store, FakeTimers& timers, Random& random, std::string id,
            bool release_on_cancel = true)
      : lock(store) {
    LeaderElectionConfig config;
    config.identity = std::move(id);
    config.release_on_cancel = release_on_cancel;
    config.on_started_leading = [this] { ++started; };
    config.on_stopped_leading = [this] { ++stopped; };
    config.on_new_leader = [this](const std::string& leader) { leaders.push_back(leader); };
    elector = std::make_unique<LeaderElector>(io.get_executor(), config, lock, timers, random);
    asio::co_spawn(io, elector->run(), [this](const std::exception_ptr& e) {
      done = true;
      if (e) std::rethrow_exception(e);
    });
  }
  FakeLock lock;
  std::unique_ptr<LeaderElector> elector;
  int started = 0;
  int stopped = 0;
  std::vector<std::string> leaders;
  bool done = false;
};

class LeaderElectionTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (auto* c : {a_.get(), b_.get()}) {
      if (c) c->elector->stop();
    }
    poll();
  }

  // Runs what is ready (the io_context stops whenever it runs out of work).
  void poll() {
    io_.restart();
    io_.poll();
  }

  // Moves fake time in `step`s for `total`, running what falls due; `check`
  // runs after every step.
  void advance(Millis total, Millis step, const std::function<void()>& check) {
    for (Millis t{0}; t < total; t += step) {
      timers_.advance(step);
      poll();
      check();
    }
  }
  void advance(Millis total) {
    advance(total, 100ms, [] {});
  }
  std::unique_ptr<Candidate> candidate(std::string id, bool release_on_cancel = true) {
    auto c = std::make_unique<Candidate>(io_, store_, timers_, random_, std::move(id), release_on_cancel);
    poll();
    return c;
  }

  asio::io_context io_;
  FakeLeaseStore store_;
  FakeTimers timers_;
  SeededRandom random_{7};
  std::unique_ptr<Candidate> a_;
  std::unique_ptr<Candidate> b_;
};

TEST_F(LeaderElectionTest, AcquiresAFreeLeaseAndRenewsItEveryRetryPeriod) {
  a_ = candidate("a");
  EXPECT_TRUE(a_->elector->is_leader());
  EXPECT_EQ(a_->started, 1);
  EXPECT_EQ(a_->leaders, std::vector<std::string>{"a"});
  ASSERT_TRUE(store_.record);
  EXPECT_EQ(store_.record->holder_identity, "a");
  EXPECT_EQ(store_.record->lease_duration_seconds, 15);
  EXPECT_EQ(store_.record->leader_transitions, 0);
  const auto acquired = store_.record->acquire_time;
  const int writes = store_.writes;

  advance(1900ms);
  EXPECT_EQ(store_.writes, writes) << "no renewal before retryPeriod";
  advance(100ms);
  EXPECT_EQ(store_.writes, writes + 1);
  EXPECT_EQ(store_.record->renew_time - acquired, 2s);
  EXPECT_EQ(store_.record->acquire_time, acquired) << "renewals keep the acquire time";
  advance(20s);
  EXPECT_EQ(store_.writes, writes + 11);
  EXPECT_TRUE(a_->elector->is_leader());
  EXPECT_EQ(a_->stopped, 0);
}

TEST_F(LeaderElectionTest, GivesUpLeadershipWhenRenewalsFailForTheRenewDeadline) {
  a_ = candidate("a", /*release_on_cancel=*/false);
  ASSERT_TRUE(a_->elector->is_leader());
  a_->lock.partitioned = true;
  // The first failed renewal is at +2s; renewDeadline (10s) ends at +12s.
  advance(11900ms);
  EXPECT_TRUE(a_->elector->is_leader()) << "still within renewDeadline";
  EXPECT_EQ(a_->stopped, 0);
  advance(100ms);
  EXPECT_FALSE(a_->elector->is_leader());
  EXPECT_EQ(a_->stopped, 1);
  EXPECT_TRUE(a_->done) << "run() returns once leadership is lost";
}

TEST_F(LeaderElectionTest, ACandidateTakesOverOnlyAfterTheLeaseExpiresOnItsOwnClock) {
  a_ = candidate("a", /*release_on_cancel=*/false);
  ASSERT_TRUE(a_->elector->is_leader());
  advance(5s);
  a_->elector->stop();  // a dies without releasing; its last renewal is now
  poll();
  ASSERT_TRUE(a_->done);
  b_ = candidate("b");
  EXPECT_FALSE(b_->elector->is_leader());
  EXPECT_EQ(b_->leaders, std::vector<std::string>{"a"});
  // b first saw the Lease now: it must wait leaseDuration (15s) from here.
  Millis waited{0};
  advance(30s, 100ms, [&] {
    if (!b_->elector->is_leader()) waited += 100ms;
  });
  EXPECT_TRUE(b_->elector->is_leader());
  EXPECT_GE(waited, 14900ms);
  EXPECT_LE(waited, 15s + 4400ms + 100ms) << "retries every jitter(2s, 1.2)";
  EXPECT_EQ(store_.record->holder_identity, "b");
  EXPECT_EQ(store_.record->leader_transitions, 1);
  EXPECT_EQ(b_->leaders, (std::vector<std::string>{"a", "b"}));
}

TEST_F(LeaderElectionTest, ReleaseOnStopLetsAnotherCandidateAcquireAtOnce) {
  a_ = candidate("a");
  ASSERT_TRUE(a_->elector->is_leader());
  a_->elector->stop();
  poll();
  ASSERT_TRUE(a_->done);
  EXPECT_EQ(a_->stopped, 1);
  ASSERT_TRUE(store_.record);
  EXPECT_EQ(store_.record->holder_identity, "");
  EXPECT_EQ(store_.record->lease_duration_seconds, 1);
  b_ = candidate("b");
  EXPECT_TRUE(b_->elector->is_leader()) << "an empty holder is free to take";
  EXPECT_EQ(store_.record->leader_transitions, 1);
}

TEST_F(LeaderElectionTest, TwoCandidatesNeverLeadAtTheSameTime) {
  a_ = candidate("a");
  b_ = candidate("b");
  int leaders_seen_b = 0;
  const auto check = [&] {
    ASSERT_FALSE(a_->elector->is_leader() && b_->elector->is_leader());
    if (b_->elector->is_leader()) ++leaders_seen_b;
  };
  advance(20s, 100ms, check);
  ASSERT_TRUE(a_->elector->is_leader()) << "the first candidate keeps renewing";
  EXPECT_EQ(leaders_seen_b, 0);
  a_->lock.partitioned = true;  // a is cut off from the API server
  advance(40s, 100ms, check);
  EXPECT_TRUE(a_->done) << "a gave up";
  EXPECT_TRUE(b_->elector->is_leader()) << "b took over after the lease expired";
  a_->lock.partitioned = false;
  advance(40s, 100ms, check);
  EXPECT_TRUE(b_->elector->is_leader());
  EXPECT_EQ(store_.record->holder_identity, "b");
}

TEST(LeaderElectionConfigTest, RejectsTimingsUpstreamRejects) {
  LeaderElectionConfig config;
  config.identity = "a";
  EXPECT_TRUE(validate(config).ok());
  config.renew_deadline = config.lease_duration;
  EXPECT_FALSE(validate(config).ok());
  config.renew_deadline = 2000ms;  // not above 1.2 x retryPeriod (2s)
  EXPECT_FALSE(validate(config).ok());
  config.renew_deadline = 10000ms;
  config.identity = "";
  EXPECT_FALSE(validate(config).ok());
}

TEST(LeaderElectionRecordTest, LeaseSpecRoundTripsWithMicrosecondTimes) {
  LeaderElectionRecord record;
  record.holder_identity = "scheduler-1";
  record.lease_duration_seconds = 15;
  record.acquire_time = std::chrono::system_clock::time_point(std::chrono::microseconds(1714557600123456));
  record.renew_time = record.acquire_time + 2s;
  record.leader_transitions = 3;
  json lease = json::object();
  lease["spec"] = lease_spec(record);
  EXPECT_EQ(lease["spec"]["acquireTime"], "2024-05-01T10:00:00.123456Z");
  EXPECT_EQ(record_from_lease(lease), record);
  EXPECT_EQ(parse_micro_time("2024-05-01T10:00:00Z"),
            std::chrono::system_clock::time_point(std::chrono::seconds(1714557600)));
  EXPECT_FALSE(parse_micro_time("yesterday"));
}

}  // namespace
}  // namespace shakeout::client
