#include "controller/expectations.h"

namespace shakeout::controller {

bool Expectations::satisfied(const std::string& key) const {
  const auto it = records_.find(key);
  if (it == records_.end()) return true;
  const Record& record = it->second;
  if (record.adds <= 0 && record.dels <= 0) return true;
  return clock_.now() - record.timestamp > ttl_;
}

void Expectations::expect_creations(const std::string& key, int count) {
  Record record;
  record.adds = count;
  record.timestamp = clock_.now();
  records_[key] = std::move(record);
}

void Expectations::expect_deletions(const std::string& key, const std::vector<std::string>& pod_keys) {
  Record record;
  record.deleting.insert(pod_keys.begin(), pod_keys.end());
  record.dels = static_cast<int>(record.deleting.size());
  record.timestamp = clock_.now();
  records_[key] = std::move(record);
}

void Expectations::creation_observed(const std::string& key) {
  auto it = records_.find(key);
  if (it != records_.end()) --it->second.adds;
}

void Expectations::deletion_observed(const std::string& key, const std::string& pod_key) {
  auto it = records_.find(key);
  if (it == records_.end() || it->second.deleting.erase(pod_key) == 0) return;
  --it->second.dels;
}

std::pair<int, int> Expectations::pending(const std::string& key) const {
  const auto it = records_.find(key);
  if (it == records_.end()) return {0, 0};
  return {it->second.adds, it->second.dels};
}

}  // namespace shakeout::controller
