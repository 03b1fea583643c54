#include "api/validation.h"

#include <fmt/format.h>

#include <regex>

namespace shakeout::api {

namespace {

// Upstream's regexes and messages, verbatim in meaning.
const char* const kDns1123LabelFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const char* const kDns1035LabelFmt = "[a-z]([-a-z0-9]*[a-z0-9])?";
const char* const kQualifiedNameFmt = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";

std::string subdomain_fmt() {
  return fmt::format("{0}(\\.{0})*", kDns1123LabelFmt);
}

bool full_match(std::string_view value, const std::string& pattern) {
  // The regex is rebuilt per call; names are short and validation is off the
  // hot path of reads.
  return std::regex_match(value.begin(), value.end(), std::regex(pattern));
}

std::string max_len(size_t n) {
  return fmt::format("must be no more than {} characters", n);
}

std::string regex_error(const std::string& msg, const std::string& pattern,
                        std::vector<const char*> examples) {
  std::string ex;
  for (size_t i = 0; i < examples.size(); ++i) {
    if (i == 0) {
      ex = fmt::format("e.g. '{}'", examples[i]);
    } else {
      ex += fmt::format(",  or '{}'", examples[i]);
    }
  }
  return fmt::format("{} ({}, regex used for validation is '{}')", msg, ex, pattern);
}

}  // namespace

std::vector<std::string> validate_dns1123_subdomain(std::string_view value) {
  std::vector<std::string> errors;
  if (value.size() > 253) errors.push_back(max_len(253));
  if (!full_match(value, subdomain_fmt()))
    errors.push_back(regex_error(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
        "must start and end with an alphanumeric character",
        subdomain_fmt(), {"example.com"}));
  return errors;
}

std::vector<std::string> validate_dns1123_label(std::string_view value) {
  std::vector<std::string> errors;
  if (value.size() > 63) errors.push_back(max_len(63));
  if (!full_match(value, kDns1123LabelFmt))
    errors.push_back(regex_error(
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
        "must start and end with an alphanumeric character",
        kDns1123LabelFmt, {"my-name", "123-abc"}));
  return errors;
}

std::vector<std::string> validate_dns1035_label(std::string_view value) {
  std::vector<std::string> errors;
  if (value.size() > 63) errors.push_back(max_len(63));
  if (!full_match(value, kDns1035LabelFmt))
    errors.push_back(regex_error(
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
        "alphabetic character, and end with an alphanumeric character",
        kDns1035LabelFmt, {"my-name", "abc-123"}));
  return errors;
}

std::vector<std::string> validate_qualified_name(std::string_view value) {
  std::vector<std::string> errors;
  std::string_view name = value;
  if (auto slash = value.find('/'); slash != std::string_view::npos) {
    std::string_view prefix = value.substr(0, slash);
    name = value.substr(slash + 1);
    if (prefix.empty()) {
      errors.emplace_back("prefix part must be non-empty");
    } else {
      for (auto& e : validate_dns1123_subdomain(prefix)) errors.push_back("prefix part " + e);
    }
    if (name.find('/') != std::string_view::npos) {
      errors.emplace_back(regex_error("a qualified name must consist of alphanumeric characters, '-', '_' or "
                                      "'.', and must start and end "
                                      "with an alphanumeric character",
                                      kQualifiedNameFmt, {"MyName", "my.name", "123-abc"}) +
                          " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
      return errors;
    }
  }
  if (name.empty()) {
    errors.emplace_back("name part must be non-empty");
    return errors;
  }
  if (name.size() > 63) errors.push_back("name part " + max_len(63));
  if (!full_match(name, kQualifiedNameFmt))
    errors.push_back("name part " +
                     regex_error("must consist of alphanumeric characters, '-', '_' or '.', and must "
                                 "start and end with an alphanumeric character",
                                 kQualifiedNameFmt, {"MyName", "my.name", "123-abc"}));
  return errors;
}

std::vector<std::string> validate_label_value(std::string_view value) {
  std::vector<std::string> errors;
  if (value.size() > 63) errors.push_back(max_len(63));
  if (!full_match(value, std::string("(") + kQualifiedNameFmt + ")?"))
    errors.push_back(regex_error(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
        "must start and end with an alphanumeric character",
        std::string("(") + kQualifiedNameFmt + ")?", {"MyValue", "my_value", "12345"}));
  return errors;
}

std::vector<Cause> validate_object_name(NameRule rule, std::string_view name) {
  std::vector<Cause> causes;
  if (name.empty()) {
    causes.push_back(
        Cause{"FieldValueRequired", "metadata.name", "Required value: name or generateName is required"});
    return causes;
  }
  std::vector<std::string> problems;
  switch (rule) {
    case NameRule::kDns1123Subdomain:
      problems = validate_dns1123_subdomain(name);
      break;
    case NameRule::kDns1123Label:
      problems = validate_dns1123_label(name);
      break;
    case NameRule::kDns1035Label:
      problems = validate_dns1035_label(name);
      break;
  }
  for (const auto& p : problems)
    causes.push_back(
        Cause{"FieldValueInvalid", "metadata.name", fmt::format("Invalid value: \"{}\": {}", name, p)});
  return causes;
}

std::vector<Cause> validate_object_meta(const ResourceInfo& resource, const nlohmann::json& object) {
  const auto& meta = object.at("metadata");
  auto causes = validate_object_name(resource.name_rule, meta.value("name", ""));
  auto labels = meta.find("labels");
  if (labels != meta.end() && !labels->is_null()) {
    if (!labels->is_object()) {
      causes.push_back(Cause{"FieldValueTypeInvalid", "metadata.labels", "Invalid value: must be an object"});
      return causes;
    }
    for (const auto& [key, value] : labels->items()) {
      for (const auto& p : validate_qualified_name(key))
        causes.push_back(
            Cause{"FieldValueInvalid", "metadata.labels", fmt::format("Invalid value: \"{}\": {}", key, p)});
      if (!value.is_string()) {
        causes.push_back(Cause{"FieldValueTypeInvalid", fmt::format("metadata.labels.{}", key),
                               "Invalid value: must be a string"});
        continue;
      }
      for (const auto& p : validate_label_value(value.get<std::string>()))
        causes.push_back(Cause{"FieldValueInvalid", "metadata.labels",
                               fmt::format("Invalid value: \"{}\": {}", value.get<std::string>(), p)});
    }
  }
  return causes;
}

}  // namespace shakeout::api
