#include "scheduler/queue.h"

#include <algorithm>

namespace shakeout::scheduler {

Millis SchedulingQueue::backoff_duration(int attempts) const {
  // Doubling from initial_backoff per attempt after the first, capped
  // (upstream scheduling_queue.go calculateBackoffDuration).
  Millis duration = options_.initial_backoff;
  for (int i = 1; i < attempts; ++i) {
    if (duration > options_.max_backoff - duration) return options_.max_backoff;
    duration += duration;
  }
  return std::min(duration, options_.max_backoff);
}

SteadyTime SchedulingQueue::backoff_due(const Entry& entry) const {
  return entry.timestamp + backoff_duration(entry.attempts);
}

void SchedulingQueue::leave(const std::string& key, const Entry& entry) {
  if (entry.where == Where::kActive)
    active_.erase(ActiveKey(-entry.priority, entry.added, entry.sequence, key));
  if (entry.where == Where::kBackoff) backoff_.erase(BackoffKey(backoff_due(entry), entry.sequence, key));
}

void SchedulingQueue::to_active(const std::string& key, Entry& entry) {
  leave(key, entry);
  entry.where = Where::kActive;
  entry.sequence = ++sequence_;
  active_.emplace(-entry.priority, entry.added, entry.sequence, key);
}

void SchedulingQueue::to_backoff(const std::string& key, Entry& entry) {
  leave(key, entry);
  entry.where = Where::kBackoff;
  entry.sequence = ++sequence_;
  backoff_.emplace(backoff_due(entry), entry.sequence, key);
}

void SchedulingQueue::move(const std::string& key, Entry& entry) {
  if (entry.attempts > 0 && backoff_due(entry) > clock_.now()) {
    to_backoff(key, entry);
  } else {
    to_active(key, entry);
  }
}

void SchedulingQueue::add(const std::string& key, int64_t priority) {
  if (entries_.count(key) != 0) return;
  Entry& entry = entries_[key];
  entry.priority = priority;
  entry.added = clock_.now();
  to_active(key, entry);
}

void SchedulingQueue::update(const std::string& key, int64_t priority) {
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    add(key, priority);
    return;
  }
  if (it->second.where == Where::kUnschedulable) move(key, it->second);
}

void SchedulingQueue::remove(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  leave(key, it->second);
  entries_.erase(it);
}

void SchedulingQueue::flush() {
  const SteadyTime now = clock_.now();
  while (!backoff_.empty() && std::get<0>(*backoff_.begin()) <= now) {
    const std::string key = std::get<2>(*backoff_.begin());
    to_active(key, entries_.at(key));
  }
  // Upstream flushUnschedulablePodsLeftover: nothing is parked forever
  // even if no event ever comes.
  for (auto& [key, entry] : entries_) {
    if (entry.where == Where::kUnschedulable && now - entry.timestamp >= options_.max_in_unschedulable)
      move(key, entry);
  }
}

std::optional<std::string> SchedulingQueue::pop() {
  flush();
  if (active_.empty()) return std::nullopt;
  std::string key = std::get<3>(*active_.begin());
  Entry& entry = entries_.at(key);
  leave(key, entry);
  entry.where = Where::kInFlight;
  ++entry.attempts;
  entry.cycle = ++cycle_;
  return key;
}

void SchedulingQueue::done(const std::string& key) {
  remove(key);
}

void SchedulingQueue::add_unschedulable(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.where != Where::kInFlight) return;
  Entry& entry = it->second;
  entry.timestamp = clock_.now();
  if (move_request_cycle_ >= entry.cycle) {
    to_backoff(key, entry);
  } else {
    entry.where = Where::kUnschedulable;
  }
}

void SchedulingQueue::add_backoff(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.where != Where::kInFlight) return;
  it->second.timestamp = clock_.now();
  to_backoff(key, it->second);
}

void SchedulingQueue::move_all() {
  for (auto& [key, entry] : entries_) {
    if (entry.where == Where::kUnschedulable) move(key, entry);
  }
  move_request_cycle_ = cycle_;
}

std::optional<SteadyTime> SchedulingQueue::next_due() const {
  std::optional<SteadyTime> due;
  if (!backoff_.empty()) due = std::get<0>(*backoff_.begin());
  for (const auto& [key, entry] : entries_) {
    if (entry.where != Where::kUnschedulable) continue;
    const SteadyTime at = entry.timestamp + options_.max_in_unschedulable;
    if (!due || at < *due) due = at;
  }
  return due;
}

std::size_t SchedulingQueue::unschedulable_size() const {
  return static_cast<std::size_t>(std::count_if(entries_.begin(), entries_.end(), [](const auto& item) {
    return item.second.where == Where::kUnschedulable;
  }));
}

int SchedulingQueue::attempts(const std::string& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? 0 : it->second.attempts;
}

}  // namespace shakeout::scheduler
