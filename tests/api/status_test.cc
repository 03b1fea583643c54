// metav1.Status shapes and upstream wording.

#include "api/status.h"

#include <gtest/gtest.h>

namespace shakeout::api {
namespace {

using nlohmann::json;

const ResourceInfo& pods() {
  return *ResourceRegistry::builtin().by_plural("", "pods");
}
const ResourceInfo& deployments() {
  return *ResourceRegistry::builtin().by_plural("apps", "deployments");
}

TEST(Status, NotFoundHasUpstreamShape) {
  ApiError e = not_found(pods(), "web-1");
  EXPECT_EQ(e.code, 404);
  json expected = json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
    "message":"pods \"web-1\" not found","reason":"NotFound","details":{"name":"web-1","kind":"pods"},"code":404})");
  EXPECT_EQ(e.status, expected);
  EXPECT_EQ(not_found(*ResourceRegistry::builtin().by_plural("", "namespaces"), "nope").message(),
            "namespaces \"nope\" not found");
}

TEST(Status, GroupedResourcesAreQualified) {
  ApiError e = not_found(deployments(), "web");
  EXPECT_EQ(e.message(), "deployments.apps \"web\" not found");
  EXPECT_EQ(e.status["details"]["group"], "apps");
  EXPECT_EQ(e.status["details"]["kind"], "deployments");
}

TEST(Status, AlreadyExistsAndConflictWording) {
  ApiError exists = already_exists(pods(), "web-1");
  EXPECT_EQ(exists.code, 409);
  EXPECT_EQ(exists.reason(), "AlreadyExists");
  EXPECT_EQ(exists.message(), "pods \"web-1\" already exists");
  ApiError lost = conflict(pods(), "web-1", kOptimisticLockMessage);
  EXPECT_EQ(lost.code, 409);
  EXPECT_EQ(lost.reason(), "Conflict");
  EXPECT_EQ(
      lost.message(),
      "Operation cannot be fulfilled on pods \"web-1\": the object has been modified; please apply your "
      "changes to the latest version and try again");
  EXPECT_EQ(lost.status["details"]["name"], "web-1");
}

TEST(Status, InvalidCarriesKindAndCauses) {
  ApiError one =
      invalid(pods(), "Bad", {Cause{"FieldValueInvalid", "metadata.name", "Invalid value: \"Bad\": x"}});
  EXPECT_EQ(one.code, 422);
  EXPECT_EQ(one.reason(), "Invalid");
  EXPECT_EQ(one.message(), "Pod \"Bad\" is invalid: metadata.name: Invalid value: \"Bad\": x");
  EXPECT_EQ(one.status["details"]["kind"], "Pod");
  json cause = json::parse(
      R"({"reason":"FieldValueInvalid","message":"Invalid value: \"Bad\": x","field":"metadata.name"})");
  EXPECT_EQ(one.status["details"]["causes"], json::array({cause}));
  ApiError two = invalid(deployments(), "d", {Cause{"R", "a", "m1"}, Cause{"R", "b", "m2"}});
  EXPECT_EQ(two.message(), "Deployment.apps \"d\" is invalid: [a: m1, b: m2]");
  EXPECT_EQ(two.status["details"]["group"], "apps");
}

TEST(Status, CodesOfOtherReasons) {
  EXPECT_EQ(bad_request("x").code, 400);
  EXPECT_EQ(bad_request("x").reason(), "BadRequest");
  EXPECT_FALSE(bad_request("x").status.contains("details"));
  EXPECT_EQ(expired("x").code, 410);
  EXPECT_EQ(expired("x").reason(), "Expired");
  EXPECT_EQ(gone("x").reason(), "Gone");
  EXPECT_EQ(internal_error("boom").message(), "Internal error occurred: boom");
  EXPECT_EQ(internal_error("boom").code, 500);
  EXPECT_EQ(forbidden(pods(), "", "no").message(), "pods is forbidden: no");
  EXPECT_EQ(from_storage_error(make_error(ErrorCode::kUnavailable, "down")).code, 503);
}

}  // namespace
}  // namespace shakeout::api
