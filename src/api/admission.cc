#include "api/admission.h"
#include <utility>

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>

#include "api/quantity.h"
#include "api/selector.h"
#include "api/validation.h"

namespace shakeout::api {

namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------
// JSON access that tolerates any shape.

// The object at obj[key], or nullptr when obj is not an object or the field
// is absent, null or not an object.
json* object_at(json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it != obj.end() && it->is_object() ? &*it : nullptr;
}
const json* object_at(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it != obj.end() && it->is_object() ? &*it : nullptr;
}
// As object_at, creating an empty object when the field is absent or null
// (Go decodes an absent struct field as its zero value, which defaulting
// then fills in).
json* ensure_object(json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    obj[key] = json::object();
    return &obj[key];
  }
  return it->is_object() ? &*it : nullptr;
}
json* array_at(json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it != obj.end() && it->is_array() ? &*it : nullptr;
}
const json* array_at(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it != obj.end() && it->is_array() ? &*it : nullptr;
}
bool has(const json& obj, const char* key) {
  if (!obj.is_object()) return false;
  auto it = obj.find(key);
  return it != obj.end() && !it->is_null();
}
std::string string_at(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}
// Go's "== 0" for an int field: absent, null or 0.
bool int_unset(const json& obj, const char* key) {
  if (!obj.is_object()) return false;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() || (it->is_number() && it->get<double>() == 0);
}

// Pointer fields: set when absent or null.
void default_value(json& obj, const char* key, json value) {
  if (obj.is_object() && !has(obj, key)) obj[key] = std::move(value);
}
// String fields: Go compares with "".
void default_string(json& obj, const char* key, const char* value) {
  if (!obj.is_object()) return;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null() || (it->is_string() && it->get<std::string>().empty()))
    obj[key] = value;
}
// Int fields: Go compares with 0.
void default_int(json& obj, const char* key, int64_t value) {
  if (int_unset(obj, key)) obj[key] = value;
}

template <typename F>
void for_each_object(json* array, F&& f) {
  if (array == nullptr) return;
  for (auto& item : *array)
    if (item.is_object()) f(item);
}

// ---------------------------------------------------------------------------
// Defaulting (pkg/apis/core/v1/defaults.go, zz_generated.defaults.go).

void default_http_get(json& handler) {
  if (json* get = object_at(handler, "httpGet")) {
    default_string(*get, "path", "/");
    default_string(*get, "scheme", "HTTP");
  }
}

void default_probe(json& container, const char* key) {
  json* probe = object_at(container, key);
  if (probe == nullptr) return;
  default_int(*probe, "timeoutSeconds", 1);
  default_int(*probe, "periodSeconds", 10);
  default_int(*probe, "successThreshold", 1);
  default_int(*probe, "failureThreshold", 3);
  default_http_get(*probe);
}

void default_field_ref(json& holder) {
  if (json* ref = object_at(holder, "fieldRef")) default_string(*ref, "apiVersion", "v1");
}

void default_container(json& c) {
  if (string_at(c, "imagePullPolicy").empty())
    c["imagePullPolicy"] = image_tag(string_at(c, "image")) == "latest" ? "Always" : "IfNotPresent";
  default_string(c, "terminationMessagePath", "/dev/termination-log");
  default_string(c, "terminationMessagePolicy", "File");
  // Container.Resources is a struct, not a pointer: Go always writes it.
  default_value(c, "resources", json::object());
  for_each_object(array_at(c, "ports"), [](json& p) { default_string(p, "protocol", "TCP"); });
  for_each_object(array_at(c, "env"), [](json& e) {
    if (json* from = object_at(e, "valueFrom")) default_field_ref(*from);
  });
  default_probe(c, "livenessProbe");
  default_probe(c, "readinessProbe");
  default_probe(c, "startupProbe");
  if (json* lifecycle = object_at(c, "lifecycle")) {
    if (json* h = object_at(*lifecycle, "postStart")) default_http_get(*h);
    if (json* h = object_at(*lifecycle, "preStop")) default_http_get(*h);
  }
}

// SetDefaults_Volume and the per-source defaults: a volume without a source
// is an emptyDir; file-projecting sources get mode 0644.
void default_volume(json& v) {
  bool has_source = false;
  for (const auto& [key, value] : v.items())
    if (key != "name" && !value.is_null()) has_source = true;
  if (!has_source) v["emptyDir"] = json::object();
  constexpr int kDefaultMode = 0644;
  for (const char* source : {"secret", "configMap", "downwardAPI", "projected"})
    if (json* s = object_at(v, source)) default_value(*s, "defaultMode", kDefaultMode);
  if (json* host_path = object_at(v, "hostPath")) default_value(*host_path, "type", "");
  if (json* downward = object_at(v, "downwardAPI"))
    for_each_object(array_at(*downward, "items"), default_field_ref);
  if (json* projected = object_at(v, "projected")) {
    for_each_object(array_at(*projected, "sources"), [](json& source) {
      if (json* downward = object_at(source, "downwardAPI"))
        for_each_object(array_at(*downward, "items"), default_field_ref);
      if (json* token = object_at(source, "serviceAccountToken"))
        default_value(*token, "expirationSeconds", 3600);
    });
  }
}

// SetDefaults_PodSpec (also for pod templates) and the container defaults.
void default_pod_spec(json& spec) {
  default_string(spec, "dnsPolicy", "ClusterFirst");
  default_string(spec, "restartPolicy", "Always");
  default_value(spec, "securityContext", json::object());
  default_value(spec, "terminationGracePeriodSeconds", 30);
  default_string(spec, "schedulerName", "default-scheduler");
  for (const char* list : {"initContainers", "containers", "ephemeralContainers"})
    for_each_object(array_at(spec, list), default_container);
  for_each_object(array_at(spec, "volumes"), default_volume);
  // v1 conversion (pkg/apis/core/v1/conversion.go): the deprecated
  // serviceAccount mirrors serviceAccountName.
  std::string account = string_at(spec, "serviceAccountName");
  if (account.empty()) account = string_at(spec, "serviceAccount");
  if (!account.empty()) {
    spec["serviceAccountName"] = account;
    spec["serviceAccount"] = account;
  }
}

// SetDefaults_Pod: pod-only defaults (not for templates).
void default_pod(json& pod) {
  json* spec = ensure_object(pod, "spec");
  if (spec == nullptr) return;
  for (const char* list : {"initContainers", "containers"}) {
    for_each_object(array_at(*spec, list), [](json& c) {
      // Requests default to limits, per resource.
      json* resources = object_at(c, "resources");
      const json* limits = resources ? object_at(*resources, "limits") : nullptr;
      if (limits == nullptr) return;
      json* requests = ensure_object(*resources, "requests");
      if (requests == nullptr) return;
      for (const auto& [name, quantity] : limits->items())
        if (!requests->contains(name)) (*requests)[name] = quantity;
    });
  }
  default_value(*spec, "enableServiceLinks", true);
  if (spec->value("hostNetwork", false) == true) {
    for (const char* list : {"initContainers", "containers"}) {
      for_each_object(array_at(*spec, list), [](json& c) {
        for_each_object(array_at(c, "ports"), [](json& p) {
          if (int_unset(p, "hostPort") && p.contains("containerPort")) p["hostPort"] = p["containerPort"];
        });
      });
    }
  }
  default_pod_spec(*spec);
}

// A workload's spec.template: pod spec defaults, and metadata with
// creationTimestamp null, as Go serializes the zero metav1.Time of an
// embedded ObjectMeta (what kubectl shows for templates on a 1.32 server).
void default_template(json& workload_spec) {
  json* tmpl = ensure_object(workload_spec, "template");
  if (tmpl == nullptr) return;
  if (json* meta = ensure_object(*tmpl, "metadata"); meta != nullptr && !meta->contains("creationTimestamp"))
    (*meta)["creationTimestamp"] = nullptr;
  if (json* spec = ensure_object(*tmpl, "spec")) default_pod_spec(*spec);
}

bool externally_accessible(const json& spec) {
  std::string type = string_at(spec, "type");
  const json* external_ips = array_at(spec, "externalIPs");
  return type == "LoadBalancer" || type == "NodePort" ||
         (type == "ClusterIP" && external_ips != nullptr && !external_ips->empty());
}

void default_service(json& svc) {
  json* spec = ensure_object(svc, "spec");
  if (spec == nullptr) return;
  default_string(*spec, "sessionAffinity", "None");
  std::string affinity = string_at(*spec, "sessionAffinity");
  if (affinity == "None") spec->erase("sessionAffinityConfig");
  if (affinity == "ClientIP") {
    const json* config = object_at(*spec, "sessionAffinityConfig");
    const json* client_ip = config ? object_at(*config, "clientIP") : nullptr;
    if (client_ip == nullptr || !has(*client_ip, "timeoutSeconds"))
      (*spec)["sessionAffinityConfig"] = {{"clientIP", {{"timeoutSeconds", 10800}}}};
  }
  default_string(*spec, "type", "ClusterIP");
  for_each_object(array_at(*spec, "ports"), [](json& p) {
    default_string(p, "protocol", "TCP");
    auto target = p.find("targetPort");
    bool unset = target == p.end() || target->is_null() ||
                 (target->is_number() && target->get<double>() == 0) ||
                 (target->is_string() && target->get<std::string>().empty());
    if (unset && p.contains("port")) p["targetPort"] = p["port"];
  });
  std::string type = string_at(*spec, "type");
  if (externally_accessible(*spec)) default_string(*spec, "externalTrafficPolicy", "Cluster");
  if (type == "NodePort" || type == "LoadBalancer" || type == "ClusterIP")
    default_value(*spec, "internalTrafficPolicy", "Cluster");
  if (type == "LoadBalancer") default_value(*spec, "allocateLoadBalancerNodePorts", true);
  // pkg/registry/core/service/storage/alloc.go initIPFamilyFields, for a
  // single-stack IPv4 cluster: headless services without a selector ask for
  // dual-stack (they may point anywhere), everything else is SingleStack.
  if (type != "ExternalName") {
    bool headless = string_at(*spec, "clusterIP") == "None";
    const json* selector = object_at(*spec, "selector");
    bool selectorless = selector == nullptr || selector->empty();
    default_value(*spec, "ipFamilyPolicy", headless && selectorless ? "RequireDualStack" : "SingleStack");
    const json* families = array_at(*spec, "ipFamilies");
    if (families == nullptr || families->empty()) (*spec)["ipFamilies"] = json::array({"IPv4"});
  }
}

// pkg/apis/apps/v1/defaults.go SetDefaults_Deployment.
void default_deployment(json& deploy) {
  json* spec = ensure_object(deploy, "spec");
  if (spec == nullptr) return;
  default_value(*spec, "replicas", 1);
  if (json* strategy = ensure_object(*spec, "strategy")) {
    default_string(*strategy, "type", "RollingUpdate");
    if (string_at(*strategy, "type") == "RollingUpdate") {
      if (json* rolling = ensure_object(*strategy, "rollingUpdate")) {
        default_value(*rolling, "maxUnavailable", "25%");
        default_value(*rolling, "maxSurge", "25%");
      }
    }
  }
  default_value(*spec, "revisionHistoryLimit", 10);
  default_value(*spec, "progressDeadlineSeconds", 600);
  default_template(*spec);
}

void default_replica_set(json& rs) {
  json* spec = ensure_object(rs, "spec");
  if (spec == nullptr) return;
  default_value(*spec, "replicas", 1);
  default_template(*spec);
}

void default_namespace(json& ns) {
  // SetDefaults_Namespace: the immutable kubernetes.io/metadata.name label
  // (always set to the name, whatever the body said).
  if (json* meta = object_at(ns, "metadata")) {
    std::string name = string_at(*meta, "name");
    if (!name.empty()) {
      json* labels = ensure_object(*meta, "labels");
      if (labels != nullptr) (*labels)["kubernetes.io/metadata.name"] = name;
    }
  }
  if (json* status = ensure_object(ns, "status")) default_string(*status, "phase", "Active");
}

void default_node(json& node) {
  json* status = object_at(node, "status");
  if (status == nullptr) return;
  if (has(*status, "capacity") && !has(*status, "allocatable"))
    (*status)["allocatable"] = (*status)["capacity"];
}

void default_endpoints(json& ep) {
  for_each_object(array_at(ep, "subsets"), [](json& subset) {
    for_each_object(array_at(subset, "ports"), [](json& p) { default_string(p, "protocol", "TCP"); });
  });
}

// pkg/apis/discovery/v1/defaults.go SetDefaults_EndpointPort.
void default_endpoint_slice(json& slice) {
  for_each_object(array_at(slice, "ports"), [](json& p) {
    default_value(p, "name", "");
    default_value(p, "protocol", "TCP");
  });
}

// ---------------------------------------------------------------------------
// Create-time mutation.

constexpr const char* kTaintNotReady = "node.kubernetes.io/not-ready";
constexpr const char* kTaintUnreachable = "node.kubernetes.io/unreachable";

void add_default_tolerations(json& pod, const AdmissionConfig& config) {
  json* spec = object_at(pod, "spec");
  if (spec == nullptr) return;
  bool not_ready = false;
  bool unreachable = false;
  if (const json* tolerations = array_at(*spec, "tolerations")) {
    for (const auto& t : *tolerations) {
      std::string key = string_at(t, "key");
      std::string effect = string_at(t, "effect");
      bool no_execute = effect.empty() || effect == "NoExecute";
      if (no_execute && (key.empty() || key == kTaintNotReady)) not_ready = true;
      if (no_execute && (key.empty() || key == kTaintUnreachable)) unreachable = true;
    }
  }
  auto add = [&](const char* key, int64_t seconds) {
    if (!spec->contains("tolerations") || !(*spec)["tolerations"].is_array())
      (*spec)["tolerations"] = json::array();
    json toleration = json::object();
    toleration["key"] = key;
    toleration["operator"] = "Exists";
    toleration["effect"] = "NoExecute";
    toleration["tolerationSeconds"] = seconds;
    (*spec)["tolerations"].push_back(std::move(toleration));
  };
  if (!not_ready) add(kTaintNotReady, config.default_not_ready_toleration_seconds);
  if (!unreachable) add(kTaintUnreachable, config.default_unreachable_toleration_seconds);
}

// plugin/pkg/admission/priority/admission.go, with the two system classes
// upstream creates at boot and no globalDefault class.
std::optional<std::string> admit_priority(json& pod) {
  json* spec = object_at(pod, "spec");
  if (spec == nullptr) return std::nullopt;
  std::string class_name = string_at(*spec, "priorityClassName");
  int64_t priority = 0;
  if (class_name == "system-node-critical") {
    priority = 2000001000;
  } else if (class_name == "system-cluster-critical") {
    priority = 2000000000;
  } else if (!class_name.empty()) {
    return fmt::format("no PriorityClass with name {} was found", class_name);
  }
  auto given = spec->find("priority");
  if (given != spec->end() && given->is_number_integer() && given->get<int64_t>() != priority)
    return fmt::format(
        "the integer value of priority ({}) must not be provided in pod spec; priority admission controller "
        "computed {} from the given PriorityClass name",
        given->get<int64_t>(), priority);
  (*spec)["priority"] = priority;
  std::string policy = string_at(*spec, "preemptionPolicy");
  if (!policy.empty() && policy != "PreemptLowerPriority")
    return fmt::format(
        "the string value of PreemptionPolicy ({}) must not be provided in pod spec; priority admission "
        "controller computed PreemptLowerPriority from the given PriorityClass name",
        policy);
  (*spec)["preemptionPolicy"] = "PreemptLowerPriority";
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Validation helpers: field.Error wording
// (staging/src/k8s.io/apimachinery/pkg/util/validation/field/errors.go, as
// of 1.32, which renders non-scalar values with Go's %#v).

// A scalar value as ErrorBody prints it: strings quoted, numbers bare.
std::string render(const json& value) {
  if (value.is_string()) return json(value.get<std::string>()).dump();
  if (value.is_null()) return "null";
  return value.dump();
}

// %#v of map[string]string.
std::string render_string_map(const json* map) {
  if (map == nullptr || !map->is_object()) return "map[string]string(nil)";
  std::vector<std::string> entries;
  for (const auto& [key, value] : map->items())  // nlohmann keeps keys sorted, as fmt sorts maps
    entries.push_back(json(key).dump() + ":" + render(value));
  return fmt::format("map[string]string{{{}}}", fmt::join(entries, ", "));
}

// %#v of []string.
std::string render_string_slice(const json* list) {
  if (list == nullptr || !list->is_array()) return "[]string(nil)";
  std::vector<std::string> items;
  for (const auto& item : *list) items.push_back(render(item));
  return fmt::format("[]string{{{}}}", fmt::join(items, ", "));
}

// %#v of a metav1.LabelSelector.
std::string render_label_selector(const json& selector) {
  std::string expressions = "[]v1.LabelSelectorRequirement(nil)";
  if (const json* list = array_at(selector, "matchExpressions")) {
    std::vector<std::string> items;
    for (const auto& e : *list)
      items.push_back(fmt::format("v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                                  json(string_at(e, "key")).dump(), json(string_at(e, "operator")).dump(),
                                  render_string_slice(array_at(e, "values"))));
    expressions = fmt::format("[]v1.LabelSelectorRequirement{{{}}}", fmt::join(items, ", "));
  }
  return fmt::format("v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{}}}",
                     render_string_map(object_at(selector, "matchLabels")), expressions);
}

class Errors {
 public:
  void required(const std::string& field, const std::string& detail) {
    add("FieldValueRequired", field, detail.empty() ? "Required value" : "Required value: " + detail);
  }
  // `rendered` is the value as upstream prints it (see render()).
  void invalid(const std::string& field, const std::string& rendered, const std::string& detail) {
    add("FieldValueInvalid", field, fmt::format("Invalid value: {}: {}", rendered, detail));
  }
  void not_supported(const std::string& field, const std::string& value,
                     const std::vector<std::string>& valid) {
    std::vector<std::string> quoted;
    quoted.reserve(valid.size());
    for (const auto& v : valid) quoted.push_back(json(v).dump());
    add("FieldValueNotSupported", field,
        fmt::format("Unsupported value: {}: supported values: {}", json(value).dump(),
                    fmt::join(quoted, ", ")));
  }
  void forbidden(const std::string& field, const std::string& detail) {
    add("FieldValueForbidden", field, "Forbidden: " + detail);
  }
  void duplicate(const std::string& field, const std::string& rendered) {
    add("FieldValueDuplicate", field, "Duplicate value: " + rendered);
  }
  void type_invalid(const std::string& field, const char* type) {
    add("FieldValueTypeInvalid", field, fmt::format("Invalid value: must be {}", type));
  }
  // A required string with a closed set of values.
  void enumerated(const json& obj, const char* key, const std::string& field,
                  const std::vector<std::string>& valid) {
    std::string value = string_at(obj, key);
    if (value.empty()) {
      required(field, "");
    } else if (std::find(valid.begin(), valid.end(), value) == valid.end()) {
      not_supported(field, value, valid);
    }
  }
  std::vector<Cause> take() { return std::move(causes_); }

 private:
  void add(const char* reason, const std::string& field, std::string message) {
    causes_.push_back(Cause{reason, field, std::move(message)});
  }
  std::vector<Cause> causes_;
};

// An integer field: nullopt when absent or null; a type error when present
// but not an integer.
std::optional<int64_t> int_field(const json& obj, const char* key, const std::string& field, Errors& errors) {
  if (!obj.is_object()) return std::nullopt;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) {
    errors.type_invalid(field, "an integer");
    return std::nullopt;
  }
  return it->get<int64_t>();
}

const char* const kPortRange = "must be between 1 and 65535, inclusive";
const char* const kNonNegative = "must be greater than or equal to 0";
const char* const kIpFormat = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";

void non_negative(const json& obj, const char* key, const std::string& field, Errors& errors) {
  auto value = int_field(obj, key, field, errors);
  if (value && *value < 0) errors.invalid(field, std::to_string(*value), kNonNegative);
}

bool valid_ip(const std::string& text) {
  unsigned char buf[16];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

// validation.IsValidPortName (IANA_SVC_NAME).
std::vector<std::string> port_name_problems(const std::string& port) {
  std::vector<std::string> errs;
  if (port.size() < 1 || port.size() > 15) errs.emplace_back("must be no more than 15 characters");
  bool alnum_hyphen = std::all_of(port.begin(), port.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
  if (!alnum_hyphen)
    errs.emplace_back("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
  if (!std::any_of(port.begin(), port.end(), [](char c) { return c >= 'a' && c <= 'z'; }))
    errs.emplace_back("must contain at least one letter (a-z)");
  if (port.find("--") != std::string::npos) errs.emplace_back("must not contain consecutive hyphens");
  if (!port.empty() && (port.front() == '-' || port.back() == '-'))
    errs.emplace_back("must not begin or end with a hyphen");
  return errs;
}

// ValidatePortNumOrName (probes' ports, service targetPort).
void port_num_or_name(const json& obj, const char* key, const std::string& field, Errors& errors) {
  if (!obj.is_object() || !obj.contains(key)) return;
  const json& value = obj.at(key);
  if (value.is_number_integer()) {
    int64_t port = value.get<int64_t>();
    if (port < 1 || port > 65535) errors.invalid(field, std::to_string(port), kPortRange);
  } else if (value.is_string()) {
    std::string name = value.get<std::string>();
    if (name.empty()) {
      errors.required(field, "");
      return;
    }
    for (const auto& p : port_name_problems(name)) errors.invalid(field, render(value), p);
  } else {
    errors.type_invalid(field, "an integer or a string");
  }
}

void port_number(const json& obj, const char* key, const std::string& field, Errors& errors,
                 bool zero_required) {
  auto port = int_field(obj, key, field, errors);
  if (!port) {
    if (zero_required && !has(obj, key)) errors.required(field, "");
    return;
  }
  if (*port == 0 && zero_required) {
    errors.required(field, "");
  } else if (*port < 1 || *port > 65535) {
    errors.invalid(field, std::to_string(*port), kPortRange);
  }
}

// ValidateLabels on a map field (nodeSelector, selectors).
void validate_labels(const json* map, const std::string& field, Errors& errors) {
  if (map == nullptr) return;
  for (const auto& [key, value] : map->items()) {
    for (const auto& p : validate_qualified_name(key)) errors.invalid(field, json(key).dump(), p);
    if (!value.is_string()) {
      errors.type_invalid(fmt::format("{}.{}", field, key), "a string");
      continue;
    }
    for (const auto& p : validate_label_value(value.get<std::string>()))
      errors.invalid(field, render(value), p);
  }
}

const std::vector<std::string> kProtocols = {"SCTP", "TCP", "UDP"};

void validate_probe(const json& c, const char* key, const std::string& field, bool success_must_be_one,
                    Errors& errors) {
  const json* probe = object_at(c, key);
  if (probe == nullptr) return;
  int handlers = 0;
  for (const char* handler : {"exec", "httpGet", "tcpSocket", "grpc"})
    if (has(*probe, handler)) ++handlers;
  if (handlers == 0) errors.required(field, "must specify a handler type");
  if (handlers > 1) errors.forbidden(field, "may not specify more than 1 handler type");
  for (const char* number :
       {"initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"})
    non_negative(*probe, number, field + "." + number, errors);
  auto success = int_field(*probe, "successThreshold", field + ".successThreshold", errors);
  if (success_must_be_one && success && *success != 1)
    errors.invalid(field + ".successThreshold", std::to_string(*success), "must be 1");
  if (const json* get = object_at(*probe, "httpGet")) {
    port_num_or_name(*get, "port", field + ".httpGet.port", errors);
    errors.enumerated(*get, "scheme", field + ".httpGet.scheme", {"HTTP", "HTTPS"});
  }
  if (const json* tcp = object_at(*probe, "tcpSocket"))
    port_num_or_name(*tcp, "port", field + ".tcpSocket.port", errors);
}

void validate_containers(const json& spec, const char* list_key, const std::string& path, bool required,
                         std::set<std::string>& names, std::set<std::string>& port_names, Errors& errors) {
  const json* list = array_at(spec, list_key);
  const std::string list_path = path + "." + list_key;
  if (list == nullptr || list->empty()) {
    if (required) errors.required(list_path, "");
    return;
  }
  bool regular = std::string(list_key) == "containers";
  for (size_t i = 0; i < list->size(); ++i) {
    const json& c = (*list)[i];
    const std::string p = fmt::format("{}[{}]", list_path, i);
    if (!c.is_object()) {
      errors.type_invalid(p, "an object");
      continue;
    }
    std::string name = string_at(c, "name");
    if (name.empty()) {
      errors.required(p + ".name", "");
    } else {
      for (const auto& problem : validate_dns1123_label(name))
        errors.invalid(p + ".name", json(name).dump(), problem);
      if (!names.insert(name).second) errors.duplicate(p + ".name", json(name).dump());
    }
    if (string_at(c, "image").empty()) errors.required(p + ".image", "");
    errors.enumerated(c, "imagePullPolicy", p + ".imagePullPolicy", {"Always", "IfNotPresent", "Never"});
    std::string message_policy = string_at(c, "terminationMessagePolicy");
    if (!message_policy.empty() && message_policy != "File" && message_policy != "FallbackToLogsOnError")
      errors.not_supported(p + ".terminationMessagePolicy", message_policy,
                           {"File", "FallbackToLogsOnError"});
    if (const json* ports = array_at(c, "ports")) {
      for (size_t j = 0; j < ports->size(); ++j) {
        const json& port = (*ports)[j];
        const std::string pp = fmt::format("{}.ports[{}]", p, j);
        std::string port_name = string_at(port, "name");
        if (!port_name.empty()) {
          for (const auto& problem : port_name_problems(port_name))
            errors.invalid(pp + ".name", json(port_name).dump(), problem);
          if (!port_names.insert(port_name).second) errors.duplicate(pp + ".name", json(port_name).dump());
        }
        port_number(port, "containerPort", pp + ".containerPort", errors, true);
        auto host_port = int_field(port, "hostPort", pp + ".hostPort", errors);
        if (host_port && *host_port != 0 && (*host_port < 1 || *host_port > 65535))
          errors.invalid(pp + ".hostPort", std::to_string(*host_port), kPortRange);
        errors.enumerated(port, "protocol", pp + ".protocol", kProtocols);
      }
    }
    // Liveness and startup probes need successThreshold 1; init containers
    // may not have probes at all (restartable sidecars aside).
    if (regular) {
      validate_probe(c, "livenessProbe", p + ".livenessProbe", true, errors);
      validate_probe(c, "readinessProbe", p + ".readinessProbe", false, errors);
      validate_probe(c, "startupProbe", p + ".startupProbe", true, errors);
    }
  }
}

void validate_tolerations(const json& spec, const std::string& path, Errors& errors) {
  const json* list = array_at(spec, "tolerations");
  if (list == nullptr) return;
  for (size_t i = 0; i < list->size(); ++i) {
    const json& t = (*list)[i];
    const std::string p = fmt::format("{}.tolerations[{}]", path, i);
    std::string key = string_at(t, "key");
    if (!key.empty())
      for (const auto& problem : validate_qualified_name(key))
        errors.invalid(p + ".key", json(key).dump(), problem);
    std::string op = string_at(t, "operator");
    if (key.empty() && op != "Exists")
      errors.invalid(
          p + ".operator", json(op).dump(),
          "operator must be Exists when `key` is empty, which means \"match all values and all keys\"");
    if (op == "Exists" && !string_at(t, "value").empty())
      errors.invalid(p + ".operator", json(string_at(t, "value")).dump(),
                     "value must be empty when `operator` is 'Exists'");
    if (!op.empty() && op != "Exists" && op != "Equal")
      errors.not_supported(p + ".operator", op, {"Equal", "Exists"});
    std::string effect = string_at(t, "effect");
    if (has(t, "tolerationSeconds") && effect != "NoExecute")
      errors.invalid(p + ".effect", json(effect).dump(),
                     "effect must be 'NoExecute' when `tolerationSeconds` is set");
    if (!effect.empty() && effect != "NoSchedule" && effect != "PreferNoSchedule" && effect != "NoExecute")
      errors.not_supported(p + ".effect", effect, {"NoSchedule", "PreferNoSchedule", "NoExecute"});
  }
}

// ValidatePodSpec, the parts shakeout's components act on. `path` is "spec"
// for pods, "spec.template.spec" for workloads.
void validate_pod_spec(const json& spec, const std::string& path, Errors& errors) {
  std::set<std::string> names;
  std::set<std::string> port_names;
  validate_containers(spec, "initContainers", path, false, names, port_names, errors);
  validate_containers(spec, "containers", path, true, names, port_names, errors);
  errors.enumerated(spec, "restartPolicy", path + ".restartPolicy", {"Always", "OnFailure", "Never"});
  errors.enumerated(spec, "dnsPolicy", path + ".dnsPolicy",
                    {"ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"});
  non_negative(spec, "terminationGracePeriodSeconds", path + ".terminationGracePeriodSeconds", errors);
  auto deadline = int_field(spec, "activeDeadlineSeconds", path + ".activeDeadlineSeconds", errors);
  if (deadline && (*deadline < 1 || *deadline > 2147483647))
    errors.invalid(path + ".activeDeadlineSeconds", std::to_string(*deadline),
                   "must be between 1 and 2147483647, inclusive");
  std::string node_name = string_at(spec, "nodeName");
  if (!node_name.empty())
    for (const auto& problem : validate_dns1123_subdomain(node_name))
      errors.invalid(path + ".nodeName", json(node_name).dump(), problem);
  validate_labels(object_at(spec, "nodeSelector"), path + ".nodeSelector", errors);
  validate_tolerations(spec, path, errors);
}

// The mutable bits of a pod spec, reset to the old values so that what
// remains must be equal (ValidatePodUpdate's mungedPodSpec).
json munge_pod_spec(json updated, const json& old) {
  for (const char* list : {"containers", "initContainers"}) {
    json* now = array_at(updated, list);
    const json* before = array_at(old, list);
    if (now == nullptr || before == nullptr) continue;
    for (size_t i = 0; i < now->size() && i < before->size(); ++i) {
      if (!(*now)[i].is_object() || !(*before)[i].is_object()) continue;
      // An image may change, but not to empty (reported on its own).
      if (!string_at((*now)[i], "image").empty() && (*before)[i].contains("image"))
        (*now)[i]["image"] = (*before)[i]["image"];
    }
  }
  if (has(updated, "activeDeadlineSeconds")) {
    if (old.contains("activeDeadlineSeconds")) {
      updated["activeDeadlineSeconds"] = old["activeDeadlineSeconds"];
    } else {
      updated.erase("activeDeadlineSeconds");
    }
  }
  // Tolerations: additions only (every old toleration still present).
  const json* old_tolerations = array_at(old, "tolerations");
  const json* new_tolerations = array_at(updated, "tolerations");
  if (new_tolerations != nullptr) {
    bool superset = true;
    if (old_tolerations != nullptr)
      for (const auto& t : *old_tolerations)
        if (std::find(new_tolerations->begin(), new_tolerations->end(), t) == new_tolerations->end())
          superset = false;
    if (superset) {
      if (old.contains("tolerations")) {
        updated["tolerations"] = old["tolerations"];
      } else {
        updated.erase("tolerations");
      }
    }
  }
  // A negative grace period (allowed by old servers) may become 1.
  auto old_grace = old.find("terminationGracePeriodSeconds");
  if (old_grace != old.end() && old_grace->is_number_integer() && old_grace->get<int64_t>() < 0 &&
      updated.value("terminationGracePeriodSeconds", json()) == json(1))
    updated["terminationGracePeriodSeconds"] = *old_grace;
  return updated;
}

void validate_pod(const json& pod, const json* old, Errors& errors) {
  const json* spec = object_at(pod, "spec");
  if (spec == nullptr) {
    errors.required("spec.containers", "");
    return;
  }
  validate_pod_spec(*spec, "spec", errors);
  if (old == nullptr) return;
  const json* old_spec = object_at(*old, "spec");
  if (old_spec == nullptr) return;
  if (munge_pod_spec(*spec, *old_spec) != *old_spec)
    // Upstream appends a Go cmp.Diff of the two specs to this message.
    errors.forbidden(
        "spec",
        "pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
        "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set "
        "to 1 if it was previously negative)");
}

// ValidateDeploymentSpec / ValidateReplicaSetSpec: selector, template,
// replicas.
void validate_workload_spec(const json& spec, Errors& errors) {
  non_negative(spec, "replicas", "spec.replicas", errors);
  non_negative(spec, "minReadySeconds", "spec.minReadySeconds", errors);
  const json* selector = object_at(spec, "selector");
  if (selector == nullptr) {
    errors.required("spec.selector", "");
  } else {
    validate_labels(object_at(*selector, "matchLabels"), "spec.selector.matchLabels", errors);
    const json* labels = object_at(*selector, "matchLabels");
    const json* exprs = array_at(*selector, "matchExpressions");
    if ((labels == nullptr || labels->empty()) && (exprs == nullptr || exprs->empty()))
      errors.invalid("spec.selector", render_label_selector(*selector),
                     "empty selector is invalid for deployment");
  }
  const json* tmpl = object_at(spec, "template");
  const json* tmpl_meta = tmpl ? object_at(*tmpl, "metadata") : nullptr;
  const json* tmpl_labels = tmpl_meta ? object_at(*tmpl_meta, "labels") : nullptr;
  validate_labels(tmpl_labels, "spec.template.metadata.labels", errors);
  if (selector != nullptr && !label_selector_matches(*selector, tmpl_labels))
    errors.invalid("spec.template.metadata.labels", render_string_map(tmpl_labels),
                   "`selector` does not match template `labels`");
  const json* pod_spec = tmpl ? object_at(*tmpl, "spec") : nullptr;
  if (pod_spec == nullptr) {
    errors.required("spec.template.spec.containers", "");
    return;
  }
  validate_pod_spec(*pod_spec, "spec.template.spec", errors);
  std::string restart = string_at(*pod_spec, "restartPolicy");
  if (!restart.empty() && restart != "Always")
    errors.not_supported("spec.template.spec.restartPolicy", restart, {"Always"});
  if (has(*pod_spec, "activeDeadlineSeconds"))
    errors.forbidden("spec.template.spec.activeDeadlineSeconds",
                     "activeDeadlineSeconds in ReplicaSet is not Supported");
}

void selector_immutable(const json& obj, const json* old, Errors& errors) {
  if (old == nullptr) return;
  const json* now = object_at(obj, "spec");
  const json* before = object_at(*old, "spec");
  if (now == nullptr || before == nullptr) return;
  json new_selector = now->value("selector", json());
  if (new_selector != before->value("selector", json()))
    errors.invalid("spec.selector", new_selector.is_object() ? render_label_selector(new_selector) : "null",
                   "field is immutable");
}

// An IntOrString rendered as upstream (its String(): bare).
std::string render_int_or_string(const json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

// ValidatePositiveIntOrPercent (+ IsNotMoreThan100Percent for maxUnavailable).
void int_or_percent(const json& obj, const char* key, const std::string& field, bool at_most_100,
                    Errors& errors) {
  if (!has(obj, key)) return;
  const json& value = obj.at(key);
  if (value.is_number_integer()) {
    if (value.get<int64_t>() < 0) errors.invalid(field, value.dump(), kNonNegative);
    return;
  }
  if (!value.is_string()) {
    errors.type_invalid(field, "an integer or a string");
    return;
  }
  std::string text = value.get<std::string>();
  bool percent = text.size() >= 2 && text.back() == '%' &&
                 std::all_of(text.begin(), text.end() - 1, [](char c) { return c >= '0' && c <= '9'; });
  if (!percent) {
    errors.invalid(
        field, text,
        "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or "
        "'93%', regex used for validation is '[0-9]+%')");
    return;
  }
  if (at_most_100 && std::stol(text.substr(0, text.size() - 1)) > 100)
    errors.invalid(field, text, "must not be greater than 100%");
}

bool is_zero_int_or_percent(const json& value) {
  return (value.is_number_integer() && value.get<int64_t>() == 0) || value == json("0%");
}

void validate_deployment(const json& deploy, const json* old, Errors& errors) {
  const json* spec = object_at(deploy, "spec");
  if (spec == nullptr) {
    errors.required("spec.selector", "");
    return;
  }
  validate_workload_spec(*spec, errors);
  if (const json* strategy = object_at(*spec, "strategy")) {
    std::string type = string_at(*strategy, "type");
    errors.enumerated(*strategy, "type", "spec.strategy.type", {"Recreate", "RollingUpdate"});
    const json* rolling = object_at(*strategy, "rollingUpdate");
    if (type == "Recreate" && rolling != nullptr)
      errors.forbidden("spec.strategy.rollingUpdate",
                       "may not be specified when strategy `type` is 'Recreate'");
    if (type == "RollingUpdate" && rolling != nullptr) {
      int_or_percent(*rolling, "maxUnavailable", "spec.strategy.rollingUpdate.maxUnavailable", true, errors);
      int_or_percent(*rolling, "maxSurge", "spec.strategy.rollingUpdate.maxSurge", false, errors);
      json unavailable = rolling->value("maxUnavailable", json());
      json surge = rolling->value("maxSurge", json());
      if (is_zero_int_or_percent(unavailable) && is_zero_int_or_percent(surge))
        errors.invalid("spec.strategy.rollingUpdate.maxUnavailable", render_int_or_string(unavailable),
                       "may not be 0 when `maxSurge` is 0");
    }
  }
  non_negative(*spec, "revisionHistoryLimit", "spec.revisionHistoryLimit", errors);
  auto deadline = int_field(*spec, "progressDeadlineSeconds", "spec.progressDeadlineSeconds", errors);
  if (deadline) {
    if (*deadline < 0)
      errors.invalid("spec.progressDeadlineSeconds", std::to_string(*deadline), kNonNegative);
    int64_t min_ready = spec->value("minReadySeconds", json(0)).is_number_integer()
                            ? spec->value("minReadySeconds", json(0)).get<int64_t>()
                            : 0;
    if (*deadline <= min_ready)
      errors.invalid("spec.progressDeadlineSeconds", std::to_string(*deadline),
                     "must be greater than minReadySeconds");
  }
  selector_immutable(deploy, old, errors);
}

void validate_replica_set(const json& rs, const json* old, Errors& errors) {
  const json* spec = object_at(rs, "spec");
  if (spec == nullptr) {
    errors.required("spec.selector", "");
    return;
  }
  validate_workload_spec(*spec, errors);
  selector_immutable(rs, old, errors);
}

// ValidateService (pkg/apis/core/validation), the fields the proxy and the
// endpoints controller read.
void validate_service(const json& svc, const json* old, Errors& errors) {
  const json* spec_ptr = object_at(svc, "spec");
  const json empty = json::object();
  const json& spec = spec_ptr ? *spec_ptr : empty;
  std::string type = string_at(spec, "type");
  const std::vector<std::string> types = {"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"};
  if (!type.empty() && std::find(types.begin(), types.end(), type) == types.end())
    errors.not_supported("spec.type", type, types);
  std::string cluster_ip = string_at(spec, "clusterIP");
  bool headless = cluster_ip == "None";
  const json* ports = array_at(spec, "ports");
  if ((ports == nullptr || ports->empty()) && !headless && type != "ExternalName")
    errors.required("spec.ports", "");
  if (type == "ExternalName" && string_at(spec, "externalName").empty())
    errors.required("spec.externalName", "");
  if (ports != nullptr) {
    std::set<std::string> names;
    std::set<std::string> node_ports;
    bool require_name = ports->size() > 1;
    for (size_t i = 0; i < ports->size(); ++i) {
      const json& port = (*ports)[i];
      const std::string p = fmt::format("spec.ports[{}]", i);
      std::string name = string_at(port, "name");
      if (name.empty()) {
        if (require_name) errors.required(p + ".name", "");
      } else {
        for (const auto& problem : validate_dns1123_label(name))
          errors.invalid(p + ".name", json(name).dump(), problem);
        if (!names.insert(name).second) errors.duplicate(p + ".name", json(name).dump());
      }
      port_number(port, "port", p + ".port", errors, false);
      if (!has(port, "port")) errors.invalid(p + ".port", "0", kPortRange);
      errors.enumerated(port, "protocol", p + ".protocol", kProtocols);
      port_num_or_name(port, "targetPort", p + ".targetPort", errors);
      auto node_port = int_field(port, "nodePort", p + ".nodePort", errors);
      if (node_port && *node_port != 0) {
        if (type == "ClusterIP")
          errors.forbidden(p + ".nodePort", "may not be used when `type` is 'ClusterIP'");
        if (*node_port < 1 || *node_port > 65535)
          errors.invalid(p + ".nodePort", std::to_string(*node_port), kPortRange);
        if (!node_ports.insert(std::to_string(*node_port) + "/" + string_at(port, "protocol")).second)
          errors.duplicate(p + ".nodePort", std::to_string(*node_port));
      }
    }
  }
  const json* ips = array_at(spec, "clusterIPs");
  if (ips != nullptr) {
    for (size_t i = 0; i < ips->size(); ++i) {
      const json& ip = (*ips)[i];
      std::string text = ip.is_string() ? ip.get<std::string>() : "";
      if (text != "None" && !text.empty() && !valid_ip(text))
        errors.invalid(fmt::format("spec.clusterIPs[{}]", i), render(ip), kIpFormat);
    }
  } else if (!cluster_ip.empty() && !headless && !valid_ip(cluster_ip)) {
    errors.invalid("spec.clusterIPs[0]", json(cluster_ip).dump(), kIpFormat);
  }
  std::string affinity = string_at(spec, "sessionAffinity");
  if (!affinity.empty() && affinity != "ClientIP" && affinity != "None")
    errors.not_supported("spec.sessionAffinity", affinity, {"ClientIP", "None"});
  for (const char* policy : {"externalTrafficPolicy", "internalTrafficPolicy"}) {
    std::string value = string_at(spec, policy);
    if (!value.empty() && value != "Cluster" && value != "Local")
      errors.not_supported(std::string("spec.") + policy, value, {"Cluster", "Local"});
  }
  validate_labels(object_at(spec, "selector"), "spec.selector", errors);
  // Update: the cluster IP may not change once allocated (unless the
  // service becomes ExternalName, which gives it up).
  if (old == nullptr || type == "ExternalName") return;
  const json* old_spec = object_at(*old, "spec");
  std::string old_ip = old_spec ? string_at(*old_spec, "clusterIP") : "";
  if (!old_ip.empty() && old_ip != cluster_ip)
    errors.invalid("spec.clusterIPs[0]", render_string_slice(ips), "may not change once set");
}

void validate_node(const json& node, Errors& errors) {
  const json* spec = object_at(node, "spec");
  const json* taints = spec ? array_at(*spec, "taints") : nullptr;
  if (taints == nullptr) return;
  for (size_t i = 0; i < taints->size(); ++i) {
    const json& t = (*taints)[i];
    const std::string p = fmt::format("spec.taints[{}]", i);
    std::string key = string_at(t, "key");
    if (key.empty()) {
      errors.required(p + ".key", "");
    } else {
      for (const auto& problem : validate_qualified_name(key))
        errors.invalid(p + ".key", json(key).dump(), problem);
    }
    errors.enumerated(t, "effect", p + ".effect", {"NoSchedule", "PreferNoSchedule", "NoExecute"});
  }
}

// ValidateEndpoints, minus validateNonSpecialIP: shakeout's pod IPs are
// loopback addresses (DESIGN §3), which upstream rejects.
void validate_endpoints(const json& ep, Errors& errors) {
  const json* subsets = array_at(ep, "subsets");
  if (subsets == nullptr) return;
  for (size_t i = 0; i < subsets->size(); ++i) {
    const json& subset = (*subsets)[i];
    const std::string p = fmt::format("subsets[{}]", i);
    for (const char* list : {"addresses", "notReadyAddresses"}) {
      const json* addresses = array_at(subset, list);
      if (addresses == nullptr) continue;
      for (size_t j = 0; j < addresses->size(); ++j) {
        std::string ip = string_at((*addresses)[j], "ip");
        if (!valid_ip(ip))
          errors.invalid(fmt::format("{}.{}[{}].ip", p, list, j), json(ip).dump(), kIpFormat);
      }
    }
    const json* ports = array_at(subset, "ports");
    if (ports == nullptr) continue;
    for (size_t j = 0; j < ports->size(); ++j) {
      const json& port = (*ports)[j];
      const std::string pp = fmt::format("{}.ports[{}]", p, j);
      std::string name = string_at(port, "name");
      if (name.empty() && ports->size() > 1) errors.required(pp + ".name", "");
      if (!name.empty())
        for (const auto& problem : validate_dns1123_label(name))
          errors.invalid(pp + ".name", json(name).dump(), problem);
      port_number(port, "port", pp + ".port", errors, false);
      if (!has(port, "port")) errors.invalid(pp + ".port", "0", kPortRange);
      errors.enumerated(port, "protocol", pp + ".protocol", kProtocols);
    }
  }
}

// pkg/apis/policy/validation: ValidatePodDisruptionBudgetSpec and
// ValidatePodDisruptionBudgetStatusUpdate.
void validate_pod_disruption_budget(const json& pdb, Errors& errors) {
  if (const json* spec = object_at(pdb, "spec")) {
    if (has(*spec, "minAvailable") && has(*spec, "maxUnavailable"))
      errors.invalid("spec", spec->dump(), "minAvailable and maxUnavailable cannot be both set");
    int_or_percent(*spec, "minAvailable", "spec.minAvailable", true, errors);
    int_or_percent(*spec, "maxUnavailable", "spec.maxUnavailable", true, errors);
    if (const json* selector = object_at(*spec, "selector"))
      validate_labels(object_at(*selector, "matchLabels"), "spec.selector.matchLabels", errors);
    std::string policy = string_at(*spec, "unhealthyPodEvictionPolicy");
    if (!policy.empty() && policy != "IfHealthyBudget" && policy != "AlwaysAllow")
      errors.not_supported("spec.unhealthyPodEvictionPolicy", policy, {"AlwaysAllow", "IfHealthyBudget"});
  }
  if (const json* status = object_at(pdb, "status")) {
    for (const char* key : {"disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"})
      non_negative(*status, key, std::string("status.") + key, errors);
  }
}

void validate_lease(const json& lease, Errors& errors) {
  const json* spec = object_at(lease, "spec");
  if (spec == nullptr) return;
  auto duration = int_field(*spec, "leaseDurationSeconds", "spec.leaseDurationSeconds", errors);
  if (duration && *duration <= 0)
    errors.invalid("spec.leaseDurationSeconds", std::to_string(*duration), "must be greater than 0");
  non_negative(*spec, "leaseTransitions", "spec.leaseTransitions", errors);
}

bool is(const ResourceInfo& resource, const char* group, const char* kind) {
  return resource.group == group && resource.kind == kind;
}

}  // namespace

std::string image_tag(const std::string& image) {
  std::string name = image;
  bool digest = false;
  if (auto at = name.find('@'); at != std::string::npos) {
    name.resize(at);
    digest = true;
  }
  // A ':' after the last '/' starts the tag (a ':' before it is a registry port).
  auto slash = name.rfind('/');
  auto colon = name.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash))
    return name.substr(colon + 1);
  return digest ? "" : "latest";
}

std::string pod_qos_class(const json& pod) {
  const json* spec = object_at(pod, "spec");
  std::map<std::string, double> requests;
  std::map<std::string, double> limits;
  bool guaranteed = true;
  bool any_container = false;
  for (const char* list : {"initContainers", "containers"}) {
    const json* containers = spec ? array_at(*spec, list) : nullptr;
    if (containers == nullptr) continue;
    for (const auto& c : *containers) {
      any_container = true;
      const json* resources = object_at(c, "resources");
      std::set<std::string> limits_found;
      for (const char* kind : {"requests", "limits"}) {
        const json* map = resources ? object_at(*resources, kind) : nullptr;
        if (map == nullptr) continue;
        for (const auto& [name, value] : map->items()) {
          if (name != "cpu" && name != "memory") continue;  // QoS compute resources
          auto parsed = quantity_of(value);
          if (!parsed || parsed->milli_value() == 0) continue;
          const double quantity = parsed->as_double();
          if (std::string(kind) == "requests") {
            requests[name] += quantity;
          } else {
            limits[name] += quantity;
            limits_found.insert(name);
          }
        }
      }
      if (limits_found.size() != 2) guaranteed = false;
    }
  }
  if (requests.empty() && limits.empty()) return "BestEffort";
  if (!any_container) return "BestEffort";
  for (const auto& [name, value] : requests)
    if (limits.count(name) == 0 || std::abs(limits[name] - value) > 1e-9 * std::max(1.0, value))
      guaranteed = false;
  return guaranteed && requests.size() == limits.size() ? "Guaranteed" : "Burstable";
}

void apply_defaults(const ResourceInfo& resource, json& object) {
  if (!object.is_object()) return;
  if (is(resource, "", "Pod")) {
    default_pod(object);
  } else if (is(resource, "", "Service")) {
    default_service(object);
  } else if (is(resource, "apps", "Deployment")) {
    default_deployment(object);
  } else if (is(resource, "apps", "ReplicaSet")) {
    default_replica_set(object);
  } else if (is(resource, "", "Namespace")) {
    default_namespace(object);
  } else if (is(resource, "", "Node")) {
    default_node(object);
  } else if (is(resource, "", "Endpoints")) {
    default_endpoints(object);
  } else if (is(resource, "discovery.k8s.io", "EndpointSlice")) {
    default_endpoint_slice(object);
  }
  // Lease (coordination.k8s.io/v1) and Event (v1) have no defaulting upstream.
}

std::optional<std::string> admit_create(const ResourceInfo& resource, json& object,
                                        const AdmissionConfig& config) {
  if (!object.is_object()) return std::nullopt;
  if (is(resource, "", "Pod")) {
    add_default_tolerations(object, config);
    if (auto denied = admit_priority(object)) return denied;
    if (json* spec = object_at(object, "spec");
        spec != nullptr && string_at(*spec, "serviceAccountName").empty()) {
      (*spec)["serviceAccountName"] = "default";
      (*spec)["serviceAccount"] = "default";
    }
    // PrepareForCreate: a new pod is Pending with its QoS class (computed
    // after admission, which may add resources upstream).
    json status = json::object();
    status["phase"] = "Pending";
    status["qosClass"] = pod_qos_class(object);
    object["status"] = std::move(status);
  } else if (is(resource, "", "Namespace")) {
    // pkg/registry/core/namespace/strategy.go PrepareForCreate.
    json* spec = ensure_object(object, "spec");
    if (spec != nullptr) {
      json* finalizers = array_at(*spec, "finalizers");
      if (finalizers == nullptr) {
        (*spec)["finalizers"] = json::array();
        finalizers = &(*spec)["finalizers"];
      }
      if (std::find(finalizers->begin(), finalizers->end(), json("kubernetes")) == finalizers->end())
        finalizers->push_back("kubernetes");
    }
    object["status"] = {{"phase", "Active"}};
  } else if (is(resource, "apps", "Deployment") || is(resource, "apps", "ReplicaSet")) {
    object["status"] = json::object();
  } else if (is(resource, "policy", "PodDisruptionBudget")) {
    // pkg/registry/policy/poddisruptionbudget/strategy.go PrepareForCreate:
    // an empty status, whose int32 fields serialize as 0.
    object["status"] = {
        {"currentHealthy", 0}, {"desiredHealthy", 0}, {"disruptionsAllowed", 0}, {"expectedPods", 0}};
  } else if (is(resource, "", "Service")) {
    // ServiceStatus{} serializes its LoadBalancer struct as {}.
    object["status"] = {{"loadBalancer", json::object()}};
  }
  return std::nullopt;
}

void admit_update(const ResourceInfo& resource, json& object, const AdmissionConfig& config) {
  if (object.is_object() && is(resource, "", "Pod")) add_default_tolerations(object, config);
}

std::vector<Cause> validate_object(const ResourceInfo& resource, const json& object, const json* old) {
  Errors errors;
  if (!object.is_object()) return errors.take();
  if (is(resource, "", "Pod")) {
    validate_pod(object, old, errors);
  } else if (is(resource, "", "Service")) {
    validate_service(object, old, errors);
  } else if (is(resource, "apps", "Deployment")) {
    validate_deployment(object, old, errors);
  } else if (is(resource, "apps", "ReplicaSet")) {
    validate_replica_set(object, old, errors);
  } else if (is(resource, "", "Node")) {
    validate_node(object, errors);
  } else if (is(resource, "", "Endpoints")) {
    validate_endpoints(object, errors);
  } else if (is(resource, "coordination.k8s.io", "Lease")) {
    validate_lease(object, errors);
  } else if (is(resource, "policy", "PodDisruptionBudget")) {
    validate_pod_disruption_budget(object, errors);
  }
  return errors.take();
}

}  // namespace shakeout::api
