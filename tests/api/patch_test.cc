// PATCH semantics: JSON patch, merge patch, strategic merge patch, apply,
// with upstream's status codes and wording, and what kubectl sends.

#include "api/patch.h"

#include <gtest/gtest.h>

#include <string>

namespace shakeout::api {
namespace {

using nlohmann::json;

const ResourceInfo& resource(const char* group, const char* plural) {
  const ResourceInfo* info = ResourceRegistry::builtin().by_plural(group, plural);
  EXPECT_NE(info, nullptr) << plural;
  return *info;
}
const ResourceInfo& pods() {
  return resource("", "pods");
}
const ResourceInfo& nodes() {
  return resource("", "nodes");
}
const ResourceInfo& deployments() {
  return resource("apps", "deployments");
}

json pod() {
  return json::parse(R"({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "web", "namespace": "default", "uid": "u-1", "resourceVersion": "7",
                 "labels": {"app": "web", "tier": "front"}, "finalizers": ["a", "b"]},
    "spec": {
      "containers": [
        {"name": "app", "image": "nginx:1.25",
         "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443, "protocol": "TCP"}],
         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
        {"name": "side", "image": "busybox"}
      ],
      "tolerations": [{"key": "k1", "operator": "Exists"}],
      "nodeName": "node-1"
    },
    "status": {"phase": "Running",
               "conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]}
  })");
}

json deployment() {
  return json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "uid": "d-1", "generation": 3,
                 "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
    "spec": {
      "replicas": 2,
      "selector": {"matchLabels": {"app": "web"}},
      "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
      "template": {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [
          {"name": "web", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
           "ports": [{"containerPort": 80, "protocol": "TCP"}]},
          {"name": "log", "image": "busybox:1.36", "imagePullPolicy": "IfNotPresent"}
        ]}
      }
    }
  })");
}

ApiResult<json> patch(PatchType type, const ResourceInfo& info, const json& original,
                      const std::string& body) {
  return apply_patch(type, info, original, body);
}

json patched(PatchType type, const ResourceInfo& info, const json& original, const std::string& body) {
  auto result = patch(type, info, original, body);
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().status.dump());
  return result.ok() ? *result : json();
}

json smp(const json& original, const std::string& body, const ResourceInfo& info = pods()) {
  return patched(PatchType::kStrategicMergePatch, info, original, body);
}

// ----------------------------------------------------------------------------
// Content types and 415

TEST(PatchContentType, RecognizesTheFourPatchTypesIgnoringParametersAndCase) {
  EXPECT_EQ(patch_type_from_content_type("application/json-patch+json"), PatchType::kJsonPatch);
  EXPECT_EQ(patch_type_from_content_type("application/merge-patch+json; charset=utf-8"),
            PatchType::kMergePatch);
  EXPECT_EQ(patch_type_from_content_type("Application/Strategic-Merge-Patch+JSON"),
            PatchType::kStrategicMergePatch);
  EXPECT_EQ(patch_type_from_content_type("application/apply-patch+yaml"), PatchType::kApplyPatch);
  EXPECT_EQ(patch_type_from_content_type("application/json"), std::nullopt);
  EXPECT_EQ(patch_type_from_content_type(""), std::nullopt);
  EXPECT_EQ(content_type_of(PatchType::kMergePatch), "application/merge-patch+json");
}

TEST(PatchContentType, UnsupportedMediaTypeIsUpstreams415) {
  ApiError e = unsupported_media_type("application/json");
  EXPECT_EQ(e.code, 415);
  json expected = json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
    "message":"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml",
    "reason":"UnsupportedMediaType","code":415})");
  EXPECT_EQ(e.status, expected);
}

// ----------------------------------------------------------------------------
// JSON patch (RFC 6902 via evanphx/json-patch v4)

TEST(PatchJson, AddRemoveReplaceMoveCopyTestInOrder) {
  json result = patched(PatchType::kJsonPatch, pods(), pod(), R"([
    {"op": "test", "path": "/metadata/name", "value": "web"},
    {"op": "add", "path": "/metadata/labels/new", "value": "x"},
    {"op": "remove", "path": "/metadata/labels/tier"},
    {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:1.26"},
    {"op": "move", "from": "/spec/nodeName", "path": "/metadata/annotations"},
    {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/copied"}
  ])");
  EXPECT_EQ(result["metadata"]["labels"], json::parse(R"({"app":"web","new":"x","copied":"web"})"));
  EXPECT_EQ(result["spec"]["containers"][0]["image"], "nginx:1.26");
  EXPECT_EQ(result["metadata"]["annotations"], "node-1");
  EXPECT_FALSE(result["spec"].contains("nodeName"));
}

TEST(PatchJson, PointerEscapesAndArrayPositions) {
  json doc = json::parse(R"({"metadata":{"annotations":{}},"list":[1,2,3]})");
  auto result = json_patch(doc, json::parse(R"([
    {"op": "add", "path": "/metadata/annotations/example.com~1owner", "value": "a"},
    {"op": "add", "path": "/metadata/annotations/tilde~0key", "value": "b"},
    {"op": "add", "path": "/list/-", "value": 4},
    {"op": "add", "path": "/list/0", "value": 0},
    {"op": "remove", "path": "/list/-1"}
  ])"));
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ((*result)["metadata"]["annotations"],
            json::parse(R"({"example.com/owner":"a","tilde~key":"b"})"));
  EXPECT_EQ((*result)["list"], json::parse("[0,1,2,3]"));
}

TEST(PatchJson, ReplaceOfAMissingObjectKeyAddsItAsUpstreamV4Does) {
  auto result =
      json_patch(json::parse(R"({"a":{}})"), json::parse(R"([{"op":"replace","path":"/a/b","value":1}])"));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(*result, json::parse(R"({"a":{"b":1}})"));
}

TEST(PatchJson, LibraryErrorsUseEvanphxWording) {
  json doc = pod();
  auto error_of = [&doc](const char* ops) {
    auto result = json_patch(doc, json::parse(ops));
    return result.ok() ? std::string("ok") : result.error().message;
  };
  EXPECT_EQ(error_of(R"([{"op":"test","path":"/metadata/name","value":"db"}])"),
            "testing value /metadata/name failed: test failed");
  EXPECT_EQ(error_of(R"([{"op":"remove","path":"/metadata/labels/nope"}])"),
            "error in remove for path: '/metadata/labels/nope': Unable to remove nonexistent key: nope: "
            "missing value");
  EXPECT_EQ(error_of(R"([{"op":"add","path":"/nope/x","value":1}])"),
            "add operation does not apply: doc is missing path: \"/nope/x\": missing value");
  EXPECT_EQ(error_of(R"([{"op":"add","path":"/spec/containers/5","value":{}}])"),
            "error in add for path: '/spec/containers/5': Unable to access invalid index: 5: invalid index "
            "referenced");
  EXPECT_EQ(error_of(R"([{"op":"replace","path":"/spec/containers/9/image","value":"x"}])"),
            "replace operation does not apply: doc is missing path: /spec/containers/9/image: missing value");
  EXPECT_EQ(error_of(R"([{"op":"bogus","path":"/a"}])"), "Unexpected kind: bogus");
}

TEST(PatchJson, FailedOperationIsUpstreams422WithGenericMessage) {
  auto result =
      patch(PatchType::kJsonPatch, pods(), pod(), R"([{"op":"test","path":"/metadata/name","value":"db"}])");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, 422);
  json expected = json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
    "message":"the server rejected our request due to an error in our request","reason":"Invalid","details":{},
    "code":422})");
  EXPECT_EQ(result.error().status, expected);
  auto missing = patch(PatchType::kJsonPatch, pods(), pod(), R"([{"op":"remove","path":"/spec/nope"}])");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, 422);
}

TEST(PatchJson, MalformedBodiesAre400WithGoDecoderWording) {
  auto syntax = patch(PatchType::kJsonPatch, pods(), pod(), R"([{"op":"add",}])");
  ASSERT_FALSE(syntax.ok());
  EXPECT_EQ(syntax.error().code, 400);
  EXPECT_EQ(syntax.error().reason(), "BadRequest");
  EXPECT_EQ(syntax.error().message(),
            "error decoding patch: invalid character '}' looking for beginning of object key string");
  auto object = patch(PatchType::kJsonPatch, pods(), pod(), R"({"op":"add"})");
  ASSERT_FALSE(object.ok());
  EXPECT_EQ(
      object.error().message(),
      "error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp");
  auto field = patch(PatchType::kJsonPatch, pods(), pod(), R"([{"op":"add","path":3}])");
  ASSERT_FALSE(field.ok());
  EXPECT_EQ(field.error().message(),
            "error decoding patch: json: cannot unmarshal number into Go struct field jsonPatchOp.path of "
            "type string");
}

TEST(PatchJson, MoreThanTenThousandOperationsIs413) {
  std::string body = "[";
  for (int i = 0; i < 10001; ++i)
    body += std::string(i ? "," : "") + R"({"op":"test","path":"/kind","value":"Pod"})";
  body += "]";
  auto result = patch(PatchType::kJsonPatch, pods(), pod(), body);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, 413);
  EXPECT_EQ(result.error().reason(), "RequestEntityTooLarge");
  EXPECT_EQ(result.error().message(),
            "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001");
}

// ----------------------------------------------------------------------------
// JSON merge patch (RFC 7386)

TEST(PatchMerge, Rfc7386Example) {
  json target = json::parse(R"({"title":"Goodbye!","author":{"givenName":"John","familyName":"Doe"},
    "tags":["example","sample"],"content":"This will be unchanged"})");
  json result = merge_patch(target, json::parse(R"({"title":"Hello!","phoneNumber":"+01-123-456-7890",
    "author":{"familyName":null},"tags":["example"]})"));
  EXPECT_EQ(result, json::parse(R"({"title":"Hello!","author":{"givenName":"John"},"tags":["example"],
    "content":"This will be unchanged","phoneNumber":"+01-123-456-7890"})"));
}

TEST(PatchMerge, ListsReplaceAndNullsInNewValuesArePruned) {
  json result = patched(PatchType::kMergePatch, pods(), pod(),
                        R"({"spec":{"containers":[{"name":"only","image":"x"}],"extra":{"a":null,"b":1}}})");
  EXPECT_EQ(result["spec"]["containers"], json::parse(R"([{"name":"only","image":"x"}])"));
  EXPECT_EQ(result["spec"]["extra"], json::parse(R"({"b":1})"));
  EXPECT_EQ(result["spec"]["nodeName"], "node-1");
}

TEST(PatchMerge, KubectlLabelAddsOverwritesAndRemoves) {
  // kubectl label pod web app=v2 --overwrite; kubectl label pod web tier-
  json labelled = patched(PatchType::kMergePatch, pods(), pod(), R"({"metadata":{"labels":{"app":"v2"}}})");
  EXPECT_EQ(labelled["metadata"]["labels"], json::parse(R"({"app":"v2","tier":"front"})"));
  json removed =
      patched(PatchType::kMergePatch, pods(), labelled, R"({"metadata":{"labels":{"tier":null}}})");
  EXPECT_EQ(removed["metadata"]["labels"], json::parse(R"({"app":"v2"})"));
}

TEST(PatchMerge, KubectlScaleSetsReplicas) {
  json scaled = patched(PatchType::kMergePatch, deployments(), deployment(), R"({"spec":{"replicas":5}})");
  EXPECT_EQ(scaled["spec"]["replicas"], 5);
  EXPECT_EQ(scaled["spec"]["template"], deployment()["spec"]["template"]);
}

TEST(PatchMerge, MalformedOrNonObjectBodiesAre400) {
  auto null_body = patch(PatchType::kMergePatch, pods(), pod(), "null");
  ASSERT_FALSE(null_body.ok());
  EXPECT_EQ(null_body.error().code, 400);
  EXPECT_EQ(null_body.error().message(), "Invalid JSON Patch");
  auto array = patch(PatchType::kMergePatch, pods(), pod(), "[1]");
  ASSERT_FALSE(array.ok());
  EXPECT_EQ(
      array.error().message(),
      "error decoding patch: json: cannot unmarshal array into Go value of type map[string]interface {}");
  auto truncated = patch(PatchType::kMergePatch, pods(), pod(), R"({"metadata":)");
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.error().code, 400);
  EXPECT_EQ(truncated.error().message(), "error decoding patch: unexpected end of JSON input");
}

// ----------------------------------------------------------------------------
// Strategic merge patch

TEST(PatchStrategic, ContainersMergeByNameAndNestedListsByTheirKeys) {
  json result = smp(pod(), R"({"spec":{"containers":[{"name":"app","image":"nginx:1.26",
    "ports":[{"containerPort":443,"name":"https"}],"env":[{"name":"B","value":"20"}]}]}})");
  const json& containers = result["spec"]["containers"];
  ASSERT_EQ(containers.size(), 2U);
  EXPECT_EQ(containers[0]["name"], "app");
  EXPECT_EQ(containers[0]["image"], "nginx:1.26");
  EXPECT_EQ(containers[0]["ports"], json::parse(R"([{"containerPort":80,"protocol":"TCP"},
    {"containerPort":443,"protocol":"TCP","name":"https"}])"));
  EXPECT_EQ(containers[0]["env"], json::parse(R"([{"name":"A","value":"1"},{"name":"B","value":"20"}])"));
  EXPECT_EQ(containers[1], json::parse(R"({"name":"side","image":"busybox"})"));
}

TEST(PatchStrategic, NewListItemsWithoutOrderDirectiveGoFirst) {
  // mergeSortedSlice places server-only items after patch items they cannot be
  // ordered against.
  json result = smp(pod(), R"({"spec":{"containers":[{"name":"new","image":"redis"}]}})");
  const json& containers = result["spec"]["containers"];
  ASSERT_EQ(containers.size(), 3U);
  EXPECT_EQ(containers[0]["name"], "new");
  EXPECT_EQ(containers[1]["name"], "app");
  EXPECT_EQ(containers[2]["name"], "side");
}

TEST(PatchStrategic, UntaggedListsAreReplacedAsInAMergePatch) {
  json result = smp(pod(), R"({"spec":{"tolerations":[{"key":"k2","operator":"Exists"}],"custom":[3]}})");
  EXPECT_EQ(result["spec"]["tolerations"], json::parse(R"([{"key":"k2","operator":"Exists"}])"));
  EXPECT_EQ(result["spec"]["custom"], json::parse("[3]"));
}

TEST(PatchStrategic, NullDeletesAndMapsMerge) {
  json result = smp(pod(), R"({"metadata":{"labels":{"tier":null,"v":"2"}},"spec":{"nodeName":null}})");
  EXPECT_EQ(result["metadata"]["labels"], json::parse(R"({"app":"web","v":"2"})"));
  EXPECT_FALSE(result["spec"].contains("nodeName"));
}

TEST(PatchStrategic, PrimitiveMergeListsUnionAndDeleteFromPrimitiveList) {
  json unioned = smp(pod(), R"({"metadata":{"finalizers":["c","a"]}})");
  EXPECT_EQ(unioned["metadata"]["finalizers"], json::parse(R"(["c","a","b"])"));
  json deleted = smp(pod(), R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}})");
  EXPECT_EQ(deleted["metadata"]["finalizers"], json::parse(R"(["b"])"));
  EXPECT_FALSE(deleted["metadata"].contains("$deleteFromPrimitiveList/finalizers"));
}

TEST(PatchStrategic, PatchDirectiveDeleteAndReplaceInListsAndMaps) {
  json deleted = smp(pod(), R"({"spec":{"containers":[{"name":"side","$patch":"delete"}]}})");
  ASSERT_EQ(deleted["spec"]["containers"].size(), 1U);
  EXPECT_EQ(deleted["spec"]["containers"][0]["name"], "app");

  json replaced = smp(pod(), R"({"spec":{"containers":[{"name":"z","image":"z"},{"$patch":"replace"}]}})");
  EXPECT_EQ(replaced["spec"]["containers"], json::parse(R"([{"name":"z","image":"z"}])"));

  json map_replaced = smp(pod(), R"({"metadata":{"labels":{"$patch":"replace","only":"1"}}})");
  EXPECT_EQ(map_replaced["metadata"]["labels"], json::parse(R"({"only":"1"})"));

  json map_deleted = smp(pod(), R"({"metadata":{"labels":{"$patch":"delete"}}})");
  EXPECT_EQ(map_deleted["metadata"]["labels"], json::object());

  json whole = smp(pod(), R"({"$patch":"replace","kind":"Pod","metadata":{"name":"web"}})");
  EXPECT_EQ(whole, json::parse(R"({"kind":"Pod","metadata":{"name":"web"}})"));
}

TEST(PatchStrategic, RetainKeysClearsFieldsNotListed) {
  json result =
      smp(deployment(), R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}})", deployments());
  EXPECT_EQ(result["spec"]["strategy"], json::parse(R"({"type":"Recreate"})"));
  auto bad = patch(PatchType::kStrategicMergePatch, deployments(), deployment(),
                   R"({"spec":{"strategy":{"$retainKeys":["rollingUpdate"],"type":"Recreate"}}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, 400);
  EXPECT_EQ(bad.error().message(), "invalid patch format of retainKeys");
}

TEST(PatchStrategic, SetElementOrderOrdersPatchedAndServerOnlyItems) {
  json original = json::parse(R"({"metadata":{"name":"p"},"spec":{"containers":[
    {"name":"a","image":"1"},{"name":"b","image":"1"},{"name":"x","image":"1"}]}})");
  json result = smp(original, R"({"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"}],
    "containers":[{"name":"a","image":"2"}]}})");
  json names = json::array();
  for (const json& c : result["spec"]["containers"]) names.push_back(c["name"]);
  EXPECT_EQ(names, json::parse(R"(["b","a","x"])"));
  EXPECT_EQ(result["spec"]["containers"][1]["image"], "2");
  EXPECT_FALSE(result["spec"].contains("$setElementOrder/containers"));

  auto mismatch =
      patch(PatchType::kStrategicMergePatch, pods(), original,
            R"({"spec":{"$setElementOrder/containers":[{"name":"a"}],"containers":[{"name":"b"}]}})");
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().code, 500);
  EXPECT_EQ(
      mismatch.error().message(),
      "The order in patch list:\n[map[name:b]]\n doesn't match $setElementOrder list:\n[map[name:a]]\n");
}

TEST(PatchStrategic, StatusConditionsMergeByTypeAndOwnerReferencesByUid) {
  json result = smp(pod(), R"({"status":{"conditions":[{"type":"Ready","status":"True"}]},
    "metadata":{"ownerReferences":[{"uid":"rs-1","kind":"ReplicaSet","name":"web-rs"}]}})");
  EXPECT_EQ(result["status"]["conditions"],
            json::parse(R"([{"type":"Ready","status":"True"},{"type":"PodScheduled","status":"True"}])"));
  EXPECT_EQ(result["metadata"]["ownerReferences"].size(), 1U);
  json second = smp(result, R"({"metadata":{"ownerReferences":[{"uid":"rs-1","controller":true}]}})");
  EXPECT_EQ(second["metadata"]["ownerReferences"],
            json::parse(R"([{"uid":"rs-1","kind":"ReplicaSet","name":"web-rs","controller":true}])"));
}

TEST(PatchStrategic, NodeTaintsAreAtomicAndAddressesMergeByType) {
  json node =
      json::parse(R"({"metadata":{"name":"node-1"},"spec":{"taints":[{"key":"a","effect":"NoSchedule"}]},
    "status":{"addresses":[{"type":"InternalIP","address":"127.1.1.1"},{"type":"Hostname","address":"node-1"}]}})");
  // kubectl taint sends the whole new list (Taint has no patch strategy).
  json tainted = smp(node, R"({"spec":{"taints":[{"key":"b","effect":"NoExecute"}]},
    "status":{"addresses":[{"type":"Hostname","address":"n1"}]}})",
                     nodes());
  EXPECT_EQ(tainted["spec"]["taints"], json::parse(R"([{"key":"b","effect":"NoExecute"}])"));
  EXPECT_EQ(
      tainted["status"]["addresses"],
      json::parse(R"([{"type":"InternalIP","address":"127.1.1.1"},{"type":"Hostname","address":"n1"}])"));
}

TEST(PatchStrategic, KubectlCordonAndUncordon) {
  json node = json::parse(R"({"metadata":{"name":"node-1"},"spec":{"podCIDR":"127.1.1.0/24"}})");
  json cordoned = smp(node, R"({"spec":{"unschedulable":true}})", nodes());
  EXPECT_EQ(cordoned["spec"], json::parse(R"({"podCIDR":"127.1.1.0/24","unschedulable":true})"));
  json uncordoned = smp(cordoned, R"({"spec":{"unschedulable":null}})", nodes());
  EXPECT_EQ(uncordoned["spec"], json::parse(R"({"podCIDR":"127.1.1.0/24"})"));
}

TEST(PatchStrategic, KubectlApplyOfAChangedImageKeepsOtherContainersAndFields) {
  // What client-side `kubectl apply` sends after the web container's image
  // changed in the manifest (three-way diff against last-applied).
  const std::string body = R"({"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":
      "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\"}\n"}},
    "spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"},{"name":"log"}],
      "containers":[{"image":"nginx:1.26","name":"web"}]}}}})";
  json result = smp(deployment(), body, deployments());
  const json& containers = result["spec"]["template"]["spec"]["containers"];
  ASSERT_EQ(containers.size(), 2U);
  EXPECT_EQ(containers[0], json::parse(R"({"name":"web","image":"nginx:1.26","imagePullPolicy":"IfNotPresent",
    "ports":[{"containerPort":80,"protocol":"TCP"}]})"));
  EXPECT_EQ(containers[1]["name"], "log");
  EXPECT_EQ(result["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
            "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\"}\n");
  EXPECT_FALSE(result["spec"]["template"]["spec"].contains("$setElementOrder/containers"));
  EXPECT_EQ(result["spec"]["replicas"], 2);
}

TEST(PatchStrategic, KubectlRolloutRestartAddsTemplateAnnotation) {
  json result = smp(
      deployment(),
      R"({"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2025-01-01T00:00:00Z"}}}}})",
      deployments());
  EXPECT_EQ(
      result["spec"]["template"]["metadata"],
      json::parse(
          R"({"labels":{"app":"web"},"annotations":{"kubectl.kubernetes.io/restartedAt":"2025-01-01T00:00:00Z"}})"));
}

TEST(PatchStrategic, DirectivesInsideNewValuesDoNotLeakIntoTheObject) {
  json result =
      smp(pod(), R"({"spec":{"volumes":[{"name":"v","$retainKeys":["name","emptyDir"],"emptyDir":{}}],
    "initContainers":[{"name":"i","env":[{"name":"gone","$patch":"delete"}],"$setElementOrder/env":[]}]}})");
  EXPECT_EQ(result["spec"]["volumes"], json::parse(R"([{"name":"v","emptyDir":{}}])"));
  EXPECT_EQ(result["spec"]["initContainers"], json::parse(R"([{"name":"i","env":[]}])"));
}

TEST(PatchStrategic, ErrorsMapToUpstreamStatuses) {
  auto no_key =
      patch(PatchType::kStrategicMergePatch, pods(), pod(), R"({"spec":{"containers":[{"image":"x"}]}})");
  ASSERT_FALSE(no_key.ok());
  EXPECT_EQ(no_key.error().code, 500);
  EXPECT_FALSE(no_key.error().status.contains("reason"));
  EXPECT_EQ(no_key.error().message(), "map: map[image:x] does not contain declared merge key: name");

  json with_empty = pod();
  with_empty["metadata"]["finalizers"] = json::array();
  auto lists =
      patch(PatchType::kStrategicMergePatch, pods(), with_empty, R"({"metadata":{"finalizers":[["x"]]}})");
  ASSERT_FALSE(lists.ok());
  EXPECT_EQ(lists.error().code, 422);
  EXPECT_EQ(lists.error().reason(), "Invalid");

  auto bad_type =
      patch(PatchType::kStrategicMergePatch, pods(), pod(), R"({"metadata":{"labels":{"$patch":"x"}}})");
  ASSERT_FALSE(bad_type.ok());
  EXPECT_EQ(bad_type.error().message(), "Unknown patch type: x in map: map[$patch:x]");

  auto bad_order =
      patch(PatchType::kStrategicMergePatch, pods(), pod(), R"({"spec":{"$setElementOrderX":[]}})");
  ASSERT_FALSE(bad_order.ok());
  EXPECT_EQ(bad_order.error().code, 400);
  EXPECT_EQ(bad_order.error().message(), "invalid patch format of setElementOrder list");

  auto array = patch(PatchType::kStrategicMergePatch, pods(), pod(), "[]");
  ASSERT_FALSE(array.ok());
  EXPECT_EQ(array.error().code, 400);
  EXPECT_EQ(array.error().message(),
            "json: cannot unmarshal array into Go value of type map[string]interface {}");
  auto syntax = patch(PatchType::kStrategicMergePatch, pods(), pod(), "{spec}");
  ASSERT_FALSE(syntax.ok());
  EXPECT_EQ(syntax.error().message(), "invalid character 's' looking for beginning of object key string");
}

// ----------------------------------------------------------------------------
// Apply (create-or-merge)

TEST(PatchApply, MergesTheAppliedConfigurationIntoTheLiveObject) {
  json result = patched(PatchType::kApplyPatch, deployments(), deployment(), R"(
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    team: blue
spec:
  replicas: 3
  template:
    spec:
      containers:
      - name: web
        image: nginx:1.27
)");
  EXPECT_EQ(result["spec"]["replicas"], 3);
  EXPECT_EQ(result["metadata"]["labels"], json::parse(R"({"team":"blue"})"));
  EXPECT_EQ(result["metadata"]["uid"], "d-1");
  const json& containers = result["spec"]["template"]["spec"]["containers"];
  ASSERT_EQ(containers.size(), 2U);
  EXPECT_EQ(containers[0]["image"], "nginx:1.27");
  EXPECT_EQ(containers[0]["ports"], json::parse(R"([{"containerPort":80,"protocol":"TCP"}])"));
  EXPECT_EQ(containers[1]["name"], "log");
}

TEST(PatchApply, WithoutALiveObjectTheBodyIsTheObjectToCreate) {
  json created = patched(PatchType::kApplyPatch, pods(), json(),
                         R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}})");
  EXPECT_EQ(created, json::parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}})"));
}

TEST(PatchApply, WrongVersionAndBadYamlAre400) {
  auto version = patch(PatchType::kApplyPatch, deployments(), deployment(),
                       "apiVersion: apps/v1beta1\nkind: Deployment\n");
  ASSERT_FALSE(version.ok());
  EXPECT_EQ(version.error().code, 400);
  EXPECT_EQ(
      version.error().message(),
      "Incorrect version specified in apply patch. Specified patch version: apps/v1beta1, expected: apps/v1");
  auto yaml = patch(PatchType::kApplyPatch, deployments(), deployment(), "metadata: [unclosed\n");
  ASSERT_FALSE(yaml.ok());
  EXPECT_EQ(yaml.error().code, 400);
  EXPECT_EQ(
      yaml.error().message().rfind("error decoding YAML: error converting YAML to JSON: yaml: line ", 0), 0U)
      << yaml.error().message();
  auto list = patch(PatchType::kApplyPatch, deployments(), deployment(), "- a\n- b\n");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().message(),
            "error decoding YAML: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array "
            "into Go "
            "value of type map[string]interface {}");
}

// ----------------------------------------------------------------------------
// YAML to JSON (sigs.k8s.io/yaml)

TEST(YamlToJson, ResolvesScalarsAsGoYamlV2) {
  auto result = yaml_to_json(R"(
int: 3
neg: -7
octal: 0777
hex: 0x1F
float: 2.5
intfloat: 1.0
quoted: "3"
single: 'true'
yes_bool: yes
off_bool: off
plain: hello world
tilde: ~
empty:
nulls: null
on: 1
nested: {a: [1, "b", {c: false}]}
block: |
  line1
  line2
)");
  ASSERT_TRUE(result.ok()) << result.error().message;
  json expected = json::parse(R"({"int":3,"neg":-7,"octal":511,"hex":31,"float":2.5,"intfloat":1,"quoted":"3",
    "single":"true","yes_bool":true,"off_bool":false,"plain":"hello world","tilde":null,"empty":null,"nulls":null,
    "true":1,"nested":{"a":[1,"b",{"c":false}]},"block":"line1\nline2\n"})");
  EXPECT_EQ(*result, expected);
  EXPECT_TRUE((*result)["int"].is_number_integer());
}

TEST(YamlToJson, ErrorsNameLineAndColumn) {
  auto result = yaml_to_json("a: 1\nb: [1, 2\nc: 3\n");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message.rfind("yaml: line ", 0), 0U) << result.error().message;
  EXPECT_NE(result.error().message.find(", column "), std::string::npos) << result.error().message;
  auto explicit_tag = yaml_to_json("a: !!int abc\n");
  ASSERT_FALSE(explicit_tag.ok());
  EXPECT_EQ(explicit_tag.error().message, "yaml: line 1, column 4: cannot decode !!int `abc`");
}

TEST(YamlToJson, JsonIsValidYaml) {
  auto result = yaml_to_json(R"({"a": [1, 2.5, "x", null, true], "b": {"c": "d"}})");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(*result, json::parse(R"({"a":[1,2.5,"x",null,true],"b":{"c":"d"}})"));
}

// ----------------------------------------------------------------------------
// Go encoding/json syntax errors

TEST(GoJsonSyntax, MatchesEncodingJsonMessages) {
  EXPECT_EQ(go_json_syntax_error(R"({"a":[1,{"b":null}],"c":-1.5e3})"), std::nullopt);
  EXPECT_EQ(go_json_syntax_error(""), "unexpected end of JSON input");
  EXPECT_EQ(go_json_syntax_error("{"), "unexpected end of JSON input");
  EXPECT_EQ(go_json_syntax_error("x"), "invalid character 'x' looking for beginning of value");
  EXPECT_EQ(go_json_syntax_error(R"({"a" 1})"), "invalid character '1' after object key");
  EXPECT_EQ(go_json_syntax_error(R"({"a":1 "b":2})"), "invalid character '\"' after object key:value pair");
  EXPECT_EQ(go_json_syntax_error("[1 2]"), "invalid character '2' after array element");
  EXPECT_EQ(go_json_syntax_error("trux"), "invalid character 'x' in literal true (expecting 'e')");
  EXPECT_EQ(go_json_syntax_error("1}"), "invalid character '}' after top-level value");
  EXPECT_EQ(go_json_syntax_error("\"a\nb\""), "invalid character '\\n' in string literal");
  EXPECT_EQ(go_json_syntax_error("-x"), "invalid character 'x' in numeric literal");
  EXPECT_EQ(go_json_syntax_error("1.x"), "invalid character 'x' after decimal point in numeric literal");
  EXPECT_EQ(go_json_syntax_error(R"("\q")"), "invalid character 'q' in string escape code");
}

}  // namespace
}  // namespace shakeout::api
