// The REST API of `shakeout apiserver` over HTTP, against real etcd: auth,
// CRUD semantics, patch, subresources, admission, list and watch, and bad
// requests.

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <algorithm>
#include <set>

#include "api_fixture.h"

namespace shakeout::apiserver::testing {
namespace {

using namespace std::chrono_literals;

json pod(const std::string& name, const json& labels = json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"labels", labels}}},
          {"spec", {{"containers", {{{"name", "app"}, {"image", "shakeout/app"}}}}}}};
}

json deployment(const std::string& name, int replicas) {
  json labels = {{"app", name}};
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"replicas", replicas},
            {"selector", {{"matchLabels", labels}}},
            {"template",
             {{"metadata", {{"labels", labels}}},
              {"spec", {{"containers", {{{"name", "app"}, {"image", "shakeout/app"}}}}}}}}}}};
}

using RestTest = ApiFixture;

TEST_F(RestTest, SystemNamespacesExistAtBoot) {
  auto list = get("/api/v1/namespaces").object();
  std::set<std::string> names;
  for (const auto& item : list["items"]) {
    names.insert(item["metadata"]["name"].get<std::string>());
    EXPECT_EQ(item["status"]["phase"], "Active");
    EXPECT_EQ(item["metadata"]["labels"]["kubernetes.io/metadata.name"], item["metadata"]["name"]);
  }
  EXPECT_EQ(names, (std::set<std::string>{"default", "kube-node-lease", "kube-public", "kube-system"}));
}

TEST_F(RestTest, AnonymousRequestsGet401ButHealthIsPublic) {
  auto anonymous = call_with("GET", "/api/v1/namespaces", "", "", {});
  EXPECT_EQ(anonymous.status, 401u);
  EXPECT_EQ(anonymous.object()["reason"], "Unauthorized");
  auto wrong = call_with("GET", "/api/v1/namespaces", "", "", {{"Authorization", "Bearer nope"}});
  EXPECT_EQ(wrong.status, 401u);
  EXPECT_EQ(call_with("GET", "/api", "", "", {}).status, 401u);
  EXPECT_EQ(call_with("GET", "/readyz", "", "", {}).status, 200u);
  EXPECT_EQ(get("/api/v1/namespaces").status, 200u);
}

TEST_F(RestTest, CreateSetsSystemFieldsAndDefaultsAndRejectsDuplicates) {
  auto created = post("/api/v1/namespaces/default/pods", pod("web-1"));
  ASSERT_EQ(created.status, 201u) << created.body;
  auto object = created.object();
  EXPECT_FALSE(object["metadata"]["uid"].get<std::string>().empty());
  EXPECT_FALSE(object["metadata"]["creationTimestamp"].get<std::string>().empty());
  EXPECT_FALSE(object["metadata"]["resourceVersion"].get<std::string>().empty());
  EXPECT_EQ(object["spec"]["restartPolicy"], "Always");
  EXPECT_EQ(object["spec"]["terminationGracePeriodSeconds"], 30);
  // DefaultTolerationSeconds with the fast profile's 300 s x 0.05.
  std::set<std::string> keys;
  for (const auto& toleration : object["spec"]["tolerations"]) {
    keys.insert(toleration["key"].get<std::string>());
    EXPECT_EQ(toleration["tolerationSeconds"], 15) << toleration;
    EXPECT_EQ(toleration["effect"], "NoExecute");
  }
  EXPECT_EQ(keys, (std::set<std::string>{"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}));

  auto again = post("/api/v1/namespaces/default/pods", pod("web-1"));
  EXPECT_EQ(again.status, 409u);
  EXPECT_EQ(again.object()["reason"], "AlreadyExists");
  auto missing_ns = post("/api/v1/namespaces/nope/pods", pod("web-2"));
  EXPECT_EQ(missing_ns.status, 404u);
  EXPECT_EQ(missing_ns.object()["message"], "namespaces \"nope\" not found");

  json generated = pod("");
  generated["metadata"].erase("name");
  generated["metadata"]["generateName"] = "web-";
  auto named = post("/api/v1/namespaces/default/pods", generated);
  ASSERT_EQ(named.status, 201u) << named.body;
  EXPECT_EQ(named.object()["metadata"]["name"].get<std::string>().rfind("web-", 0), 0u);
}

TEST_F(RestTest, InvalidObjectsGet422WithFieldCauses) {
  json bad = pod("web-1");
  bad["spec"]["containers"][0].erase("image");
  auto reply = post("/api/v1/namespaces/default/pods", bad);
  ASSERT_EQ(reply.status, 422u) << reply.body;
  auto status = reply.object();
  EXPECT_EQ(status["reason"], "Invalid");
  bool image_cause = false;
  for (const auto& cause : status["details"]["causes"]) {
    if (cause["field"] == "spec.containers[0].image") image_cause = true;
  }
  EXPECT_TRUE(image_cause) << reply.body;
}

TEST_F(RestTest, BadDeploymentsAreRejectedWithTheField) {
  const std::string deployments = "/apis/apps/v1/namespaces/default/deployments";
  auto cause_fields = [](const Reply& reply) {
    std::set<std::string> fields;
    for (const auto& cause : reply.object()["details"].value("causes", json::array()))
      fields.insert(cause.value("field", ""));
    return fields;
  };
  json mismatch = deployment("mismatch", 1);
  mismatch["spec"]["template"]["metadata"]["labels"] = {{"app", "other"}};
  auto reply = post(deployments, mismatch);
  EXPECT_EQ(reply.status, 422u) << reply.body;
  EXPECT_TRUE(cause_fields(reply).contains("spec.template.metadata.labels")) << reply.body;

  json negative = deployment("negative", -1);
  reply = post(deployments, negative);
  EXPECT_EQ(reply.status, 422u) << reply.body;
  EXPECT_TRUE(cause_fields(reply).contains("spec.replicas")) << reply.body;

  // Unknown fields under kubectl's default (Strict) validation: 400, as
  // upstream's strict decoding error.
  json unknown = deployment("unknown", 1);
  unknown["spec"]["replica"] = 2;
  reply = call("POST", deployments + "?fieldValidation=Strict", unknown.dump());
  EXPECT_EQ(reply.status, 400u) << reply.body;
  EXPECT_NE(reply.object()["message"].get<std::string>().find("unknown field \"spec.replica\""),
            std::string::npos)
      << reply.body;
  for (const char* name : {"mismatch", "negative", "unknown"})
    EXPECT_EQ(get(deployments + "/" + name).status, 404u) << name;
}

TEST_F(RestTest, UpdateUsesOptimisticConcurrencyAndGeneration) {
  auto created = post("/apis/apps/v1/namespaces/default/deployments", deployment("web", 2));
  ASSERT_EQ(created.status, 201u) << created.body;
  auto object = created.object();
  EXPECT_EQ(object["metadata"]["generation"], 1);

  object["spec"]["replicas"] = 3;
  auto updated = call("PUT", "/apis/apps/v1/namespaces/default/deployments/web", object.dump());
  ASSERT_EQ(updated.status, 200u) << updated.body;
  EXPECT_EQ(updated.object()["metadata"]["generation"], 2);

  // The same (now stale) resourceVersion again: 409 Conflict.
  object["spec"]["replicas"] = 4;
  auto stale = call("PUT", "/apis/apps/v1/namespaces/default/deployments/web", object.dump());
  EXPECT_EQ(stale.status, 409u);
  EXPECT_EQ(stale.object()["reason"], "Conflict");

  // /status changes only status; the main resource ignores status.
  json with_status = updated.object();
  with_status["status"] = {{"replicas", 3}, {"observedGeneration", 2}};
  with_status["spec"]["replicas"] = 9;
  auto status = call("PUT", "/apis/apps/v1/namespaces/default/deployments/web/status", with_status.dump());
  ASSERT_EQ(status.status, 200u) << status.body;
  EXPECT_EQ(status.object()["spec"]["replicas"], 3);
  EXPECT_EQ(status.object()["status"]["observedGeneration"], 2);
  EXPECT_EQ(status.object()["metadata"]["generation"], 2);
}

TEST_F(RestTest, PatchTypesAndUnsupportedMediaType) {
  ASSERT_EQ(post("/api/v1/namespaces/default/pods", pod("web-1")).status, 201u);
  const std::string path = "/api/v1/namespaces/default/pods/web-1";
  auto merge =
      call("PATCH", path, R"({"metadata":{"labels":{"tier":"web"}}})", "application/merge-patch+json");
  ASSERT_EQ(merge.status, 200u) << merge.body;
  EXPECT_EQ(merge.object()["metadata"]["labels"]["tier"], "web");

  auto json_patch = call("PATCH", path, R"([{"op":"add","path":"/metadata/annotations","value":{"a":"b"}}])",
                         "application/json-patch+json");
  ASSERT_EQ(json_patch.status, 200u) << json_patch.body;
  EXPECT_EQ(json_patch.object()["metadata"]["annotations"]["a"], "b");

  // Strategic merge: the container list merges by name.
  auto strategic = call("PATCH", path, R"({"spec":{"containers":[{"name":"app","image":"shakeout/app:2"}]}})",
                        "application/strategic-merge-patch+json");
  ASSERT_EQ(strategic.status, 200u) << strategic.body;
  EXPECT_EQ(strategic.object()["spec"]["containers"].size(), 1u);
  EXPECT_EQ(strategic.object()["spec"]["containers"][0]["image"], "shakeout/app:2");
  // Defaulting fills only what is empty: the policy defaulted for the
  // untagged image at create stays.
  EXPECT_EQ(strategic.object()["spec"]["containers"][0]["imagePullPolicy"], "Always");

  auto unsupported = call("PATCH", path, "{}", "text/plain");
  EXPECT_EQ(unsupported.status, 415u);
  EXPECT_EQ(unsupported.object()["reason"], "UnsupportedMediaType");

  // apply-patch+yaml creates what is missing, then merges.
  const std::string cm = "/api/v1/namespaces/default/services/applied?fieldManager=test";
  const std::string yaml =
      "apiVersion: v1\nkind: Service\nmetadata:\n  name: applied\nspec:\n  selector:\n    app: web\n"
      "  ports:\n  - port: 80\n    name: a\n";
  auto applied = call("PATCH", cm, yaml, "application/apply-patch+yaml");
  ASSERT_EQ(applied.status, 201u) << applied.body;
  auto reapplied = call("PATCH", cm, yaml + "  - port: 81\n    name: b\n", "application/apply-patch+yaml");
  ASSERT_EQ(reapplied.status, 200u) << reapplied.body;
}

TEST_F(RestTest, StrictFieldValidationCoversPatchesAndSubresourceBodies) {
  ASSERT_EQ(post("/api/v1/namespaces/default/pods", pod("web-1")).status, 201u);
  // The patched object is checked, as upstream's patch handler does.
  auto patched = call("PATCH", "/api/v1/namespaces/default/pods/web-1?fieldValidation=Strict",
                      R"({"spec":{"nodeSelectr":{"a":"b"}}})", "application/merge-patch+json");
  EXPECT_EQ(patched.status, 422u) << patched.body;
  const std::string message = patched.object().value("message", "");
  EXPECT_NE(message.find("strict decoding error: unknown field \"spec.nodeSelectr\""), std::string::npos)
      << message;
  // A Binding body is a Binding, not a Pod: its target is known, a typo is not.
  json binding = {{"apiVersion", "v1"},
                  {"kind", "Binding"},
                  {"metadata", {{"name", "web-1"}}},
                  {"target", {{"kind", "Node"}, {"name", "node-1"}}},
                  {"targit", json::object()}};
  auto rejected =
      call("POST", "/api/v1/namespaces/default/pods/web-1/binding?fieldValidation=Strict", binding.dump());
  EXPECT_EQ(rejected.status, 400u) << rejected.body;
  binding.erase("targit");
  auto bound =
      call("POST", "/api/v1/namespaces/default/pods/web-1/binding?fieldValidation=Strict", binding.dump());
  EXPECT_EQ(bound.status, 201u) << bound.body;
}

TEST_F(RestTest, AdmissionCanForbidACreate) {
  json unknown_priority = pod("web-1");
  unknown_priority["spec"]["priorityClassName"] = "nope";
  auto reply = post("/api/v1/namespaces/default/pods", unknown_priority);
  EXPECT_EQ(reply.status, 403u) << reply.body;
  EXPECT_EQ(reply.object()["reason"], "Forbidden");
  EXPECT_EQ(get("/api/v1/namespaces/default/pods/web-1").status, 404u);
}

TEST_F(RestTest, BindingAssignsOnceAndGracefulDeleteWaitsForTheKubelet) {
  ASSERT_EQ(post("/api/v1/namespaces/default/pods", pod("web-1")).status, 201u);
  json binding = {{"apiVersion", "v1"},
                  {"kind", "Binding"},
                  {"metadata", {{"name", "web-1"}}},
                  {"target", {{"kind", "Node"}, {"name", "node-1"}}}};
  auto bound = post("/api/v1/namespaces/default/pods/web-1/binding", binding);
  ASSERT_EQ(bound.status, 201u) << bound.body;
  auto again = post("/api/v1/namespaces/default/pods/web-1/binding", binding);
  EXPECT_EQ(again.status, 409u) << again.body;
  auto object = get("/api/v1/namespaces/default/pods/web-1").object();
  EXPECT_EQ(object["spec"]["nodeName"], "node-1");
  bool scheduled = false;
  for (const auto& c : object["status"]["conditions"])
    scheduled |= c["type"] == "PodScheduled" && c["status"] == "True";
  EXPECT_TRUE(scheduled) << object.dump();

  auto deleting = call("DELETE", "/api/v1/namespaces/default/pods/web-1");
  ASSERT_EQ(deleting.status, 200u) << deleting.body;
  EXPECT_EQ(deleting.object()["metadata"]["deletionGracePeriodSeconds"], 30);
  EXPECT_EQ(get("/api/v1/namespaces/default/pods/web-1").status, 200u);
  auto gone = call("DELETE", "/api/v1/namespaces/default/pods/web-1", R"({"gracePeriodSeconds":0})");
  ASSERT_EQ(gone.status, 200u) << gone.body;
  EXPECT_EQ(get("/api/v1/namespaces/default/pods/web-1").status, 404u);
}

TEST_F(RestTest, EvictionDeletesAndScaleReadsAndWritesReplicas) {
  ASSERT_EQ(post("/api/v1/namespaces/default/pods", pod("web-1")).status, 201u);
  json eviction = {{"apiVersion", "policy/v1"}, {"kind", "Eviction"}, {"metadata", {{"name", "web-1"}}}};
  auto evicted = post("/api/v1/namespaces/default/pods/web-1/eviction", eviction);
  EXPECT_EQ(evicted.status, 201u) << evicted.body;
  EXPECT_EQ(get("/api/v1/namespaces/default/pods/web-1").status, 404u);

  ASSERT_EQ(post("/apis/apps/v1/namespaces/default/deployments", deployment("web", 2)).status, 201u);
  auto scale = get("/apis/apps/v1/namespaces/default/deployments/web/scale");
  ASSERT_EQ(scale.status, 200u) << scale.body;
  EXPECT_EQ(scale.object()["kind"], "Scale");
  EXPECT_EQ(scale.object()["apiVersion"], "autoscaling/v1");
  EXPECT_EQ(scale.object()["spec"]["replicas"], 2);
  EXPECT_EQ(scale.object()["status"]["selector"], "app=web");
  auto scaled = call("PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale",
                     R"({"spec":{"replicas":5}})", "application/merge-patch+json");
  ASSERT_EQ(scaled.status, 200u) << scaled.body;
  EXPECT_EQ(scaled.object()["spec"]["replicas"], 5);
  EXPECT_EQ(get("/apis/apps/v1/namespaces/default/deployments/web").object()["spec"]["replicas"], 5);
}

// A scale PATCH carries no resourceVersion, so another writer's update
// between the apiserver's read and its write must not make it a 409: the
// patch is applied to the latest object on every try, as kubectl scale
// beside a busy Deployment controller expects.
TEST_F(RestTest, ScalePatchesNeverConflictWithConcurrentStatusWrites) {
  ASSERT_EQ(post("/apis/apps/v1/namespaces/default/deployments", deployment("web", 1)).status, 201u);
  // Each lost race costs a retry, so N writers at once cost up to N^2 etcd
  // round trips: 12 of each keeps that within the timeout under ASan.
  constexpr int kEach = 12;
  std::vector<std::string> failures;
  int done = 0;
  auto patch_one = [this, &failures, &done](std::string target, std::string body) -> asio::awaitable<void> {
    net::HttpRequest request;
    request.method = "PATCH";
    request.target = std::move(target);
    request.content_type = "application/merge-patch+json";
    request.body = std::move(body);
    request.headers.emplace_back("Authorization", "Bearer " + token());
    auto response = co_await http_->request(endpoint(), std::move(request), 30000ms);
    if (!response.ok()) {
      failures.push_back(response.error().message);
    } else if (response->status != 200) {
      failures.push_back(fmt::format("{}: {}", response->status, response->body));
    }
    ++done;
  };
  const std::string path = "/apis/apps/v1/namespaces/default/deployments/web";
  for (int i = 1; i <= kEach; ++i) {
    asio::co_spawn(io_,
                   patch_one(path + "/status", fmt::format(R"({{"status":{{"observedGeneration":{}}}}})", i)),
                   asio::detached);
    asio::co_spawn(io_, patch_one(path + "/scale", fmt::format(R"({{"spec":{{"replicas":{}}}}})", i)),
                   asio::detached);
  }
  io_.restart();
  const auto deadline = std::chrono::steady_clock::now() + 40s;
  while (done < 2 * kEach && std::chrono::steady_clock::now() < deadline) io_.run_for(50ms);
  ASSERT_EQ(done, 2 * kEach);
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, the first: " << failures.front();
  const auto replicas = get(path).object()["spec"]["replicas"].get<int>();
  EXPECT_GE(replicas, 1);
  EXPECT_LE(replicas, kEach);
}

// pods/eviction against a policy/v1 PodDisruptionBudget (upstream
// eviction.go): 429 while the budget is unprocessed or allows nothing; an
// allowed eviction takes one disruption and records the pod; a Pending pod
// goes without a check; two budgets on one pod are a 500.
TEST_F(RestTest, EvictionHonoursThePodDisruptionBudget) {
  const std::string pods = "/api/v1/namespaces/default/pods/";
  const std::string budgets = "/apis/policy/v1/namespaces/default/poddisruptionbudgets/";
  auto running = [&](const std::string& name) {
    ASSERT_EQ(post("/api/v1/namespaces/default/pods", pod(name, {{"app", "db"}})).status, 201u);
    auto current = get(pods + name).object();
    current["status"]["phase"] = "Running";
    current["status"]["conditions"] = {{{"type", "Ready"}, {"status", "True"}}};
    ASSERT_EQ(call("PUT", pods + name + "/status", current.dump()).status, 200u);
  };
  auto evict = [&](const std::string& name) {
    json eviction = {{"apiVersion", "policy/v1"}, {"kind", "Eviction"}, {"metadata", {{"name", name}}}};
    return post(pods + name + "/eviction", eviction);
  };
  running("db-1");
  running("db-2");
  json pdb = {{"apiVersion", "policy/v1"},
              {"kind", "PodDisruptionBudget"},
              {"metadata", {{"name", "db"}}},
              {"spec", {{"minAvailable", 1}, {"selector", {{"matchLabels", {{"app", "db"}}}}}}}};
  auto created = post("/apis/policy/v1/namespaces/default/poddisruptionbudgets", pdb);
  ASSERT_EQ(created.status, 201u) << created.body;
  EXPECT_EQ(created.object()["status"]["disruptionsAllowed"], 0);
  EXPECT_EQ(created.object()["metadata"]["generation"], 1);

  // Not yet observed by a disruption controller: 429, retry in 10 s.
  auto unprocessed = evict("db-1");
  EXPECT_EQ(unprocessed.status, 429u) << unprocessed.body;
  EXPECT_EQ(unprocessed.object()["reason"], "TooManyRequests");
  EXPECT_EQ(unprocessed.object()["message"],
            "Cannot evict pod as it would violate the pod's disruption budget.");
  EXPECT_EQ(unprocessed.object()["details"]["causes"][0]["reason"], "DisruptionBudget");
  EXPECT_EQ(unprocessed.object()["details"]["causes"][0]["message"],
            "The disruption budget db is still being processed by the server.");
  EXPECT_EQ(unprocessed.object()["details"]["retryAfterSeconds"], 10);

  auto status = [&](int allowed) {
    auto current = get(budgets + "db").object();
    current["status"] = {{"observedGeneration", 1},
                         {"disruptionsAllowed", allowed},
                         {"currentHealthy", 2},
                         {"desiredHealthy", 1},
                         {"expectedPods", 2}};
    auto put = call("PUT", budgets + "db/status", current.dump());
    ASSERT_EQ(put.status, 200u) << put.body;
  };
  status(0);
  auto blocked = evict("db-1");
  EXPECT_EQ(blocked.status, 429u) << blocked.body;
  EXPECT_EQ(blocked.object()["details"]["causes"][0]["message"],
            "The disruption budget db needs 1 healthy pods and has 2 currently");
  EXPECT_EQ(get(pods + "db-1").status, 200u);

  status(1);
  auto allowed = evict("db-1");
  EXPECT_EQ(allowed.status, 201u) << allowed.body;
  EXPECT_EQ(get(pods + "db-1").status, 404u);
  auto after = get(budgets + "db").object();
  EXPECT_EQ(after["status"]["disruptionsAllowed"], 0) << after.dump();
  EXPECT_TRUE(after["status"]["disruptedPods"].contains("db-1")) << after.dump();
  EXPECT_EQ(evict("db-2").status, 429u);  // the one disruption is used up

  // A Pending pod is evicted without a check; kubectl get shows the budget.
  ASSERT_EQ(post("/api/v1/namespaces/default/pods", pod("db-3", {{"app", "db"}})).status, 201u);
  EXPECT_EQ(evict("db-3").status, 201u);
  auto listed = kubectl({"get", "pdb"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("MIN AVAILABLE   MAX UNAVAILABLE   ALLOWED DISRUPTIONS"), std::string::npos)
      << listed.out;
  EXPECT_NE(listed.out.find("N/A"), std::string::npos) << listed.out;

  // Two budgets over one pod: upstream refuses with 500.
  pdb["metadata"]["name"] = "db-too";
  ASSERT_EQ(post("/apis/policy/v1/namespaces/default/poddisruptionbudgets", pdb).status, 201u);
  auto ambiguous = evict("db-2");
  EXPECT_EQ(ambiguous.status, 500u) << ambiguous.body;

  // Both bounds at once is invalid.
  pdb["metadata"]["name"] = "both";
  pdb["spec"]["maxUnavailable"] = "50%";
  auto invalid = post("/apis/policy/v1/namespaces/default/poddisruptionbudgets", pdb);
  EXPECT_EQ(invalid.status, 422u) << invalid.body;
}

TEST_F(RestTest, ServicesGetAClusterIpAndNodePortsFromTheClusterRanges) {
  json service = {
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata", {{"name", "web"}}},
      {"spec", {{"type", "NodePort"}, {"selector", {{"app", "web"}}}, {"ports", {{{"port", 80}}}}}}};
  auto created = post("/api/v1/namespaces/default/services", service);
  ASSERT_EQ(created.status, 201u) << created.body;
  auto object = created.object();
  const std::string ip = object["spec"]["clusterIP"];
  const auto cidr = cluster_->addresses().service_cidr();
  EXPECT_EQ(ip.substr(0, ip.rfind('.')), cidr.substr(0, cidr.rfind('.'))) << ip << " not in " << cidr;
  const int node_port = object["spec"]["ports"][0]["nodePort"];
  EXPECT_GE(node_port, 30000);
  EXPECT_LE(node_port, 32767);
  EXPECT_EQ(object["spec"]["ports"][0]["targetPort"], 80);

  // The same node port again is taken.
  service["metadata"]["name"] = "web-2";
  service["spec"]["ports"][0]["nodePort"] = node_port;
  auto taken = post("/api/v1/namespaces/default/services", service);
  EXPECT_EQ(taken.status, 422u) << taken.body;
  // Deleting the first frees it.
  ASSERT_EQ(call("DELETE", "/api/v1/namespaces/default/services/web").status, 200u);
  EXPECT_EQ(post("/api/v1/namespaces/default/services", service).status, 201u);
}

TEST_F(RestTest, PropagationPolicyLeavesTheGarbageCollectorsFinalizers) {
  const std::string collection = "/apis/apps/v1/namespaces/default/replicasets";
  auto make = [&](const std::string& name) {
    json rs = deployment(name, 1);
    rs["kind"] = "ReplicaSet";
    ASSERT_EQ(post(collection, rs).status, 201u);
  };
  auto finalizers = [&](const Reply& reply) {
    return reply.object()["metadata"].value("finalizers", json::array());
  };

  // Background (and no policy): deleted at once, nothing left for the GC.
  make("background");
  auto background = call("DELETE", collection + "/background", R"({"propagationPolicy":"Background"})");
  EXPECT_EQ(background.status, 200u) << background.body;
  EXPECT_EQ(get(collection + "/background").status, 404u);

  // Foreground: kept with deletionTimestamp and foregroundDeletion.
  make("foreground");
  auto foreground = call("DELETE", collection + "/foreground?propagationPolicy=Foreground");
  ASSERT_EQ(foreground.status, 200u) << foreground.body;
  EXPECT_EQ(finalizers(foreground), json::array({"foregroundDeletion"}));
  auto held = get(collection + "/foreground").object();
  EXPECT_FALSE(held["metadata"].value("deletionTimestamp", "").empty());
  EXPECT_EQ(held["metadata"]["deletionGracePeriodSeconds"], 0);
  // A later delete with another policy swaps the finalizer (upstream lets
  // a non-graceful deletion's finalizers follow the newest options).
  auto orphan_now = call("DELETE", collection + "/foreground", R"({"propagationPolicy":"Orphan"})");
  EXPECT_EQ(finalizers(orphan_now), json::array({"orphan"}));
  // Removing the last finalizer completes the deletion.
  held = get(collection + "/foreground").object();
  held["metadata"]["finalizers"] = json::array();
  EXPECT_EQ(call("PUT", collection + "/foreground", held.dump()).status, 200u);
  EXPECT_EQ(get(collection + "/foreground").status, 404u);

  // Orphan through the deprecated orphanDependents; both at once is 400.
  make("orphan");
  auto both =
      call("DELETE", collection + "/orphan", R"({"orphanDependents":true,"propagationPolicy":"Orphan"})");
  EXPECT_EQ(both.status, 400u) << both.body;
  auto orphan = call("DELETE", collection + "/orphan?orphanDependents=true");
  EXPECT_EQ(finalizers(orphan), json::array({"orphan"}));
  // Other finalizers stay next to the GC's.
  make("custom");
  auto custom = get(collection + "/custom").object();
  custom["metadata"]["finalizers"] = json::array({"example.com/keep"});
  ASSERT_EQ(call("PUT", collection + "/custom", custom.dump()).status, 200u);
  auto kept = call("DELETE", collection + "/custom", R"({"propagationPolicy":"Foreground"})");
  EXPECT_EQ(finalizers(kept), json::array({"example.com/keep", "foregroundDeletion"}));
}

TEST_F(RestTest, ANamespaceTerminatesUntilFinalizedThenIsDeleted) {
  json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "doomed"}}}};
  ASSERT_EQ(post("/api/v1/namespaces", ns).status, 201u);
  ASSERT_EQ(post("/api/v1/namespaces/doomed/pods", pod("p")).status, 201u);

  auto first = call("DELETE", "/api/v1/namespaces/doomed");
  ASSERT_EQ(first.status, 200u) << first.body;
  EXPECT_EQ(first.object()["kind"], "Namespace");
  EXPECT_EQ(first.object()["status"]["phase"], "Terminating");
  EXPECT_FALSE(first.object()["metadata"].value("deletionTimestamp", "").empty());
  EXPECT_EQ(first.object()["spec"]["finalizers"], json::array({"kubernetes"}));
  // No new content while terminating; existing content stays for the
  // namespace controller.
  auto refused = post("/api/v1/namespaces/doomed/pods", pod("q"));
  EXPECT_EQ(refused.status, 403u) << refused.body;
  EXPECT_EQ(get("/api/v1/namespaces/doomed/pods/p").status, 200u);
  // Before finalize: 409 with upstream's message.
  auto early = call("DELETE", "/api/v1/namespaces/doomed");
  EXPECT_EQ(early.status, 409u) << early.body;
  EXPECT_NE(early.object()["message"].get<std::string>().find("ensuring all content is removed"),
            std::string::npos);
  // A plain update cannot drop spec.finalizers; /finalize can.
  auto current = get("/api/v1/namespaces/doomed").object();
  current["spec"]["finalizers"] = json::array();
  auto updated = call("PUT", "/api/v1/namespaces/doomed", current.dump());
  EXPECT_EQ(updated.object()["spec"]["finalizers"], json::array({"kubernetes"}));
  current = get("/api/v1/namespaces/doomed").object();
  current["spec"]["finalizers"] = json::array();
  auto finalized = call("PUT", "/api/v1/namespaces/doomed/finalize", current.dump());
  ASSERT_EQ(finalized.status, 200u) << finalized.body;
  EXPECT_EQ(finalized.object()["spec"]["finalizers"], json::array());
  EXPECT_EQ(finalized.object()["status"]["phase"], "Terminating");
  EXPECT_EQ(get("/api/v1/namespaces/doomed").status, 200u);
  auto last = call("DELETE", "/api/v1/namespaces/doomed");
  EXPECT_EQ(last.status, 200u) << last.body;
  EXPECT_EQ(get("/api/v1/namespaces/doomed").status, 404u);
}

TEST_F(RestTest, ListFiltersAndPages) {
  for (int i = 0; i < 5; ++i) {
    auto labels = json{{"app", i % 2 == 0 ? "even" : "odd"}};
    ASSERT_EQ(post("/api/v1/namespaces/default/pods", pod(fmt::format("p-{}", i), labels)).status, 201u);
  }
  auto even = get("/api/v1/namespaces/default/pods?labelSelector=app%3Deven").object();
  EXPECT_EQ(even["items"].size(), 3u);
  auto notin = get("/api/v1/pods?labelSelector=app%20notin%20(even)").object();
  EXPECT_EQ(notin["items"].size(), 2u);
  auto by_name = get("/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Dp-3").object();
  ASSERT_EQ(by_name["items"].size(), 1u);
  auto bad = get("/api/v1/namespaces/default/pods?fieldSelector=spec.bogus%3Dx");
  EXPECT_EQ(bad.status, 400u);
  EXPECT_NE(bad.body.find("field label not supported: spec.bogus"), std::string::npos) << bad.body;

  std::vector<std::string> names;
  std::string next;
  int pages = 0;
  do {
    auto page =
        get("/api/v1/namespaces/default/pods?limit=2" + (next.empty() ? "" : "&continue=" + next)).object();
    for (const auto& item : page["items"]) names.push_back(item["metadata"]["name"]);
    next = page["metadata"].value("continue", "");
    ++pages;
  } while (!next.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(names, (std::vector<std::string>{"p-0", "p-1", "p-2", "p-3", "p-4"}));
}

TEST_F(RestTest, WatchFromARevisionSendsOnlyLaterEventsWithLastStateOnDelete) {
  ASSERT_EQ(post("/api/v1/namespaces/default/pods", pod("before")).status, 201u);
  auto list = get("/api/v1/namespaces/default/pods").object();
  const std::string rv = list["metadata"]["resourceVersion"];
  auto events = watch_events("/api/v1/namespaces/default/pods?watch=true&resourceVersion=" + rv, 3, 15s, [&] {
    EXPECT_EQ(post("/api/v1/namespaces/default/pods", pod("after")).status, 201u);
    EXPECT_EQ(call("PATCH", "/api/v1/namespaces/default/pods/after", R"({"metadata":{"labels":{"x":"y"}}})",
                   "application/merge-patch+json")
                  .status,
              200u);
    EXPECT_EQ(call("DELETE", "/api/v1/namespaces/default/pods/after").status, 200u);
  });
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[0]["object"]["metadata"]["name"], "after");
  EXPECT_EQ(events[0]["object"]["kind"], "Pod");
  EXPECT_EQ(events[1]["type"], "MODIFIED");
  EXPECT_EQ(events[2]["type"], "DELETED");
  EXPECT_EQ(events[2]["object"]["metadata"]["labels"]["x"], "y");

  // Without a resourceVersion: every current object first, as ADDED.
  auto initial = watch_events("/api/v1/namespaces/default/pods?watch=1", 1, 10s);
  ASSERT_EQ(initial.size(), 1u);
  EXPECT_EQ(initial[0]["type"], "ADDED");
  EXPECT_EQ(initial[0]["object"]["metadata"]["name"], "before");
}

// The first watches of a resource arrive together while its watch cache is
// still listing: every one of them must open, none may get a 503.
TEST_F(RestTest, ConcurrentFirstWatchesAllOpen) {
  constexpr int kWatchers = 20;
  std::vector<unsigned> statuses;
  std::vector<std::unique_ptr<net::HttpStream>> streams;
  auto open_one = [this, &statuses, &streams]() -> asio::awaitable<void> {
    net::HttpRequest request;
    request.target = "/apis/apps/v1/namespaces/default/deployments?watch=true";
    request.headers.emplace_back("Authorization", "Bearer " + token());
    auto stream = co_await http_->open_stream(endpoint(), std::move(request), 10000ms);
    statuses.push_back(stream ? (*stream)->status() : 0u);
    if (stream) streams.push_back(std::move(*stream));
  };
  for (int i = 0; i < kWatchers; ++i) asio::co_spawn(io_, open_one(), asio::detached);
  io_.restart();
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (statuses.size() < kWatchers && std::chrono::steady_clock::now() < deadline) io_.run_for(50ms);
  ASSERT_EQ(statuses.size(), static_cast<size_t>(kWatchers));
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 200u), kWatchers);
  for (auto& stream : streams) stream->cancel();
  streams.clear();
}

TEST_F(RestTest, BadRequestsGetTheRightStatusAndNeverCrashTheServer) {
  auto malformed = call("POST", "/api/v1/namespaces/default/pods", "{not json");
  EXPECT_EQ(malformed.status, 400u);
  EXPECT_EQ(malformed.object()["kind"], "Status");
  auto wrong_type = call("POST", "/api/v1/namespaces/default/pods", R"({"metadata":{"name":5}})");
  EXPECT_GE(wrong_type.status, 400u);
  EXPECT_LT(wrong_type.status, 500u) << wrong_type.body;
  auto unknown = get("/api/v1/widgets");
  EXPECT_EQ(unknown.status, 404u);
  EXPECT_EQ(unknown.object()["reason"], "NotFound");
  auto bad_selector = get("/api/v1/pods?labelSelector=a%20in%20(");
  EXPECT_EQ(bad_selector.status, 400u);
  auto bad_limit = get("/api/v1/pods?limit=abc");
  EXPECT_EQ(bad_limit.status, 400u);
  // Protobuf (kubectl's generators send it) is not served: 415.
  auto protobuf = call("POST", "/api/v1/namespaces", std::string("k8s\0\n\x0f", 6),
                       "application/vnd.kubernetes.protobuf");
  EXPECT_EQ(protobuf.status, 415u) << protobuf.body;
  EXPECT_EQ(protobuf.object()["reason"], "UnsupportedMediaType");
  // (Oversized bodies get 413 from the HTTP layer: tests/net/http_server_test.cc.)
  auto method = call("PUT", "/api/v1/namespaces/default/pods", "{}");
  EXPECT_EQ(method.status, 405u);
  EXPECT_EQ(get("/readyz").status, 200u);
}

TEST_F(RestTest, MetricsCountRequestsByVerbResourceAndCode) {
  ASSERT_EQ(post("/api/v1/namespaces/default/pods", pod("web-1")).status, 201u);
  EXPECT_EQ(get("/api/v1/namespaces/default/pods/missing").status, 404u);
  auto metrics = get("/metrics");
  ASSERT_EQ(metrics.status, 200u);
  EXPECT_NE(
      metrics.body.find(
          R"(shakeout_apiserver_requests_total{code="201",resource="pods",subresource="",verb="POST"} 1)"),
      std::string::npos)
      << metrics.body;
  EXPECT_NE(
      metrics.body.find(
          R"(shakeout_apiserver_requests_total{code="404",resource="pods",subresource="",verb="GET"} 1)"),
      std::string::npos);
  EXPECT_NE(metrics.body.find("shakeout_apiserver_request_duration_seconds_bucket"), std::string::npos);
  EXPECT_NE(metrics.body.find("shakeout_apiserver_open_watches 0"), std::string::npos);
  EXPECT_EQ(call_with("GET", "/metrics", "", "", {}).status, 401u);
}

}  // namespace
}  // namespace shakeout::apiserver::testing
