#include "api/table.h"
#include <utility>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <vector>

#include "api/store.h"

namespace shakeout::api {

namespace {

using nlohmann::json;
using Clock = std::chrono::system_clock;

// ---------------------------------------------------------------------------
// Reading versioned objects: absent or mistyped fields read as zero values,
// as Go's decoding into the internal types leaves them.

const json& field(const json& object, std::string_view name) {
  static const json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(name);
  return it == object.end() ? kNull : *it;
}

std::string string_of(const json& value) {
  return value.is_string() ? value.get<std::string>() : std::string();
}

std::string string_at(const json& object, std::string_view a) {
  return string_of(field(object, a));
}
std::string string_at(const json& object, std::string_view a, std::string_view b) {
  return string_of(field(field(object, a), b));
}

int64_t int_of(const json& value, int64_t fallback = 0) {
  return value.is_number_integer() ? value.get<int64_t>() : fallback;
}

bool bool_of(const json& value) {
  return value.is_boolean() && value.get<bool>();
}

const json& array_at(const json& object, std::string_view name) {
  static const json kEmpty = json::array();
  const json& value = field(object, name);
  return value.is_array() ? value : kEmpty;
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += separator;
    out += parts[i];
  }
  return out;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

// metav1.Time and metav1.MicroTime ("...T01:02:03Z", "...T01:02:03.123456Z").
std::optional<Clock::time_point> parse_time(const json& value) {
  std::string text = string_of(value);
  if (text.empty()) return std::nullopt;
  if (auto dot = text.find('.'); dot != std::string::npos) {
    auto z = text.find('Z', dot);
    if (z == std::string::npos) return std::nullopt;
    text.erase(dot, z - dot);
  }
  return parse_timestamp(text);
}

// translateTimestampSince: "<unknown>" for a zero (absent) time.
std::string since(const json& timestamp, Clock::time_point now) {
  auto t = parse_time(timestamp);
  if (!t) return "<unknown>";
  return human_duration(std::chrono::duration_cast<std::chrono::seconds>(now - *t));
}

std::string age(const json& object, Clock::time_point now) {
  return since(field(field(object, "metadata"), "creationTimestamp"), now);
}

std::string name_of(const json& object) {
  return string_at(object, "metadata", "name");
}

// labels.FormatLabels: sorted key=value pairs, "<none>" when empty.
std::string format_labels(const json& labels) {
  if (!labels.is_object() || labels.empty()) return "<none>";
  std::vector<std::string> pairs;
  for (const auto& [key, value] : labels.items()) pairs.push_back(key + "=" + string_of(value));
  return join(pairs, ",");  // json objects iterate in key order
}

// metav1.LabelSelectorAsSelector(...).String(): requirements sorted by key;
// "k=v", "k in (a,b)", "k notin (a,b)", "k", "!k". nullopt for an operator
// the conversion rejects.
std::optional<std::string> label_selector_string(const json& selector) {
  std::vector<std::pair<std::string, std::string>> requirements;
  for (const auto& [key, value] : field(selector, "matchLabels").items())
    requirements.emplace_back(key, key + "=" + string_of(value));
  for (const auto& expression : array_at(selector, "matchExpressions")) {
    std::string key = string_at(expression, "key");
    std::string op = string_at(expression, "operator");
    std::vector<std::string> values;
    for (const auto& v : array_at(expression, "values")) values.push_back(string_of(v));
    std::sort(values.begin(), values.end());
    if (op == "In") {
      requirements.emplace_back(key, key + " in (" + join(values, ",") + ")");
    } else if (op == "NotIn") {
      requirements.emplace_back(key, key + " notin (" + join(values, ",") + ")");
    } else if (op == "Exists") {
      requirements.emplace_back(key, key);
    } else if (op == "DoesNotExist") {
      requirements.emplace_back(key, "!" + key);
    } else {
      return std::nullopt;
    }
  }
  std::stable_sort(requirements.begin(), requirements.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> parts;
  parts.reserve(requirements.size());
  for (auto& r : requirements) parts.push_back(std::move(r.second));
  return join(parts, ",");
}

// metav1.FormatLabelSelector: "<none>" for an empty (or absent) selector.
std::string format_label_selector(const json& selector) {
  auto text = label_selector_string(selector);
  if (!text) return "<error>";
  return text->empty() ? "<none>" : *text;
}

// layoutContainerCells: names and images joined by ",".
std::pair<std::string, std::string> container_cells(const json& pod_spec) {
  std::vector<std::string> names;
  std::vector<std::string> images;
  for (const auto& c : array_at(pod_spec, "containers")) {
    names.push_back(string_at(c, "name"));
    images.push_back(string_at(c, "image"));
  }
  return {join(names, ","), join(images, ",")};
}

// net.JoinHostPort.
std::string join_host_port(const std::string& host, int64_t port) {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

// listWithMoreString.
std::string list_with_more(const std::vector<std::string>& list, bool more, size_t count, size_t max) {
  std::string out = join(list, ",");
  if (more) return fmt::format("{} + {} more...", out, count - max);
  return out.empty() ? "<unset>" : out;
}

// ---------------------------------------------------------------------------
// Column descriptions: the SwaggerDoc() texts printers.go points at, as
// k8s.io/api v0.32 generates them.

constexpr const char* kNameDoc =
    "Name must be unique within a namespace. Is required when creating resources, although some resources "
    "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
    "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
constexpr const char* kCreationTimestampDoc =
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
    "guaranteed to be set in happens-before order across separate operations. Clients may not set this "
    "value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for "
    "lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
constexpr const char* kNodeAddressesDoc =
    "List of addresses reachable to the node. Queried from cloud provider, if available. More info: "
    "https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as "
    "mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is "
    "merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an "
    "example. "
    "Consumers should assume that addresses can change during the lifetime of a Node. However, there are "
    "some "
    "exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status "
    "or consumers of the downward API (status.hostIP).";
constexpr const char* kServiceTypeDoc =
    "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, "
    "ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a cluster-internal IP address for "
    "load-balancing to endpoints. Endpoints are determined by the selector or if that is not specified, by "
    "manual construction of an Endpoints object or EndpointSlice objects. If clusterIP is \"None\", no "
    "virtual "
    "IP is allocated and the endpoints are published as a set of endpoints rather than a virtual IP. "
    "\"NodePort\" builds on ClusterIP and allocates a port on every node which routes to the same endpoints "
    "as "
    "the clusterIP. \"LoadBalancer\" builds on NodePort and creates an external load-balancer (if supported "
    "in "
    "the current cloud) which routes to the same endpoints as the clusterIP. \"ExternalName\" aliases this "
    "service to the specified externalName. Several other fields do not apply to ExternalName services. More "
    "info: "
    "https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types";
constexpr const char* kClusterIpDoc =
    "clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified "
    "manually, is in-range (as per system configuration), and is not in use, it will be allocated to the "
    "service; otherwise creation of the service will fail. This field may not be changed through updates "
    "unless the type field is also being changed to ExternalName (which requires this field to be blank) or "
    "the type field is being changed from ExternalName (in which case this field may optionally be "
    "specified, "
    "as describe above).  Valid values are \"None\", empty string (\"\"), or a valid IP address. Setting "
    "this "
    "to \"None\" makes a \"headless service\" (no virtual IP), which is useful when direct endpoint "
    "connections "
    "are preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and "
    "LoadBalancer. If this field is specified when creating a Service of type ExternalName, creation will "
    "fail. This field will be wiped when updating a Service to type ExternalName. More info: "
    "https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies";
constexpr const char* kExternalIpsDoc =
    "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this "
    "service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic "
    "arrives at a node with this IP.  A common example is external load-balancers that are not part of the "
    "Kubernetes system.";
constexpr const char* kFieldPathDoc =
    "If referring to a piece of an object instead of an entire object, this string should contain a valid "
    "JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object "
    "reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" "
    "(where \"name\" refers to the name of the container that triggered the event) or if no container name "
    "is "
    "specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to "
    "have "
    "some well-defined way of referencing a part of an object.";
constexpr const char* kContainersDoc = "Names of each container in the template.";
constexpr const char* kImagesDoc = "Images referenced by each container in the template.";

struct Column {
  const char* name;
  const char* type;
  const char* format;
  const char* description;
  int priority;
};

Column name_column() {
  return {"Name", "string", "name", kNameDoc, 0};
}
Column age_column() {
  return {"Age", "string", "", kCreationTimestampDoc, 0};
}
Column column(const char* name, const char* description, int priority = 0) {
  return {name, "string", "", description, priority};
}
Column integer_column(const char* name, const char* description) {
  return {name, "integer", "", description, 0};
}

using CellsFn = json (*)(const json& object, Clock::time_point now);

struct Printer {
  const char* group;
  const char* kind;
  std::vector<Column> columns;
  CellsFn cells;
};

// ---------------------------------------------------------------------------
// print<Kind> (pkg/printers/internalversion/printers.go), wide cells included.

bool is_restartable_init_container(const json& container) {
  return string_at(container, "restartPolicy") == "Always";
}

bool has_condition(const json& status, std::string_view type, std::string_view want = "True") {
  for (const auto& c : array_at(status, "conditions"))
    if (string_at(c, "type") == type) return string_at(c, "status") == want;
  return false;
}

// The latest lastState.terminated.finishedAt seen so far.
void note_restart(const json& container_status, std::optional<Clock::time_point>& latest) {
  auto finished = parse_time(field(field(field(container_status, "lastState"), "terminated"), "finishedAt"));
  if (!field(field(container_status, "lastState"), "terminated").is_object()) return;
  // A terminated state without finishedAt is Go's zero time: never "after".
  if (finished && (!latest || *finished > *latest)) latest = finished;
}

std::string terminated_reason(const json& terminated, std::string_view prefix) {
  std::string reason = string_at(terminated, "reason");
  if (!reason.empty()) return std::string(prefix) + reason;
  int64_t signal = int_of(field(terminated, "signal"));
  if (signal != 0) return fmt::format("{}Signal:{}", prefix, signal);
  return fmt::format("{}ExitCode:{}", prefix, int_of(field(terminated, "exitCode")));
}

json pod_cells(const json& pod, Clock::time_point now) {
  const json& spec = field(pod, "spec");
  const json& status = field(pod, "status");
  const json& init_specs = array_at(spec, "initContainers");

  int64_t restarts = 0;
  int64_t restartable_init_restarts = 0;
  int64_t total = static_cast<int64_t>(array_at(spec, "containers").size());
  int64_t ready = 0;
  std::optional<Clock::time_point> last_restart;
  std::optional<Clock::time_point> last_restartable_init_restart;

  std::string phase = string_at(status, "phase");
  std::string reason = phase;
  if (!string_at(status, "reason").empty()) reason = string_at(status, "reason");
  for (const auto& c : array_at(status, "conditions"))
    if (string_at(c, "type") == "PodScheduled" && string_at(c, "reason") == "SchedulingGated")
      reason = "SchedulingGated";

  std::map<std::string, const json*> init_by_name;
  for (const auto& c : init_specs) {
    init_by_name[string_at(c, "name")] = &c;
    if (is_restartable_init_container(c)) ++total;
  }
  auto restartable = [&](const json& container_status) {
    auto it = init_by_name.find(string_at(container_status, "name"));
    return it != init_by_name.end() && is_restartable_init_container(*it->second);
  };

  bool initializing = false;
  const json& init_statuses = array_at(status, "initContainerStatuses");
  for (size_t i = 0; i < init_statuses.size(); ++i) {
    const json& cs = init_statuses[i];
    restarts += int_of(field(cs, "restartCount"));
    note_restart(cs, last_restart);
    if (restartable(cs)) {
      restartable_init_restarts += int_of(field(cs, "restartCount"));
      note_restart(cs, last_restartable_init_restart);
    }
    const json& terminated = field(field(cs, "state"), "terminated");
    const json& waiting = field(field(cs, "state"), "waiting");
    if (terminated.is_object() && int_of(field(terminated, "exitCode")) == 0) continue;
    if (restartable(cs) && bool_of(field(cs, "started"))) {
      if (bool_of(field(cs, "ready"))) ++ready;
      continue;
    }
    if (terminated.is_object()) {
      reason = terminated_reason(terminated, "Init:");
    } else if (waiting.is_object() && !string_at(waiting, "reason").empty() &&
               string_at(waiting, "reason") != "PodInitializing") {
      reason = "Init:" + string_at(waiting, "reason");
    } else {
      reason = fmt::format("Init:{}/{}", i, init_specs.size());
    }
    initializing = true;
    break;
  }

  if (!initializing || has_condition(status, "Initialized")) {
    restarts = restartable_init_restarts;
    last_restart = last_restartable_init_restart;
    bool has_running = false;
    const json& statuses = array_at(status, "containerStatuses");
    for (auto it = statuses.rbegin(); it != statuses.rend(); ++it) {
      const json& cs = *it;
      restarts += int_of(field(cs, "restartCount"));
      note_restart(cs, last_restart);
      const json& state = field(cs, "state");
      const json& waiting = field(state, "waiting");
      const json& terminated = field(state, "terminated");
      if (waiting.is_object() && !string_at(waiting, "reason").empty()) {
        reason = string_at(waiting, "reason");
      } else if (terminated.is_object()) {
        reason = terminated_reason(terminated, "");
      } else if (bool_of(field(cs, "ready")) && field(state, "running").is_object()) {
        has_running = true;
        ++ready;
      }
    }
    // A container still running keeps a "Completed" pod Running (or NotReady).
    if (reason == "Completed" && has_running)
      reason = has_condition(status, "Ready") ? "Running" : "NotReady";
  }

  bool deleting = !field(field(pod, "metadata"), "deletionTimestamp").is_null();
  if (deleting && string_at(status, "reason") == "NodeLost") {
    reason = "Unknown";
  } else if (deleting && phase != "Succeeded" && phase != "Failed") {
    reason = "Terminating";
  }

  std::string restarts_cell = std::to_string(restarts);
  if (restarts != 0 && last_restart)
    restarts_cell =
        fmt::format("{} ({} ago)", restarts,
                    human_duration(std::chrono::duration_cast<std::chrono::seconds>(now - *last_restart)));

  // status.podIP wins over podIPs[0] (v1 -> internal conversion).
  std::string ip = string_at(status, "podIP");
  if (ip.empty() && !array_at(status, "podIPs").empty()) ip = string_at(array_at(status, "podIPs")[0], "ip");
  std::string node = string_at(spec, "nodeName");
  std::string nominated = string_at(status, "nominatedNodeName");
  std::string gates = "<none>";
  if (const json& wanted = array_at(spec, "readinessGates"); !wanted.empty()) {
    int true_conditions = 0;
    for (const auto& gate : wanted)
      if (has_condition(status, string_at(gate, "conditionType"))) ++true_conditions;
    gates = fmt::format("{}/{}", true_conditions, wanted.size());
  }
  return json::array({name_of(pod), fmt::format("{}/{}", ready, total), reason, restarts_cell, age(pod, now),
                      ip.empty() ? "<none>" : ip, node.empty() ? "<none>" : node,
                      nominated.empty() ? "<none>" : nominated, gates});
}

json namespace_cells(const json& ns, Clock::time_point now) {
  return json::array({name_of(ns), string_at(ns, "status", "phase"), age(ns, now)});
}

// findNodeRoles: node-role.kubernetes.io/<role> keys and kubernetes.io/role
// values, sorted and deduplicated.
std::string node_roles(const json& node) {
  constexpr std::string_view kRolePrefix = "node-role.kubernetes.io/";
  std::set<std::string> roles;
  for (const auto& [key, value] : field(field(node, "metadata"), "labels").items()) {
    std::string_view k = key;
    if (k.substr(0, kRolePrefix.size()) == kRolePrefix) {
      if (k.size() > kRolePrefix.size()) roles.insert(std::string(k.substr(kRolePrefix.size())));
    } else if (k == "kubernetes.io/role" && !string_of(value).empty()) {
      roles.insert(string_of(value));
    }
  }
  std::string out = join(std::vector<std::string>(roles.begin(), roles.end()), ",");
  return out.empty() ? "<none>" : out;
}

std::string node_address(const json& node, std::string_view type) {
  for (const auto& a : array_at(field(node, "status"), "addresses"))
    if (string_at(a, "type") == type) return string_at(a, "address");
  return "<none>";
}

json node_cells(const json& node, Clock::time_point now) {
  const json& status = field(node, "status");
  // Only the Ready condition counts (NodeAllConditions); the last one of a
  // repeated type wins, as the printer's map does.
  std::optional<std::string> ready;
  for (const auto& c : array_at(status, "conditions"))
    if (string_at(c, "type") == "Ready") ready = string_at(c, "status") == "True" ? "Ready" : "NotReady";
  std::vector<std::string> state;
  state.push_back(ready.value_or("Unknown"));
  if (bool_of(field(field(node, "spec"), "unschedulable"))) state.emplace_back("SchedulingDisabled");

  const json& info = field(status, "nodeInfo");
  auto or_unknown = [](std::string s) { return s.empty() ? std::string("<unknown>") : s; };
  return json::array({name_of(node), join(state, ","), node_roles(node), age(node, now),
                      string_at(info, "kubeletVersion"), node_address(node, "InternalIP"),
                      node_address(node, "ExternalIP"), or_unknown(string_at(info, "osImage")),
                      or_unknown(string_at(info, "kernelVersion")),
                      or_unknown(string_at(info, "containerRuntimeVersion"))});
}

// getServiceExternalIP with wide = true (no clipping of load-balancer IPs).
std::string service_external_ip(const json& spec, const json& status, const std::string& type) {
  std::vector<std::string> external_ips;
  for (const auto& ip : array_at(spec, "externalIPs")) external_ips.push_back(string_of(ip));
  if (type == "ClusterIP" || type == "NodePort")
    return external_ips.empty() ? "<none>" : join(external_ips, ",");
  if (type == "LoadBalancer") {
    std::set<std::string> ingress;  // sets.String: sorted, unique
    for (const auto& i : array_at(field(status, "loadBalancer"), "ingress")) {
      if (!string_at(i, "ip").empty()) {
        ingress.insert(string_at(i, "ip"));
      } else if (!string_at(i, "hostname").empty()) {
        ingress.insert(string_at(i, "hostname"));
      }
    }
    std::vector<std::string> results(ingress.begin(), ingress.end());
    if (!external_ips.empty()) {
      results.insert(results.end(), external_ips.begin(), external_ips.end());
      return join(results, ",");
    }
    return results.empty() ? "<pending>" : join(results, ",");
  }
  if (type == "ExternalName") return string_at(spec, "externalName");
  return "<unknown>";
}

json service_cells(const json& service, Clock::time_point now) {
  const json& spec = field(service, "spec");
  // v1 defaulting sets type ClusterIP and protocol TCP; objects stored before
  // our defaulting may lack them.
  std::string type = string_at(spec, "type");
  if (type.empty()) type = "ClusterIP";
  std::string cluster_ip = string_at(spec, "clusterIP");
  if (cluster_ip.empty() && !array_at(spec, "clusterIPs").empty())
    cluster_ip = string_of(array_at(spec, "clusterIPs")[0]);
  std::vector<std::string> ports;
  for (const auto& p : array_at(spec, "ports")) {
    std::string protocol = string_at(p, "protocol");
    if (protocol.empty()) protocol = "TCP";
    int64_t node_port = int_of(field(p, "nodePort"));
    ports.push_back(node_port > 0 ? fmt::format("{}:{}/{}", int_of(field(p, "port")), node_port, protocol)
                                  : fmt::format("{}/{}", int_of(field(p, "port")), protocol));
  }
  std::string port_cell = join(ports, ",");
  return json::array({name_of(service), type, cluster_ip.empty() ? "<none>" : cluster_ip,
                      service_external_ip(spec, field(service, "status"), type),
                      port_cell.empty() ? "<none>" : port_cell, age(service, now),
                      format_labels(field(spec, "selector"))});
}

// formatEndpoints(endpoints, nil): the first three address:port pairs.
std::string format_endpoints(const json& endpoints) {
  const json& subsets = array_at(endpoints, "subsets");
  if (subsets.empty()) return "<none>";
  constexpr size_t kMax = 3;
  std::vector<std::string> list;
  bool more = false;
  size_t count = 0;
  for (const auto& subset : subsets) {
    const json& addresses = array_at(subset, "addresses");
    const json& ports = array_at(subset, "ports");
    if (ports.empty()) {  // headless services without ports
      count += addresses.size();
      for (const auto& a : addresses) {
        if (list.size() == kMax) {
          more = true;
          break;
        }
        list.push_back(string_at(a, "ip"));
      }
      continue;
    }
    for (const auto& port : ports) {
      count += addresses.size();
      for (const auto& a : addresses) {
        if (list.size() == kMax) {
          more = true;
          break;
        }
        list.push_back(join_host_port(string_at(a, "ip"), int_of(field(port, "port"))));
      }
    }
  }
  std::string out = join(list, ",");
  if (more) return fmt::format("{} + {} more...", out, count - kMax);
  return out;
}

json endpoints_cells(const json& endpoints, Clock::time_point now) {
  return json::array({name_of(endpoints), format_endpoints(endpoints), age(endpoints, now)});
}

// formatEventSource: component (or reportingController), then ", host"
// (or reportingInstance) when there is one.
std::string event_source(const json& event) {
  std::string component = string_at(event, "source", "component");
  if (component.empty()) component = string_at(event, "reportingComponent");
  std::string host = string_at(event, "source", "host");
  if (host.empty()) host = string_at(event, "reportingInstance");
  return host.empty() ? component : component + ", " + host;
}

std::string trim_space(const std::string& text) {
  constexpr const char* kSpace = " \t\n\r\v\f";
  auto first = text.find_first_not_of(kSpace);
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

json event_cells(const json& event, Clock::time_point now) {
  std::string first_seen = field(event, "firstTimestamp").is_string()
                               ? since(field(event, "firstTimestamp"), now)
                               : since(field(event, "eventTime"), now);
  std::string last_seen =
      field(event, "lastTimestamp").is_string() ? since(field(event, "lastTimestamp"), now) : first_seen;
  int64_t count = int_of(field(event, "count"));
  if (const json& series = field(event, "series"); series.is_object()) {
    last_seen = since(field(series, "lastObservedTime"), now);
    count = int_of(field(series, "count"));
  } else if (count == 0) {
    count = 1;  // singleton events of the new API carry no count
  }
  const json& involved = field(event, "involvedObject");
  std::string target = lower(string_at(involved, "kind"));
  if (!string_at(involved, "name").empty()) target += "/" + string_at(involved, "name");
  return json::array({last_seen, string_at(event, "type"), string_at(event, "reason"), target,
                      string_at(involved, "fieldPath"), event_source(event),
                      trim_space(string_at(event, "message")), first_seen, count, name_of(event)});
}

json deployment_cells(const json& deployment, Clock::time_point now) {
  const json& spec = field(deployment, "spec");
  const json& status = field(deployment, "status");
  // apps/v1 defaulting: replicas 1.
  int64_t desired = int_of(field(spec, "replicas"), 1);
  // LabelSelectorAsSelector(nil) is Nothing, whose String() is "".
  std::string selector;
  if (field(spec, "selector").is_object())
    selector = label_selector_string(field(spec, "selector")).value_or("<invalid>");
  auto [names, images] = container_cells(field(field(spec, "template"), "spec"));
  return json::array({name_of(deployment),
                      fmt::format("{}/{}", int_of(field(status, "readyReplicas")), desired),
                      int_of(field(status, "updatedReplicas")), int_of(field(status, "availableReplicas")),
                      age(deployment, now), names, images, selector});
}

json replica_set_cells(const json& replica_set, Clock::time_point now) {
  const json& spec = field(replica_set, "spec");
  const json& status = field(replica_set, "status");
  auto [names, images] = container_cells(field(field(spec, "template"), "spec"));
  return json::array({name_of(replica_set), int_of(field(spec, "replicas"), 1),
                      int_of(field(status, "replicas")), int_of(field(status, "readyReplicas")),
                      age(replica_set, now), names, images, format_label_selector(field(spec, "selector"))});
}

// printPodDisruptionBudget: an unset minAvailable/maxUnavailable is "N/A".
json pod_disruption_budget_cells(const json& pdb, Clock::time_point now) {
  const json& spec = field(pdb, "spec");
  auto bound = [&](const char* key) -> json {
    const json& value = field(spec, key);
    if (value.is_number_integer()) return std::to_string(value.get<int64_t>());
    if (value.is_string()) return value;
    return "N/A";
  };
  return json::array({name_of(pdb), bound("minAvailable"), bound("maxUnavailable"),
                      int_of(field(field(pdb, "status"), "disruptionsAllowed")), age(pdb, now)});
}

json lease_cells(const json& lease, Clock::time_point now) {
  return json::array({name_of(lease), string_at(lease, "spec", "holderIdentity"), age(lease, now)});
}

// formatDiscoveryPorts / formatDiscoveryEndpoints: at most three, then
// " + N more...", "<unset>" when empty.
json endpoint_slice_cells(const json& slice, Clock::time_point now) {
  constexpr size_t kMax = 3;
  std::vector<std::string> ports;
  bool more_ports = false;
  size_t port_count = 0;
  for (const auto& p : array_at(slice, "ports")) {
    if (ports.size() < kMax) {
      if (field(p, "port").is_number_integer()) {
        ports.push_back(std::to_string(int_of(field(p, "port"))));
      } else if (field(p, "name").is_string()) {
        ports.push_back(string_at(p, "name"));
      } else {
        ports.emplace_back("*");
      }
    } else {
      more_ports = true;
    }
    ++port_count;
  }
  std::vector<std::string> addresses;
  bool more_addresses = false;
  size_t address_count = 0;
  for (const auto& e : array_at(slice, "endpoints")) {
    for (const auto& a : array_at(e, "addresses")) {
      if (addresses.size() < kMax) {
        addresses.push_back(string_of(a));
      } else {
        more_addresses = true;
      }
      ++address_count;
    }
  }
  return json::array({name_of(slice), string_at(slice, "addressType"),
                      list_with_more(ports, more_ports, port_count, kMax),
                      list_with_more(addresses, more_addresses, address_count, kMax), age(slice, now)});
}

// DefaultTableConvertor: name and creationTimestamp in RFC 3339 (UTC).
json default_cells(const json& object, Clock::time_point /*now*/) {
  auto created = parse_time(field(field(object, "metadata"), "creationTimestamp"));
  // Go formats the zero time as "0001-01-01T00:00:00Z".
  return json::array({name_of(object), created ? format_timestamp(*created) : "0001-01-01T00:00:00Z"});
}

const std::vector<Printer>& printers() {
  static const std::vector<Printer> kPrinters = {
      {"",
       "Pod",
       {name_column(), column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
        column("Status", "The aggregate status of the containers in this pod."),
        column(
            "Restarts",
            "The number of times the containers in this pod have been restarted and when the last container "
            "in this pod has restarted."),
        age_column(),
        column("IP",
               "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet "
               "allocated.",
               1),
        column(
            "Node",
            "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for "
            "scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for "
            "this node becomes responsible for the lifecycle of this pod. This field should not be used to "
            "express a desire for the pod to be scheduled on a specific node. "
            "https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename",
            1),
        column(
            "Nominated Node",
            "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be "
            "scheduled right away as preemption victims receive their graceful termination periods. This "
            "field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to "
            "place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to "
            "give the resources on this node to a higher priority pod that is created after preemption. As a "
            "result, this field may be different than PodSpec.nodeName when the pod is scheduled.",
            1),
        column(
            "Readiness Gates",
            "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all "
            "its containers are ready AND all conditions specified in the readiness gates have status equal "
            "to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates",
            1)},
       pod_cells},
      {"",
       "Namespace",
       {name_column(), column("Status", "The status of the namespace"), age_column()},
       namespace_cells},
      {"",
       "Node",
       {name_column(), column("Status", "The status of the node"), column("Roles", "The roles of the node"),
        age_column(), column("Version", "Kubelet Version reported by the node."),
        column("Internal-IP", kNodeAddressesDoc, 1), column("External-IP", kNodeAddressesDoc, 1),
        column("OS-Image",
               "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", 1),
        column("Kernel-Version",
               "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1),
        column("Container-Runtime",
               "ContainerRuntime Version reported by the node through runtime remote API (e.g. "
               "containerd://1.4.2).",
               1)},
       node_cells},
      {"",
       "Service",
       {name_column(), column("Type", kServiceTypeDoc), column("Cluster-IP", kClusterIpDoc),
        column("External-IP", kExternalIpsDoc),
        column("Port(s)",
               "The list of ports that are exposed by this service. More info: "
               "https://kubernetes.io/docs/concepts/services-networking/service/"
               "#virtual-ips-and-service-proxies"),
        age_column(),
        column(
            "Selector",
            "Route service traffic to pods with label keys and values matching this selector. If empty or "
            "not present, the service is assumed to have an external process managing its endpoints, which "
            "Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. "
            "Ignored if type is ExternalName. More info: "
            "https://kubernetes.io/docs/concepts/services-networking/service/",
            1)},
       service_cells},
      {"",
       "Endpoints",
       {name_column(),
        column(
            "Endpoints",
            "The set of all endpoints is the union of all subsets. Addresses are placed into subsets "
            "according "
            "to the IPs they share. A single address with multiple ports, some of which are ready and some "
            "of "
            "which are not (because they come from different containers) will result in the address being "
            "displayed in different subsets for the different ports. No address will appear in both "
            "Addresses "
            "and NotReadyAddresses in the same subset. Sets of addresses and ports that comprise a service."),
        age_column()},
       endpoints_cells},
      {"",
       "Event",
       {column("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
        column("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
        column(
            "Reason",
            "This should be a short, machine understandable string that gives the reason for the transition "
            "into the object's current status."),
        column("Object", "The object that this event is about."),
        column("Subobject", kFieldPathDoc, 1),
        column("Source",
               "The component reporting this event. Should be a short machine understandable string.", 1),
        column("Message", "A human-readable description of the status of this operation."),
        column("First Seen",
               "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)", 1),
        column("Count", "The number of times this event has occurred.", 1),
        {"Name", "string", "name", kNameDoc, 1}},
       event_cells},
      {"apps",
       "Deployment",
       {name_column(), column("Ready", "Number of the pod with ready state"),
        column(
            "Up-to-date",
            "Total number of non-terminated pods targeted by this deployment that have the desired template "
            "spec."),
        column("Available",
               "Total number of available pods (ready for at least minReadySeconds) targeted by this "
               "deployment."),
        age_column(), column("Containers", kContainersDoc, 1), column("Images", kImagesDoc, 1),
        column(
            "Selector",
            "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones "
            "affected by this deployment.",
            1)},
       deployment_cells},
      {"apps",
       "ReplicaSet",
       {name_column(),
        integer_column("Desired",
                       "Replicas is the number of desired replicas. This is a pointer to distinguish between "
                       "explicit zero and unspecified. Defaults to 1. More info: "
                       "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/"
                       "#what-is-a-replicationcontroller"),
        integer_column("Current",
                       "Replicas is the most recently observed number of replicas. More info: "
                       "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/"
                       "#what-is-a-replicationcontroller"),
        integer_column("Ready", "The number of ready replicas for this replica set."), age_column(),
        column("Containers", kContainersDoc, 1), column("Images", kImagesDoc, 1),
        column("Selector",
               "Selector is a label query over pods that should match the replica count. If the selector is "
               "empty, it is defaulted to the labels present on the pod template. Label keys and values that "
               "must match in order to be controlled by this replica set. More info: "
               "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
               1)},
       replica_set_cells},
      {"coordination.k8s.io",
       "Lease",
       {name_column(),
        column("Holder", "holderIdentity contains the identity of the holder of a current lease."),
        age_column()},
       lease_cells},
      {"policy",
       "PodDisruptionBudget",
       {name_column(),
        column("Min Available",
               "The minimum number of pods that must be available simultaneously.  This can be either an "
               "integer or percentage."),
        column("Max Unavailable",
               "The maximum number of pods that may be unavailable simultaneously.  This can be either an "
               "integer or percentage."),
        integer_column("Allowed Disruptions",
                       "Calculated number of pods that may be disrupted at this time."),
        age_column()},
       pod_disruption_budget_cells},
      {"discovery.k8s.io",
       "EndpointSlice",
       {name_column(),
        column(
            "AddressType",
            "addressType specifies the type of address carried by this EndpointSlice. All addresses in this "
            "slice must be the same type. This field is immutable after creation. The following address "
            "types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 "
            "Address. * FQDN: Represents a Fully Qualified Domain Name."),
        column(
            "Ports",
            "ports specifies the list of network ports exposed by each endpoint in this slice. Each port "
            "must "
            "have a unique name. When ports is empty, it indicates that there are no defined ports. When a "
            "port is defined with a nil port value, it indicates \"all ports\". Each slice may include a "
            "maximum of 100 ports."),
        column(
            "Endpoints",
            "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 "
            "endpoints."),
        age_column()},
       endpoint_slice_cells},
  };
  return kPrinters;
}

const Printer& default_printer() {
  static const Printer kDefault = {
      "", "", {name_column(), {"Created At", "date", "", kCreationTimestampDoc, 0}}, default_cells};
  return kDefault;
}

const Printer& printer_for(const ResourceInfo& resource) {
  for (const auto& p : printers())
    if (resource.group == p.group && resource.kind == p.kind) return p;
  return default_printer();
}

json column_json(const Column& c) {
  json out = json::object();
  out["name"] = c.name;
  out["type"] = c.type;
  out["format"] = c.format;
  out["description"] = c.description;
  out["priority"] = c.priority;
  return out;
}

json row_object(const ResourceInfo& resource, const json& object, IncludeObject include) {
  switch (include) {
    case IncludeObject::kNone:
      return nullptr;
    case IncludeObject::kMetadata: {
      // meta.AsPartialObjectMetadata, typed with the Table's group version.
      json partial = json::object();
      partial["kind"] = "PartialObjectMetadata";
      partial["apiVersion"] = "meta.k8s.io/v1";
      partial["metadata"] =
          field(object, "metadata").is_object() ? field(object, "metadata") : json::object();
      return partial;
    }
    case IncludeObject::kObject: {
      json full = object;
      full["kind"] = resource.kind;
      full["apiVersion"] = resource.api_version();
      return full;
    }
  }
  return nullptr;
}

}  // namespace

std::optional<IncludeObject> parse_include_object(std::string_view value) {
  if (value.empty() || value == "Metadata") return IncludeObject::kMetadata;
  if (value == "None") return IncludeObject::kNone;
  if (value == "Object") return IncludeObject::kObject;
  return std::nullopt;
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

struct MediaRange {
  std::string type;  // lower-case "application/json"
  std::map<std::string, std::string> params;
  double q = 1.0;
};

// RFC 9110 Accept: comma-separated media ranges with ;key=value parameters.
std::vector<MediaRange> parse_accept(std::string_view header) {
  std::vector<MediaRange> ranges;
  while (!header.empty()) {
    auto comma = header.find(',');
    std::string_view clause = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    auto semi = clause.find(';');
    MediaRange range;
    range.type = lower(std::string(trim(clause.substr(0, semi))));
    if (range.type.empty()) continue;
    while (semi != std::string_view::npos) {
      clause = clause.substr(semi + 1);
      semi = clause.find(';');
      std::string_view param = trim(clause.substr(0, semi));
      auto eq = param.find('=');
      if (eq == std::string_view::npos) continue;
      std::string key = lower(std::string(trim(param.substr(0, eq))));
      std::string_view value = trim(param.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
        value = value.substr(1, value.size() - 2);
      if (key == "q") {
        range.q = std::strtod(std::string(value).c_str(), nullptr);
      } else {
        range.params[key] = std::string(value);
      }
    }
    if (range.q > 0) ranges.push_back(std::move(range));
  }
  std::stable_sort(ranges.begin(), ranges.end(),
                   [](const MediaRange& a, const MediaRange& b) { return a.q > b.q; });
  return ranges;
}

}  // namespace

std::optional<std::string> accepted_table_version(std::string_view accept_header) {
  for (const auto& range : parse_accept(accept_header)) {
    bool json_type = range.type == "application/json" || range.type == "application/*" || range.type == "*/*";
    if (!json_type) continue;  // YAML, protobuf, ...: not served here
    auto as = range.params.find("as");
    if (as == range.params.end()) return std::nullopt;  // the plain object is preferred
    auto g = range.params.find("g");
    auto v = range.params.find("v");
    if (as->second == "Table" && g != range.params.end() && g->second == "meta.k8s.io" &&
        v != range.params.end() && (v->second == "v1" || v->second == "v1beta1"))
      return v->second;
  }
  return std::nullopt;
}

bool accepts_table(std::string_view accept_header) {
  return accepted_table_version(accept_header).has_value();
}

json table_column_definitions(const ResourceInfo& resource) {
  json columns = json::array();
  for (const auto& c : printer_for(resource).columns) columns.push_back(column_json(c));
  return columns;
}

json table_row(const ResourceInfo& resource, const json& object, Clock::time_point now,
               IncludeObject include) {
  json row = json::object();
  row["cells"] = printer_for(resource).cells(object, now);
  if (resource.group.empty() && resource.kind == "Pod") {
    // podSuccessConditions / podFailedConditions.
    std::string phase = string_at(object, "status", "phase");
    if (phase == "Succeeded" || phase == "Failed") {
      json condition = json::object();
      condition["type"] = "Completed";
      condition["status"] = "True";
      condition["reason"] = phase;
      condition["message"] = phase == "Succeeded" ? "The pod has completed successfully." : "The pod failed.";
      row["conditions"] = json::array({condition});
    }
  }
  row["object"] = row_object(resource, object, include);
  return row;
}

json to_table(const ResourceInfo& resource, const json& list_or_object, bool is_list, Clock::time_point now,
              IncludeObject include, bool no_headers) {
  json table = json::object();
  table["kind"] = "Table";
  table["apiVersion"] = "meta.k8s.io/v1";
  json metadata = json::object();
  const json& source_meta = field(list_or_object, "metadata");
  if (!string_at(source_meta, "resourceVersion").empty())
    metadata["resourceVersion"] = string_at(source_meta, "resourceVersion");
  if (is_list) {
    if (!string_at(source_meta, "continue").empty())
      metadata["continue"] = string_at(source_meta, "continue");
    if (field(source_meta, "remainingItemCount").is_number_integer())
      metadata["remainingItemCount"] = field(source_meta, "remainingItemCount");
  }
  table["metadata"] = std::move(metadata);
  table["columnDefinitions"] = no_headers ? json(nullptr) : table_column_definitions(resource);

  // Printers build rows with make([]TableRow, 0, n): an empty list is [];
  // DefaultTableConvertor appends to a nil slice: an empty list is null.
  bool has_printer = &printer_for(resource) != &default_printer();
  json rows = json::array();
  if (is_list) {
    for (const auto& item : array_at(list_or_object, "items"))
      rows.push_back(table_row(resource, item, now, include));
  } else {
    rows.push_back(table_row(resource, list_or_object, now, include));
  }
  table["rows"] = rows.empty() && !has_printer ? json(nullptr) : std::move(rows);
  return table;
}

std::string human_duration(std::chrono::seconds d) {
  const int64_t seconds = d.count();
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 60 * 2) return fmt::format("{}s", seconds);
  const int64_t minutes = seconds / 60;
  if (minutes < 10) {
    const int64_t s = seconds % 60;
    return s == 0 ? fmt::format("{}m", minutes) : fmt::format("{}m{}s", minutes, s);
  }
  if (minutes < 60 * 3) return fmt::format("{}m", minutes);
  const int64_t hours = seconds / 3600;
  if (hours < 8) {
    const int64_t m = minutes % 60;
    return m == 0 ? fmt::format("{}h", hours) : fmt::format("{}h{}m", hours, m);
  }
  if (hours < 48) return fmt::format("{}h", hours);
  if (hours < 24 * 8) {
    const int64_t h = hours % 24;
    return h == 0 ? fmt::format("{}d", hours / 24) : fmt::format("{}d{}h", hours / 24, h);
  }
  if (hours < 24 * 365 * 2) return fmt::format("{}d", hours / 24);
  if (hours < 24 * 365 * 8) {
    const int64_t dy = (hours / 24) % 365;
    return dy == 0 ? fmt::format("{}y", hours / 24 / 365) : fmt::format("{}y{}d", hours / 24 / 365, dy);
  }
  return fmt::format("{}y", hours / 24 / 365);
}

}  // namespace shakeout::api
