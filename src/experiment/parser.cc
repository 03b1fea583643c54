#include "experiment/parser.h"
#include <utility>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <tuple>

#include "api/validation.h"
#include "cluster/profile.h"

namespace shakeout::experiment {

std::string ParseError::describe() const {
  std::string out = where.file;
  if (where.line > 0) out += fmt::format(":{}:{}", where.line, where.column);
  out += ": ";
  if (!field.empty()) out += field + ": ";
  out += message;
  return out;
}

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::string_view kApiVersion = "shakeout/v1";
constexpr std::string_view kKind = "Experiment";

// Cluster sizes an experiment may ask for.
constexpr int kMaxNodes = 50;
constexpr int kMaxEtcdMembers = 7;
constexpr int kMaxReplicas = 5;  // apiservers, controller-managers, schedulers
constexpr int kMaxRepeat = 1000;
constexpr int kMaxScaleReplicas = 1000;  // pods are processes
constexpr double kMaxProbeRate = 10000;

constexpr ProbeKind kProbeKinds[] = {ProbeKind::kService, ProbeKind::kReplicas, ProbeKind::kApi,
                                     ProbeKind::kEtcd,    ProbeKind::kHttp,     ProbeKind::kExec};
constexpr Component kComponents[] = {
    Component::kEtcd,       Component::kApiserver, Component::kControllerManager,
    Component::kScheduler,  Component::kKubelet,   Component::kRuntime,
    Component::kProxy,      Component::kNode,      Component::kPod,
    Component::kDeployment, Component::kLink,      Component::kApi};
constexpr FaultAction kActions[] = {
    FaultAction::kKill,          FaultAction::kStop,     FaultAction::kPause,     FaultAction::kRestart,
    FaultAction::kCrashLoop,     FaultAction::kCrash,    FaultAction::kReboot,    FaultAction::kDelete,
    FaultAction::kFailReadiness, FaultAction::kScale,    FaultAction::kLatency,   FaultAction::kBandwidth,
    FaultAction::kSlowClose,     FaultAction::kTimeout,  FaultAction::kResetPeer, FaultAction::kSlicer,
    FaultAction::kLimitData,     FaultAction::kDown,     FaultAction::kPartition, FaultAction::kHttpError,
    FaultAction::kApiLatency,    FaultAction::kDropWatch};

// The resources the API front can single out (target api:<resource>,
// `resources:`).
const std::vector<std::string_view> kApiResources = {
    "pods", "nodes", "services", "endpoints", "deployments", "replicasets", "leases", "events", "namespaces"};
const std::vector<std::string_view> kVerbs = {"get", "list", "watch", "create", "update", "patch", "delete"};

template <typename Range>
std::string join(const Range& items, std::string_view separator = ", ") {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

bool contains(const std::vector<std::string_view>& items, std::string_view item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

// ---------------------------------------------------------------------------
// Which fault fields each action takes (beyond at, action and target).

const std::vector<Component> kProcessComponents = {
    Component::kEtcd,      Component::kApiserver, Component::kControllerManager,
    Component::kScheduler, Component::kKubelet,   Component::kRuntime,
    Component::kProxy};

struct ActionRule {
  FaultAction action;
  std::vector<Component> components;
  std::vector<std::string_view> required;
  std::vector<std::string_view> optional;
};

const std::vector<ActionRule>& action_rules() {
  static const auto* rules = [] {
    auto process_and_pod = kProcessComponents;
    process_and_pod.push_back(Component::kPod);
    const std::vector<Component> node = {Component::kNode};
    const std::vector<Component> pod = {Component::kPod};
    const std::vector<Component> deployment = {Component::kDeployment};
    const std::vector<Component> link = {Component::kLink};
    const std::vector<Component> api = {Component::kApi};
    return new std::vector<ActionRule>{
        // kill: restartAfter for processes, count/percent for pods
        // (checked against the component in check_fault_fields()).
        {FaultAction::kKill, process_and_pod, {}, {"restartAfter", "count", "percent"}},
        {FaultAction::kStop, kProcessComponents, {}, {"restartAfter"}},
        {FaultAction::kPause, kProcessComponents, {"duration"}, {}},
        {FaultAction::kRestart, kProcessComponents, {}, {}},
        {FaultAction::kCrashLoop, kProcessComponents, {"duration"}, {}},
        {FaultAction::kCrash, node, {}, {"restartAfter"}},
        {FaultAction::kReboot, node, {"restartAfter"}, {}},
        {FaultAction::kDelete, pod, {}, {"count", "percent"}},
        {FaultAction::kFailReadiness, pod, {"duration"}, {"count", "percent"}},
        {FaultAction::kScale, deployment, {"replicas"}, {"duration"}},
        {FaultAction::kLatency, link, {"duration", "latency"}, {"jitter", "direction", "toxicity"}},
        {FaultAction::kBandwidth, link, {"duration", "rate"}, {"direction", "toxicity"}},
        {FaultAction::kSlowClose, link, {"duration"}, {"delay", "direction", "toxicity"}},
        {FaultAction::kTimeout, link, {"duration"}, {"timeout", "direction", "toxicity"}},
        {FaultAction::kResetPeer, link, {"duration"}, {"timeout", "direction", "toxicity"}},
        {FaultAction::kSlicer,
         link,
         {"duration", "averageSize"},
         {"sizeVariation", "delay", "direction", "toxicity"}},
        {FaultAction::kLimitData, link, {"duration", "bytes"}, {"direction", "toxicity"}},
        {FaultAction::kDown, link, {"duration"}, {}},
        {FaultAction::kPartition, node, {"duration"}, {"links"}},
        {FaultAction::kHttpError, api, {"duration"}, {"status", "percent", "verbs", "resources"}},
        {FaultAction::kApiLatency, api, {"duration", "latency"}, {"jitter", "verbs", "resources"}},
        {FaultAction::kDropWatch, api, {"duration"}, {"resources"}},
    };
  }();
  return *rules;
}

const ActionRule& rule_for(FaultAction action) {
  for (const auto& rule : action_rules())
    if (rule.action == action) return rule;
  return action_rules().front();  // unreachable: every action has a rule
}

// "kill, stop, crash, reboot": the actions that take `key`.
std::string actions_taking(std::string_view key) {
  std::vector<std::string_view> names;
  for (const auto& rule : action_rules()) {
    if (contains(rule.required, key) || contains(rule.optional, key)) names.push_back(to_string(rule.action));
  }
  return join(names);
}

std::string component_names(const std::vector<Component>& components) {
  std::vector<std::string_view> names;
  names.reserve(components.size());
  for (auto c : components) names.push_back(to_string(c));
  return join(names);
}

// ---------------------------------------------------------------------------
// Scalars.

std::optional<int64_t> parse_int64(std::string_view text) {
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::optional<double> parse_double(std::string_view text) {
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty() || !std::isfinite(value))
    return std::nullopt;
  return value;
}

// A plain scalar's JSON value under YAML 1.2's core schema (which JSON
// also satisfies): null, true/false, integers, floats, else a string.
json resolve_plain(const std::string& text) {
  static const std::set<std::string, std::less<>> kNull = {"", "~", "null", "Null", "NULL"};
  if (kNull.count(text) != 0) return nullptr;
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  if (auto i = parse_int64(text)) return *i;
  static const std::regex kFloat(R"(^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$)");
  if (std::regex_match(text, kFloat)) {
    if (auto d = parse_double(text[0] == '+' ? text.substr(1) : text)) return *d;
  }
  return text;
}

bool is_plain(const YAML::Node& node) {
  return node.Tag() == "?";
}

std::string describe_kind(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  if (!is_plain(node)) return fmt::format("the string '{}'", node.Scalar());
  return fmt::format("'{}'", node.Scalar());
}

// Index in `text` after "<prefix>-", as a positive number without leading
// zeros: "etcd-2" -> 2.
std::optional<int> member_index(std::string_view text, std::string_view prefix) {
  if (text.size() <= prefix.size() + 1 || text.substr(0, prefix.size()) != prefix ||
      text[prefix.size()] != '-')
    return std::nullopt;
  auto digits = text.substr(prefix.size() + 1);
  if (digits[0] == '0') return std::nullopt;
  int value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return std::nullopt;
  return value;
}

// ---------------------------------------------------------------------------

class Parser;

// The entries of one mapping, checked on construction: it is a mapping,
// every key is a scalar that `allowed` lists, no key appears twice.
class Fields {
 public:
  struct Entry {
    YAML::Node key;
    YAML::Node value;
  };

  Fields(Parser& parser, const YAML::Node& node, std::string path,
         const std::vector<std::string_view>& allowed);

  bool ok() const { return ok_; }
  const YAML::Node& node() const { return node_; }
  const Entry* get(std::string_view key) const {
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : &it->second;
  }
  bool has(std::string_view key) const { return get(key) != nullptr; }
  // The dotted path of `key` under this mapping.
  std::string path(std::string_view key) const {
    return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
  }
  const std::string& path() const { return path_; }
  // Keys in file order.
  const std::vector<std::string>& keys() const { return order_; }

 private:
  YAML::Node node_;
  std::string path_;
  bool ok_ = false;
  std::map<std::string, Entry, std::less<>> entries_;
  std::vector<std::string> order_;
};

class Parser {
 public:
  Parser(std::string file_name, fs::path base_dir)
      : file_(std::move(file_name)), base_dir_(std::move(base_dir)) {}

  ParseResult run(std::string_view text);

  void error(const std::string& file, const YAML::Mark& mark, std::string field, std::string message) {
    SourceLocation where{file, 0, 0};
    if (mark.line >= 0) {
      where.line = mark.line + 1;
      where.column = mark.column + 1;
    }
    errors_.push_back(ParseError{std::move(where), std::move(field), std::move(message)});
  }
  void error(const YAML::Node& node, std::string field, std::string message) {
    error(file_, node.Mark(), std::move(field), std::move(message));
  }

 private:
  SourceLocation where(const YAML::Node& node) const {
    const auto mark = node.Mark();
    if (mark.line < 0) return {file_, 0, 0};
    return {file_, mark.line + 1, mark.column + 1};
  }
  void missing(const Fields& fields, std::string_view key, std::string_view detail = "required") {
    error(fields.node(), fields.path(key), std::string(detail));
  }

  // Typed readers: each reports what is wrong with the value and returns
  // nullopt, or returns the value.
  std::optional<std::string> string(const YAML::Node& node, const std::string& field);
  std::optional<int64_t> integer(const YAML::Node& node, const std::string& field, int64_t min, int64_t max);
  std::optional<double> number(const YAML::Node& node, const std::string& field);
  std::optional<double> fraction(const YAML::Node& node, const std::string& field);  // [0, 1]
  std::optional<Millis> duration(const YAML::Node& node, const std::string& field, bool allow_zero);
  std::optional<std::vector<std::string>> strings(const YAML::Node& node, const std::string& field);
  std::optional<std::string> dns_label(const YAML::Node& node, const std::string& field);
  // Reads `key` of `fields` into `out` when present.
  void read_int(const Fields& fields, std::string_view key, int min, int max, int& out);
  void read_duration(const Fields& fields, std::string_view key, bool allow_zero, Millis& out);

  void parse_root(const YAML::Node& root);
  void parse_spec(const YAML::Node& node);
  void parse_cluster(const YAML::Node& node);
  void parse_parameters(const Fields& cluster, bool profile_ok);
  void parse_workload(const YAML::Node& node);
  void load_manifest_file(const YAML::Node& entry, const std::string& field);
  void add_manifest(const YAML::Node& node, const std::string& file, const std::string& field,
                    const std::string& prefix);
  std::optional<json> to_json(const YAML::Node& node, const std::string& file, const std::string& field);
  void parse_probes(const YAML::Node& node);
  void parse_probe(const YAML::Node& node, const std::string& field);
  void parse_steady_state(const YAML::Node& node);
  void parse_faults(const YAML::Node& node);
  void parse_fault(const YAML::Node& node, const std::string& field);
  void read_fault_fields(const Fields& fields, const ActionRule* rule, FaultSpec& fault);
  std::optional<Target> parse_target(const YAML::Node& node, const std::string& field);
  std::optional<std::string> check_selector(Component component, const std::string& selector) const;
  std::optional<std::string> check_link(const std::string& link) const;
  std::optional<std::string> check_label_selector(const std::string& selector) const;
  std::optional<std::string> check_deployment(const std::string& selector) const;
  void parse_recovery(const YAML::Node& node);
  void parse_expect(const YAML::Node& node);
  // The probe named by `key` of `fields`, reported if it does not exist.
  // Returns the probe's kind if known.
  std::optional<std::string> probe_reference(const Fields& fields, std::optional<ProbeKind>& kind);
  bool sequence(const YAML::Node& node, const std::string& field, std::string_view what);

  std::string file_;
  fs::path base_dir_;
  std::vector<ParseError> errors_;
  Experiment experiment_;
  bool cluster_ok_ = true;  // sizes are trustworthy for selector checks
  // Probe name -> its kind (nullopt when the kind itself was in error) and
  // the path it was first defined at.
  std::map<std::string, std::pair<std::optional<ProbeKind>, std::string>, std::less<>> probe_kinds_;

  friend class Fields;
};

Fields::Fields(Parser& parser, const YAML::Node& node, std::string path,
               const std::vector<std::string_view>& allowed)
    : node_(node), path_(std::move(path)) {
  if (!node.IsMap()) {
    parser.error(node, path_, fmt::format("expected a mapping, got {}", describe_kind(node)));
    return;
  }
  ok_ = true;
  for (const auto& entry : node) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) {
      parser.error(key, path_, fmt::format("a key must be a string, got {}", describe_kind(key)));
      continue;
    }
    const std::string& name = key.Scalar();
    if (!contains(allowed, name)) {
      parser.error(key, this->path(name),
                   fmt::format("unknown key '{}' (expected one of {})", name, join(allowed)));
      continue;
    }
    if (entries_.count(name) != 0) {
      parser.error(key, this->path(name), fmt::format("duplicate key '{}'", name));
      continue;
    }
    entries_.emplace(name, Entry{key, entry.second});
    order_.push_back(name);
  }
}

// ---------------------------------------------------------------------------
// Typed readers.

std::optional<std::string> Parser::string(const YAML::Node& node, const std::string& field) {
  if (!node.IsScalar()) {
    error(node, field, fmt::format("expected a string, got {}", describe_kind(node)));
    return std::nullopt;
  }
  return node.Scalar();
}

std::optional<int64_t> Parser::integer(const YAML::Node& node, const std::string& field, int64_t min,
                                       int64_t max) {
  std::optional<int64_t> value;
  if (node.IsScalar() && is_plain(node)) value = parse_int64(node.Scalar());
  if (!value) {
    error(node, field, fmt::format("expected a whole number, got {}", describe_kind(node)));
    return std::nullopt;
  }
  if (*value < min || *value > max) {
    if (max == std::numeric_limits<int64_t>::max()) {
      error(node, field, fmt::format("must be at least {}, got {}", min, *value));
    } else {
      error(node, field, fmt::format("must be between {} and {}, got {}", min, max, *value));
    }
    return std::nullopt;
  }
  return value;
}

std::optional<double> Parser::number(const YAML::Node& node, const std::string& field) {
  std::optional<double> value;
  if (node.IsScalar() && is_plain(node)) value = parse_double(node.Scalar());
  if (!value) error(node, field, fmt::format("expected a number, got {}", describe_kind(node)));
  return value;
}

std::optional<double> Parser::fraction(const YAML::Node& node, const std::string& field) {
  auto value = number(node, field);
  if (value && (*value < 0 || *value > 1)) {
    error(node, field, fmt::format("must be between 0 and 1, got {}", node.Scalar()));
    return std::nullopt;
  }
  return value;
}

std::optional<Millis> Parser::duration(const YAML::Node& node, const std::string& field, bool allow_zero) {
  if (!node.IsScalar()) {
    error(node, field, fmt::format("expected a duration such as 500ms or 2s, got {}", describe_kind(node)));
    return std::nullopt;
  }
  auto parsed = cluster::parse_duration(node.Scalar());
  if (!parsed) {
    error(node, field, parsed.error().message);
    return std::nullopt;
  }
  if (!allow_zero && parsed->count() <= 0) {
    error(node, field, fmt::format("must be longer than 0, got '{}'", node.Scalar()));
    return std::nullopt;
  }
  return *parsed;
}

std::optional<std::vector<std::string>> Parser::strings(const YAML::Node& node, const std::string& field) {
  if (!node.IsSequence()) {
    error(node, field, fmt::format("expected a list of strings, got {}", describe_kind(node)));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  size_t i = 0;
  for (const auto& item : node) {
    auto text = string(item, fmt::format("{}[{}]", field, i++));
    if (text) {
      out.push_back(*text);
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::string> Parser::dns_label(const YAML::Node& node, const std::string& field) {
  auto text = string(node, field);
  if (!text) return std::nullopt;
  auto problems = api::validate_dns1123_label(*text);
  if (!problems.empty()) {
    error(node, field, fmt::format("'{}' is not a valid name: {}", *text, problems.front()));
    return std::nullopt;
  }
  return text;
}

void Parser::read_int(const Fields& fields, std::string_view key, int min, int max, int& out) {
  if (const auto* entry = fields.get(key)) {
    if (auto value = integer(entry->value, fields.path(key), min, max)) out = static_cast<int>(*value);
  }
}

void Parser::read_duration(const Fields& fields, std::string_view key, bool allow_zero, Millis& out) {
  if (const auto* entry = fields.get(key)) {
    if (auto value = duration(entry->value, fields.path(key), allow_zero)) out = *value;
  }
}

bool Parser::sequence(const YAML::Node& node, const std::string& field, std::string_view what) {
  if (node.IsSequence()) return true;
  error(node, field, fmt::format("expected a list of {}, got {}", what, describe_kind(node)));
  return false;
}

// ---------------------------------------------------------------------------

ParseResult Parser::run(std::string_view text) {
  experiment_.file = file_;
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    error(file_, e.mark, "", e.msg);
  }
  if (errors_.empty()) {
    if (documents.empty() || documents[0].IsNull()) {
      error(file_, YAML::Mark(), "", "the file is empty");
    } else if (documents.size() > 1) {
      error(documents[1], "", "an experiment file holds one document, found a second one");
    } else {
      parse_root(documents[0]);
    }
  }
  // Checked section by section (probes before the faults that name them),
  // reported in file order; errors inside manifest files follow, in the
  // order found.
  std::stable_sort(errors_.begin(), errors_.end(), [&](const ParseError& a, const ParseError& b) {
    auto key = [&](const ParseError& e) {
      return e.where.file == file_ ? std::tuple(0, e.where.line, e.where.column) : std::tuple(1, 0, 0);
    };
    return key(a) < key(b);
  });
  ParseResult result;
  result.errors = std::move(errors_);
  if (result.errors.empty()) result.experiment = std::move(experiment_);
  return result;
}

void Parser::parse_root(const YAML::Node& root) {
  Fields fields(*this, root, "", {"apiVersion", "kind", "metadata", "spec"});
  if (!fields.ok()) return;
  const std::pair<std::string_view, std::string_view> fixed[] = {{"apiVersion", kApiVersion},
                                                                 {"kind", kKind}};
  for (const auto& [key, expected] : fixed) {
    const auto* entry = fields.get(key);
    if (entry == nullptr) {
      missing(fields, key, fmt::format("required ({})", expected));
    } else if (auto value = string(entry->value, fields.path(key)); value && *value != expected) {
      error(entry->value, fields.path(key), fmt::format("must be {}, got '{}'", expected, *value));
    }
  }
  if (const auto* metadata = fields.get("metadata")) {
    Fields meta(*this, metadata->value, "metadata", {"name", "description"});
    if (meta.ok()) {
      if (const auto* name = meta.get("name")) {
        if (auto value = dns_label(name->value, meta.path("name"))) experiment_.name = *value;
      } else {
        missing(meta, "name");
      }
      if (const auto* description = meta.get("description")) {
        if (auto value = string(description->value, meta.path("description")))
          experiment_.description = *value;
      }
    }
  } else {
    missing(fields, "metadata", "required (with a name)");
  }
  if (const auto* spec = fields.get("spec")) {
    parse_spec(spec->value);
  } else {
    missing(fields, "spec");
  }
}

void Parser::parse_spec(const YAML::Node& node) {
  Fields fields(*this, node, "spec",
                {"cluster", "workload", "probes", "steadyFor", "steadyState", "faults", "recovery", "expect",
                 "repeat", "seed"});
  if (!fields.ok()) return;
  // Order matters: faults check selectors against the cluster's sizes, and
  // steadyState and expect refer to probes.
  if (const auto* cluster = fields.get("cluster")) parse_cluster(cluster->value);
  if (const auto* workload = fields.get("workload")) parse_workload(workload->value);
  if (const auto* probes = fields.get("probes")) parse_probes(probes->value);
  read_duration(fields, "steadyFor", /*allow_zero=*/false, experiment_.steady_window);
  if (const auto* steady = fields.get("steadyState")) parse_steady_state(steady->value);
  if (const auto* faults = fields.get("faults")) parse_faults(faults->value);
  if (const auto* recovery = fields.get("recovery")) parse_recovery(recovery->value);
  if (const auto* expect = fields.get("expect")) parse_expect(expect->value);
  read_int(fields, "repeat", 1, kMaxRepeat, experiment_.repeat);
  if (const auto* seed = fields.get("seed")) {
    uint64_t value = 0;
    const auto& text = seed->value.Scalar();
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (!seed->value.IsScalar() || !is_plain(seed->value) || text.empty() || ec != std::errc() ||
        ptr != text.data() + text.size()) {
      error(seed->value, fields.path("seed"),
            fmt::format("expected a whole number from 0 to 2^64-1, got {}", describe_kind(seed->value)));
    } else {
      experiment_.seed = value;
    }
  }
}

// ---------------------------------------------------------------------------
// spec.cluster

void Parser::parse_cluster(const YAML::Node& node) {
  const size_t errors_before = errors_.size();
  Fields fields(*this, node, "spec.cluster",
                {"nodes", "etcdMembers", "apiservers", "controllerManagers", "schedulers", "profile",
                 "timeScale", "parameters"});
  if (!fields.ok()) {
    cluster_ok_ = false;
    return;
  }
  auto& cluster = experiment_.cluster;
  read_int(fields, "nodes", 1, kMaxNodes, cluster.nodes);
  if (const auto* members = fields.get("etcdMembers")) {
    const auto field = fields.path("etcdMembers");
    if (members->value.IsScalar() && members->value.Scalar() == "0") {
      error(members->value, field,
            fmt::format("must be between 1 and {}, got 0 (a cluster needs at least one etcd member)",
                        kMaxEtcdMembers));
    } else if (auto value = integer(members->value, field, 1, kMaxEtcdMembers)) {
      // cluster::validate's rule: the clusters shakeout boots have 1 or 3.
      if (*value != 1 && *value != 3) {
        error(members->value, field, fmt::format("must be 1 or 3, got {}", *value));
      } else {
        cluster.etcd_members = static_cast<int>(*value);
      }
    }
  }
  read_int(fields, "apiservers", 1, kMaxReplicas, cluster.apiservers);
  read_int(fields, "controllerManagers", 1, kMaxReplicas, cluster.controller_managers);
  read_int(fields, "schedulers", 1, kMaxReplicas, cluster.schedulers);
  bool profile_ok = true;
  if (const auto* profile = fields.get("profile")) {
    auto name = string(profile->value, fields.path("profile"));
    if (name && *name != "fast" && *name != "kubernetes") {
      error(profile->value, fields.path("profile"),
            fmt::format("unknown profile '{}' (expected fast or kubernetes)", *name));
      name.reset();
    }
    if (name) {
      cluster.profile = *name;
    } else {
      profile_ok = false;
    }
  }
  if (const auto* scale = fields.get("timeScale")) {
    const auto field = fields.path("timeScale");
    if (profile_ok && cluster.profile != "fast") {
      error(scale->key, field,
            fmt::format("applies only to the fast profile (profile is {})", cluster.profile));
      profile_ok = false;
    } else if (auto value = number(scale->value, field); !value) {
      profile_ok = false;
    } else if (!(*value > 0 && *value <= 1)) {
      error(scale->value, field, fmt::format("must be in (0, 1], got {}", scale->value.Scalar()));
      profile_ok = false;
    } else {
      cluster.time_scale = *value;
    }
  }
  parse_parameters(fields, profile_ok);
  cluster_ok_ = errors_.size() == errors_before;
}

// Parameters are checked by building the profile: each one alone first, so
// an error points at its line, then all together for the rules that tie
// them (etcd's election timeout against its heartbeat).
void Parser::parse_parameters(const Fields& cluster_fields, bool profile_ok) {
  const auto* parameters = cluster_fields.get("parameters");
  if (parameters == nullptr) return;
  const auto field = cluster_fields.path("parameters");
  if (!parameters->value.IsMap()) {
    error(parameters->value, field,
          fmt::format("expected a mapping of parameter names to values, got {}",
                      describe_kind(parameters->value)));
    return;
  }
  auto& cluster = experiment_.cluster;
  cluster::ProfileOptions options;
  options.name = cluster.profile;
  options.time_scale = cluster.time_scale;
  bool each_ok = true;
  for (const auto& entry : parameters->value) {
    if (!entry.first.IsScalar()) {
      error(entry.first, field, fmt::format("a key must be a string, got {}", describe_kind(entry.first)));
      each_ok = false;
      continue;
    }
    const std::string& name = entry.first.Scalar();
    const auto parameter_field = fmt::format("{}.{}", field, name);
    if (cluster.overrides.count(name) != 0) {
      error(entry.first, parameter_field, fmt::format("duplicate key '{}'", name));
      each_ok = false;
      continue;
    }
    auto value = string(entry.second, parameter_field);
    if (!value) {
      each_ok = false;
      continue;
    }
    cluster.overrides[name] = *value;
    if (!profile_ok) continue;
    cluster::ProfileOptions one = options;
    one.overrides = {{name, *value}};
    auto made = cluster::Profile::make(one);
    if (made) continue;
    // Only this parameter's own errors: a bad value starts with its name
    // (which the field path already shows), an unknown one names itself.
    // A rule against another parameter's default is left to the whole set.
    const auto& known = cluster::profile_parameters();
    const bool known_name =
        std::any_of(known.begin(), known.end(), [&](const auto& p) { return p.name == name; });
    auto message = made.error().message;
    if (!known_name) {
      error(entry.first, parameter_field, message);
      each_ok = false;
    } else if (message.rfind(name + ": ", 0) == 0) {
      error(entry.second, parameter_field, message.substr(name.size() + 2));
      each_ok = false;
    }
  }
  if (!profile_ok || !each_ok) return;
  options.overrides = cluster.overrides;
  if (auto made = cluster::Profile::make(options); !made)
    error(parameters->value, field, made.error().message);
}

// ---------------------------------------------------------------------------
// spec.workload

void Parser::parse_workload(const YAML::Node& node) {
  if (!sequence(node, "spec.workload", "manifest paths and inline objects")) return;
  size_t i = 0;
  for (const auto& item : node) {
    const auto field = fmt::format("spec.workload[{}]", i++);
    if (item.IsScalar()) {
      load_manifest_file(item, field);
    } else if (item.IsMap()) {
      add_manifest(item, file_, field, "");
    } else {
      error(item, field,
            fmt::format("expected a manifest path or an inline object, got {}", describe_kind(item)));
    }
  }
}

void Parser::load_manifest_file(const YAML::Node& entry, const std::string& field) {
  const fs::path relative = entry.Scalar();
  if (relative.empty()) {
    error(entry, field, "empty manifest path");
    return;
  }
  // Shown as the user would reach it from where they ran the command.
  const std::string shown =
      (relative.is_absolute() ? relative : base_dir_ / relative).lexically_normal().string();
  std::error_code ec;
  if (fs::is_directory(shown, ec)) {
    error(entry, field, fmt::format("cannot read manifest file '{}': it is a directory", shown));
    return;
  }
  std::ifstream in(shown, std::ios::binary);
  if (!in) {
    error(entry, field, fmt::format("cannot read manifest file '{}': {}", shown, std::strerror(errno)));
    return;
  }
  std::stringstream text;
  text << in.rdbuf();
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(text.str());
  } catch (const YAML::Exception& e) {
    error(shown, e.mark, field, e.msg);
    return;
  }
  size_t objects = 0;
  for (size_t d = 0; d < documents.size(); ++d) {
    if (documents[d].IsNull()) continue;  // an empty document, e.g. after a trailing ---
    ++objects;
    add_manifest(documents[d], shown, field, fmt::format("document {}: ", d + 1));
  }
  if (objects == 0) error(entry, field, fmt::format("manifest file '{}' holds no objects", shown));
}

// Checks one Kubernetes object (a List expands to its items) and appends it
// to the workload. `prefix` says which document of a file it is.
void Parser::add_manifest(const YAML::Node& node, const std::string& file, const std::string& field,
                          const std::string& prefix) {
  if (!node.IsMap()) {
    error(file, node.Mark(), field,
          fmt::format("{}expected a Kubernetes object (a mapping), got {}", prefix, describe_kind(node)));
    return;
  }
  auto object = to_json(node, file, field);
  if (!object) return;
  auto has_string = [&](const char* key) {
    auto it = object->find(key);
    return it != object->end() && it->is_string() && !it->get<std::string>().empty();
  };
  bool ok = true;
  for (const char* key : {"apiVersion", "kind"}) {
    if (!has_string(key)) {
      error(file, node.Mark(), field, fmt::format("{}the object has no {}", prefix, key));
      ok = false;
    }
  }
  if (!ok) return;
  if ((*object)["kind"] == "List") {
    const YAML::Node items = node["items"];
    if (!items.IsSequence()) {
      error(file, node.Mark(), field, fmt::format("{}a List needs items (a list of objects)", prefix));
      return;
    }
    size_t i = 0;
    for (const auto& item : items) add_manifest(item, file, fmt::format("{}.items[{}]", field, i++), prefix);
    return;
  }
  auto metadata = object->find("metadata");
  if (metadata == object->end() || !metadata->is_object() || !metadata->contains("name") ||
      !(*metadata)["name"].is_string() || (*metadata)["name"].get<std::string>().empty()) {
    error(file, node.Mark(), field, fmt::format("{}the object has no metadata.name", prefix));
    return;
  }
  const auto mark = node.Mark();
  experiment_.workload.push_back(
      Manifest{std::move(*object), SourceLocation{file, mark.line + 1, mark.column + 1}});
}

std::optional<json> Parser::to_json(const YAML::Node& node, const std::string& file,
                                    const std::string& field) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return json(nullptr);
    case YAML::NodeType::Scalar:
      // A quoted or !!str scalar stays a string; a plain one is resolved.
      if (is_plain(node)) return resolve_plain(node.Scalar());
      return json(node.Scalar());
    case YAML::NodeType::Sequence: {
      json array = json::array();
      for (const auto& item : node) {
        auto value = to_json(item, file, field);
        if (!value) return std::nullopt;
        array.push_back(std::move(*value));
      }
      return array;
    }
    case YAML::NodeType::Map: {
      json object = json::object();
      for (const auto& entry : node) {
        if (!entry.first.IsScalar()) {
          error(file, entry.first.Mark(), field,
                fmt::format("a key must be a string, got {}", describe_kind(entry.first)));
          return std::nullopt;
        }
        auto value = to_json(entry.second, file, field);
        if (!value) return std::nullopt;
        object[entry.first.Scalar()] = std::move(*value);
      }
      return object;
    }
  }
  return json(nullptr);
}

// ---------------------------------------------------------------------------
// spec.probes

void Parser::parse_probes(const YAML::Node& node) {
  if (!sequence(node, "spec.probes", "probes")) return;
  size_t i = 0;
  for (const auto& item : node) parse_probe(item, fmt::format("spec.probes[{}]", i++));
}

void Parser::parse_probe(const YAML::Node& node, const std::string& field) {
  Fields fields(
      *this, node, field,
      {"name", "type", "namespace", "service", "deployment", "path", "url", "command", "rate", "timeout"});
  if (!fields.ok()) return;
  ProbeSpec probe;
  probe.where = where(node);
  std::optional<std::string> name;
  if (const auto* entry = fields.get("name")) {
    name = dns_label(entry->value, fields.path("name"));
    if (name) {
      if (auto it = probe_kinds_.find(*name); it != probe_kinds_.end()) {
        error(entry->value, fields.path("name"),
              fmt::format("duplicate probe name '{}' (also {})", *name, it->second.second));
        name.reset();
      }
    }
  } else {
    missing(fields, "name");
  }
  probe.name = name.value_or("");

  std::optional<ProbeKind> kind;
  if (const auto* type = fields.get("type")) {
    if (auto text = string(type->value, fields.path("type"))) {
      for (auto k : kProbeKinds)
        if (to_string(k) == *text) kind = k;
      if (!kind) {
        error(type->value, fields.path("type"),
              fmt::format("unknown probe type '{}' (expected service, replicas, api, etcd, http or exec)",
                          *text));
      }
    }
  } else if (fields.has("service")) {
    kind = ProbeKind::kService;
  } else if (fields.has("deployment")) {
    kind = ProbeKind::kReplicas;
  } else if (fields.has("url")) {
    kind = ProbeKind::kHttp;
  } else if (fields.has("command")) {
    kind = ProbeKind::kExec;
  } else if (probe.name == "api") {
    kind = ProbeKind::kApi;
  } else if (probe.name == "etcd") {
    kind = ProbeKind::kEtcd;
  } else {
    error(node, fields.path("type"),
          "cannot tell the probe's type; set type (service, replicas, api, etcd, http or exec)");
  }
  if (name) probe_kinds_[*name] = {kind, field};
  if (name && kind == ProbeKind::kReplicas)
    probe_kinds_[*name + std::string(kRuntimeViewSuffix)] = {kind, field};
  if (!kind) return;
  probe.kind = *kind;

  // What each kind takes beyond name, type and timeout; the first is required.
  std::vector<std::string_view> takes;
  switch (*kind) {
    case ProbeKind::kService:
      takes = {"service", "namespace", "path", "rate"};
      break;
    case ProbeKind::kReplicas:
      takes = {"deployment", "namespace"};
      break;
    case ProbeKind::kApi:
    case ProbeKind::kEtcd:
      takes = {"rate"};
      break;
    case ProbeKind::kHttp:
      takes = {"url", "rate"};
      break;
    case ProbeKind::kExec:
      takes = {"command", "rate"};
      break;
  }
  const bool first_required = *kind != ProbeKind::kApi && *kind != ProbeKind::kEtcd;
  if (first_required && !fields.has(takes.front()))
    missing(fields, takes.front(), fmt::format("required for a {} probe", to_string(*kind)));
  for (const auto& key : fields.keys()) {
    if (key == "name" || key == "type" || key == "timeout" || contains(takes, key)) continue;
    error(fields.get(key)->key, fields.path(key),
          fmt::format("does not apply to a {} probe", to_string(*kind)));
  }
  auto read = [&](std::string_view key) -> const YAML::Node* {
    const auto* entry = fields.get(key);
    return entry != nullptr && contains(takes, key) ? &entry->value : nullptr;
  };
  if (const auto* value = read("namespace")) {
    if (auto ns = dns_label(*value, fields.path("namespace"))) probe.ns = *ns;
  }
  if (const auto* value = read("service")) {
    if (auto service = dns_label(*value, fields.path("service"))) probe.service = *service;
  }
  if (const auto* value = read("deployment")) {
    if (auto deployment = string(*value, fields.path("deployment"))) {
      auto problems = api::validate_dns1123_subdomain(*deployment);
      if (problems.empty()) {
        probe.deployment = *deployment;
      } else {
        error(*value, fields.path("deployment"),
              fmt::format("'{}' is not a valid name: {}", *deployment, problems.front()));
      }
    }
  }
  if (const auto* value = read("path")) {
    if (auto path = string(*value, fields.path("path"))) {
      if (path->empty() || (*path)[0] != '/') {
        error(*value, fields.path("path"), fmt::format("must start with '/', got '{}'", *path));
      } else {
        probe.path = *path;
      }
    }
  }
  if (const auto* value = read("url")) {
    if (auto url = string(*value, fields.path("url"))) {
      static const std::regex kUrl(R"(^http://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})(/[^\s]*)?$)");
      std::smatch match;
      int port = 0;
      if (std::regex_match(*url, match, kUrl)) port = std::stoi(match[2].str());
      if (port < 1 || port > 65535) {
        error(*value, fields.path("url"), fmt::format("expected http://host:port/path, got '{}'", *url));
      } else {
        probe.url = *url;
        probe.path = match[3].matched ? match[3].str() : "/";
      }
    }
  }
  if (const auto* value = read("command")) {
    if (auto command = strings(*value, fields.path("command"))) {
      if (command->empty()) {
        error(*value, fields.path("command"), "must name a program to run");
      } else {
        probe.command = std::move(*command);
      }
    }
  }
  if (const auto* value = read("rate")) {
    if (auto rate = number(*value, fields.path("rate"))) {
      if (*rate <= 0 || *rate > kMaxProbeRate) {
        error(
            *value, fields.path("rate"),
            fmt::format("must be above 0 and at most {} per second, got {}", kMaxProbeRate, value->Scalar()));
      } else {
        probe.rate = *rate;
      }
    }
  }
  read_duration(fields, "timeout", /*allow_zero=*/false, probe.timeout);
  experiment_.probes.push_back(std::move(probe));
}

std::optional<std::string> Parser::probe_reference(const Fields& fields, std::optional<ProbeKind>& kind) {
  const auto* entry = fields.get("probe");
  if (entry == nullptr) {
    missing(fields, "probe");
    return std::nullopt;
  }
  auto name = string(entry->value, fields.path("probe"));
  if (!name) return std::nullopt;
  auto it = probe_kinds_.find(*name);
  if (it == probe_kinds_.end()) {
    std::vector<std::string_view> names;
    for (const auto& [defined, unused] : probe_kinds_) names.push_back(defined);
    error(entry->value, fields.path("probe"),
          names.empty() ? fmt::format("no probe named '{}' (spec.probes defines none)", *name)
                        : fmt::format("no probe named '{}' (defined: {})", *name, join(names)));
    return std::nullopt;
  }
  kind = it->second.first;
  return name;
}

// ---------------------------------------------------------------------------
// spec.steadyState

void Parser::parse_steady_state(const YAML::Node& node) {
  if (!sequence(node, "spec.steadyState", "checks")) return;
  size_t i = 0;
  for (const auto& item : node) {
    Fields fields(*this, item, fmt::format("spec.steadyState[{}]", i++), {"probe", "successRatio", "ready"});
    if (!fields.ok()) continue;
    SteadyStateCheck check;
    check.where = where(item);
    std::optional<ProbeKind> kind;
    auto probe = probe_reference(fields, kind);
    check.probe = probe.value_or("");
    const bool replicas = kind == ProbeKind::kReplicas;
    if (const auto* ratio = fields.get("successRatio")) {
      if (probe && kind && replicas) {
        error(ratio->key, fields.path("successRatio"),
              fmt::format("does not apply to replicas probe '{}'; use ready", *probe));
      } else {
        check.success_ratio = fraction(ratio->value, fields.path("successRatio"));
      }
    }
    if (const auto* ready = fields.get("ready")) {
      if (probe && kind && !replicas) {
        error(ready->key, fields.path("ready"),
              fmt::format("applies only to replicas probes; '{}' is a {} probe", *probe, to_string(*kind)));
      } else if (ready->value.IsScalar() && ready->value.Scalar() == "desired") {
        check.ready_equals_desired = true;
      } else if (ready->value.IsScalar() && is_plain(ready->value) && parse_int64(ready->value.Scalar())) {
        if (auto n = integer(ready->value, fields.path("ready"), 0, 100000))
          check.ready = static_cast<int>(*n);
      } else {
        error(ready->value, fields.path("ready"),
              fmt::format("expected desired or a number of pods, got {}", describe_kind(ready->value)));
      }
    }
    if (probe && kind && !fields.has("successRatio") && !fields.has("ready")) {
      error(item, fields.path(replicas ? "ready" : "successRatio"),
            replicas ? "required for a replicas probe (desired or a number of pods)"
                     : fmt::format("required for a {} probe (between 0 and 1)", to_string(*kind)));
    }
    experiment_.steady_state.push_back(std::move(check));
  }
}

// ---------------------------------------------------------------------------
// spec.faults

void Parser::parse_faults(const YAML::Node& node) {
  if (!sequence(node, "spec.faults", "faults")) return;
  size_t i = 0;
  for (const auto& item : node) parse_fault(item, fmt::format("spec.faults[{}]", i++));
  std::stable_sort(experiment_.faults.begin(), experiment_.faults.end(),
                   [](const FaultSpec& a, const FaultSpec& b) { return a.at < b.at; });
}

void Parser::parse_fault(const YAML::Node& node, const std::string& field) {
  Fields fields(*this, node, field,
                {"at",      "action",    "target",    "duration",    "restartAfter",  "count",
                 "percent", "direction", "toxicity",  "latency",     "jitter",        "rate",
                 "delay",   "timeout",   "bytes",     "averageSize", "sizeVariation", "links",
                 "status",  "verbs",     "resources", "replicas"});
  if (!fields.ok()) return;
  FaultSpec fault;
  fault.where = where(node);
  if (fields.has("at")) {
    read_duration(fields, "at", /*allow_zero=*/true, fault.at);
  } else {
    missing(fields, "at", "required (when the fault starts, e.g. 1s)");
  }
  const ActionRule* rule = nullptr;
  if (const auto* action = fields.get("action")) {
    if (auto text = string(action->value, fields.path("action"))) {
      for (auto a : kActions)
        if (to_string(a) == *text) rule = &rule_for(a);
      if (rule == nullptr) {
        std::vector<std::string_view> names;
        for (auto a : kActions) names.push_back(to_string(a));
        error(action->value, fields.path("action"),
              fmt::format("unknown action '{}' (expected one of {})", *text, join(names)));
      }
    }
  } else {
    missing(fields, "action");
  }
  if (rule != nullptr) fault.action = rule->action;
  const bool partition = rule != nullptr && rule->action == FaultAction::kPartition;

  std::optional<Target> target;
  if (const auto* entry = fields.get("target")) {
    target = parse_target(entry->value, fields.path("target"));
    if (target && rule != nullptr) {
      const auto& allowed = rule->components;
      if (std::find(allowed.begin(), allowed.end(), target->component) == allowed.end()) {
        error(entry->value, fields.path("target"),
              fmt::format("action '{}' does not apply to {}; it applies to {}", to_string(rule->action),
                          to_string(target->component), component_names(allowed)));
        target.reset();
      }
    }
    if (partition && fields.has("links")) {
      error(fields.get("links")->key, fields.path("links"), "set target or links, not both");
    }
  } else if (!(partition && fields.has("links"))) {
    missing(fields, "target", partition ? "required (node:<node>), or set links" : "required");
  }
  if (target) fault.target = *target;
  if (rule != nullptr) read_fault_fields(fields, rule, fault);
  experiment_.faults.push_back(std::move(fault));
}

void Parser::read_fault_fields(const Fields& fields, const ActionRule* rule, FaultSpec& fault) {
  const auto action = to_string(rule->action);
  const bool targets_pod =
      fields.has("target") && fault.target.component == Component::kPod && !fault.target.text.empty();
  const bool pod_fault = rule->components == std::vector<Component>{Component::kPod} ||
                         (rule->action == FaultAction::kKill && targets_pod);
  // Which of the present keys this action takes.
  std::vector<std::string> taken;
  for (const auto& key : fields.keys()) {
    if (key == "at" || key == "action" || key == "target") continue;
    const auto& entry = *fields.get(key);
    if (!contains(rule->required, key) && !contains(rule->optional, key)) {
      error(entry.key, fields.path(key),
            fmt::format("does not apply to action '{}' (it applies to {})", action, actions_taking(key)));
      continue;
    }
    if (rule->action == FaultAction::kKill && !fault.target.text.empty()) {
      if (key == "restartAfter" && targets_pod) {
        error(entry.key, fields.path(key), "does not apply to killing a pod (its kubelet restarts it)");
        continue;
      }
      if ((key == "count" || key == "percent") && !targets_pod) {
        error(entry.key, fields.path(key), "applies only to pod faults");
        continue;
      }
    }
    taken.push_back(key);
  }
  for (const auto& key : rule->required) {
    if (!fields.has(key)) missing(fields, key, fmt::format("required for action '{}'", action));
  }
  if (pod_fault && fields.has("count") && fields.has("percent")) {
    error(fields.get("percent")->key, fields.path("percent"), "set count or percent, not both");
  }

  for (const auto& key : taken) {
    const YAML::Node& value = fields.get(key)->value;
    const auto path = fields.path(key);
    auto positive_int = [&](int64_t min) {
      return integer(value, path, min, std::numeric_limits<int64_t>::max());
    };
    if (key == "duration") {
      if (auto d = duration(value, path, false)) fault.duration = *d;
    } else if (key == "restartAfter") {
      if (auto d = duration(value, path, true)) fault.restart_after = *d;
    } else if (key == "count") {
      if (auto n = integer(value, path, 1, 100000)) fault.count = static_cast<int>(*n);
    } else if (key == "replicas") {
      if (auto n = integer(value, path, 0, kMaxScaleReplicas)) fault.replicas = static_cast<int>(*n);
    } else if (key == "percent") {
      if (auto p = number(value, path)) {
        if (*p <= 0 || *p > 100) {
          error(value, path, fmt::format("must be above 0 and at most 100, got {}", value.Scalar()));
        } else if (rule->action == FaultAction::kHttpError) {
          fault.error_percent = *p;
        } else {
          fault.percent = *p;
        }
      }
    } else if (key == "direction") {
      if (auto text = string(value, path)) {
        if (*text == "upstream") {
          fault.direction = Direction::kUpstream;
        } else if (*text == "downstream") {
          fault.direction = Direction::kDownstream;
        } else if (*text == "both") {
          fault.direction = Direction::kBoth;
        } else {
          error(value, path,
                fmt::format("unknown direction '{}' (expected upstream, downstream or both)", *text));
        }
      }
    } else if (key == "toxicity") {
      if (auto t = fraction(value, path)) fault.toxicity = *t;
    } else if (key == "latency") {
      if (auto d = duration(value, path, false)) fault.latency = *d;
    } else if (key == "jitter") {
      if (auto d = duration(value, path, true)) fault.jitter = *d;
    } else if (key == "rate") {
      if (auto n = positive_int(1)) fault.rate_kbps = *n;
    } else if (key == "delay") {
      if (auto d = duration(value, path, true)) fault.delay = *d;
    } else if (key == "timeout") {
      if (auto d = duration(value, path, true)) fault.timeout = *d;
    } else if (key == "bytes") {
      if (auto n = positive_int(0)) fault.bytes = *n;
    } else if (key == "averageSize") {
      if (auto n = positive_int(1)) fault.average_size = *n;
    } else if (key == "sizeVariation") {
      if (auto n = positive_int(0)) fault.size_variation = *n;
    } else if (key == "links") {
      if (auto links = strings(value, path)) {
        if (links->empty()) error(value, path, "must name at least one link");
        for (size_t i = 0; i < links->size(); ++i) {
          if (auto problem = check_link((*links)[i]))
            error(value[i], fmt::format("{}[{}]", path, i), *problem);
        }
        fault.links = std::move(*links);
      }
    } else if (key == "status") {
      if (auto n = integer(value, path, 400, 599)) fault.status = static_cast<int>(*n);
    } else if (key == "verbs" || key == "resources") {
      const auto& known = key == "verbs" ? kVerbs : kApiResources;
      if (auto items = strings(value, path)) {
        for (size_t i = 0; i < items->size(); ++i) {
          if (!contains(known, (*items)[i])) {
            error(value[i], fmt::format("{}[{}]", path, i),
                  fmt::format("unknown {} '{}' (expected one of {})", key == "verbs" ? "verb" : "resource",
                              (*items)[i], join(known)));
          }
        }
        (key == "verbs" ? fault.verbs : fault.resources) = std::move(*items);
      }
    }
  }
  if (fault.average_size > 0 && fault.size_variation >= fault.average_size) {
    error(fields.get("sizeVariation")->value, fields.path("sizeVariation"),
          fmt::format("must be less than averageSize ({})", fault.average_size));
  }
}

std::optional<Target> Parser::parse_target(const YAML::Node& node, const std::string& field) {
  auto text = string(node, field);
  if (!text) return std::nullopt;
  const auto colon = text->find(':');
  if (colon == std::string::npos) {
    error(node, field,
          fmt::format("expected component:selector (e.g. etcd:leader, pod:app=web), got '{}'", *text));
    return std::nullopt;
  }
  const auto component_name = text->substr(0, colon);
  std::optional<Component> component;
  for (auto c : kComponents)
    if (to_string(c) == component_name) component = c;
  if (!component) {
    error(node, field,
          fmt::format("unknown component '{}' (expected one of {})", component_name,
                      component_names({std::begin(kComponents), std::end(kComponents)})));
    return std::nullopt;
  }
  Target target{*component, text->substr(colon + 1), *text};
  if (auto problem = check_selector(*component, target.selector)) {
    error(node, field, *problem);
    return std::nullopt;
  }
  return target;
}

// nullopt when `selector` is possible for `component` in this cluster, else
// what is wrong with it.
std::optional<std::string> Parser::check_selector(Component component, const std::string& selector) const {
  const auto& cluster = experiment_.cluster;
  const auto name = std::string(to_string(component));
  // Replicas: "<prefix>-<i>" must exist in a cluster of `count`.
  auto indexed = [&](std::string_view prefix, int count,
                     std::string_view what) -> std::optional<std::string> {
    auto i = member_index(selector, prefix);
    if (!i) return "";  // not of this form
    if (cluster_ok_ && *i > count) {
      return fmt::format("{} does not exist; the cluster has {} {} ({}-1..{}-{})", selector, count, what,
                         prefix, prefix, count);
    }
    return std::nullopt;
  };
  auto unknown = [&](std::string_view expected) {
    return fmt::format("unknown {} selector '{}' (expected {})", name, selector, expected);
  };
  switch (component) {
    case Component::kEtcd: {
      if (selector == "leader" || selector == "majority" || selector == "all") return std::nullopt;
      if (selector == "follower") {
        if (cluster_ok_ && cluster.etcd_members < 2) {
          return fmt::format("etcd:follower needs at least 2 etcd members; the cluster has {}",
                             cluster.etcd_members);
        }
        return std::nullopt;
      }
      auto problem = indexed("etcd", cluster.etcd_members, "etcd members");
      if (problem && problem->empty()) return unknown("leader, follower, majority, all or etcd-<i>");
      return problem;
    }
    case Component::kApiserver: {
      if (selector == "any") return std::nullopt;
      auto problem = indexed("apiserver", cluster.apiservers, "apiservers");
      if (problem && problem->empty()) return unknown("any or apiserver-<i>");
      return problem;
    }
    case Component::kControllerManager:
    case Component::kScheduler: {
      const int count = component == Component::kScheduler ? cluster.schedulers : cluster.controller_managers;
      const auto plural = component == Component::kScheduler ? "schedulers" : "controller-managers";
      if (selector == "leader") return std::nullopt;
      if (selector == "standby") {
        if (cluster_ok_ && count < 2)
          return fmt::format("{}:standby needs at least 2 {}; the cluster has {}", name, plural, count);
        return std::nullopt;
      }
      auto problem = indexed(name, count, plural);
      if (problem && problem->empty()) return unknown(fmt::format("leader, standby or {}-<i>", name));
      return problem;
    }
    case Component::kKubelet:
    case Component::kRuntime:
    case Component::kProxy:
    case Component::kNode: {
      if (selector == "random") return std::nullopt;
      auto problem = indexed("node", cluster.nodes, "nodes");
      if (problem && problem->empty()) return unknown("node-<k> or random");
      return problem;
    }
    case Component::kPod:
      return check_label_selector(selector);
    case Component::kDeployment:
      return check_deployment(selector);
    case Component::kLink:
      return check_link(selector);
    case Component::kApi:
      if (selector == "all" || contains(kApiResources, selector)) return std::nullopt;
      return unknown(fmt::format("all or a resource: {}", join(kApiResources)));
  }
  return std::nullopt;
}

// A link is <client>-><server>, as the cluster wires them: every client
// talks to the apiservers, only apiservers talk to etcd, and only the
// harness's own client reaches a Service.
std::optional<std::string> Parser::check_link(const std::string& link) const {
  const auto& cluster = experiment_.cluster;
  const auto arrow = link.find("->");
  if (arrow == std::string::npos) return fmt::format("bad link '{}': expected <client>-><server>", link);
  const auto client = link.substr(0, arrow);
  const auto server = link.substr(arrow + 2);
  auto in_range = [&](std::optional<int> i, int count) { return i && (!cluster_ok_ || *i <= count); };
  enum class Client { kNone, kNodeRole, kControlPlane, kApiserver, kHarness } client_kind = Client::kNone;
  if (client.rfind("kubelet/", 0) == 0 || client.rfind("proxy/", 0) == 0) {
    if (in_range(member_index(client.substr(client.find('/') + 1), "node"), cluster.nodes))
      client_kind = Client::kNodeRole;
  } else if (in_range(member_index(client, "controller-manager"), cluster.controller_managers) ||
             in_range(member_index(client, "scheduler"), cluster.schedulers)) {
    client_kind = Client::kControlPlane;
  } else if (in_range(member_index(client, "apiserver"), cluster.apiservers)) {
    client_kind = Client::kApiserver;
  } else if (client == "client") {
    client_kind = Client::kHarness;
  }
  if (client_kind == Client::kNone) {
    return fmt::format(
        "bad link '{}': unknown client '{}' (expected kubelet/node-<k>, proxy/node-<k>, "
        "controller-manager-<i>, scheduler-<i>, apiserver-<i> or client, within the cluster's sizes)",
        link, client);
  }
  const bool to_apiserver =
      server == "apiserver" || in_range(member_index(server, "apiserver"), cluster.apiservers);
  const bool to_etcd = (server == "etcd" && (!cluster_ok_ || cluster.etcd_members > 0)) ||
                       in_range(member_index(server, "etcd"), cluster.etcd_members);
  // service/<name>, through every node, or service/<name>/node-<k>, through one.
  bool to_service = false;
  if (server.rfind("service/", 0) == 0) {
    const auto rest = server.substr(8);
    const auto slash = rest.find('/');
    to_service =
        api::validate_dns1123_label(rest.substr(0, slash)).empty() &&
        (slash == std::string::npos || in_range(member_index(rest.substr(slash + 1), "node"), cluster.nodes));
  }
  if (!to_apiserver && !to_etcd && !to_service) {
    return fmt::format(
        "bad link '{}': unknown server '{}' (expected apiserver, apiserver-<i>, etcd, etcd-<i>, "
        "service/<name> or service/<name>/node-<k>, within the cluster's sizes)",
        link, server);
  }
  if (to_etcd != (client_kind == Client::kApiserver)) {
    return fmt::format("bad link '{}': only apiservers talk to etcd, and apiservers only to etcd", link);
  }
  if (to_service && client_kind != Client::kHarness) {
    return fmt::format("bad link '{}': only client (the harness's probes) reaches a service", link);
  }
  return std::nullopt;
}

// [namespace/]name, a Deployment the workload creates.
std::optional<std::string> Parser::check_deployment(const std::string& selector) const {
  const auto [ns, name] = namespace_and_name(selector);
  if (auto problems = api::validate_dns1123_label(ns); !problems.empty())
    return fmt::format("bad namespace '{}': {} (expected [namespace/]name)", ns, problems.front());
  if (auto problems = api::validate_dns1123_subdomain(name); !problems.empty())
    return fmt::format("bad Deployment name '{}': {} (expected [namespace/]name)", name, problems.front());
  std::vector<std::string> known;
  for (const auto& manifest : experiment_.workload) {
    const json& object = manifest.object;
    if (!object.is_object() || object.value("kind", "") != "Deployment" || !object.contains("metadata") ||
        !object["metadata"].is_object())
      continue;
    const auto& metadata = object["metadata"];
    // (add_manifest checked metadata.name; a non-string namespace is the apiserver's to refuse)
    const auto ns_field = metadata.find("namespace");
    const std::string its_ns =
        ns_field != metadata.end() && ns_field->is_string() ? ns_field->get<std::string>() : "default";
    const std::string its_name = metadata["name"].get<std::string>();
    if (its_ns == ns && its_name == name) return std::nullopt;
    known.push_back(its_ns == "default" ? its_name : fmt::format("{}/{}", its_ns, its_name));
  }
  return fmt::format("no Deployment '{}' in spec.workload (it has {})", selector,
                     known.empty() ? "none" : join(known));
}

std::optional<std::string> Parser::check_label_selector(const std::string& selector) const {
  auto bad = [&](const std::string& why) {
    return fmt::format("bad label selector '{}': {} (expected key=value[,key=value])", selector, why);
  };
  if (selector.empty()) return bad("empty");
  size_t start = 0;
  while (start <= selector.size()) {
    auto end = selector.find(',', start);
    if (end == std::string::npos) end = selector.size();
    const auto term = selector.substr(start, end - start);
    const auto eq = term.find('=');
    if (eq == std::string::npos) return bad(fmt::format("'{}' has no '='", term));
    const auto key = term.substr(0, eq);
    const auto value = term.substr(eq + 1);
    if (auto problems = api::validate_qualified_name(key); !problems.empty())
      return bad(fmt::format("key '{}': {}", key, problems.front()));
    if (auto problems = api::validate_label_value(value); !problems.empty())
      return bad(fmt::format("value '{}': {}", value, problems.front()));
    start = end + 1;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// spec.recovery, spec.expect

void Parser::parse_recovery(const YAML::Node& node) {
  Fields fields(*this, node, "spec.recovery", {"timeout", "stableFor"});
  if (!fields.ok()) return;
  read_duration(fields, "timeout", /*allow_zero=*/false, experiment_.recovery.timeout);
  read_duration(fields, "stableFor", /*allow_zero=*/false, experiment_.recovery.stable_for);
}

void Parser::parse_expect(const YAML::Node& node) {
  if (!sequence(node, "spec.expect", "expectations")) return;
  size_t i = 0;
  for (const auto& item : node) {
    Fields fields(*this, item, fmt::format("spec.expect[{}]", i++),
                  {"probe", "recoveredWithin", "maxDowntime", "minAvailability", "maxTimeToImpact"});
    if (!fields.ok()) continue;
    Expectation expectation;
    expectation.where = where(item);
    std::optional<ProbeKind> kind;
    expectation.probe = probe_reference(fields, kind).value_or("");
    const std::pair<std::string_view, std::optional<Millis>*> durations[] = {
        {"recoveredWithin", &expectation.recovered_within},
        {"maxDowntime", &expectation.max_downtime},
        {"maxTimeToImpact", &expectation.max_time_to_impact}};
    for (const auto& [key, out] : durations) {
      if (const auto* entry = fields.get(key)) *out = duration(entry->value, fields.path(key), true);
    }
    if (const auto* entry = fields.get("minAvailability"))
      expectation.min_availability = fraction(entry->value, fields.path("minAvailability"));
    if (fields.keys().size() == (fields.has("probe") ? 1U : 0U)) {
      error(item, fields.path(),
            "set at least one of recoveredWithin, maxDowntime, minAvailability, maxTimeToImpact");
    }
    experiment_.expect.push_back(std::move(expectation));
  }
}

}  // namespace

ParseResult parse_experiment_text(std::string_view text, const std::string& file_name,
                                  const std::filesystem::path& base_dir) {
  return Parser(file_name, base_dir).run(text);
}

ParseResult parse_experiment_file(const std::filesystem::path& file) {
  auto unreadable = [&](const std::string& why) {
    ParseResult result;
    result.errors.push_back(ParseError{SourceLocation{file.string(), 0, 0}, "", "cannot read file: " + why});
    return result;
  };
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec)) return unreadable("it is a directory");
  std::ifstream in(file, std::ios::binary);
  if (!in) return unreadable(std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  return parse_experiment_text(text.str(), file.string(), file.parent_path());
}

}  // namespace shakeout::experiment
