#pragma once
// SchedulingQueue: the pods waiting for a node (upstream
// pkg/scheduler/backend/queue/scheduling_queue.go, PriorityQueue):
//
//   add ──► active (priority high first, then oldest) ──► pop() ──► in flight
//   in flight ── unschedulable ──► unschedulable set ──┐ move_all() (a node was added
//             ── error ──────────► backoff ◄───────────┘  or changed, a pod went away):
//   backoff ── backoff expired ──► active                  backoff if still backing off,
//   unschedulable ── longer than max_in_unschedulable ──►   active otherwise
//
// Contract:
// - A key is in at most one place. add() of a known key does nothing;
//   update() moves an unschedulable key as move_all() would (its spec
//   changed, so it may fit now); remove() forgets a key wherever it is.
// - pop() counts an attempt and stamps the scheduling cycle. The backoff of
//   a key after its n-th attempt is initial_backoff * 2^(n-1), capped at
//   max_backoff, counted from when the attempt failed.
// - An attempt that fails while a move_all() happened during it goes to
//   backoff, not to the unschedulable set, so the event that may have made
//   room is not missed (upstream's moveRequestCycle).
// - done() forgets a key whose pod was bound.
// - Time is the Clock given; nothing sleeps. next_due() says when a backoff
//   or an unschedulable timeout falls due, for the caller to wake up then.
// Threading: not thread-safe.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>

#include "common/clock.h"

namespace shakeout::scheduler {

struct QueueOptions {
  Millis initial_backoff{1000};         // upstream podInitialBackoffSeconds
  Millis max_backoff{10000};            // upstream podMaxBackoffSeconds
  Millis max_in_unschedulable{300000};  // --pod-max-in-unschedulable-pods-duration
};

class SchedulingQueue {
 public:
  SchedulingQueue(QueueOptions options, const Clock& clock) : options_(options), clock_(clock) {}

  void add(const std::string& key, int64_t priority);
  void update(const std::string& key, int64_t priority);
  void remove(const std::string& key);
  // The next key to schedule, after moving what fell due; nullopt if none.
  std::optional<std::string> pop();
  void done(const std::string& key);
  void add_unschedulable(const std::string& key);
  void add_backoff(const std::string& key);
  void move_all();

  std::optional<SteadyTime> next_due() const;
  Millis backoff_duration(int attempts) const;

  std::size_t active_size() const { return active_.size(); }
  std::size_t backoff_size() const { return backoff_.size(); }
  std::size_t unschedulable_size() const;
  bool contains(const std::string& key) const { return entries_.count(key) != 0; }
  int attempts(const std::string& key) const;

 private:
  enum class Where { kActive, kBackoff, kUnschedulable, kInFlight };
  struct Entry {
    Where where = Where::kActive;
    int64_t priority = 0;
    SteadyTime added{};      // first queued: the active order's tie-break
    SteadyTime timestamp{};  // last failure
    int attempts = 0;
    uint64_t cycle = 0;  // the scheduling cycle of the last pop()
    uint64_t sequence = 0;
  };
  using ActiveKey = std::tuple<int64_t, SteadyTime, uint64_t, std::string>;  // -priority, added, seq
  using BackoffKey = std::tuple<SteadyTime, uint64_t, std::string>;          // due, seq

  void to_active(const std::string& key, Entry& entry);
  void to_backoff(const std::string& key, Entry& entry);
  void leave(const std::string& key, const Entry& entry);
  void move(const std::string& key, Entry& entry);  // backoff or active by its backoff
  SteadyTime backoff_due(const Entry& entry) const;
  void flush();

  QueueOptions options_;
  const Clock& clock_;
  std::map<std::string, Entry> entries_;
  std::set<ActiveKey> active_;
  std::set<BackoffKey> backoff_;
  uint64_t cycle_ = 0;
  uint64_t move_request_cycle_ = 0;
  uint64_t sequence_ = 0;
};

}  // namespace shakeout::scheduler
