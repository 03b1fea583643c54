#pragma once
// Label and field selectors with upstream's syntax and matching rules
// (k8s.io/apimachinery/pkg/labels/selector.go, pkg/fields/selector.go).
//
// Parse, then match: parsing validates everything (syntax, key and value
// formats, which fields a resource can select on) and returns the upstream
// error text, which the storage layer turns into 400 BadRequest.

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "api/resource_registry.h"
#include "common/result.h"

namespace shakeout::api {

struct LabelRequirement {
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist, kGreaterThan, kLessThan };
  std::string key;
  Op op = Op::kExists;
  std::vector<std::string> values;
};

class LabelSelector {
 public:
  // "" selects everything. Errors are kInvalidArgument with upstream wording.
  static Result<LabelSelector> parse(std::string_view text);
  bool empty() const { return requirements_.empty(); }
  // Upstream semantics: != and notin match objects without the key.
  bool matches(const std::map<std::string, std::string>& labels) const;
  // Matches metadata.labels of an object.
  bool matches_object(const nlohmann::json& object) const;
  const std::vector<LabelRequirement>& requirements() const { return requirements_; }

 private:
  std::vector<LabelRequirement> requirements_;
};

struct FieldRequirement {
  std::string field;
  bool equals = true;  // false for !=
  std::string value;
};

class FieldSelector {
 public:
  // Parses "a=b,c!=d" (=, ==, !=; \, \= and \\ escapes) and checks every
  // field against what `resource` supports: metadata.name, metadata.namespace
  // (namespaced resources) and ResourceInfo::selectable_fields. An unknown
  // field is an error ("field label not supported: spec.foo"), never ignored.
  static Result<FieldSelector> parse(std::string_view text, const ResourceInfo& resource);
  bool empty() const { return requirements_.empty(); }
  bool matches_object(const nlohmann::json& object) const;
  const std::vector<FieldRequirement>& requirements() const { return requirements_; }

 private:
  std::vector<FieldRequirement> requirements_;
};

// Whether a metav1.LabelSelector object ({matchLabels, matchExpressions})
// selects `labels` (a label map, or nullptr for none): upstream
// metav1.LabelSelectorAsSelector then Matches. An empty selector ({}) selects
// everything; a non-object one too, so callers decide what null means first.
bool label_selector_matches(const nlohmann::json& selector, const nlohmann::json* labels);

// The value of a selectable field of `object` as upstream renders it ("" when
// absent; booleans as "true"/"false").
std::string field_value(const nlohmann::json& object, std::string_view field);

}  // namespace shakeout::api
