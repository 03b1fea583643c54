// Name validation with upstream's rules per resource.

#include "api/validation.h"

#include <gtest/gtest.h>

namespace shakeout::api {
namespace {

TEST(Validation, Dns1123Subdomain) {
  EXPECT_TRUE(validate_dns1123_subdomain("web-1.example").empty());
  EXPECT_FALSE(validate_dns1123_subdomain("Web").empty());
  EXPECT_FALSE(validate_dns1123_subdomain("-web").empty());
  EXPECT_FALSE(validate_dns1123_subdomain("web_1").empty());
  EXPECT_FALSE(validate_dns1123_subdomain(std::string(254, 'a')).empty());
  EXPECT_TRUE(validate_dns1123_subdomain(std::string(253, 'a')).empty());
}

TEST(Validation, LabelsRejectDotsAnd1035NeedsALetter) {
  EXPECT_TRUE(validate_dns1123_label("123-abc").empty());
  EXPECT_FALSE(validate_dns1123_label("a.b").empty());
  EXPECT_FALSE(validate_dns1123_label(std::string(64, 'a')).empty());
  EXPECT_TRUE(validate_dns1035_label("my-svc").empty());
  EXPECT_FALSE(validate_dns1035_label("1svc").empty());
}

TEST(Validation, ObjectNameCausesUseUpstreamWording) {
  auto causes = validate_object_name(NameRule::kDns1123Subdomain, "Bad_Name");
  ASSERT_EQ(causes.size(), 1U);
  EXPECT_EQ(causes[0].field, "metadata.name");
  EXPECT_EQ(causes[0].reason, "FieldValueInvalid");
  EXPECT_EQ(
      causes[0].message,
      "Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
      "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
      "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
  auto empty = validate_object_name(NameRule::kDns1123Label, "");
  ASSERT_EQ(empty.size(), 1U);
  EXPECT_EQ(empty[0].reason, "FieldValueRequired");
  EXPECT_EQ(empty[0].message, "Required value: name or generateName is required");
  EXPECT_TRUE(validate_object_name(NameRule::kDns1123Subdomain, "a.b").empty());
  EXPECT_FALSE(validate_object_name(NameRule::kDns1123Label, "a.b").empty()) << "namespaces are labels";
  EXPECT_FALSE(validate_object_name(NameRule::kDns1035Label, "1a").empty()) << "services are DNS-1035";
}

TEST(Validation, QualifiedNamesAndLabelValues) {
  EXPECT_TRUE(validate_qualified_name("app.kubernetes.io/name").empty());
  EXPECT_TRUE(validate_qualified_name("MyKey_1").empty());
  EXPECT_FALSE(validate_qualified_name("/x").empty());
  EXPECT_FALSE(validate_qualified_name("Bad Key").empty());
  EXPECT_FALSE(validate_qualified_name("a/b/c").empty());
  EXPECT_TRUE(validate_label_value("").empty());
  EXPECT_TRUE(validate_label_value("v1.2_x").empty());
  EXPECT_FALSE(validate_label_value("-v").empty());
  EXPECT_FALSE(validate_label_value(std::string(64, 'a')).empty());
}

TEST(Validation, ObjectMetaChecksNameByResourceAndLabels) {
  const auto& registry = ResourceRegistry::builtin();
  auto ns = nlohmann::json::parse(R"({"metadata":{"name":"a.b"}})");
  EXPECT_FALSE(validate_object_meta(*registry.by_plural("", "namespaces"), ns).empty());
  EXPECT_TRUE(validate_object_meta(*registry.by_plural("", "pods"), ns).empty());
  auto bad_label = nlohmann::json::parse(R"({"metadata":{"name":"a","labels":{"k":"bad value"}}})");
  auto causes = validate_object_meta(*registry.by_plural("", "pods"), bad_label);
  ASSERT_EQ(causes.size(), 1U);
  EXPECT_EQ(causes[0].field, "metadata.labels");
}

}  // namespace
}  // namespace shakeout::api
