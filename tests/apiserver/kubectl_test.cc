// Real kubectl (the machine's, 1.32 by default) against `shakeout apiserver`:
// each command must print what it prints against a real cluster for the
// same objects.

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <thread>

#include "api_fixture.h"
#include "common/async.h"
#include "net/base64.h"
#include "net/pki.h"

namespace shakeout::apiserver::testing {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// kubectl's table columns are separated by at least 3 spaces.
std::vector<std::string> cells_of(const std::string& line) {
  std::vector<std::string> cells;
  std::regex separator(" {2,}");
  std::sregex_token_iterator it(line.begin(), line.end(), separator, -1);
  for (; it != std::sregex_token_iterator(); ++it) {
    if (!it->str().empty()) cells.push_back(*it);
  }
  return cells;
}

constexpr const char* kDeploymentYaml = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: app
        image: shakeout/app:IMAGE_TAG
        ports:
        - containerPort: 8080
)";

std::string deployment_yaml(const std::string& tag) {
  std::string text = kDeploymentYaml;
  text.replace(text.find("IMAGE_TAG"), 9, tag);
  return text;
}

class KubectlTest : public ApiFixture {
 protected:
  // A pod with a Running, Ready status, as a kubelet would report it.
  void make_running_pod(const std::string& name, const std::string& node, const std::string& ip) {
    json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", name}, {"labels", {{"app", "web"}}}}},
                {"spec", {{"containers", {{{"name", "app"}, {"image", "shakeout/app"}}}}}}};
    auto created = post("/api/v1/namespaces/default/pods", pod);
    ASSERT_EQ(created.status, 201u) << created.body;
    json binding = {{"apiVersion", "v1"},
                    {"kind", "Binding"},
                    {"metadata", {{"name", name}}},
                    {"target", {{"kind", "Node"}, {"name", node}}}};
    ASSERT_EQ(post("/api/v1/namespaces/default/pods/" + name + "/binding", binding).status, 201u);
    set_ready(name, ip, "True");
  }

  void set_ready(const std::string& name, const std::string& ip, const std::string& ready) {
    auto current = get("/api/v1/namespaces/default/pods/" + name).object();
    const std::string now = current["metadata"]["creationTimestamp"];
    current["status"]["phase"] = "Running";
    current["status"]["podIP"] = ip;
    current["status"]["podIPs"] = {{{"ip", ip}}};
    current["status"]["hostIP"] = "127.1.1.1";
    current["status"]["startTime"] = now;
    current["status"]["conditions"] = {
        {{"type", "PodScheduled"}, {"status", "True"}, {"lastTransitionTime", now}},
        {{"type", "Initialized"}, {"status", "True"}, {"lastTransitionTime", now}},
        {{"type", "ContainersReady"}, {"status", ready}, {"lastTransitionTime", now}},
        {{"type", "Ready"}, {"status", ready}, {"lastTransitionTime", now}}};
    current["status"]["containerStatuses"] = {{{"name", "app"},
                                               {"ready", ready == "True"},
                                               {"restartCount", 0},
                                               {"image", "shakeout/app"},
                                               {"imageID", ""},
                                               {"started", true},
                                               {"state", {{"running", {{"startedAt", now}}}}}}};
    auto updated = call("PUT", "/api/v1/namespaces/default/pods/" + name + "/status", current.dump());
    ASSERT_EQ(updated.status, 200u) << updated.body;
  }

  void make_node(const std::string& name) {
    json node = {{"apiVersion", "v1"},
                 {"kind", "Node"},
                 {"metadata", {{"name", name}, {"labels", {{"kubernetes.io/hostname", name}}}}},
                 {"spec", json::object()}};
    ASSERT_EQ(post("/api/v1/nodes", node).status, 201u);
  }
};

TEST_F(KubectlTest, GetPrintsUpstreamColumnsForPods) {
  make_running_pod("web-1", "node-1", "127.1.1.10");
  auto result = kubectl({"get", "pods"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto lines = lines_of(result.out);
  ASSERT_EQ(lines.size(), 2u) << result.out;
  EXPECT_EQ(cells_of(lines[0]), (std::vector<std::string>{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}));
  auto row = cells_of(lines[1]);
  ASSERT_EQ(row.size(), 5u) << lines[1];
  EXPECT_EQ(row[0], "web-1");
  EXPECT_EQ(row[1], "1/1");
  EXPECT_EQ(row[2], "Running");
  EXPECT_EQ(row[3], "0");
  EXPECT_TRUE(std::regex_match(row[4], std::regex("[0-9]+s"))) << row[4];

  auto wide = kubectl({"get", "pods", "-o", "wide"});
  ASSERT_EQ(wide.exit_code, 0) << wide.err;
  auto wide_lines = lines_of(wide.out);
  ASSERT_EQ(wide_lines.size(), 2u);
  EXPECT_EQ(cells_of(wide_lines[0]),
            (std::vector<std::string>{"NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
                                      "NOMINATED NODE", "READINESS GATES"}));
  auto wide_row = cells_of(wide_lines[1]);
  ASSERT_GE(wide_row.size(), 9u) << wide_lines[1];
  EXPECT_EQ(wide_row[5], "127.1.1.10");
  EXPECT_EQ(wide_row[6], "node-1");
  EXPECT_EQ(wide_row[7], "<none>");

  auto labels = kubectl({"get", "pods", "--show-labels"});
  ASSERT_EQ(labels.exit_code, 0) << labels.err;
  EXPECT_EQ(cells_of(lines_of(labels.out)[1]).back(), "app=web");

  auto all = kubectl({"get", "pods", "-A"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  auto all_lines = lines_of(all.out);
  EXPECT_EQ(cells_of(all_lines[0]).front(), "NAMESPACE");
  EXPECT_EQ(cells_of(all_lines[1]).front(), "default");
}

TEST_F(KubectlTest, GetJsonAndYamlPrintTheObjects) {
  make_running_pod("web-1", "node-1", "127.1.1.10");
  auto as_json = kubectl({"get", "pods", "-o", "json"});
  ASSERT_EQ(as_json.exit_code, 0) << as_json.err;
  auto list = json::parse(as_json.out);
  EXPECT_EQ(list["kind"], "List");
  ASSERT_EQ(list["items"].size(), 1u);
  EXPECT_EQ(list["items"][0]["kind"], "Pod");
  EXPECT_EQ(list["items"][0]["spec"]["nodeName"], "node-1");

  auto one = kubectl({"get", "pod", "web-1", "-o", "yaml"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_NE(one.out.find("kind: Pod\n"), std::string::npos) << one.out;
  EXPECT_NE(one.out.find("  name: web-1\n"), std::string::npos);
  EXPECT_NE(one.out.find("nodeName: node-1"), std::string::npos);

  auto missing = kubectl({"get", "pod", "nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("Error from server (NotFound): pods \"nope\" not found"), std::string::npos)
      << missing.err;
}

TEST_F(KubectlTest, CreateThenApplyTwicePatchesOnlyWhatChanged) {
  const auto path = write_file("web.yaml", deployment_yaml("1"));
  auto created = kubectl({"create", "-f", path});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(created.out, "deployment.apps/web created\n");
  auto again = kubectl({"create", "-f", path});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("AlreadyExists"), std::string::npos) << again.err;
  ASSERT_EQ(kubectl({"delete", "-f", path}).exit_code, 0);

  auto applied = kubectl({"apply", "-f", path});
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  EXPECT_EQ(applied.out, "deployment.apps/web created\n");
  // A change made by someone else must survive the next apply.
  ASSERT_EQ(kubectl({"label", "deployment", "web", "owner=ops"}).exit_code, 0);
  const auto v2 = write_file("web-v2.yaml", deployment_yaml("2"));
  auto configured = kubectl({"apply", "-f", v2});
  ASSERT_EQ(configured.exit_code, 0) << configured.err;
  EXPECT_EQ(configured.out, "deployment.apps/web configured\n");
  auto unchanged = kubectl({"apply", "-f", v2});
  ASSERT_EQ(unchanged.exit_code, 0) << unchanged.err;
  EXPECT_EQ(unchanged.out, "deployment.apps/web unchanged\n");

  auto object = get("/apis/apps/v1/namespaces/default/deployments/web").object();
  EXPECT_EQ(object["spec"]["template"]["spec"]["containers"][0]["image"], "shakeout/app:2");
  EXPECT_EQ(object["metadata"]["labels"]["owner"], "ops");
  EXPECT_EQ(object["metadata"]["generation"], 2);
  EXPECT_TRUE(object["metadata"]["annotations"].contains("kubectl.kubernetes.io/last-applied-configuration"));
}

TEST_F(KubectlTest, CreateWithStrictValidationRejectsUnknownFields) {
  std::string text = deployment_yaml("1");
  text.replace(text.find("  replicas: 2"), 12, "  replicas: 2\n  replicaz: 3");
  const auto path = write_file("typo.yaml", text);
  auto created = kubectl({"create", "-f", path});
  EXPECT_NE(created.exit_code, 0) << created.out;
  EXPECT_NE(created.err.find("unknown field \"spec.replicaz\""), std::string::npos) << created.err;
  EXPECT_EQ(get("/apis/apps/v1/namespaces/default/deployments/web").status, 404u);
}

TEST_F(KubectlTest, ScaleLabelAnnotateCordonAndUncordon) {
  ASSERT_EQ(kubectl({"create", "-f", write_file("web.yaml", deployment_yaml("1"))}).exit_code, 0);
  auto scaled = kubectl({"scale", "deployment", "web", "--replicas=3"});
  ASSERT_EQ(scaled.exit_code, 0) << scaled.err;
  EXPECT_EQ(scaled.out, "deployment.apps/web scaled\n");
  EXPECT_EQ(get("/apis/apps/v1/namespaces/default/deployments/web").object()["spec"]["replicas"], 3);

  make_running_pod("web-1", "node-1", "127.1.1.10");
  auto labeled = kubectl({"label", "pod", "web-1", "tier=front"});
  ASSERT_EQ(labeled.exit_code, 0) << labeled.err;
  EXPECT_EQ(labeled.out, "pod/web-1 labeled\n");
  auto annotated = kubectl({"annotate", "pod", "web-1", "note=hi"});
  ASSERT_EQ(annotated.exit_code, 0) << annotated.err;
  EXPECT_EQ(annotated.out, "pod/web-1 annotated\n");
  auto pod = get("/api/v1/namespaces/default/pods/web-1").object();
  EXPECT_EQ(pod["metadata"]["labels"]["tier"], "front");
  EXPECT_EQ(pod["metadata"]["annotations"]["note"], "hi");

  make_node("node-1");
  auto cordoned = kubectl({"cordon", "node-1"});
  ASSERT_EQ(cordoned.exit_code, 0) << cordoned.err;
  EXPECT_EQ(cordoned.out, "node/node-1 cordoned\n");
  EXPECT_EQ(get("/api/v1/nodes/node-1").object()["spec"]["unschedulable"], true);
  auto nodes = kubectl({"get", "nodes"});
  ASSERT_EQ(nodes.exit_code, 0) << nodes.err;
  EXPECT_EQ(cells_of(lines_of(nodes.out)[0]),
            (std::vector<std::string>{"NAME", "STATUS", "ROLES", "AGE", "VERSION"}));
  EXPECT_EQ(cells_of(lines_of(nodes.out)[1])[1], "Unknown,SchedulingDisabled");
  auto uncordoned = kubectl({"uncordon", "node-1"});
  ASSERT_EQ(uncordoned.exit_code, 0) << uncordoned.err;
  EXPECT_EQ(uncordoned.out, "node/node-1 uncordoned\n");
  EXPECT_FALSE(get("/api/v1/nodes/node-1").object()["spec"].value("unschedulable", false));
}

TEST_F(KubectlTest, WaitSeesAConditionChangeAndDeleteWaitsUntilGone) {
  make_running_pod("web-1", "node-1", "127.1.1.10");
  set_ready("web-1", "127.1.1.10", "False");
  // The kubelet's part, played by a thread: Ready, then finishing deletes.
  std::thread kubelet([this] {
    std::this_thread::sleep_for(1500ms);
    auto pod = call_from_thread("GET", "/api/v1/namespaces/default/pods/web-1").object();
    for (auto& condition : pod["status"]["conditions"]) condition["status"] = "True";
    EXPECT_EQ(call_from_thread("PUT", "/api/v1/namespaces/default/pods/web-1/status", pod.dump()).status,
              200u);
  });
  auto waited = kubectl({"wait", "--for=condition=Ready", "pod/web-1", "--timeout=30s"});
  kubelet.join();
  ASSERT_EQ(waited.exit_code, 0) << waited.err;
  EXPECT_EQ(waited.out, "pod/web-1 condition met\n");

  // A bound pod is deleted gracefully: kubectl delete waits until the
  // kubelet (this thread) finishes it with grace 0.
  std::thread finisher([this] {
    // Only once kubectl's DELETE marked it (kubectl may take a while to start
    // on a loaded machine), as a kubelet acts on deletionTimestamp.
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline &&
           !call_from_thread("GET", "/api/v1/namespaces/default/pods/web-1")
                .object()["metadata"]
                .contains("deletionTimestamp"))
      std::this_thread::sleep_for(20ms);
    std::this_thread::sleep_for(1500ms);
    EXPECT_EQ(
        call_from_thread("DELETE", "/api/v1/namespaces/default/pods/web-1", R"({"gracePeriodSeconds":0})")
            .status,
        200u);
  });
  const auto started = std::chrono::steady_clock::now();
  auto deleted = kubectl({"delete", "pod", "web-1"});
  const auto took = std::chrono::steady_clock::now() - started;
  finisher.join();
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_EQ(deleted.out, "pod \"web-1\" deleted\n");
  EXPECT_GE(took, 1400ms) << "kubectl delete returned before the pod was gone";
  EXPECT_EQ(get("/api/v1/namespaces/default/pods/web-1").status, 404u);
}

TEST_F(KubectlTest, GetWatchPrintsChangesAsTheyHappen) {
  make_running_pod("web-1", "node-1", "127.1.1.10");
  std::thread writer([this] {
    std::this_thread::sleep_for(2000ms);
    EXPECT_EQ(call_from_thread("POST", "/api/v1/namespaces/default/pods",
                               R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-2"},)"
                               R"("spec":{"containers":[{"name":"app","image":"shakeout/app"}]}})")
                  .status,
              201u);
  });
  // kubectl get -w runs until killed; --request-timeout ends the watch.
  auto watched =
      shakeout::testing::run_command({"kubectl", "--kubeconfig", cluster_->kubeconfig_path().string(), "get",
                                      "pods", "-w", "--request-timeout=5s"},
                                     {{"HOME", files_->path().string()}}, 20s);
  writer.join();
  auto lines = lines_of(watched.out);
  ASSERT_GE(lines.size(), 3u) << watched.out << watched.err;
  EXPECT_EQ(cells_of(lines[0]), (std::vector<std::string>{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}));
  EXPECT_EQ(cells_of(lines[1])[0], "web-1");
  EXPECT_EQ(cells_of(lines[2])[0], "web-2");
  EXPECT_EQ(cells_of(lines[2])[2], "Pending");
}

TEST_F(KubectlTest, DescribeShowsThePod) {
  make_running_pod("web-1", "node-1", "127.1.1.10");
  auto described = kubectl({"describe", "pod", "web-1"});
  ASSERT_EQ(described.exit_code, 0) << described.err;
  EXPECT_TRUE(std::regex_search(described.out, std::regex("Name: +web-1\n"))) << described.out;
  EXPECT_TRUE(std::regex_search(described.out, std::regex("Namespace: +default\n")));
  EXPECT_TRUE(std::regex_search(described.out, std::regex("Node: +node-1/127.1.1.1\n")));
  EXPECT_TRUE(std::regex_search(described.out, std::regex("Status: +Running\n")));
  EXPECT_TRUE(std::regex_search(described.out, std::regex("IP: +127.1.1.10\n")));
  EXPECT_TRUE(std::regex_search(described.out,
                                std::regex("node.kubernetes.io/unreachable:NoExecute op=Exists for 15s")))
      << described.out;
  EXPECT_TRUE(std::regex_search(described.out, std::regex("Events: +<none>")));
}

// kubectl reaches the cluster over TLS, verified against the cluster's own
// CA, with the admin token; another token is 401.
TEST_F(KubectlTest, KubeconfigIsTlsWithTheClusterCaAndAWrongTokenIs401) {
  std::ifstream file(cluster_->kubeconfig_path());
  std::string kubeconfig((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  EXPECT_NE(kubeconfig.find("server: https://" + endpoint().host + ":6443"), std::string::npos) << kubeconfig;
  ASSERT_NE(kubeconfig.find("certificate-authority-data: "), std::string::npos) << kubeconfig;
  auto listed = kubectl({"get", "namespaces", "-o", "name"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("namespace/kube-system"), std::string::npos) << listed.out;

  // (kubectl with no credentials at all prompts for a username instead.)
  auto refused = kubectl({"get", "pods", "--token", "not-a-token-of-this-cluster"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("You must be logged in to the server (Unauthorized)"), std::string::npos)
      << refused.err;

  // A CA that did not sign the server's certificate is refused by kubectl.
  auto other_ca = net::make_certificate_authority("someone-else", 1);
  ASSERT_TRUE(other_ca.ok());
  const auto data_at = kubeconfig.find("certificate-authority-data: ") + 28;
  const auto data_end = kubeconfig.find('\n', data_at);
  std::string wrong = kubeconfig;
  wrong.replace(data_at, data_end - data_at, net::base64_encode(other_ca->certificate));
  auto untrusted =
      shakeout::testing::run_command({"kubectl", "--kubeconfig", write_file("wrong-ca.kubeconfig", wrong),
                                      "get", "pods", "--request-timeout=10s"},
                                     {}, 60s);
  EXPECT_NE(untrusted.exit_code, 0);
  EXPECT_NE(untrusted.err.find("certificate signed by unknown authority"), std::string::npos)
      << untrusted.err;
}

TEST_F(KubectlTest, OlderAndNewerKubectlsWork) {
  make_running_pod("web-1", "node-1", "127.1.1.10");
  for (const char* version : {"1.27", "1.33"}) {
    const std::string binary = std::string("/usr/lib/google-cloud-sdk/bin/kubectl.") + version;
    auto got = kubectl({"get", "pods"}, binary);
    ASSERT_EQ(got.exit_code, 0) << version << ": " << got.err;
    EXPECT_EQ(cells_of(lines_of(got.out)[1])[2], "Running") << version;
    auto applied = kubectl(
        {"apply", "-f", write_file(fmt::format("web-{}.yaml", version), deployment_yaml(version))}, binary);
    ASSERT_EQ(applied.exit_code, 0) << version << ": " << applied.err;
  }
}

}  // namespace
}  // namespace shakeout::apiserver::testing
