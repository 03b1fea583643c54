#pragma once
// LeaderElector: Lease-based leader election with client-go's semantics
// (k8s.io/client-go/tools/leaderelection/leaderelection.go and
// resourcelock/leaselock.go), over coordination.k8s.io/v1 Leases.
//
//   acquire: try; on failure wait jitter(retry_period, 1.2) and try again
//     └─ acquired ──► on_started_leading
//   renew:  every retry_period: try until success or renew_deadline passes
//     └─ failed for renew_deadline ──► on_stopped_leading (leadership lost)
//   stop(): leave the loops; if leading and release_on_cancel, write the
//           Lease with an empty holder and leaseDurationSeconds 1
//
// Contract (upstream's tryAcquireOrRenew):
// - Expiry is judged on the LOCAL clock: a candidate remembers when it last
//   saw the Lease change (observed time) and takes it over only once
//   observed time + the record's leaseDurationSeconds has passed, so skewed
//   wall clocks between candidates do not matter. The Lease's renewTime and
//   acquireTime are informational (wall clock, MicroTime).
// - The leader first tries an optimistic update of the Lease it last saw;
//   on failure it re-reads. Updates carry the resourceVersion read, so two
//   candidates racing for an expired Lease cannot both win.
// - leaseTransitions is incremented each time the holder changes.
// - on_new_leader(identity) runs whenever the observed holder changes
//   (including to ourselves, or to "" after a release).
// - on_stopped_leading runs once when run() returns, as upstream's deferred
//   OnStoppedLeading does, also for a candidate that never led.
// - With the same clock rate everywhere and lease_duration > renew_deadline,
//   a leader stops leading (renew_deadline after its last successful renew)
//   before anyone else may take the Lease over (lease_duration after they saw
//   that renew). Lock calls must be bounded well below renew_deadline (the
//   Client's request_timeout).
// Threading: one executor; not thread-safe. Callbacks run on it and must
// not block. The elector must outlive run().

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "api/status.h"
#include "client/client.h"
#include "client/timers.h"

namespace shakeout::client {

// Upstream resourcelock.LeaderElectionRecord.
struct LeaderElectionRecord {
  std::string holder_identity;
  int64_t lease_duration_seconds = 0;
  std::chrono::system_clock::time_point acquire_time{};
  std::chrono::system_clock::time_point renew_time{};
  int64_t leader_transitions = 0;

  bool operator==(const LeaderElectionRecord&) const = default;
};

// "2024-05-01T10:00:00.123456Z" (metav1.MicroTime) and back.
std::string format_micro_time(std::chrono::system_clock::time_point t);
std::optional<std::chrono::system_clock::time_point> parse_micro_time(const std::string& text);
// Lease spec <-> record (upstream LeaseSpecToLeaderElectionRecord and back).
LeaderElectionRecord record_from_lease(const nlohmann::json& lease);
nlohmann::json lease_spec(const LeaderElectionRecord& record);

// Upstream resourcelock.Interface: a record stored somewhere with optimistic
// concurrency. get() returns the record and its raw serialized form (to
// notice changes), NotFound if there is none; update() writes over the
// version last returned by get/create/update and fails with Conflict if it
// changed since.
class LeaseLock {
 public:
  struct Observed {
    LeaderElectionRecord record;
    std::string raw;
  };
  virtual ~LeaseLock() = default;
  virtual asio::awaitable<api::ApiResult<Observed>> get() = 0;
  virtual asio::awaitable<api::ApiResult<void>> create(LeaderElectionRecord record) = 0;
  virtual asio::awaitable<api::ApiResult<void>> update(LeaderElectionRecord record) = 0;
  virtual std::string describe() const = 0;  // "kube-system/kube-scheduler"
};

// A LeaseLock on a coordination.k8s.io/v1 Lease through a Client.
class ClientLeaseLock final : public LeaseLock {
 public:
  ClientLeaseLock(Client& client, std::string ns, std::string name);
  asio::awaitable<api::ApiResult<Observed>> get() override;
  asio::awaitable<api::ApiResult<void>> create(LeaderElectionRecord record) override;
  asio::awaitable<api::ApiResult<void>> update(LeaderElectionRecord record) override;
  std::string describe() const override { return ns_ + "/" + name_; }

 private:
  Client& client_;
  std::string ns_;
  std::string name_;
  nlohmann::json lease_;  // as last read or written; null before
};

struct LeaderElectionConfig {
  std::string identity;
  Millis lease_duration{15000};
  Millis renew_deadline{10000};
  Millis retry_period{2000};
  bool release_on_cancel = true;
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  std::function<void(const std::string& identity)> on_new_leader;
};

// kInvalidArgument as upstream NewLeaderElector: lease_duration >
// renew_deadline > 1.2 * retry_period (JitterFactor), all positive, identity
// not empty.
Status validate(const LeaderElectionConfig& config);

class LeaderElector {
 public:
  // `lock`, `timers` and `random` must outlive the elector.
  LeaderElector(asio::any_io_executor executor, LeaderElectionConfig config, LeaseLock& lock, Timers& timers,
                Random& random);
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // Acquires, leads while renewals succeed, returns when leadership is lost
  // or stop() was called. Call once.
  asio::awaitable<void> run();
  void stop();

  bool is_leader() const { return leading_; }
  // The holder of the Lease as last observed ("" if none).
  const std::string& observed_leader() const { return observed_.holder_identity; }
  const LeaderElectionRecord& observed_record() const { return observed_; }

 private:
  asio::awaitable<bool> try_acquire_or_renew();
  asio::awaitable<void> release();
  void set_observed(const LeaderElectionRecord& record);
  bool lease_valid(SteadyTime now) const;
  bool holds_lease() const { return observed_.holder_identity == config_.identity; }
  void maybe_report_transition();
  LeaderElectionRecord fresh_record() const;

  LeaderElectionConfig config_;
  LeaseLock& lock_;
  Timers& timers_;
  Random& random_;
  Sleeper sleeper_;
  LeaderElectionRecord observed_;
  std::string observed_raw_;
  SteadyTime observed_time_{};
  std::string reported_leader_;
  bool leading_ = false;
  bool stopped_ = false;
};

}  // namespace shakeout::client
