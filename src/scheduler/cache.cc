#include "scheduler/cache.h"

#include "scheduler/fields.h"

namespace shakeout::scheduler {

PodInfo make_pod_info(const json& pod) {
  PodInfo info;
  const json& metadata = field(pod, "metadata");
  info.ns = string_field(metadata, "namespace");
  info.key = info.ns + "/" + string_field(metadata, "name");
  info.node_name = string_field(field(pod, "spec"), "nodeName");
  info.terminating = !field(metadata, "deletionTimestamp").is_null();
  if (const json& owners = field(metadata, "ownerReferences"); owners.is_array()) {
    for (const auto& owner : owners) {
      if (field(owner, "controller") == true) {
        info.owner_uid = string_field(owner, "uid");
        break;
      }
    }
  }
  info.requests = pod_requests(pod);
  info.nonzero = pod_nonzero_requests(pod);
  return info;
}

bool pod_terminal(const json& pod) {
  const std::string phase = string_field(field(pod, "status"), "phase");
  return phase == "Succeeded" || phase == "Failed";
}

void Cache::update_pod(const json& pod) {
  PodInfo info = make_pod_info(pod);
  auto it = pods_.find(info.key);
  if (pod_terminal(pod)) {
    if (it != pods_.end()) pods_.erase(it);
    return;
  }
  if (info.node_name.empty()) {
    if (it != pods_.end() && !it->second.assumed) pods_.erase(it);
    return;
  }
  Entry entry;
  entry.pod = std::move(info);
  pods_[entry.pod.key] = std::move(entry);
}

void Cache::remove_pod(const std::string& key) {
  pods_.erase(key);
}

void Cache::assume(PodInfo pod) {
  Entry entry;
  entry.pod = std::move(pod);
  entry.assumed = true;
  pods_[entry.pod.key] = std::move(entry);
}

void Cache::forget(const std::string& key) {
  auto it = pods_.find(key);
  if (it != pods_.end() && it->second.assumed) pods_.erase(it);
}

bool Cache::assumed(const std::string& key) const {
  auto it = pods_.find(key);
  return it != pods_.end() && it->second.assumed;
}

std::vector<NodeInfo> Cache::snapshot(const std::vector<json>& nodes) const {
  std::vector<NodeInfo> infos;
  infos.reserve(nodes.size());
  std::map<std::string, std::size_t> index;
  for (const auto& node : nodes) {
    NodeInfo info;
    info.node = &node;
    info.name = string_field(field(node, "metadata"), "name");
    info.allocatable = node_allocatable(node);
    index[info.name] = infos.size();
    infos.push_back(std::move(info));
  }
  for (const auto& [key, entry] : pods_) {
    auto at = index.find(entry.pod.node_name);
    if (at == index.end()) continue;
    NodeInfo& info = infos[at->second];
    info.requested += entry.pod.requests;
    info.nonzero_requested += entry.pod.nonzero;
    info.pods.push_back(&entry.pod);
  }
  return infos;
}

}  // namespace shakeout::scheduler
