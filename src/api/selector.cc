#include "api/selector.h"
#include <utility>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>

#include "api/validation.h"

namespace shakeout::api {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

Error parse_error(const std::string& detail) {
  return make_error(ErrorCode::kInvalidArgument, "unable to parse requirement: " + detail);
}

// Splits on commas outside parentheses (labels) .
Result<std::vector<std::string_view>> split_terms(std::string_view text) {
  std::vector<std::string_view> terms;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '(') {
      if (++depth > 1) return parse_error("found '(', expected: identifier");
    } else if (text[i] == ')') {
      if (--depth < 0) return parse_error("found ')', expected: !, identifier, or 'end of string'");
    } else if (text[i] == ',' && depth == 0) {
      terms.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  if (depth != 0) return parse_error("found 'end of string', expected: ')'");
  terms.push_back(text.substr(start));
  return terms;
}

Status check_key(std::string_view key) {
  if (key.empty()) return parse_error("found '', expected: identifier");
  auto errors = validate_qualified_name(key);
  if (!errors.empty()) return parse_error(fmt::format("key: Invalid value: \"{}\": {}", key, errors.front()));
  return {};
}

Status check_value(std::string_view value, size_t index) {
  auto errors = validate_label_value(value);
  if (!errors.empty())
    return parse_error(
        fmt::format("values[{}][{}]: Invalid value: \"{}\": {}", index, "", value, errors.front()));
  return {};
}

bool is_operator_char(char c) {
  return c == '=' || c == '!' || c == '<' || c == '>';
}

Result<LabelRequirement> parse_label_term(std::string_view raw) {
  std::string_view term = trim(raw);
  LabelRequirement req;
  if (term.empty()) return parse_error("found '', expected: !, identifier, or 'end of string'");
  if (term.front() == '!') {
    req.key = std::string(trim(term.substr(1)));
    req.op = LabelRequirement::Op::kDoesNotExist;
    if (auto ok = check_key(req.key); !ok) return ok.error();
    return req;
  }
  // key [op value] or key (in|notin) (v1,v2)
  size_t i = 0;
  while (i < term.size() && !std::isspace(static_cast<unsigned char>(term[i])) &&
         !is_operator_char(term[i]) && term[i] != '(' && term[i] != ')')
    ++i;
  req.key = std::string(term.substr(0, i));
  if (auto ok = check_key(req.key); !ok) return ok.error();
  std::string_view rest = trim(term.substr(i));
  if (rest.empty()) {
    req.op = LabelRequirement::Op::kExists;
    return req;
  }
  auto set_op = [&](std::string_view word) -> bool {
    if (rest.substr(0, word.size()) != word) return false;
    std::string_view after = rest.substr(word.size());
    return after.empty() || std::isspace(static_cast<unsigned char>(after.front())) || after.front() == '(';
  };
  if (set_op("in") || set_op("notin")) {
    bool in = rest.substr(0, 2) == "in";
    req.op = in ? LabelRequirement::Op::kIn : LabelRequirement::Op::kNotIn;
    rest = trim(rest.substr(in ? 2 : 5));
    if (rest.empty() || rest.front() != '(')
      return parse_error(fmt::format("found '{}', expected: '('", rest.empty() ? "end of string" : rest));
    if (rest.back() != ')') return parse_error("found 'end of string', expected: ')'");
    std::string_view inner = rest.substr(1, rest.size() - 2);
    size_t start = 0;
    for (size_t j = 0; j <= inner.size(); ++j) {
      if (j == inner.size() || inner[j] == ',') {
        std::string_view value = trim(inner.substr(start, j - start));
        if (auto ok = check_value(value, req.values.size()); !ok) return ok.error();
        req.values.emplace_back(value);
        start = j + 1;
      }
    }
    if (trim(inner).empty()) req.values.clear();
    if (req.values.empty()) return parse_error("for 'in', 'notin' operators, values set can't be empty");
    return req;
  }
  std::string_view op;
  for (std::string_view candidate : {"==", "!=", "=", ">", "<"}) {
    if (rest.substr(0, candidate.size()) == candidate) {
      op = candidate;
      break;
    }
  }
  if (op.empty()) return parse_error(fmt::format("found '{}', expected: in, notin, =, ==, !=, gt, lt", rest));
  std::string_view value = trim(rest.substr(op.size()));
  if (value.find_first_of(" ()=!<>") != std::string_view::npos)
    return parse_error(fmt::format("found '{}', expected: ',' or 'end of string'", value));
  if (op == ">" || op == "<") {
    req.op = op == ">" ? LabelRequirement::Op::kGreaterThan : LabelRequirement::Op::kLessThan;
    int64_t n = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (value.empty() || ec != std::errc() || ptr != value.data() + value.size())
      return parse_error(fmt::format("for 'Gt', 'Lt' operators, the value must be an integer"));
  } else {
    req.op = op == "!=" ? LabelRequirement::Op::kNotEquals : LabelRequirement::Op::kEquals;
    if (auto ok = check_value(value, 0); !ok) return ok.error();
  }
  req.values.emplace_back(value);
  return req;
}

}  // namespace

Result<LabelSelector> LabelSelector::parse(std::string_view text) {
  LabelSelector selector;
  if (trim(text).empty()) return selector;
  auto terms = split_terms(text);
  if (!terms) return terms.error();
  for (auto term : *terms) {
    auto req = parse_label_term(term);
    if (!req) return req.error();
    selector.requirements_.push_back(std::move(*req));
  }
  // Upstream sorts requirements by key; the order does not change matching.
  std::stable_sort(selector.requirements_.begin(), selector.requirements_.end(),
                   [](const auto& a, const auto& b) { return a.key < b.key; });
  return selector;
}

bool LabelSelector::matches(const std::map<std::string, std::string>& labels) const {
  for (const auto& req : requirements_) {
    auto it = labels.find(req.key);
    bool has = it != labels.end();
    auto contains = [&] {
      return has && std::find(req.values.begin(), req.values.end(), it->second) != req.values.end();
    };
    auto compare = [&](bool greater) {
      if (!has) return false;
      int64_t have = 0;
      int64_t want = 0;
      auto a = std::from_chars(it->second.data(), it->second.data() + it->second.size(), have);
      auto b = std::from_chars(req.values[0].data(), req.values[0].data() + req.values[0].size(), want);
      if (a.ec != std::errc() || b.ec != std::errc()) return false;
      return greater ? have > want : have < want;
    };
    bool ok = false;
    switch (req.op) {
      case LabelRequirement::Op::kEquals:
      case LabelRequirement::Op::kIn:
        ok = contains();
        break;
      case LabelRequirement::Op::kNotEquals:
      case LabelRequirement::Op::kNotIn:
        ok = !contains();
        break;
      case LabelRequirement::Op::kExists:
        ok = has;
        break;
      case LabelRequirement::Op::kDoesNotExist:
        ok = !has;
        break;
      case LabelRequirement::Op::kGreaterThan:
        ok = compare(true);
        break;
      case LabelRequirement::Op::kLessThan:
        ok = compare(false);
        break;
    }
    if (!ok) return false;
  }
  return true;
}

bool LabelSelector::matches_object(const nlohmann::json& object) const {
  if (requirements_.empty()) return true;
  std::map<std::string, std::string> labels;
  auto meta = object.find("metadata");
  if (meta != object.end() && meta->is_object()) {
    auto found = meta->find("labels");
    if (found != meta->end() && found->is_object())
      for (const auto& [k, v] : found->items())
        if (v.is_string()) labels.emplace(k, v.get<std::string>());
  }
  return matches(labels);
}

namespace {

// Splits on unescaped commas and unescapes \, \= \\ (upstream fields.splitTerms
// and UnescapeValue).
Result<std::vector<std::string>> split_field_terms(std::string_view text) {
  std::vector<std::string> terms;
  std::string current;
  bool escaped = false;
  for (char c : text) {
    if (escaped) {
      current += '\\';
      current += c;
      escaped = false;
    } else if (c == '\\') {
      escaped = true;
    } else if (c == ',') {
      terms.push_back(std::move(current));
      current.clear();
    } else {
      current += c;
    }
  }
  if (escaped) current += '\\';
  terms.push_back(std::move(current));
  return terms;
}

Result<std::string> unescape(std::string_view value) {
  std::string out;
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '\\') {
      if (value[i] == '=' || value[i] == ',')
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("invalid field selector value: unescaped {} in {}", value[i], value));
      out += value[i];
      continue;
    }
    if (i + 1 == value.size() || (value[i + 1] != '\\' && value[i + 1] != ',' && value[i + 1] != '='))
      return make_error(ErrorCode::kInvalidArgument, fmt::format("invalid field selector value: {}", value));
    out += value[++i];
  }
  return out;
}

}  // namespace

Result<FieldSelector> FieldSelector::parse(std::string_view text, const ResourceInfo& resource) {
  FieldSelector selector;
  if (trim(text).empty()) return selector;
  auto terms = split_field_terms(text);
  if (!terms) return terms.error();
  for (const auto& term : *terms) {
    FieldRequirement req;
    size_t at = std::string::npos;
    size_t op_len = 0;
    // Upstream tries "!=", then "==", then "=" (fields/selector.go parseSelector).
    if (at = term.find("!="); at != std::string::npos) {
      req.equals = false;
      op_len = 2;
    } else if (at = term.find("=="); at != std::string::npos) {
      op_len = 2;
    } else if (at = term.find('='); at != std::string::npos) {
      op_len = 1;
    } else {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("invalid selector: '{}'; can't understand '{}'", text, term));
    }
    req.field = std::string(trim(std::string_view(term).substr(0, at)));
    auto value = unescape(std::string_view(term).substr(at + op_len));
    if (!value) return value.error();
    req.value = std::move(*value);
    bool known = req.field == "metadata.name" || (resource.namespaced && req.field == "metadata.namespace") ||
                 std::find(resource.selectable_fields.begin(), resource.selectable_fields.end(), req.field) !=
                     resource.selectable_fields.end();
    if (!known)
      return make_error(ErrorCode::kInvalidArgument, fmt::format("field label not supported: {}", req.field));
    selector.requirements_.push_back(std::move(req));
  }
  return selector;
}

bool FieldSelector::matches_object(const nlohmann::json& object) const {
  for (const auto& req : requirements_)
    if ((field_value(object, req.field) == req.value) != req.equals) return false;
  return true;
}

std::string field_value(const nlohmann::json& object, std::string_view field) {
  // Events select on "source" meaning source.component (upstream
  // pkg/registry/core/event/strategy.go ToSelectableFields).
  std::string path = field == "source" ? "source.component" : std::string(field);
  const nlohmann::json* at = &object;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!at->is_object()) return field == "spec.unschedulable" ? "false" : "";
    auto it = at->find(part);
    if (it == at->end()) return field == "spec.unschedulable" ? "false" : "";
    at = &*it;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (at->is_string()) return at->get<std::string>();
  if (at->is_boolean()) return at->get<bool>() ? "true" : "false";
  if (at->is_null()) return "";
  return at->dump();
}

bool label_selector_matches(const nlohmann::json& selector, const nlohmann::json* labels) {
  auto label = [&](const std::string& key) -> std::optional<std::string> {
    if (labels == nullptr || !labels->is_object()) return std::nullopt;
    auto it = labels->find(key);
    if (it == labels->end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  if (!selector.is_object()) return true;
  if (auto match = selector.find("matchLabels"); match != selector.end() && match->is_object())
    for (const auto& [key, value] : match->items())
      if (label(key) != std::optional<std::string>(value.is_string() ? value.get<std::string>() : ""))
        return false;
  if (auto exprs = selector.find("matchExpressions"); exprs != selector.end() && exprs->is_array()) {
    for (const auto& e : *exprs) {
      if (!e.is_object()) continue;
      auto value = label(e.value("key", ""));
      const std::string op = e.value("operator", "");
      const auto values = e.find("values");
      const bool in = value && values != e.end() && values->is_array() &&
                      std::find(values->begin(), values->end(), nlohmann::json(*value)) != values->end();
      if ((op == "In" && !in) || (op == "NotIn" && in) || (op == "Exists" && !value) ||
          (op == "DoesNotExist" && value))
        return false;
    }
  }
  return true;
}

}  // namespace shakeout::api
