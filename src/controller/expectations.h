#pragma once
// Expectations: upstream's UIDTrackingControllerExpectations
// (pkg/controller/controller_utils.go), which keep a controller from acting
// again on a key while its own creates and deletes are still on their way
// to the informer cache -- without them a ReplicaSet sync that runs before
// the cache shows the pods it just created would create them again.
//
//   sync: expect_creations(rs, n) ──► POST n pods
//   informer: pod added   ──► creation_observed(rs)      (n-1 ... 0: satisfied)
//   sync: expect_deletions(rs, {pod keys}) ──► DELETE them
//   informer: pod deleted (or deletionTimestamp set) ──► deletion_observed(rs, pod)
//
// Contract:
// - satisfied(key) is true when there is no record for the key, when every
//   expected create and delete has been observed, or when the record is
//   older than the TTL (upstream's ExpectationsTimeout, 5 minutes: a lost
//   watch event must not wedge a controller forever).
// - Deletions are tracked by pod key, so a pod seen deleted twice (once
//   when it starts terminating, once when it goes) counts once.
// - A create or delete that failed (the informer will never see it) is
//   given back with creation_observed / deletion_observed.
// Threading: not thread-safe (one executor).

#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"

namespace shakeout::controller {

class Expectations {
 public:
  static constexpr Millis kDefaultTtl{5 * 60 * 1000};

  explicit Expectations(const Clock& clock, Millis ttl = kDefaultTtl) : clock_(clock), ttl_(ttl) {}

  bool satisfied(const std::string& key) const;
  // Replaces the key's record: `count` creations expected, none deleted.
  void expect_creations(const std::string& key, int count);
  // Replaces the key's record: the deletion of each of `pod_keys` expected.
  void expect_deletions(const std::string& key, const std::vector<std::string>& pod_keys);
  void creation_observed(const std::string& key);
  // Counts only a pod in the key's expected deletions, once.
  void deletion_observed(const std::string& key, const std::string& pod_key);
  // Forgets the key (its controller object went away).
  void erase(const std::string& key) { records_.erase(key); }

  // Outstanding counts, for tests and logs; {0, 0} without a record.
  std::pair<int, int> pending(const std::string& key) const;

 private:
  struct Record {
    int adds = 0;
    int dels = 0;
    SteadyTime timestamp{};
    std::set<std::string> deleting;  // pod keys whose deletion is expected
  };
  const Clock& clock_;
  Millis ttl_;
  std::map<std::string, Record> records_;
};

}  // namespace shakeout::controller
