// OpenAPI v3 documents (what kubectl's field-validation and apply code read)
// and server-side field validation.

#include "api/openapi.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>

namespace shakeout::api {
namespace {

using json = nlohmann::json;

const ResourceRegistry& registry() {
  return ResourceRegistry::builtin();
}

std::string gv_path(const ResourceInfo& r) {
  return r.group.empty() ? "api/" + r.version : "apis/" + r.group + "/" + r.version;
}

json document_of(const ResourceInfo& r) {
  auto doc = openapi_v3_document(registry(), gv_path(r));
  EXPECT_TRUE(doc.has_value()) << gv_path(r);
  return doc.value_or(json::object());
}

// The PATCH operation kubectl's QueryParamVerifierV3 would find for the
// kind (any PATCH whose GVK extension is the kind's), or null.
json patch_operation(const json& doc, const ResourceInfo& r) {
  json want = {{"group", r.group}, {"version", r.version}, {"kind", r.kind}};
  for (const auto& [path, item] : doc["paths"].items()) {
    if (item.contains("patch") && item["patch"]["x-kubernetes-group-version-kind"] == want)
      return item["patch"];
  }
  return nullptr;
}

bool has_param(const json& op, const std::string& name) {
  for (const auto& p : op.value("parameters", json::array()))
    if (p.value("name", "") == name) return true;
  return false;
}

const json& schema(const json& doc, const std::string& name) {
  return doc["components"]["schemas"][name];
}

TEST(OpenApi, IndexListsEveryGroupVersionWithTheHashOfItsDocument) {
  json index = openapi_v3_index(registry());
  std::set<std::string> want = {"api", "apis"};
  for (const auto& r : registry().all()) {
    want.insert(gv_path(r));
    if (!r.group.empty()) want.insert("apis/" + r.group);
  }
  std::set<std::string> got;
  for (const auto& [path, entry] : index["paths"].items()) {
    got.insert(path);
    const OpenApiV3Document* doc = openapi_v3_serialized(registry(), path);
    ASSERT_NE(doc, nullptr) << path;
    EXPECT_EQ(entry["serverRelativeURL"], "/openapi/v3/" + path + "?hash=" + doc->hash);
    EXPECT_EQ(doc->hash.size(), 32u);
    EXPECT_EQ(json::parse(doc->body), *openapi_v3_document(registry(), path));
  }
  EXPECT_EQ(got, want);
}

TEST(OpenApi, HashChangesWithTheDocumentAndDocumentsAreServedOnce) {
  const OpenApiV3Document* core = openapi_v3_serialized(registry(), "api/v1");
  const OpenApiV3Document* apps = openapi_v3_serialized(registry(), "apis/apps/v1");
  ASSERT_NE(core, nullptr);
  ASSERT_NE(apps, nullptr);
  EXPECT_NE(core->hash, apps->hash);
  EXPECT_EQ(openapi_v3_serialized(registry(), "api/v1"), core);  // cached, not rebuilt
  EXPECT_EQ(openapi_v3_serialized(registry(), "apis/apps/v9"), nullptr);
  EXPECT_FALSE(openapi_v3_document(registry(), "apis/nope/v1").has_value());
  EXPECT_FALSE(openapi_v3_document(registry(), "").has_value());
}

TEST(OpenApi, EveryServedKindHasWriteOperationsWithFieldValidation) {
  for (const auto& r : registry().all()) {
    json doc = document_of(r);
    json patch = patch_operation(doc, r);
    ASSERT_FALSE(patch.is_null()) << r.kind;
    EXPECT_TRUE(has_param(patch, "fieldValidation")) << r.kind;
    EXPECT_TRUE(has_param(patch, "fieldManager")) << r.kind;
    EXPECT_TRUE(has_param(patch, "dryRun")) << r.kind;
    EXPECT_TRUE(has_param(patch, "force")) << r.kind;
    // kubectl apply computes its strategic merge patch from v3 only when the
    // PATCH operation accepts it (apply/patcher.go).
    EXPECT_TRUE(patch["requestBody"]["content"].contains("application/strategic-merge-patch+json")) << r.kind;

    const std::string scope = r.namespaced ? "/namespaces/{namespace}/" : "/";
    const std::string base = "/" + gv_path(r) + scope + r.plural;
    ASSERT_TRUE(doc["paths"].contains(base)) << base;
    ASSERT_TRUE(doc["paths"].contains(base + "/{name}")) << base;
    const json& post = doc["paths"][base]["post"];
    const json& put = doc["paths"][base + "/{name}"]["put"];
    for (const json* op : {&post, &put}) {
      EXPECT_EQ((*op)["x-kubernetes-group-version-kind"]["kind"], r.kind);
      EXPECT_TRUE(has_param(*op, "fieldValidation")) << r.kind;
    }
    EXPECT_EQ(post["x-kubernetes-action"], "post");
    EXPECT_EQ(put["x-kubernetes-action"], "put");
    EXPECT_EQ(doc["paths"][base + "/{name}"]["patch"]["x-kubernetes-action"], "patch");
  }
}

TEST(OpenApi, OperationIdsFollowUpstreamNaming) {
  const json core = *openapi_v3_document(registry(), "api/v1");
  EXPECT_EQ(core["paths"]["/api/v1/namespaces/{namespace}/pods"]["post"]["operationId"],
            "createCoreV1NamespacedPod");
  EXPECT_EQ(core["paths"]["/api/v1/pods"]["get"]["operationId"], "listCoreV1PodForAllNamespaces");
  EXPECT_EQ(core["paths"]["/api/v1/namespaces/{name}"]["patch"]["operationId"], "patchCoreV1Namespace");
  EXPECT_EQ(core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/status"]["patch"]["operationId"],
            "patchCoreV1NamespacedPodStatus");
  // Namespaces have no deletecollection upstream.
  EXPECT_FALSE(core["paths"]["/api/v1/namespaces"].contains("delete"));
  const json apps = *openapi_v3_document(registry(), "apis/apps/v1");
  const json& scale = apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"];
  EXPECT_EQ(scale["operationId"], "patchAppsV1NamespacedDeploymentScale");
  EXPECT_EQ(scale["x-kubernetes-group-version-kind"]["group"], "autoscaling");
  EXPECT_TRUE(has_param(scale, "fieldValidation"));
  const json leases = *openapi_v3_document(registry(), "apis/coordination.k8s.io/v1");
  EXPECT_EQ(leases["paths"]["/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"]["put"]
                  ["operationId"],
            "replaceCoordinationV1NamespacedLease");
}

TEST(OpenApi, EveryRefResolvesInsideItsDocument) {
  json index = openapi_v3_index(registry());
  for (const auto& entry : index["paths"].items()) {
    const std::string& path = entry.key();
    json doc = *openapi_v3_document(registry(), path);
    const json& schemas = doc["components"]["schemas"];
    int refs = 0;
    std::function<void(const json&)> visit = [&](const json& node) {
      if (node.is_object()) {
        if (node.contains("$ref")) {
          std::string ref = node["$ref"];
          ASSERT_EQ(ref.rfind("#/components/schemas/", 0), 0u) << ref;
          EXPECT_TRUE(schemas.contains(ref.substr(21))) << path << ": " << ref;
          ++refs;
        }
        for (const auto& [key, child] : node.items()) visit(child);
      } else if (node.is_array()) {
        for (const auto& child : node) visit(child);
      }
    };
    visit(doc);
    EXPECT_GT(refs, 0) << path;
  }
}

TEST(OpenApi, KindSchemasCarryTheirGroupVersionKindList) {
  // kubectl apply picks the components schema whose extension (a list)
  // holds the object's GVK; without it the patch is silently empty.
  for (const auto& r : registry().all()) {
    json doc = document_of(r);
    bool found = false;
    for (const auto& [name, s] : doc["components"]["schemas"].items()) {
      for (const auto& g : s.value("x-kubernetes-group-version-kind", json::array()))
        if (g == json{{"group", r.group}, {"version", r.version}, {"kind", r.kind}}) found = true;
    }
    EXPECT_TRUE(found) << r.kind;
  }
}

TEST(OpenApi, SchemasCarryUpstreamPatchMetadata) {
  const json core = *openapi_v3_document(registry(), "api/v1");
  const json& pod_spec = schema(core, "io.k8s.api.core.v1.PodSpec")["properties"];
  EXPECT_EQ(pod_spec["containers"]["x-kubernetes-patch-merge-key"], "name");
  EXPECT_EQ(pod_spec["containers"]["x-kubernetes-patch-strategy"], "merge");
  EXPECT_EQ(pod_spec["containers"]["x-kubernetes-list-type"], "map");
  EXPECT_EQ(pod_spec["containers"]["x-kubernetes-list-map-keys"], json({"name"}));
  EXPECT_EQ(pod_spec["volumes"]["x-kubernetes-patch-strategy"], "merge,retainKeys");
  EXPECT_EQ(pod_spec["tolerations"]["x-kubernetes-list-type"], "atomic");
  EXPECT_FALSE(pod_spec["tolerations"].contains("x-kubernetes-patch-merge-key"));
  EXPECT_EQ(pod_spec["containers"]["items"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.api.core.v1.Container");

  const json& container = schema(core, "io.k8s.api.core.v1.Container")["properties"];
  EXPECT_EQ(container["ports"]["x-kubernetes-patch-merge-key"], "containerPort");
  EXPECT_EQ(container["ports"]["x-kubernetes-list-map-keys"], json({"containerPort", "protocol"}));
  EXPECT_EQ(container["env"]["x-kubernetes-patch-merge-key"], "name");
  EXPECT_EQ(container["volumeMounts"]["x-kubernetes-patch-merge-key"], "mountPath");
  EXPECT_EQ(
      schema(core, "io.k8s.api.core.v1.ServiceSpec")["properties"]["ports"]["x-kubernetes-list-map-keys"],
      json({"port", "protocol"}));
  EXPECT_EQ(
      schema(core,
             "io.k8s.api.core.v1.PodStatus")["properties"]["conditions"]["x-kubernetes-patch-merge-key"],
      "type");
  EXPECT_EQ(
      schema(core,
             "io.k8s.api.core.v1.NodeStatus")["properties"]["conditions"]["x-kubernetes-patch-merge-key"],
      "type");
  const json& meta = schema(core, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")["properties"];
  EXPECT_EQ(meta["ownerReferences"]["x-kubernetes-patch-merge-key"], "uid");
  EXPECT_EQ(meta["labels"]["additionalProperties"]["type"], "string");

  const json apps = *openapi_v3_document(registry(), "apis/apps/v1");
  EXPECT_EQ(
      schema(
          apps,
          "io.k8s.api.apps.v1.DeploymentStatus")["properties"]["conditions"]["x-kubernetes-patch-merge-key"],
      "type");
  EXPECT_EQ(
      schema(apps,
             "io.k8s.api.apps.v1.DeploymentSpec")["properties"]["strategy"]["x-kubernetes-patch-strategy"],
      "retainKeys");
  // The apps document carries the core types its pod template references.
  EXPECT_TRUE(apps["components"]["schemas"].contains("io.k8s.api.core.v1.Container"));
  EXPECT_TRUE(apps["components"]["schemas"].contains("io.k8s.api.autoscaling.v1.Scale"));
}

TEST(OpenApi, V2StubIsAMinimalProtobufDocument) {
  std::string pb = openapi_v2_stub_protobuf();
  // swagger (field 1) = "2.0", info (field 2) = {title, version}.
  ASSERT_GE(pb.size(), 5u);
  EXPECT_EQ(pb.substr(0, 5), std::string("\x0a\x03"
                                         "2.0",
                                         5));
  EXPECT_EQ(static_cast<unsigned char>(pb[5]), 0x12u);
  EXPECT_EQ(static_cast<std::size_t>(pb[6]), pb.size() - 7);
  EXPECT_NE(pb.find("Kubernetes"), std::string::npos);
}

// --- field validation --------------------------------------------------------

const ResourceInfo& kind(const char* group, const char* k) {
  const ResourceInfo* r = registry().by_kind(group, k);
  EXPECT_NE(r, nullptr) << k;
  return *r;
}

using Paths = std::vector<std::string>;

TEST(OpenApiFieldValidation, FindsMisspelledFieldsAtEveryDepth) {
  json deployment = json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment", "bogus": 1,
    "metadata": {"name": "web", "labelz": {"app": "web"}},
    "spec": {
      "replica": 3,
      "selector": {"matchLabels": {"app": "web"}, "matchExpression": []},
      "template": {
        "metadata": {"labels": {"app": "web"}, "annotation": {}},
        "spec": {
          "containers": [
            {"name": "a", "image": "x"},
            {"name": "b", "image": "y", "imagePullPolicyy": "Always",
             "ports": [{"containerPort": 80, "protocl": "TCP"}],
             "livenessProbe": {"httpGet": {"path": "/", "port": 80, "hots": "h"}},
             "resources": {"limits": {"cpu": "1"}, "limit": {}}}
          ],
          "volumes": [{"name": "v", "emptyDir": {"medium": "Memory", "sizelimit": "1Gi"}}]
        }
      }
    }
  })");
  EXPECT_EQ(unknown_fields(kind("apps", "Deployment"), deployment),
            (Paths{"bogus", "metadata.labelz", "spec.replica", "spec.selector.matchExpression",
                   "spec.template.metadata.annotation", "spec.template.spec.containers[1].imagePullPolicyy",
                   "spec.template.spec.containers[1].livenessProbe.httpGet.hots",
                   "spec.template.spec.containers[1].ports[0].protocl",
                   "spec.template.spec.containers[1].resources.limit",
                   "spec.template.spec.volumes[0].emptyDir.sizelimit"}));
}

TEST(OpenApiFieldValidation, FieldNamesAreCaseSensitive) {
  json pod = json::parse(R"({"apiVersion": "v1", "kind": "Pod", "metadata": {"Name": "p"},
                             "spec": {"containers": [{"name": "c", "Image": "x"}]}})");
  EXPECT_EQ(unknown_fields(kind("", "Pod"), pod), (Paths{"metadata.Name", "spec.containers[0].Image"}));
}

TEST(OpenApiFieldValidation, AcceptsRealisticManifests) {
  struct Case {
    const char* group;
    const char* kind;
    const char* manifest;
  };
  const Case cases[] = {
      {"apps", "Deployment", R"({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", "tier": "frontend"},
                     "annotations": {"deployment.kubernetes.io/revision": "1", "any/thing": "ok"}},
        "spec": {"replicas": 3, "revisionHistoryLimit": 5, "progressDeadlineSeconds": 600,
          "selector": {"matchLabels": {"app": "web"},
                       "matchExpressions": [{"key": "tier", "operator": "In", "values": ["frontend"]}]},
          "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
          "template": {"metadata": {"labels": {"app": "web"}},
            "spec": {"terminationGracePeriodSeconds": 30, "nodeSelector": {"kubernetes.io/os": "linux"},
              "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                  "labelSelector": {"matchLabels": {"app": "web"}}}}]}},
              "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                               "effect": "NoExecute", "tolerationSeconds": 300}],
              "securityContext": {"runAsNonRoot": true, "fsGroup": 2000, "seccompProfile": {"type": "RuntimeDefault"}},
              "initContainers": [{"name": "init", "image": "busybox", "command": ["sh", "-c", "true"]}],
              "containers": [{"name": "web", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
                "args": ["--port=8080"], "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "env": [{"name": "A", "value": "1"},
                        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                        {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": true}}}],
                "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP",
                                   "httpHeaders": [{"name": "X", "value": "y"}]},
                                   "periodSeconds": 5, "failureThreshold": 3},
                "livenessProbe": {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 10},
                "startupProbe": {"exec": {"command": ["true"]}},
                "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]},
                                    "readOnlyRootFilesystem": true},
                "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "cfg", "mountPath": "/etc/cfg",
                                  "readOnly": true}]}],
              "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
                          {"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "a", "path": "a"}]}},
                          {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}},
                          {"name": "legacy", "rbd": {"monitors": ["m"], "image": "i", "whatever": 1}}]}}}})"},
      {"", "Service", R"({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"type": "NodePort", "selector": {"app": "web"}, "externalTrafficPolicy": "Cluster",
                 "ipFamilyPolicy": "SingleStack", "sessionAffinity": "ClientIP",
                 "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"}]},
        "status": {"loadBalancer": {}}})"},
      {"", "Pod", R"({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "generateName": "p-", "finalizers": ["x/y"],
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                                          "uid": "u", "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"restartPolicy": "Always", "hostNetwork": false, "dnsPolicy": "ClusterFirst",
                 "containers": [{"name": "c", "image": "app", "command": ["app"], "workingDir": "/",
                   "env": [{"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory",
                                                                                "divisor": "1Mi"}}}],
                   "resources": {"limits": {"cpu": 1, "memory": "1Gi", "example.com/gpu": 1}},
                   "readinessProbe": {"grpc": {"port": 9000}, "timeoutSeconds": 2},
                   "livenessProbe": {"httpGet": {"port": 8080, "path": "/"}, "successThreshold": 1}}]},
        "status": {"phase": "Running", "podIP": "127.0.1.5", "podIPs": [{"ip": "127.0.1.5"}],
                   "hostIP": "127.0.1.1", "startTime": "2024-01-01T00:00:00Z", "qosClass": "Burstable",
                   "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": null}],
                   "containerStatuses": [{"name": "c", "ready": true, "restartCount": 2, "image": "app",
                     "imageID": "", "containerID": "shakeout://1", "started": true,
                     "state": {"running": {"startedAt": "2024-01-01T00:00:01Z"}},
                     "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}})"},
      {"", "Namespace", R"({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "team-a", "labels": {"kubernetes.io/metadata.name": "team-a"}},
        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})"},
      {"coordination.k8s.io", "Lease", R"({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "node-1", "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40,
                 "renewTime": "2024-01-01T00:00:00.000000Z", "leaseTransitions": 0}})"},
      {"", "Node", R"({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"},
        "spec": {"podCIDR": "127.0.1.0/24", "podCIDRs": ["127.0.1.0/24"],
                 "taints": [{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute",
                             "timeAdded": "2024-01-01T00:00:00Z"}]},
        "status": {"capacity": {"cpu": "2", "pods": "110"}, "allocatable": {"cpu": "2"},
                   "addresses": [{"type": "InternalIP", "address": "127.0.1.1"}],
                   "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                   "lastHeartbeatTime": "2024-01-01T00:00:00Z"}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                   "nodeInfo": {"kubeletVersion": "v1.32.0", "operatingSystem": "linux", "architecture": "amd64"}}})"},
      {"discovery.k8s.io", "EndpointSlice", R"({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-abc", "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4",
        "endpoints": [{"addresses": ["127.0.1.5"], "conditions": {"ready": true}, "nodeName": "node-1",
                       "targetRef": {"kind": "Pod", "name": "p", "namespace": "default"}}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})"},
      {"", "Event", R"({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
        "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Scheduled", "type": "Normal",
        "source": {"component": "scheduler"}, "count": 1, "firstTimestamp": "2024-01-01T00:00:00Z",
        "eventTime": null, "reportingComponent": "scheduler"})"},
  };
  for (const Case& c : cases) {
    json object = json::parse(c.manifest);
    EXPECT_EQ(unknown_fields(kind(c.group, c.kind), object), Paths{}) << c.kind;
  }
}

TEST(OpenApiFieldValidation, SubresourceBodiesAreCheckedAsTheirOwnKind) {
  const ResourceInfo& pods = kind("", "Pod");
  const ResourceInfo& deployments = kind("apps", "Deployment");
  json binding = json::parse(R"({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
                                 "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}})");
  EXPECT_EQ(unknown_fields(pods, "binding", binding), Paths{});
  EXPECT_EQ(unknown_fields(pods, "", binding), Paths{"target"});
  json eviction = json::parse(R"({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p"},
                                  "deleteOptions": {"gracePeriodSeconds": 0, "bogus": 1}})");
  EXPECT_EQ(unknown_fields(pods, "eviction", eviction), Paths{"deleteOptions.bogus"});
  json scale = json::parse(R"({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web"},
                               "spec": {"replicas": 3}, "status": {"replicas": 2, "selector": "app=web"}})");
  EXPECT_EQ(unknown_fields(deployments, "scale", scale), Paths{});
  json status = json::parse(R"({"status": {"readyReplicas": 1, "ready": 1}})");
  EXPECT_EQ(unknown_fields(deployments, "status", status), Paths{"status.ready"});
  EXPECT_EQ(strict_decoding_error(deployments, "scale", {"spec.replicaz"}, {}).message(),
            "Scale in version \"v1\" cannot be handled as a Scale: strict decoding error: unknown field "
            "\"spec.replicaz\"");
}

TEST(OpenApiFieldValidation, StrictErrorIsWordedAsUpstream) {
  ApiError error = strict_decoding_error(kind("", "Pod"), {"spec.foo", "spec.containers[0].bar"});
  EXPECT_EQ(error.code, 400);
  EXPECT_EQ(error.reason(), "BadRequest");
  EXPECT_EQ(
      error.message(),
      "Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: unknown field \"spec.foo\", "
      "unknown field \"spec.containers[0].bar\"");
  EXPECT_EQ(strict_decoding_messages({"spec.x"}, {"metadata.name"}),
            (Paths{"duplicate field \"metadata.name\"", "unknown field \"spec.x\""}));
}

TEST(OpenApiFieldValidation, StrictPatchErrorIsInvalidOnThePatchField) {
  ApiError error = strict_patch_error(R"({"spec":{"foo":1}})", {"spec.foo"});
  EXPECT_EQ(error.code, 422);
  EXPECT_EQ(error.reason(), "Invalid");
  EXPECT_EQ(
      error.message(),
      " \"\" is invalid: patch: Invalid value: \"{\\\"spec\\\":{\\\"foo\\\":1}}\": strict decoding error: "
      "unknown field \"spec.foo\"");
  ASSERT_EQ(error.status["details"]["causes"].size(), 1u);
  EXPECT_EQ(error.status["details"]["causes"][0]["field"], "patch");
  EXPECT_EQ(error.status["details"]["causes"][0]["reason"], "FieldValueInvalid");
}

TEST(OpenApiFieldValidation, FindsDuplicateKeysAtAnyDepth) {
  EXPECT_EQ(duplicate_fields(R"({"metadata": {"name": "a", "labels": {"x": "1", "x": "2"}, "name": "b"},
                                 "spec": {"containers": [{"name": "c"}, {"name": "d", "image": "i", "image": "j"}]}})"),
            (Paths{"metadata.labels.x", "metadata.name", "spec.containers[1].image"}));
  EXPECT_EQ(duplicate_fields(R"({"a": [1, {"b": 1}], "c": {"d": [[], {"e": 1, "e": 2}]}})"),
            (Paths{"c.d[1].e"}));
  EXPECT_EQ(duplicate_fields(R"({"a": 1, "b": 2})"), Paths{});
  EXPECT_EQ(duplicate_fields("{not json"), Paths{});
}

}  // namespace
}  // namespace shakeout::api
