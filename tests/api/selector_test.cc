// Label and field selectors: upstream syntax, matching and errors.

#include "api/selector.h"

#include <gtest/gtest.h>

namespace shakeout::api {
namespace {

using nlohmann::json;
using Labels = std::map<std::string, std::string>;

bool label_match(const char* selector, const Labels& labels) {
  auto parsed = LabelSelector::parse(selector);
  EXPECT_TRUE(parsed.ok()) << selector << ": " << (parsed.ok() ? "" : parsed.error().message);
  return parsed.ok() && parsed->matches(labels);
}

TEST(LabelSelector, EqualityOperators) {
  Labels web = {{"app", "web"}, {"tier", "front"}};
  EXPECT_TRUE(label_match("app=web", web));
  EXPECT_TRUE(label_match("app==web", web));
  EXPECT_FALSE(label_match("app=db", web));
  EXPECT_TRUE(label_match("app!=db", web));
  EXPECT_FALSE(label_match("app!=web", web));
  EXPECT_TRUE(label_match("missing!=x", web)) << "!= matches objects without the key";
  EXPECT_TRUE(label_match("app=web,tier=front", web));
  EXPECT_FALSE(label_match("app=web,tier=back", web));
  EXPECT_TRUE(label_match("", web));
}

TEST(LabelSelector, SetOperatorsAndExistence) {
  Labels web = {{"app", "web"}, {"example.com/team", "a"}};
  EXPECT_TRUE(label_match("app in (web, db)", web));
  EXPECT_FALSE(label_match("app in (db)", web));
  EXPECT_TRUE(label_match("app notin (db,cache)", web));
  EXPECT_FALSE(label_match("app notin (web)", web));
  EXPECT_TRUE(label_match("missing notin (web)", web));
  EXPECT_FALSE(label_match("missing in (web)", web));
  EXPECT_TRUE(label_match("app", web));
  EXPECT_FALSE(label_match("!app", web));
  EXPECT_TRUE(label_match("!missing", web));
  EXPECT_TRUE(label_match("example.com/team=a,app in (web),!missing", web));
}

TEST(LabelSelector, BadSyntaxIsAnError) {
  for (const char* bad : {"app in web", "app in ()", "app=web,", "a b", "app=(x)", "Bad Key=1", "app=va lue",
                          "app in (a", "!", "app>x", "=web", "app=-bad-", "-x=1"}) {
    auto parsed = LabelSelector::parse(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
      EXPECT_NE(parsed.error().message.find("unable to parse requirement"), std::string::npos) << bad;
    }
  }
}

TEST(LabelSelector, MatchesObjectLabels) {
  json pod = json::parse(R"({"metadata":{"name":"p","labels":{"app":"web"}}})");
  EXPECT_TRUE(LabelSelector::parse("app=web")->matches_object(pod));
  EXPECT_FALSE(LabelSelector::parse("app=db")->matches_object(pod));
  json bare = json::parse(R"({"metadata":{"name":"p"}})");
  EXPECT_TRUE(LabelSelector::parse("!app")->matches_object(bare));
}

const ResourceInfo& resource(const char* plural) {
  return *ResourceRegistry::builtin().by_plural("", plural);
}

TEST(FieldSelector, PodFields) {
  json pod = json::parse(
      R"({"metadata":{"name":"web-1","namespace":"prod"},"spec":{"nodeName":"n1"},"status":{"phase":"Running"}})");
  auto match = [&](const char* text) {
    auto parsed = FieldSelector::parse(text, resource("pods"));
    EXPECT_TRUE(parsed.ok()) << text;
    return parsed.ok() && parsed->matches_object(pod);
  };
  EXPECT_TRUE(match("metadata.name=web-1"));
  EXPECT_TRUE(match("metadata.namespace==prod"));
  EXPECT_TRUE(match("spec.nodeName=n1,status.phase=Running"));
  EXPECT_FALSE(match("spec.nodeName=n2"));
  EXPECT_TRUE(match("spec.nodeName!=n2"));
  EXPECT_FALSE(match("status.phase!=Running"));
  EXPECT_TRUE(match("spec.nodeName!="));
  json unbound = json::parse(R"({"metadata":{"name":"x"}})");
  EXPECT_TRUE(FieldSelector::parse("spec.nodeName=", resource("pods"))->matches_object(unbound));
}

TEST(FieldSelector, EventInvolvedObjectFields) {
  json event = json::parse(R"({"metadata":{"name":"e"},"involvedObject":{"kind":"Pod","name":"web-1"},
    "reason":"Started","type":"Normal","source":{"component":"kubelet"}})");
  auto parsed = FieldSelector::parse("involvedObject.kind=Pod,involvedObject.name=web-1,source=kubelet",
                                     resource("events"));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_TRUE(parsed->matches_object(event));
  EXPECT_FALSE(FieldSelector::parse("involvedObject.name=web-2", resource("events"))->matches_object(event));
}

TEST(FieldSelector, UnknownFieldIsRejectedNotIgnored) {
  auto parsed = FieldSelector::parse("spec.foo=bar", resource("pods"));
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().message, "field label not supported: spec.foo");
  EXPECT_FALSE(FieldSelector::parse("spec.nodeName=x", resource("services")).ok());
  EXPECT_FALSE(FieldSelector::parse("metadata.namespace=x", resource("nodes")).ok()) << "cluster-scoped";
  EXPECT_FALSE(FieldSelector::parse("involvedObject.kind=Pod", resource("pods")).ok());
  EXPECT_FALSE(FieldSelector::parse("metadata.name", resource("pods")).ok());
}

TEST(FieldSelector, EscapedValues) {
  json pod = json::parse(R"({"metadata":{"name":"a,b=c"}})");
  auto parsed = FieldSelector::parse(R"(metadata.name=a\,b\=c)", resource("pods"));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_TRUE(parsed->matches_object(pod));
  EXPECT_FALSE(FieldSelector::parse(R"(metadata.name=a\xb)", resource("pods")).ok());
}

}  // namespace
}  // namespace shakeout::api
