#include "api/patch.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <regex>
#include <vector>

namespace shakeout::api {

namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------
// Statuses upstream builds for patch failures that status.h has no builder for.

ApiError with_code(ApiError error, int code, const char* reason) {
  error.code = code;
  error.status["code"] = code;
  if (reason == nullptr) {
    error.status.erase("reason");  // metav1.StatusReasonUnknown is "" (omitempty)
  } else {
    error.status["reason"] = reason;
  }
  return error;
}

// errors.NewGenericServerResponse(422, ...) as patch.go uses it: the
// library's message is dropped, details is an empty object.
ApiError generic_invalid() {
  ApiError error = with_code(bad_request("the server rejected our request due to an error in our request"),
                             422, "Invalid");
  error.status["details"] = json::object();
  return error;
}

// A plain Go error reaching the handler: ErrorToAPIStatus answers 500 with
// the error text and no reason.
ApiError unknown_error(const std::string& message) {
  return with_code(bad_request(message), 500, nullptr);
}

// ---------------------------------------------------------------------------
// Go formatting of decoded JSON values (map[string]interface{} and friends),
// used where upstream's messages embed them with %v.

std::string go_format_value(const json& value);

std::string go_format_number(const json& value) {
  if (value.is_number_integer()) return value.dump();
  double d = value.get<double>();
  // %v of a float64 is %g with the shortest representation.
  std::string s = fmt::format("{}", d);
  if (s.find('e') != std::string::npos) {
    // Go writes the exponent with a sign and at least two digits: 1e+06.
    auto e = s.find('e');
    std::string mantissa = s.substr(0, e);
    std::string exponent = s.substr(e + 1);
    char sign = '+';
    if (!exponent.empty() && (exponent[0] == '-' || exponent[0] == '+')) {
      sign = exponent[0];
      exponent.erase(0, 1);
    }
    if (exponent.size() < 2) exponent.insert(0, "0");
    return mantissa + "e" + sign + exponent;
  }
  return s;
}

std::string go_format_value(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "<nil>";
    case json::value_t::string:
      return value.get<std::string>();
    case json::value_t::boolean:
      return value.get<bool>() ? "true" : "false";
    case json::value_t::array: {
      std::string out = "[";
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (i > 0) out += " ";
        out += go_format_value(value[i]);
      }
      return out + "]";
    }
    case json::value_t::object: {
      std::string out = "map[";
      bool first = true;
      for (const auto& [key, member] : value.items()) {
        if (!first) out += " ";
        first = false;
        out += key + ":" + go_format_value(member);
      }
      return out + "]";
    }
    default:
      return go_format_number(value);
  }
}

// reflect.TypeOf(v).String() for a decoded JSON value.
std::string go_type_name(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "%!s(<nil>)";
    case json::value_t::string:
      return "string";
    case json::value_t::boolean:
      return "bool";
    case json::value_t::array:
      return "[]interface {}";
    case json::value_t::object:
      return "map[string]interface {}";
    case json::value_t::number_float:
      return "float64";
    default:
      return "int64";
  }
}

// The JSON type name Go's decoder uses in "cannot unmarshal X into ...".
const char* go_json_kind(const json& value) {
  switch (value.type()) {
    case json::value_t::string:
      return "string";
    case json::value_t::boolean:
      return "bool";
    case json::value_t::array:
      return "array";
    case json::value_t::object:
      return "object";
    default:
      return "number";
  }
}

// Decodes a request body as Go's encoding/json would before any type check:
// a syntax error comes back with Go's wording.
Result<json> parse_go_json(std::string_view text) {
  if (auto error = go_json_syntax_error(text)) return make_error(ErrorCode::kInvalidArgument, *error);
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    // Valid for Go (which replaces bad UTF-8) but not for nlohmann.
    return make_error(ErrorCode::kInvalidArgument, "invalid UTF-8 in JSON input");
  }
  return parsed;
}

// ---------------------------------------------------------------------------
// JSON patch (gopkg.in/evanphx/json-patch.v4, patch.go).

constexpr const char* kErrMissing = "missing value";
constexpr const char* kErrInvalidIndex = "invalid index referenced";
constexpr const char* kErrTestFailed = "test failed";
// patch.go's maxJSONPatchOperations.
constexpr std::size_t kMaxJsonPatchOperations = 10000;

// strconv.Atoi: optional sign, decimal digits, no spaces.
std::optional<long long> go_atoi(std::string_view s) {
  std::string_view digits = s;
  bool negative = false;
  if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  if (digits.empty()) return std::nullopt;
  long long value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return std::nullopt;
  return negative ? -value : value;
}

std::string atoi_error(std::string_view s) {
  return fmt::format("strconv.Atoi: parsing \"{}\": invalid syntax", s);
}

std::string decode_pointer_token(std::string_view token) {
  // RFC 6901: "~1" -> "/", then "~0" -> "~" (a single left-to-right pass, as
  // Go's strings.NewReplacer does).
  std::string out;
  for (std::size_t i = 0; i < token.size(); ++i) {
    if (token[i] == '~' && i + 1 < token.size() && (token[i + 1] == '0' || token[i + 1] == '1')) {
      out += token[i + 1] == '1' ? '/' : '~';
      ++i;
    } else {
      out += token[i];
    }
  }
  return out;
}

std::vector<std::string_view> split(std::string_view s, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t at = s.find(separator, start);
    if (at == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, at - start));
    start = at + 1;
  }
}

// Resolves an array index as partialArray.get does; nullopt when invalid.
Result<std::size_t> array_index(const json& array, std::string_view key) {
  auto index = go_atoi(key);
  if (!index) return make_error(ErrorCode::kInvalidArgument, atoi_error(key));
  long long i = *index;
  auto size = static_cast<long long>(array.size());
  if (i < 0) {
    if (i < -size)
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("Unable to access invalid index: {}: {}", i, kErrInvalidIndex));
    i += size;
  }
  if (i >= size) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("Unable to access invalid index: {}: {}", i, kErrInvalidIndex));
  }
  return static_cast<std::size_t>(i);
}

// findObject: the container holding the last token of `path` and that
// token, or nullptr when an intermediate step is missing or not a container.
std::pair<json*, std::string> find_container(json& doc, std::string_view path) {
  std::vector<std::string_view> parts = split(path, '/');
  if (parts.size() < 2) return {nullptr, ""};
  json* current = &doc;
  for (std::size_t i = 1; i + 1 < parts.size(); ++i) {
    std::string token = decode_pointer_token(parts[i]);
    json* next = nullptr;
    if (current->is_object()) {
      auto it = current->find(token);
      if (it != current->end()) next = &*it;
    } else if (current->is_array()) {
      auto index = array_index(*current, token);
      if (index.ok()) next = &(*current)[*index];
    }
    if (next == nullptr || !(next->is_object() || next->is_array())) return {nullptr, ""};
    current = next;
  }
  return {current, decode_pointer_token(parts.back())};
}

// container.get: the value (nullptr for a missing object key, which v4 does
// not treat as an error) or an error for a bad array index.
Result<json*> container_get(json& container, const std::string& key) {
  if (container.is_object()) {
    auto it = container.find(key);
    return it == container.end() || it->is_null() ? static_cast<json*>(nullptr) : &*it;
  }
  auto index = array_index(container, key);
  if (!index.ok()) return index.error();
  json* value = &container[*index];
  return value->is_null() ? static_cast<json*>(nullptr) : value;
}

Status container_add(json& container, const std::string& key, json value) {
  if (container.is_object()) {
    container[key] = std::move(value);
    return {};
  }
  if (key == "-") {
    container.push_back(std::move(value));
    return {};
  }
  auto index = go_atoi(key);
  if (!index) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("value was not a proper array index: '{}': {}", key, atoi_error(key)));
  }
  long long i = *index;
  auto grown = static_cast<long long>(container.size()) + 1;
  if (i >= grown || i < -grown) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("Unable to access invalid index: {}: {}", i, kErrInvalidIndex));
  }
  if (i < 0) i += grown;
  container.insert(container.begin() + i, std::move(value));
  return {};
}

Status container_remove(json& container, const std::string& key) {
  if (container.is_object()) {
    if (container.erase(key) == 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("Unable to remove nonexistent key: {}: {}", key, kErrMissing));
    }
    return {};
  }
  auto index = array_index(container, key);
  if (!index.ok()) return index.error();
  container.erase(container.begin() + static_cast<std::ptrdiff_t>(*index));
  return {};
}

// Operation.Path() / From(): a string member, else an error.
std::optional<std::string> op_string(const json& op, const char* member) {
  auto it = op.find(member);
  if (it == op.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

json op_value(const json& op) {
  auto it = op.find("value");
  return it == op.end() ? json() : *it;
}

Error patch_error(std::string message) {
  return make_error(ErrorCode::kInvalidArgument, std::move(message));
}

Status op_add(json& doc, const json& op) {
  auto path = op_string(op, "path");
  if (!path) return patch_error(fmt::format("add operation failed to decode path: {}", kErrMissing));
  auto [container, key] = find_container(doc, *path);
  if (container == nullptr) {
    return patch_error(
        fmt::format("add operation does not apply: doc is missing path: \"{}\": {}", *path, kErrMissing));
  }
  if (auto added = container_add(*container, key, op_value(op)); !added.ok()) {
    return patch_error(fmt::format("error in add for path: '{}': {}", *path, added.error().message));
  }
  return {};
}

Status op_remove(json& doc, const json& op) {
  auto path = op_string(op, "path");
  if (!path) return patch_error(fmt::format("remove operation failed to decode path: {}", kErrMissing));
  auto [container, key] = find_container(doc, *path);
  if (container == nullptr) {
    return patch_error(
        fmt::format("remove operation does not apply: doc is missing path: \"{}\": {}", *path, kErrMissing));
  }
  if (auto removed = container_remove(*container, key); !removed.ok()) {
    return patch_error(fmt::format("error in remove for path: '{}': {}", *path, removed.error().message));
  }
  return {};
}

constexpr const char* kMissingPathField = "operation missing path field: missing value";
constexpr const char* kMissingFromField = "operation, missing from field: missing value";

Status op_replace(json& doc, const json& op) {
  auto path = op_string(op, "path");
  if (!path)
    return patch_error(fmt::format("replace operation failed to decode path: {}", kMissingPathField));
  if (path->empty()) {
    json value = op_value(op);
    if (!value.is_object() && !value.is_array()) {
      return patch_error("replace operation value must be object or array: %!w(<nil>)");
    }
    doc = std::move(value);
    return {};
  }
  auto [container, key] = find_container(doc, *path);
  if (container == nullptr) {
    return patch_error(
        fmt::format("replace operation does not apply: doc is missing path: {}: {}", *path, kErrMissing));
  }
  if (container->is_object()) {
    (*container)[key] = op_value(op);  // v4 does not require the key to exist
    return {};
  }
  auto index = array_index(*container, key);
  if (!index.ok()) {
    return patch_error(
        fmt::format("replace operation does not apply: doc is missing key: {}: {}", *path, kErrMissing));
  }
  (*container)[*index] = op_value(op);
  return {};
}

Status op_move(json& doc, const json& op) {
  auto from = op_string(op, "from");
  if (!from) return patch_error(fmt::format("move operation failed to decode from: {}", kMissingFromField));
  auto [source, from_key] = find_container(doc, *from);
  if (source == nullptr) {
    return patch_error(
        fmt::format("move operation does not apply: doc is missing from path: {}: {}", *from, kErrMissing));
  }
  auto value = container_get(*source, from_key);
  if (!value.ok())
    return patch_error(fmt::format("error in move for path: '{}': {}", from_key, value.error().message));
  json moved = *value == nullptr ? json() : **value;
  if (auto removed = container_remove(*source, from_key); !removed.ok()) {
    return patch_error(fmt::format("error in move for path: '{}': {}", from_key, removed.error().message));
  }
  auto path = op_string(op, "path");
  if (!path) return patch_error(fmt::format("move operation failed to decode path: {}", kMissingPathField));
  auto [target, key] = find_container(doc, *path);
  if (target == nullptr) {
    return patch_error(fmt::format("move operation does not apply: doc is missing destination path: {}: {}",
                                   *path, kErrMissing));
  }
  if (auto added = container_add(*target, key, std::move(moved)); !added.ok()) {
    return patch_error(fmt::format("error in move for path: '{}': {}", *path, added.error().message));
  }
  return {};
}

Status op_test(json& doc, const json& op) {
  auto path = op_string(op, "path");
  if (!path) return patch_error(fmt::format("test operation failed to decode path: {}", kMissingPathField));
  std::string failed = fmt::format("testing value {} failed: {}", *path, kErrTestFailed);
  bool has_value = op.contains("value");
  json expected = op_value(op);
  if (path->empty()) {
    if (doc == expected) return {};
    return patch_error(failed);
  }
  auto [container, key] = find_container(doc, *path);
  if (container == nullptr) {
    return patch_error(
        fmt::format("test operation does not apply: is missing path: {}: {}", *path, kErrMissing));
  }
  auto value = container_get(*container, key);
  if (!value.ok())
    return patch_error(fmt::format("error in test for path: '{}': {}", *path, value.error().message));
  if (*value == nullptr) {
    // A missing (or null) value matches an absent or null "value".
    if (expected.is_null()) return {};
    return patch_error(failed);
  }
  if (!has_value || **value != expected) return patch_error(failed);
  return {};
}

Status op_copy(json& doc, const json& op) {
  auto from = op_string(op, "from");
  if (!from) return patch_error(fmt::format("copy operation failed to decode from: {}", kMissingFromField));
  auto [source, from_key] = find_container(doc, *from);
  if (source == nullptr) {
    return patch_error(
        fmt::format("copy operation does not apply: doc is missing from path: {}: {}", *from, kErrMissing));
  }
  auto value = container_get(*source, from_key);
  if (!value.ok())
    return patch_error(fmt::format("error in copy for from: '{}': {}", *from, value.error().message));
  json copied = *value == nullptr ? json() : **value;  // v4 copies a missing key as null
  auto path = op_string(op, "path");
  if (!path) return patch_error(fmt::format("copy operation failed to decode path: {}", kErrMissing));
  auto [target, key] = find_container(doc, *path);
  if (target == nullptr) {
    return patch_error(fmt::format("copy operation does not apply: doc is missing destination path: {}: {}",
                                   *path, kErrMissing));
  }
  if (auto added = container_add(*target, key, std::move(copied)); !added.ok()) {
    return patch_error("error while adding value during copy: " + added.error().message);
  }
  return {};
}

// The strict pre-decode into []handlers.jsonPatchOp that patch.go runs
// first: the body must be an array of objects whose op/path/from are strings.
std::optional<std::string> json_patch_type_error(const json& body) {
  if (body.is_null()) return std::nullopt;
  if (!body.is_array()) {
    return fmt::format("json: cannot unmarshal {} into Go value of type []handlers.jsonPatchOp",
                       go_json_kind(body));
  }
  for (const json& op : body) {
    if (op.is_null()) continue;
    if (!op.is_object()) {
      return fmt::format("json: cannot unmarshal {} into Go value of type handlers.jsonPatchOp",
                         go_json_kind(op));
    }
    for (const char* field : {"op", "path", "from"}) {
      auto it = op.find(field);
      if (it != op.end() && !it->is_null() && !it->is_string()) {
        return fmt::format("json: cannot unmarshal {} into Go struct field jsonPatchOp.{} of type string",
                           go_json_kind(*it), field);
      }
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// JSON merge patch (evanphx/json-patch merge.go).

// pruneNulls: drops null members of objects, at any depth.
void prune_nulls(json& value) {
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end();) {
      if (it->is_null()) {
        it = value.erase(it);
      } else {
        prune_nulls(*it);
        ++it;
      }
    }
  } else if (value.is_array()) {
    for (json& element : value) {
      if (!element.is_null()) prune_nulls(element);
    }
  }
}

void merge_docs(json& doc, const json& patch) {
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null()) {
      doc.erase(key);
      continue;
    }
    auto current = doc.find(key);
    if (current == doc.end() || current->is_null()) {
      json added = value;
      prune_nulls(added);
      doc[key] = std::move(added);
    } else if (!current->is_object()) {
      json replaced = value;
      prune_nulls(replaced);
      *current = std::move(replaced);
    } else if (!value.is_object()) {
      *current = value;  // merge.go returns the patch value unpruned here
    } else {
      merge_docs(*current, value);
    }
  }
}

// ---------------------------------------------------------------------------
// Strategic merge patch metadata: the patchStrategy / patchMergeKey tags of
// k8s.io/api for the types shakeout serves, one row per tagged field or per
// field whose value type has tagged fields. Types are named as in k8s.io/api;
// a kind's root type is its Kind.

struct FieldMeta {
  std::string_view type;        // owning struct
  std::string_view field;       // json name
  std::string_view strategy;    // patchStrategy tag: "", "merge", "retainKeys", "merge,retainKeys"
  std::string_view merge_key;   // patchMergeKey tag
  std::string_view value_type;  // struct type of the value or list element, if it has rows
};

constexpr FieldMeta kPatchMeta[] = {
    // meta/v1
    {"ObjectMeta", "finalizers", "merge", "", ""},
    {"ObjectMeta", "ownerReferences", "merge", "uid", ""},
    // core/v1 PodTemplateSpec, PodSpec, Container
    {"PodTemplateSpec", "metadata", "", "", "ObjectMeta"},
    {"PodTemplateSpec", "spec", "", "", "PodSpec"},
    {"PodSpec", "volumes", "merge,retainKeys", "name", ""},
    {"PodSpec", "initContainers", "merge", "name", "Container"},
    {"PodSpec", "containers", "merge", "name", "Container"},
    {"PodSpec", "ephemeralContainers", "merge", "name", "Container"},
    {"PodSpec", "imagePullSecrets", "merge", "name", ""},
    {"PodSpec", "hostAliases", "merge", "ip", ""},
    {"PodSpec", "topologySpreadConstraints", "merge", "topologyKey", ""},
    {"PodSpec", "schedulingGates", "merge", "name", ""},
    {"PodSpec", "resourceClaims", "merge,retainKeys", "name", ""},
    {"Container", "ports", "merge", "containerPort", ""},
    {"Container", "env", "merge", "name", ""},
    {"Container", "volumeMounts", "merge", "mountPath", ""},
    {"Container", "volumeDevices", "merge", "devicePath", ""},
    {"PodStatus", "conditions", "merge", "type", ""},
    {"PodStatus", "podIPs", "merge", "ip", ""},
    {"PodStatus", "hostIPs", "merge", "ip", ""},
    {"PodStatus", "resourceClaimStatuses", "merge,retainKeys", "name", ""},
    {"Pod", "metadata", "", "", "ObjectMeta"},
    {"Pod", "spec", "", "", "PodSpec"},
    {"Pod", "status", "", "", "PodStatus"},
    // core/v1 Node (taints and tolerations carry no tag: atomic lists)
    {"NodeSpec", "podCIDRs", "merge", "", ""},
    {"NodeStatus", "conditions", "merge", "type", ""},
    {"NodeStatus", "addresses", "merge", "type", ""},
    {"Node", "metadata", "", "", "ObjectMeta"},
    {"Node", "spec", "", "", "NodeSpec"},
    {"Node", "status", "", "", "NodeStatus"},
    // core/v1 Service, Namespace; Endpoints and Event have no tagged lists
    {"ServiceSpec", "ports", "merge", "port", ""},
    {"ServiceStatus", "conditions", "merge", "type", ""},
    {"Service", "metadata", "", "", "ObjectMeta"},
    {"Service", "spec", "", "", "ServiceSpec"},
    {"Service", "status", "", "", "ServiceStatus"},
    {"NamespaceStatus", "conditions", "merge", "type", ""},
    {"Namespace", "metadata", "", "", "ObjectMeta"},
    {"Namespace", "status", "", "", "NamespaceStatus"},
    {"Endpoints", "metadata", "", "", "ObjectMeta"},
    {"Event", "metadata", "", "", "ObjectMeta"},
    // apps/v1
    {"DeploymentSpec", "template", "", "", "PodTemplateSpec"},
    {"DeploymentSpec", "strategy", "retainKeys", "", ""},
    {"DeploymentStatus", "conditions", "merge", "type", ""},
    {"Deployment", "metadata", "", "", "ObjectMeta"},
    {"Deployment", "spec", "", "", "DeploymentSpec"},
    {"Deployment", "status", "", "", "DeploymentStatus"},
    {"ReplicaSetSpec", "template", "", "", "PodTemplateSpec"},
    {"ReplicaSetStatus", "conditions", "merge", "type", ""},
    {"ReplicaSet", "metadata", "", "", "ObjectMeta"},
    {"ReplicaSet", "spec", "", "", "ReplicaSetSpec"},
    {"ReplicaSet", "status", "", "", "ReplicaSetStatus"},
    // coordination.k8s.io/v1, discovery.k8s.io/v1 (atomic lists only)
    {"Lease", "metadata", "", "", "ObjectMeta"},
    {"EndpointSlice", "metadata", "", "", "ObjectMeta"},
};

// The strategy and merge key of one field of `type` ("" when untagged or
// unknown: maps merge, lists are replaced).
struct PatchMeta {
  bool merge = false;  // patchStrategy "merge" (retainKeys only matters to diffing)
  bool replace = false;
  std::string_view merge_key;
  std::string_view value_type;
};

PatchMeta lookup_meta(std::string_view type, std::string_view field) {
  PatchMeta meta;
  if (type.empty()) return meta;
  for (const FieldMeta& row : kPatchMeta) {
    if (row.type == type && row.field == field) {
      meta.merge = row.strategy.substr(0, 5) == "merge";
      meta.replace = row.strategy == "replace";
      meta.merge_key = row.merge_key;
      meta.value_type = row.value_type;
      return meta;
    }
  }
  return meta;
}

// ---------------------------------------------------------------------------
// Strategic merge patch (apimachinery pkg/util/strategicpatch/patch.go, the
// apply half: mergeMap with MergeParallelList and IgnoreUnmatchedNulls).

constexpr std::string_view kDirectiveMarker = "$patch";
constexpr std::string_view kRetainKeysDirective = "$retainKeys";
constexpr std::string_view kSetElementOrderPrefix = "$setElementOrder";
constexpr std::string_view kDeleteFromPrimitiveListPrefix = "$deleteFromPrimitiveList";

// How patch.go's interpretStrategicMergePatchError classifies an error.
enum class SmpClass {
  kBadRequest,  // mergepatch.ErrBadPatchFormat* -> 400
  kInvalid,     // mergepatch.ErrNoListOfLists -> 422 (generic wording)
  kUnknown,     // any other error -> 500 without reason
};

struct SmpError {
  SmpClass kind = SmpClass::kUnknown;
  std::string message;
};

template <typename T>
using SmpResult = BasicResult<T, SmpError>;
using SmpStatus = BasicResult<void, SmpError>;

SmpError smp_error(std::string message) {
  return SmpError{SmpClass::kUnknown, std::move(message)};
}

// mergepatch's sentinel errors.
SmpError err_bad_primitive_list() {
  return SmpError{SmpClass::kBadRequest, "invalid patch format of primitive list"};
}
SmpError err_bad_retain_keys() {
  return SmpError{SmpClass::kBadRequest, "invalid patch format of retainKeys"};
}
SmpError err_bad_set_element_order() {
  return SmpError{SmpClass::kBadRequest, "invalid patch format of setElementOrder list"};
}
SmpError err_no_list_of_lists() {
  return SmpError{SmpClass::kInvalid, "lists of lists are not supported"};
}

SmpError err_no_merge_key(const json& map, std::string_view key) {
  return smp_error(fmt::format("map: {} does not contain declared merge key: {}", go_format_value(map), key));
}

SmpError err_bad_arg_type(const char* expected, const json& actual) {
  return smp_error(fmt::format("expected a {}, but received a {}", expected, go_type_name(actual)));
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// extractKey: "<prefix>/<field>" -> field.
SmpResult<std::string> extract_key(std::string_view key, std::string_view prefix) {
  auto slash = key.find('/');
  if (slash == std::string_view::npos || key.substr(0, slash) != prefix) {
    return prefix == kSetElementOrderPrefix ? err_bad_set_element_order() : err_bad_primitive_list();
  }
  return std::string(key.substr(slash + 1));
}

// Go's reflect.TypeOf equality over decoded JSON values.
int go_type_class(const json& value) {
  switch (value.type()) {
    case json::value_t::number_unsigned:
      return static_cast<int>(json::value_t::number_integer);
    default:
      return static_cast<int>(value.type());
  }
}

// sliceElementType: whether the elements are maps; errors for lists of
// lists, mixed element types and empty input.
SmpResult<bool> slice_elements_are_maps(const json& a, const json& b) {
  const json* first = nullptr;
  for (const json* list : {&a, &b}) {
    for (const json& element : *list) {
      if (first == nullptr) {
        first = &element;
        if (element.is_array()) return err_no_list_of_lists();
      } else if (go_type_class(*first) != go_type_class(element)) {
        return smp_error(fmt::format("list element types are not identical: [{} {}]", go_format_value(a),
                                     go_format_value(b)));
      }
    }
  }
  if (first == nullptr) return smp_error("no elements in any of the given slices");
  return first->is_object();
}

// findMapInSliceBasedOnKeyValue: index of the map whose merge key equals
// `value`, -1 if none; errors when an element is not a map.
SmpResult<long> find_by_merge_key(const json& list, std::string_view key, const json& value) {
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json& element = list[i];
    if (!element.is_object()) return smp_error(fmt::format("value for key {} is not a map.", i));
    auto it = element.find(key);
    if (it != element.end() && *it == value) return static_cast<long>(i);
  }
  return -1L;
}

// index(): position of `item` in `list` by merge key (maps) or value.
long index_in(const json& list, const json& item, std::string_view merge_key, bool maps) {
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (!maps) {
      if (list[i] == item) return static_cast<long>(i);
      continue;
    }
    if (!list[i].is_object() || !item.is_object()) continue;
    auto a = list[i].find(merge_key);
    auto b = item.find(merge_key);
    if (a != list[i].end() && b != item.end() && *a == *b) return static_cast<long>(i);
  }
  return -1;
}

bool has_directive(const json& value, std::string_view directive) {
  if (!value.is_object()) return false;
  auto it = value.find(kDirectiveMarker);
  return it != value.end() && *it == directive;
}

// removeDirectives: drops maps carrying $patch (and their slots); nullopt
// means "drop this value".
std::optional<json> remove_directives(json value) {
  if (value.is_object()) {
    if (value.contains(kDirectiveMarker)) return std::nullopt;
    for (auto it = value.begin(); it != value.end();) {
      auto kept = remove_directives(std::move(*it));
      if (kept) {
        *it = std::move(*kept);
        ++it;
      } else {
        it = value.erase(it);
      }
    }
    return value;
  }
  if (value.is_array()) {
    json kept_elements = json::array();
    for (json& element : value) {
      if (auto kept = remove_directives(std::move(element))) kept_elements.push_back(std::move(*kept));
    }
    return kept_elements;
  }
  return value;
}

// normalizeSliceOrder: sorts `items` by their position in `order`; for maps,
// items deleting themselves ($patch: delete) go last.
SmpResult<json> normalize_slice_order(json items, const json& order, std::string_view merge_key, bool maps) {
  json to_delete = json::array();
  if (maps) {
    for (const json* list : std::initializer_list<const json*>{&items, &order}) {
      for (const json& element : *list) {
        if (!element.is_object()) return err_bad_arg_type("map[string]interface {}", element);
        if (!element.contains(merge_key)) return err_no_merge_key(element, merge_key);
      }
    }
    json kept = json::array();
    for (json& element : items) {
      (has_directive(element, "delete") ? to_delete : kept).push_back(std::move(element));
    }
    items = std::move(kept);
  }
  std::vector<std::pair<long, json>> keyed;
  keyed.reserve(items.size());
  for (json& element : items) {
    long at = index_in(order, element, merge_key, maps);
    keyed.emplace_back(at < 0 ? std::numeric_limits<long>::max() : at, std::move(element));
  }
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](const auto& l, const auto& r) { return l.first < r.first; });
  json sorted = json::array();
  for (auto& [at, element] : keyed) sorted.push_back(std::move(element));
  for (json& element : to_delete) sorted.push_back(std::move(element));
  return sorted;
}

// mergeSortedSlice: interleaves server-only items (`left`) into patch items
// (`right`) by their order in the live list.
json merge_sorted(const json& left, const json& right, const json& server_order, std::string_view merge_key,
                  bool maps) {
  json out = json::array();
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < left.size() || j < right.size()) {
    if (i >= left.size()) {
      out.push_back(right[j++]);
    } else if (j >= right.size()) {
      out.push_back(left[i++]);
    } else {
      long li = index_in(server_order, left[i], merge_key, maps);
      long ri = index_in(server_order, right[j], merge_key, maps);
      if (li >= 0 && ri >= 0 && li < ri) {
        out.push_back(left[i++]);
      } else {
        out.push_back(right[j++]);
      }
    }
  }
  return out;
}

// normalizeElementOrder: patch items in patch (or $setElementOrder) order,
// server-only items in live order, interleaved.
SmpResult<json> normalize_element_order(json patch_items, json server_only, const json& patch_order,
                                        const json& server_order, std::string_view merge_key, bool maps) {
  auto sorted_patch = normalize_slice_order(std::move(patch_items), patch_order, merge_key, maps);
  if (!sorted_patch.ok()) return sorted_patch.error();
  auto sorted_server = normalize_slice_order(std::move(server_only), server_order, merge_key, maps);
  if (!sorted_server.ok()) return sorted_server.error();
  return merge_sorted(*sorted_server, *sorted_patch, server_order, merge_key, maps);
}

// partitionPrimitivesByPresentInList / partitionMapsByPresentInList.
SmpResult<std::pair<json, json>> partition(const json& merged, const json& by, std::string_view merge_key) {
  json present = json::array();
  json server_only = json::array();
  for (const json& element : merged) {
    bool found = false;
    if (merge_key.empty()) {
      found = std::find(by.begin(), by.end(), element) != by.end();
    } else {
      if (!element.is_object()) return err_bad_arg_type("map[string]interface {}", element);
      auto key_value = element.find(merge_key);
      if (key_value == element.end()) return err_no_merge_key(element, merge_key);
      auto at = find_by_merge_key(by, merge_key, *key_value);
      if (!at.ok()) return at.error();
      found = *at >= 0;
    }
    (found ? present : server_only).push_back(element);
  }
  return std::make_pair(std::move(present), std::move(server_only));
}

SmpResult<json> merge_map(json original, json patch, std::string_view type);

// mergeSliceWithSpecialElements + mergeSliceWithoutSpecialElements.
SmpResult<json> merge_map_lists(json original, const json& patch, std::string_view merge_key,
                                std::string_view element_type, json& server_order, json& plain_patch) {
  json without_special = json::array();
  bool replace = false;
  for (const json& element : patch) {
    auto directive = element.find(kDirectiveMarker);
    if (directive == element.end()) {
      without_special.push_back(element);
    } else if (*directive == "delete") {
      auto key_value = element.find(merge_key);
      if (key_value == element.end()) return err_no_merge_key(element, merge_key);
      while (true) {
        auto at = find_by_merge_key(original, merge_key, *key_value);
        if (!at.ok()) return at.error();
        if (*at < 0) break;
        original.erase(original.begin() + *at);
      }
    } else if (*directive == "replace") {
      replace = true;  // other $patch elements are still pruned
    } else if (*directive == "merge") {
      return smp_error("merging lists cannot yet be specified in the patch");
    } else {
      return smp_error(fmt::format("Unknown patch type: {} in map: {}", go_format_value(*directive),
                                   go_format_value(element)));
    }
  }
  if (replace) {
    original = std::move(without_special);
    without_special = json::array();
  }
  server_order = original;
  plain_patch = without_special;
  for (const json& element : without_special) {
    auto key_value = element.find(merge_key);
    if (key_value == element.end()) return err_no_merge_key(element, merge_key);
    auto at = find_by_merge_key(original, merge_key, *key_value);
    if (!at.ok()) return at.error();
    if (*at >= 0) {
      auto merged = merge_map(original[static_cast<std::size_t>(*at)], element, element_type);
      if (!merged.ok()) return merged.error();
      original[static_cast<std::size_t>(*at)] = std::move(*merged);
    } else {
      original.push_back(element);
    }
  }
  return original;
}

// mergeSlice.
SmpResult<json> merge_slice(json original, json patch, const PatchMeta& meta, std::string_view field,
                            bool is_delete_list) {
  if (original.empty() && patch.empty()) return original;
  auto maps = slice_elements_are_maps(original, patch);
  if (!maps.ok()) return maps.error();
  json merged;
  json server_order = original;
  json patch_order = patch;
  if (!*maps) {
    if (is_delete_list) {
      json kept = json::array();
      for (json& element : original) {
        if (std::find(patch.begin(), patch.end(), element) == patch.end()) kept.push_back(std::move(element));
      }
      return kept;
    }
    merged = json::array();
    for (const json* list : {&original, &patch}) {
      for (const json& element : *list) {
        if (std::find(merged.begin(), merged.end(), element) == merged.end()) merged.push_back(element);
      }
    }
  } else {
    if (meta.merge_key.empty())
      return smp_error(fmt::format("cannot merge lists without merge key for {}", field));
    auto result = merge_map_lists(std::move(original), patch, meta.merge_key, meta.value_type, server_order,
                                  patch_order);
    if (!result.ok()) return result.error();
    merged = std::move(*result);
  }
  auto parts = partition(merged, patch_order, meta.merge_key);
  if (!parts.ok()) return parts.error();
  return normalize_element_order(std::move(parts->first), std::move(parts->second), patch_order, server_order,
                                 meta.merge_key, *maps);
}

// mergeSliceHandler: merge lists whose field says so, replace the others.
SmpResult<json> merge_slice_handler(json original, json patch, const PatchMeta& meta, std::string_view field,
                                    bool is_delete_list) {
  if (!meta.merge) return patch;
  return merge_slice(std::move(original), std::move(patch), meta, field, is_delete_list);
}

// validatePatchWithSetOrderList: the patch list must follow the
// $setElementOrder list's order (deletions aside).
SmpStatus validate_set_order(const json& patch_list, const json& order, std::string_view merge_key) {
  if (order.empty() || patch_list.empty()) return {};
  json non_delete = json::array();
  for (const json& element : patch_list) {
    if (!merge_key.empty() && !element.is_object())
      return err_bad_arg_type("map[string]interface {}", element);
    if (merge_key.empty() || !has_directive(element, "delete")) non_delete.push_back(element);
  }
  std::size_t p = 0;
  std::size_t s = 0;
  while (p < non_delete.size() && s < order.size()) {
    if (non_delete[p].is_object() && non_delete[p].contains(kDirectiveMarker)) {
      ++p;
      continue;
    }
    bool equal = false;
    if (merge_key.empty()) {
      equal = non_delete[p] == order[s];
    } else {
      if (!order[s].is_object()) return err_bad_arg_type("map[string]interface {}", order[s]);
      auto left = non_delete[p].find(merge_key);
      if (left == non_delete[p].end()) return err_no_merge_key(non_delete[p], merge_key);
      auto right = order[s].find(merge_key);
      if (right == order[s].end()) return err_no_merge_key(order[s], merge_key);
      equal = *left == *right;
    }
    if (equal) ++p;
    ++s;
  }
  if (p < non_delete.size()) {
    return smp_error(fmt::format("The order in patch list:\n{}\n doesn't match {} list:\n{}\n",
                                 go_format_value(patch_list), kSetElementOrderPrefix,
                                 go_format_value(order)));
  }
  return {};
}

// mergePatchIntoOriginal: lists that come with a $setElementOrder directive
// are merged here and ordered by it; both leave `patch`.
SmpStatus merge_ordered_lists(json& original, json& patch, std::string_view type) {
  std::vector<std::string> directives;
  for (const auto& [key, value] : patch.items()) {
    if (starts_with(key, kSetElementOrderPrefix)) directives.push_back(key);
  }
  for (const std::string& directive : directives) {
    json order = std::move(patch[directive]);
    patch.erase(directive);
    if (!order.is_array()) return err_bad_arg_type("[]interface {}", order);
    auto field = extract_key(directive, kSetElementOrderPrefix);
    if (!field.ok()) return field.error();
    json original_list = json::array();
    json patch_list = json::array();
    auto in_original = original.find(*field);
    bool found_original = in_original != original.end();
    if (found_original) {
      if (!in_original->is_array()) return err_bad_arg_type("[]interface {}", *in_original);
      original_list = *in_original;
    }
    auto in_patch = patch.find(*field);
    bool found_patch = in_patch != patch.end();
    if (found_patch) {
      if (!in_patch->is_array()) return err_bad_arg_type("[]interface {}", *in_patch);
      patch_list = *in_patch;
    }
    PatchMeta meta = lookup_meta(type, *field);
    if (auto valid = validate_set_order(patch_list, order, meta.merge_key); !valid.ok()) return valid.error();
    json merged;
    if (found_original && !found_patch) {
      merged = original_list;
    } else if (!found_original && found_patch) {
      merged = remove_directives(patch_list).value_or(json::array());
    } else if (found_original && found_patch) {
      auto result = merge_slice_handler(original_list, patch_list, meta, *field, false);
      if (!result.ok()) return result.error();
      merged = std::move(*result);
    } else {
      continue;
    }
    auto parts = partition(merged, order, meta.merge_key);
    if (!parts.ok()) return parts.error();
    auto maps = slice_elements_are_maps(original_list, patch_list);
    if (!maps.ok()) return maps.error();
    auto both = normalize_element_order(std::move(parts->first), std::move(parts->second), order,
                                        original_list, meta.merge_key, *maps);
    if (!both.ok()) return both.error();
    original[*field] = std::move(*both);
    patch.erase(*field);
  }
  return {};
}

// applyRetainKeysDirective: keep only the listed keys of the original.
SmpStatus apply_retain_keys(json& original, json& patch) {
  auto it = patch.find(kRetainKeysDirective);
  if (it == patch.end()) return {};
  json retain = std::move(*it);
  patch.erase(it);
  if (!retain.is_array()) return err_bad_retain_keys();
  auto listed = [&retain](const std::string& key) {
    return std::find(retain.begin(), retain.end(), key) != retain.end();
  };
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null() || starts_with(key, kDeleteFromPrimitiveListPrefix) ||
        starts_with(key, kSetElementOrderPrefix)) {
      continue;
    }
    if (!listed(key)) return err_bad_retain_keys();
  }
  for (auto member = original.begin(); member != original.end();) {
    member = listed(member.key()) ? std::next(member) : original.erase(member);
  }
  return {};
}

// mergeMap.
SmpResult<json> merge_map(json original, json patch, std::string_view type) {
  if (auto directive = patch.find(kDirectiveMarker); directive != patch.end()) {
    if (*directive == "replace") {
      patch.erase(directive);
      return patch;
    }
    if (*directive == "delete") return json::object();
    return smp_error(fmt::format("Unknown patch type: {} in map: {}", go_format_value(*directive),
                                 go_format_value(patch)));
  }
  if (original.is_null()) original = json::object();
  if (auto retained = apply_retain_keys(original, patch); !retained.ok()) return retained.error();
  if (auto ordered = merge_ordered_lists(original, patch, type); !ordered.ok()) return ordered.error();

  for (auto& [patch_key, patch_value] : patch.items()) {
    std::string key = patch_key;
    bool is_delete_list = false;
    if (starts_with(key, kDeleteFromPrimitiveListPrefix)) {
      auto field = extract_key(key, kDeleteFromPrimitiveListPrefix);
      if (!field.ok()) return field.error();
      key = *field;
      is_delete_list = true;
    }
    if (patch_value.is_null()) {
      original.erase(key);
      continue;
    }
    auto current = original.find(key);
    if (current == original.end() || go_type_class(*current) != go_type_class(patch_value)) {
      if (!is_delete_list) {
        json value = std::move(patch_value);
        prune_nulls(value);  // discardNullValuesFromPatch: the same walk as merge.go's
        if (auto kept = remove_directives(std::move(value))) {
          original[key] = std::move(*kept);
        } else {
          original.erase(key);
        }
      }
      continue;
    }
    PatchMeta meta = lookup_meta(type, key);
    if (current->is_object()) {
      if (meta.replace) {
        *current = std::move(patch_value);
        continue;
      }
      auto merged = merge_map(std::move(*current), std::move(patch_value), meta.value_type);
      if (!merged.ok()) return merged.error();
      original[key] = std::move(*merged);
    } else if (current->is_array()) {
      auto merged =
          merge_slice_handler(std::move(*current), std::move(patch_value), meta, key, is_delete_list);
      if (!merged.ok()) return merged.error();
      original[key] = std::move(*merged);
    } else {
      *current = std::move(patch_value);
    }
  }
  return original;
}

bool is_directive_key(std::string_view key) {
  return key == kDirectiveMarker || key == kRetainKeysDirective || starts_with(key, "$setElementOrder/") ||
         starts_with(key, "$deleteFromPrimitiveList/");
}

// Directive keys left in newly added values, which upstream's typed
// decoding drops as unknown fields.
void strip_directive_keys(json& value) {
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end();) {
      if (is_directive_key(it.key())) {
        it = value.erase(it);
      } else {
        strip_directive_keys(*it);
        ++it;
      }
    }
  } else if (value.is_array()) {
    for (json& element : value) strip_directive_keys(element);
  }
}

ApiError to_api_error(const SmpError& error) {
  switch (error.kind) {
    case SmpClass::kBadRequest:
      return bad_request(error.message);
    case SmpClass::kInvalid:
      return generic_invalid();
    case SmpClass::kUnknown:
      break;
  }
  return unknown_error(error.message);
}

// The body decoded into map[string]interface{} as kjson.UnmarshalStrict
// does (null leaves the map empty).
Result<json> decode_patch_map(std::string_view body) {
  auto parsed = parse_go_json(body);
  if (!parsed.ok()) return parsed.error();
  if (parsed->is_null()) return json::object();
  if (!parsed->is_object()) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                                  go_json_kind(*parsed)));
  }
  return parsed;
}

// ---------------------------------------------------------------------------
// YAML (sigs.k8s.io/yaml over go-yaml v2).

bool any_of_words(std::string_view s, std::initializer_list<std::string_view> words) {
  return std::find(words.begin(), words.end(), s) != words.end();
}

// strconv.ParseInt(s, 0, 64): sign, then 0x / 0o / 0b / leading-0 octal /
// decimal.
std::optional<long long> go_parse_int(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  } else if (s.size() > 2 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
    base = 2;
    s.remove_prefix(2);
  } else if (s.size() > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
    base = 8;
    s.remove_prefix(2);
  } else if (s.size() > 1 && s[0] == '0') {
    base = 8;
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  unsigned long long magnitude = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), magnitude, base);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  auto limit = static_cast<unsigned long long>(std::numeric_limits<long long>::max());
  if (negative) {
    if (magnitude > limit + 1) return std::nullopt;
    return magnitude == limit + 1 ? std::numeric_limits<long long>::min()
                                  : -static_cast<long long>(magnitude);
  }
  if (magnitude > limit) return std::nullopt;
  return static_cast<long long>(magnitude);
}

json json_number(double value) {
  // encoding/json writes an integral float64 without a fraction.
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 9.0e15) {
    return static_cast<long long>(value);
  }
  return value;
}

// go-yaml v2's resolve() for a plain (unquoted, untagged) scalar.
Result<json> resolve_plain(const std::string& text) {
  if (any_of_words(text, {"", "~", "null", "Null", "NULL"})) return json();
  if (any_of_words(text, {"y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE"}))
    return json(true);
  if (any_of_words(text, {"n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE"})) {
    return json(false);
  }
  if (any_of_words(text, {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
                          ".nan", ".NaN", ".NAN"})) {
    // JSON has no infinities or NaN: sigs.k8s.io/yaml's json.Marshal fails.
    const char* value =
        text.find_first_of("aA") != std::string::npos ? "NaN" : (text[0] == '-' ? "-Inf" : "+Inf");
    return make_error(ErrorCode::kInvalidArgument, fmt::format("json: unsupported value: {}", value));
  }
  if (text.empty() || std::string_view("+-0123456789.").find(text[0]) == std::string_view::npos)
    return json(text);
  std::string plain;
  for (char c : text) {
    if (c != '_') plain += c;
  }
  if (auto value = go_parse_int(plain)) return json(*value);
  if (plain[0] != '-' && plain[0] != '+') {
    unsigned long long big = 0;
    auto [ptr, ec] = std::from_chars(plain.data(), plain.data() + plain.size(), big);
    if (ec == std::errc() && ptr == plain.data() + plain.size()) return json(big);
  }
  static const std::regex kYamlFloat(R"(^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$)");
  if (std::regex_match(plain, kYamlFloat)) return json_number(std::strtod(plain.c_str(), nullptr));
  return json(text);
}

Result<json> resolve_tagged(const std::string& tag, const std::string& text) {
  if (tag == "tag:yaml.org,2002:str" || tag == "!") return json(text);
  if (tag == "tag:yaml.org,2002:null") return json();
  auto resolved = resolve_plain(text);
  if (!resolved.ok()) return resolved;
  bool fits = (tag == "tag:yaml.org,2002:int" && resolved->is_number_integer()) ||
              (tag == "tag:yaml.org,2002:float" && resolved->is_number()) ||
              (tag == "tag:yaml.org,2002:bool" && resolved->is_boolean()) || tag == "?";
  if (fits) return resolved;
  return make_error(ErrorCode::kInvalidArgument,
                    fmt::format("cannot decode !!{} `{}`", tag.substr(tag.rfind(':') + 1), text));
}

Result<json> yaml_node_to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return json();
    case YAML::NodeType::Scalar: {
      auto value = resolve_tagged(node.Tag(), node.Scalar());
      if (!value.ok()) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("yaml: line {}, column {}: {}", node.Mark().line + 1,
                                      node.Mark().column + 1, value.error().message));
      }
      return value;
    }
    case YAML::NodeType::Sequence: {
      json array = json::array();
      for (const YAML::Node& element : node) {
        auto value = yaml_node_to_json(element);
        if (!value.ok()) return value;
        array.push_back(std::move(*value));
      }
      return array;
    }
    case YAML::NodeType::Map: {
      json object = json::object();
      for (const auto& entry : node) {
        const YAML::Node& key_node = entry.first;
        std::string key;
        if (key_node.IsNull()) {
          key = "null";
        } else if (!key_node.IsScalar()) {
          return make_error(ErrorCode::kInvalidArgument,
                            fmt::format("yaml: line {}, column {}: invalid map key: a {} is not a string",
                                        key_node.Mark().line + 1, key_node.Mark().column + 1,
                                        key_node.IsMap() ? "map" : "list"));
        } else {
          // Keys are stringified (a plain `on:` key becomes "true").
          auto resolved = resolve_tagged(key_node.Tag(), key_node.Scalar());
          if (!resolved.ok()) return resolved;
          key = resolved->is_string() ? resolved->get<std::string>() : resolved->dump();
        }
        auto value = yaml_node_to_json(entry.second);
        if (!value.ok()) return value;
        object[key] = std::move(*value);
      }
      return object;
    }
  }
  return json();
}

}  // namespace

// ---------------------------------------------------------------------------

std::optional<PatchType> patch_type_from_content_type(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && std::isspace(static_cast<unsigned char>(media.front()))) media.remove_prefix(1);
  while (!media.empty() && std::isspace(static_cast<unsigned char>(media.back()))) media.remove_suffix(1);
  std::string lower;
  for (char c : media) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (PatchType type : {PatchType::kJsonPatch, PatchType::kMergePatch, PatchType::kStrategicMergePatch,
                         PatchType::kApplyPatch}) {
    if (lower == content_type_of(type)) return type;
  }
  return std::nullopt;
}

std::string_view content_type_of(PatchType type) {
  switch (type) {
    case PatchType::kJsonPatch:
      return "application/json-patch+json";
    case PatchType::kMergePatch:
      return "application/merge-patch+json";
    case PatchType::kStrategicMergePatch:
      return "application/strategic-merge-patch+json";
    case PatchType::kApplyPatch:
      break;
  }
  return "application/apply-patch+yaml";
}

ApiError unsupported_media_type(std::string_view /*content_type*/) {
  // installer.go's supported patch types for built-in resources, in order.
  return with_code(
      bad_request(fmt::format(
          "the body of the request was in an unknown format - accepted media types include: "
          "{}, {}, {}, {}",
          content_type_of(PatchType::kJsonPatch), content_type_of(PatchType::kMergePatch),
          content_type_of(PatchType::kStrategicMergePatch), content_type_of(PatchType::kApplyPatch))),
      415, "UnsupportedMediaType");
}

Result<json> json_patch(json doc, const json& operations) {
  if (!operations.is_array()) return doc;
  for (const json& op : operations) {
    std::string kind = "unknown";
    if (op.is_object()) {
      if (auto name = op_string(op, "op")) kind = *name;
    }
    Status applied;
    json empty = json::object();
    const json& operation = op.is_object() ? op : empty;
    if (kind == "add") {
      applied = op_add(doc, operation);
    } else if (kind == "remove") {
      applied = op_remove(doc, operation);
    } else if (kind == "replace") {
      applied = op_replace(doc, operation);
    } else if (kind == "move") {
      applied = op_move(doc, operation);
    } else if (kind == "test") {
      applied = op_test(doc, operation);
    } else if (kind == "copy") {
      applied = op_copy(doc, operation);
    } else {
      applied = patch_error("Unexpected kind: " + kind);
    }
    if (!applied.ok()) return applied.error();
  }
  return doc;
}

json merge_patch(json doc, const json& patch) {
  if (!patch.is_object() || !doc.is_object()) {
    json replaced = patch;
    prune_nulls(replaced);
    return replaced;
  }
  merge_docs(doc, patch);
  return doc;
}

ApiResult<json> strategic_merge_patch(const ResourceInfo& resource, json original, json patch) {
  auto merged = merge_map(std::move(original), std::move(patch), resource.kind);
  if (!merged.ok()) return to_api_error(merged.error());
  strip_directive_keys(*merged);
  return std::move(*merged);
}

ApiResult<json> apply_patch(PatchType type, const ResourceInfo& resource, const json& original,
                            std::string_view body) {
  switch (type) {
    case PatchType::kJsonPatch: {
      auto parsed = parse_go_json(body);
      if (!parsed.ok()) return bad_request("error decoding patch: " + parsed.error().message);
      if (auto type_error = json_patch_type_error(*parsed))
        return bad_request("error decoding patch: " + *type_error);
      if (parsed->is_array() && parsed->size() > kMaxJsonPatchOperations) {
        return with_code(
            bad_request(fmt::format("Request entity too large: The allowed maximum operations in a JSON "
                                    "patch is {}, got {}",
                                    kMaxJsonPatchOperations, parsed->size())),
            413, "RequestEntityTooLarge");
      }
      auto patched = json_patch(original, *parsed);
      if (!patched.ok()) return generic_invalid();
      return std::move(*patched);
    }
    case PatchType::kMergePatch: {
      auto parsed = parse_go_json(body);
      if (!parsed.ok()) return bad_request("error decoding patch: " + parsed.error().message);
      if (parsed->is_null()) return bad_request("Invalid JSON Patch");
      if (!parsed->is_object()) {
        return bad_request(fmt::format(
            "error decoding patch: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            go_json_kind(*parsed)));
      }
      return merge_patch(original, *parsed);
    }
    case PatchType::kStrategicMergePatch: {
      auto patch = decode_patch_map(body);
      if (!patch.ok()) return bad_request(patch.error().message);
      return strategic_merge_patch(resource, original, std::move(*patch));
    }
    case PatchType::kApplyPatch:
      break;
  }
  auto applied = yaml_to_json(body);
  if (!applied.ok()) {
    return bad_request("error decoding YAML: error converting YAML to JSON: " + applied.error().message);
  }
  json object = applied->is_null() ? json::object() : std::move(*applied);
  if (!object.is_object()) {
    return bad_request(
        fmt::format("error decoding YAML: error unmarshaling JSON: while decoding JSON: json: cannot "
                    "unmarshal {} into Go value of type map[string]interface {{}}",
                    go_json_kind(object)));
  }
  // fieldmanager's check that the applied configuration targets the
  // endpoint's version.
  std::string version = object.value("apiVersion", "");
  if (version != resource.api_version()) {
    return bad_request(
        fmt::format("Incorrect version specified in apply patch. Specified patch version: {}, "
                    "expected: {}",
                    version, resource.api_version()));
  }
  // Server-side apply gives directive keys no meaning.
  strip_directive_keys(object);
  if (original.is_null()) return object;
  return strategic_merge_patch(resource, original, std::move(object));
}

Result<json> yaml_to_json(std::string_view text) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("yaml: line {}, column {}: {}", e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  return yaml_node_to_json(root);
}

// Go's encoding/json scanner (scanner.go), reduced to its error messages.
constexpr const char* kUnexpectedEnd = "unexpected end of JSON input";

std::optional<std::string> go_json_syntax_error(std::string_view text) {
  auto quote = [](unsigned char c) -> std::string {
    if (c == '\'') return "'\\''";
    if (c == '"') return "'\"'";
    switch (c) {
      case '\a':
        return "'\\a'";
      case '\b':
        return "'\\b'";
      case '\f':
        return "'\\f'";
      case '\n':
        return "'\\n'";
      case '\r':
        return "'\\r'";
      case '\t':
        return "'\\t'";
      case '\v':
        return "'\\v'";
      case '\\':
        return "'\\\\'";
      default:
        break;
    }
    if (c < 0x20 || c == 0x7f) return fmt::format("'\\x{:02x}'", c);
    if (c >= 0x80) return fmt::format("'\\u{:04x}'", c);
    return fmt::format("'{}'", static_cast<char>(c));
  };
  auto error = [&quote](unsigned char c, std::string_view context) {
    return std::optional<std::string>(fmt::format("invalid character {} {}", quote(c), context));
  };
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };

  enum class Container { kObjectKey, kObjectValue, kArray };
  std::vector<Container> stack;
  std::size_t i = 0;
  const std::size_t n = text.size();
  auto skip_space = [&] {
    while (i < n && is_space(text[i])) ++i;
  };

  // Scans one value starting at i (after whitespace); containers push.
  while (true) {
    skip_space();
    if (i >= n) return std::string(kUnexpectedEnd);
    char c = text[i];
    bool value_done = false;
    if (c == '{') {
      ++i;
      skip_space();
      if (i >= n) return std::string(kUnexpectedEnd);
      if (text[i] == '}') {
        ++i;
        value_done = true;
      } else if (text[i] != '"') {
        return error(text[i], "looking for beginning of object key string");
      } else {
        stack.push_back(Container::kObjectKey);
        continue;
      }
    } else if (c == '[') {
      ++i;
      skip_space();
      if (i >= n) return std::string(kUnexpectedEnd);
      if (text[i] == ']') {
        ++i;
        value_done = true;
      } else {
        stack.push_back(Container::kArray);
        continue;
      }
    } else if (c == '"') {
      ++i;
      while (true) {
        if (i >= n) return std::string(kUnexpectedEnd);
        auto ch = static_cast<unsigned char>(text[i]);
        if (ch == '"') {
          ++i;
          break;
        }
        if (ch == '\\') {
          ++i;
          if (i >= n) return std::string(kUnexpectedEnd);
          char e = text[i];
          if (e == 'u') {
            ++i;
            for (int k = 0; k < 4; ++k, ++i) {
              if (i >= n) return std::string(kUnexpectedEnd);
              if (!std::isxdigit(static_cast<unsigned char>(text[i]))) {
                return error(text[i], "in \\u hexadecimal character escape");
              }
            }
            continue;
          }
          if (std::string_view("bfnrt\\/\"").find(e) == std::string_view::npos) {
            return error(e, "in string escape code");
          }
          ++i;
          continue;
        }
        if (ch < 0x20) return error(ch, "in string literal");
        ++i;
      }
      value_done = true;
    } else if (c == '-' || is_digit(c)) {
      if (c == '-') {
        ++i;
        if (i >= n) return std::string(kUnexpectedEnd);
        if (!is_digit(text[i])) return error(text[i], "in numeric literal");
      }
      if (text[i] == '0') {
        ++i;
      } else {
        while (i < n && is_digit(text[i])) ++i;
      }
      if (i < n && text[i] == '.') {
        ++i;
        if (i >= n) return std::string(kUnexpectedEnd);
        if (!is_digit(text[i])) return error(text[i], "after decimal point in numeric literal");
        while (i < n && is_digit(text[i])) ++i;
      }
      if (i < n && (text[i] == 'e' || text[i] == 'E')) {
        ++i;
        if (i < n && (text[i] == '+' || text[i] == '-')) ++i;
        if (i >= n) return std::string(kUnexpectedEnd);
        if (!is_digit(text[i])) return error(text[i], "in exponent of numeric literal");
        while (i < n && is_digit(text[i])) ++i;
      }
      value_done = true;
    } else if (c == 't' || c == 'f' || c == 'n') {
      std::string_view literal = c == 't' ? "true" : (c == 'f' ? "false" : "null");
      for (std::size_t k = 1; k < literal.size(); ++k) {
        if (i + k >= n) return std::string(kUnexpectedEnd);
        if (text[i + k] != literal[k]) {
          return error(text[i + k], fmt::format("in literal {} (expecting {})", literal, quote(literal[k])));
        }
      }
      i += literal.size();
      value_done = true;
    } else {
      return error(c, "looking for beginning of value");
    }

    // After a value: close containers / expect separators.
    while (value_done) {
      skip_space();
      if (stack.empty()) {
        if (i < n) return error(text[i], "after top-level value");
        return std::nullopt;
      }
      if (i >= n) return std::string(kUnexpectedEnd);
      char s = text[i];
      Container& top = stack.back();
      if (top == Container::kObjectKey) {
        if (s != ':') return error(s, "after object key");
        ++i;
        top = Container::kObjectValue;
        value_done = false;
      } else if (top == Container::kObjectValue) {
        if (s == ',') {
          ++i;
          skip_space();
          if (i >= n) return std::string(kUnexpectedEnd);
          if (text[i] != '"') return error(text[i], "looking for beginning of object key string");
          top = Container::kObjectKey;
          value_done = false;
        } else if (s == '}') {
          ++i;
          stack.pop_back();
        } else {
          return error(s, "after object key:value pair");
        }
      } else {
        if (s == ',') {
          ++i;
          value_done = false;
        } else if (s == ']') {
          ++i;
          stack.pop_back();
        } else {
          return error(s, "after array element");
        }
      }
    }
  }
}

}  // namespace shakeout::api
