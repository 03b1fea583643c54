#include "client/leader_election.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "api/resource_registry.h"
#include "common/log.h"

namespace shakeout::client {

namespace {

using nlohmann::json;
using std::chrono::system_clock;

constexpr const char* kLog = "leader-election";
// wait.JitterUntil's factor in upstream acquire(); also bounds retry_period.
constexpr double kJitterFactor = 1.2;

const api::ResourceInfo& leases() {
  static const api::ResourceInfo* const kLeases =
      api::ResourceRegistry::builtin().by_plural("coordination.k8s.io", "leases");
  return *kLeases;
}

int64_t whole_seconds(Millis d) {
  return std::chrono::duration_cast<std::chrono::seconds>(d + Millis(999)).count();
}

}  // namespace

std::string format_micro_time(system_clock::time_point t) {
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(micros / 1'000'000);
  auto fraction = micros % 1'000'000;
  if (fraction < 0) {
    fraction += 1'000'000;
    --seconds;
  }
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, fraction);
}

std::optional<system_clock::time_point> parse_micro_time(const std::string& text) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::string_view rest = std::string_view(text).substr(static_cast<std::size_t>(consumed));
  int64_t micros = 0;
  if (rest.starts_with('.')) {
    rest.remove_prefix(1);
    int digits = 0;
    while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') {
      if (digits < 6) {
        micros = micros * 10 + (rest.front() - '0');
        ++digits;
      }
      rest.remove_prefix(1);
    }
    for (; digits < 6; ++digits) micros *= 10;
  }
  if (rest != "Z") return std::nullopt;  // the API server always writes UTC
  const std::time_t seconds = timegm(&tm);
  return system_clock::time_point(std::chrono::seconds(seconds)) + std::chrono::microseconds(micros);
}

LeaderElectionRecord record_from_lease(const json& lease) {
  LeaderElectionRecord record;
  const auto spec = lease.find("spec");
  if (spec == lease.end() || !spec->is_object()) return record;
  record.holder_identity = spec->value("holderIdentity", "");
  record.lease_duration_seconds = spec->value("leaseDurationSeconds", int64_t{0});
  record.leader_transitions = spec->value("leaseTransitions", int64_t{0});
  if (auto t = parse_micro_time(spec->value("acquireTime", ""))) record.acquire_time = *t;
  if (auto t = parse_micro_time(spec->value("renewTime", ""))) record.renew_time = *t;
  return record;
}

json lease_spec(const LeaderElectionRecord& record) {
  json spec = json::object();
  spec["holderIdentity"] = record.holder_identity;
  spec["leaseDurationSeconds"] = record.lease_duration_seconds;
  spec["acquireTime"] = format_micro_time(record.acquire_time);
  spec["renewTime"] = format_micro_time(record.renew_time);
  spec["leaseTransitions"] = record.leader_transitions;
  return spec;
}

// ---------------------------------------------------------------------------
// ClientLeaseLock

ClientLeaseLock::ClientLeaseLock(Client& client, std::string ns, std::string name)
    : client_(client), ns_(std::move(ns)), name_(std::move(name)) {}

asio::awaitable<api::ApiResult<LeaseLock::Observed>> ClientLeaseLock::get() {
  auto lease = co_await client_.get(leases(), ns_, name_);
  if (!lease) co_return lease.error();
  lease_ = std::move(*lease);
  Observed observed;
  observed.record = record_from_lease(lease_);
  observed.raw = lease_spec(observed.record).dump();
  co_return observed;
}

asio::awaitable<api::ApiResult<void>> ClientLeaseLock::create(LeaderElectionRecord record) {
  json lease = json::object();
  lease["apiVersion"] = "coordination.k8s.io/v1";
  lease["kind"] = "Lease";
  lease["metadata"]["name"] = name_;
  lease["metadata"]["namespace"] = ns_;
  lease["spec"] = lease_spec(record);
  auto created = co_await client_.create(leases(), ns_, std::move(lease));
  if (!created) co_return created.error();
  lease_ = std::move(*created);
  co_return api::ApiResult<void>();
}

asio::awaitable<api::ApiResult<void>> ClientLeaseLock::update(LeaderElectionRecord record) {
  if (lease_.is_null()) co_return api::internal_error("lease not initialized, call get or create first");
  json lease = lease_;  // carries the resourceVersion last seen
  lease["spec"] = lease_spec(record);
  auto updated = co_await client_.update(leases(), ns_, std::move(lease));
  if (!updated) co_return updated.error();
  lease_ = std::move(*updated);
  co_return api::ApiResult<void>();
}

// ---------------------------------------------------------------------------
// LeaderElector

Status validate(const LeaderElectionConfig& config) {
  const auto invalid = [](const std::string& message) {
    return make_error(ErrorCode::kInvalidArgument, message);
  };
  if (config.lease_duration <= Millis(0)) return invalid("leaseDuration must be greater than zero");
  if (config.renew_deadline <= Millis(0)) return invalid("renewDeadline must be greater than zero");
  if (config.retry_period <= Millis(0)) return invalid("retryPeriod must be greater than zero");
  if (config.lease_duration <= config.renew_deadline) {
    return invalid("leaseDuration must be greater than renewDeadline");
  }
  if (static_cast<double>(config.renew_deadline.count()) <=
      kJitterFactor * static_cast<double>(config.retry_period.count())) {
    return invalid("renewDeadline must be greater than retryPeriod*JitterFactor");
  }
  if (config.identity.empty()) return invalid("Lock identity is empty");
  return {};
}

LeaderElector::LeaderElector(asio::any_io_executor executor, LeaderElectionConfig config, LeaseLock& lock,
                             Timers& timers, Random& random)
    : config_(std::move(config)),
      lock_(lock),
      timers_(timers),
      random_(random),
      sleeper_(std::move(executor), timers) {}

void LeaderElector::stop() {
  stopped_ = true;
  sleeper_.stop();
}

LeaderElectionRecord LeaderElector::fresh_record() const {
  LeaderElectionRecord record;
  record.holder_identity = config_.identity;
  record.lease_duration_seconds = whole_seconds(config_.lease_duration);
  record.acquire_time = timers_.clock().wall_now();
  record.renew_time = record.acquire_time;
  return record;
}

void LeaderElector::set_observed(const LeaderElectionRecord& record) {
  observed_ = record;
  observed_time_ = timers_.clock().now();
}

bool LeaderElector::lease_valid(SteadyTime now) const {
  return observed_time_ + std::chrono::seconds(observed_.lease_duration_seconds) > now;
}

void LeaderElector::maybe_report_transition() {
  if (observed_.holder_identity == reported_leader_) return;
  reported_leader_ = observed_.holder_identity;
  if (config_.on_new_leader) config_.on_new_leader(reported_leader_);
}

asio::awaitable<bool> LeaderElector::try_acquire_or_renew() {
  const SteadyTime now = timers_.clock().now();
  LeaderElectionRecord record = fresh_record();

  // 1. The leader's fast path: update the Lease as last seen.
  if (holds_lease() && lease_valid(now)) {
    record.acquire_time = observed_.acquire_time;
    record.leader_transitions = observed_.leader_transitions;
    auto updated = co_await lock_.update(record);
    if (updated) {
      set_observed(record);
      co_return true;
    }
    log::info(kLog, "{}: optimistic update of {} failed, falling back to a read: {}", config_.identity,
              lock_.describe(), updated.error().message());
  }

  // 2. Read the Lease, or create it.
  auto got = co_await lock_.get();
  if (!got) {
    if (!is_not_found(got.error())) {
      log::info(kLog, "{}: reading {}: {}", config_.identity, lock_.describe(), got.error().message());
      co_return false;
    }
    auto created = co_await lock_.create(record);
    if (!created) co_return false;
    set_observed(record);
    co_return true;
  }

  // 3. A change restarts the expiry countdown, on our clock.
  if (observed_raw_ != got->raw) {
    set_observed(got->record);
    observed_raw_ = got->raw;
  }
  if (!got->record.holder_identity.empty() && lease_valid(now) && !holds_lease()) co_return false;

  // 4. Take it over (or renew it after a failed fast path).
  if (holds_lease()) {
    record.acquire_time = observed_.acquire_time;
    record.leader_transitions = observed_.leader_transitions;
  } else {
    record.leader_transitions = observed_.leader_transitions + 1;
  }
  auto updated = co_await lock_.update(record);
  if (!updated) {
    log::info(kLog, "{}: updating {}: {}", config_.identity, lock_.describe(), updated.error().message());
    co_return false;
  }
  set_observed(record);
  co_return true;
}

asio::awaitable<void> LeaderElector::release() {
  if (!holds_lease()) co_return;
  LeaderElectionRecord record;
  record.leader_transitions = observed_.leader_transitions;
  record.lease_duration_seconds = 1;
  record.acquire_time = timers_.clock().wall_now();
  record.renew_time = record.acquire_time;
  auto updated = co_await lock_.update(record);
  if (!updated) {
    log::warn(kLog, "{}: releasing {}: {}", config_.identity, lock_.describe(), updated.error().message());
    co_return;
  }
  set_observed(record);
}

asio::awaitable<void> LeaderElector::run() {
  // acquire(): try, then every jitter(retry_period, 1.2).
  bool acquired = false;
  while (!stopped_) {
    const bool ok = co_await try_acquire_or_renew();
    maybe_report_transition();
    if (ok) {
      acquired = true;
      break;
    }
    if (!co_await sleeper_.sleep(jitter(config_.retry_period, kJitterFactor, random_))) break;
  }
  if (acquired && !stopped_) {
    log::info(kLog, "{}: acquired {}", config_.identity, lock_.describe());
    leading_ = true;
    if (config_.on_started_leading) config_.on_started_leading();
    // renew(): every retry_period, retry until renewed or renew_deadline.
    while (co_await sleeper_.sleep(config_.retry_period)) {
      const SteadyTime deadline = timers_.clock().now() + config_.renew_deadline;
      bool renewed = false;
      while (!stopped_) {
        renewed = co_await try_acquire_or_renew();
        if (renewed) break;
        const SteadyTime now = timers_.clock().now();
        if (now >= deadline) break;
        const Millis left = std::chrono::duration_cast<Millis>(deadline - now);
        if (!co_await sleeper_.sleep(std::min(config_.retry_period, left))) break;
        if (config_.retry_period >= left) break;  // the deadline came during the wait
      }
      maybe_report_transition();
      if (!renewed) {
        if (!stopped_)
          log::warn(kLog, "{}: failed to renew {} within {}", config_.identity, lock_.describe(),
                    format_duration(config_.renew_deadline));
        break;
      }
    }
    leading_ = false;
  }
  // Upstream renew() releases on the way out, whether stopped or lost.
  if (config_.release_on_cancel && acquired) co_await release();
  if (config_.on_stopped_leading) config_.on_stopped_leading();
}

}  // namespace shakeout::client
