#pragma once
// The scheduler's view of what runs where (upstream pkg/scheduler/backend/cache):
// every bound pod the informer has shown, plus pods this scheduler has
// "assumed" onto a node because it sent their binding, until the informer
// shows them bound. Without the assumed pods, the next scheduling cycle
// would see the node as emptier than it is and overcommit it.
//
// Contract:
// - update_pod() with a pod whose spec.nodeName is set stores it, replacing
//   an assumed copy (the binding is confirmed). A terminating pod still
//   holds its node's resources until it is gone, as upstream's.
// - A terminal pod (Succeeded/Failed) holds nothing: update_pod() drops it
//   (upstream's scheduler watches pods with status.phase!=Succeeded,Failed).
// - update_pod() with an unbound pod leaves an assumed copy alone (the event
//   predates the binding) and otherwise drops the key.
// - assume() records a pod on a node before its binding is answered;
//   forget() drops an assumed pod whose binding failed. remove_pod() drops
//   the key whatever its state.
// - snapshot() aggregates per node; the NodeInfos point into the cache and
//   into `nodes`, and are valid until either changes.
// Threading: not thread-safe.

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "scheduler/resources.h"

namespace shakeout::scheduler {

struct PodInfo {
  std::string key;  // "ns/name"
  std::string ns;
  std::string node_name;     // "" while pending
  std::string owner_uid;     // the controller ownerReference's uid, "" without one
  Resources requests;        // pod_requests()
  Resources nonzero;         // pod_nonzero_requests()
  bool terminating = false;  // metadata.deletionTimestamp is set
};

PodInfo make_pod_info(const json& pod);
// status.phase is Succeeded or Failed: the pod holds nothing any more.
bool pod_terminal(const json& pod);

struct NodeInfo {
  const json* node = nullptr;
  std::string name;
  Resources allocatable;
  Resources requested;          // pods counted in .pods
  Resources nonzero_requested;  // for scores
  std::vector<const PodInfo*> pods;
};

class Cache {
 public:
  void update_pod(const json& pod);
  void remove_pod(const std::string& key);
  void assume(PodInfo pod);
  void forget(const std::string& key);
  bool assumed(const std::string& key) const;
  std::size_t size() const { return pods_.size(); }

  // One NodeInfo per node, in the order given.
  std::vector<NodeInfo> snapshot(const std::vector<json>& nodes) const;

 private:
  struct Entry {
    PodInfo pod;
    bool assumed = false;
  };
  std::map<std::string, Entry> pods_;
};

}  // namespace shakeout::scheduler
