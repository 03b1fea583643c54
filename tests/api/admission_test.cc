// Defaulting, create-time admission and type validation against what
// upstream kube-apiserver 1.32 stores and answers.

#include "api/admission.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace shakeout::api {
namespace {

using nlohmann::json;

const ResourceInfo& info(const char* group, const char* plural) {
  return *ResourceRegistry::builtin().by_plural(group, plural);
}
const ResourceInfo& pods() {
  return info("", "pods");
}
const ResourceInfo& services() {
  return info("", "services");
}
const ResourceInfo& deployments() {
  return info("apps", "deployments");
}

json defaulted(const ResourceInfo& r, json object) {
  apply_defaults(r, object);
  return object;
}

json minimal_pod() {
  return json::parse(
      R"({"metadata":{"name":"web"},"spec":{"containers":[{"name":"app","image":"nginx:1.25"}]}})");
}

json minimal_deployment() {
  return json::parse(R"({"metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},
    "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"app","image":"nginx"}]}}}})");
}

// "field: message" of every cause, in order, for compact assertions.
std::vector<std::string> messages(const std::vector<Cause>& causes) {
  std::vector<std::string> out;
  for (const auto& c : causes) out.push_back(c.field + ": " + c.message);
  return out;
}

std::vector<std::string> validate(const ResourceInfo& r, const json& object, const json* old = nullptr) {
  return messages(validate_object(r, object, old));
}

// ---------------------------------------------------------------------------
// Defaults

TEST(Defaults, PodGetsUpstreamSpecAndContainerDefaults) {
  json pod = defaulted(pods(), minimal_pod());
  const json& spec = pod["spec"];
  EXPECT_EQ(spec["restartPolicy"], "Always");
  EXPECT_EQ(spec["terminationGracePeriodSeconds"], 30);
  EXPECT_EQ(spec["dnsPolicy"], "ClusterFirst");
  EXPECT_EQ(spec["schedulerName"], "default-scheduler");
  EXPECT_EQ(spec["securityContext"], json::object());
  EXPECT_EQ(spec["enableServiceLinks"], true);
  const json& c = spec["containers"][0];
  EXPECT_EQ(c["imagePullPolicy"], "IfNotPresent");
  EXPECT_EQ(c["terminationMessagePath"], "/dev/termination-log");
  EXPECT_EQ(c["terminationMessagePolicy"], "File");
  EXPECT_EQ(c["resources"], json::object());
}

TEST(Defaults, ImagePullPolicyIsAlwaysForLatestOrUntaggedImages) {
  auto policy = [](const std::string& image) {
    json pod = minimal_pod();
    pod["spec"]["containers"][0]["image"] = image;
    return defaulted(pods(), pod)["spec"]["containers"][0]["imagePullPolicy"].get<std::string>();
  };
  EXPECT_EQ(policy("nginx"), "Always");
  EXPECT_EQ(policy("nginx:latest"), "Always");
  EXPECT_EQ(policy("registry:5000/team/nginx"), "Always");  // the port is not a tag
  EXPECT_EQ(policy("registry:5000/team/nginx:1.2"), "IfNotPresent");
  EXPECT_EQ(policy("nginx@sha256:abcd"), "IfNotPresent");
  EXPECT_EQ(policy("nginx:latest@sha256:abcd"), "Always");
}

TEST(Defaults, PortsAndProbesGetProtocolThresholdsAndScheme) {
  json pod = minimal_pod();
  pod["spec"]["containers"][0]["ports"] = json::parse(R"([{"containerPort":80}])");
  pod["spec"]["containers"][0]["readinessProbe"] = json::parse(R"({"httpGet":{"port":80}})");
  pod["spec"]["containers"][0]["livenessProbe"] =
      json::parse(R"({"tcpSocket":{"port":80},"periodSeconds":5})");
  json c = defaulted(pods(), pod)["spec"]["containers"][0];
  EXPECT_EQ(c["ports"][0]["protocol"], "TCP");
  const json& readiness = c["readinessProbe"];
  EXPECT_EQ(readiness["timeoutSeconds"], 1);
  EXPECT_EQ(readiness["periodSeconds"], 10);
  EXPECT_EQ(readiness["successThreshold"], 1);
  EXPECT_EQ(readiness["failureThreshold"], 3);
  EXPECT_EQ(readiness["httpGet"]["scheme"], "HTTP");
  EXPECT_EQ(readiness["httpGet"]["path"], "/");
  EXPECT_EQ(c["livenessProbe"]["periodSeconds"], 5);  // explicit value kept
}

TEST(Defaults, ExplicitPodValuesAreKept) {
  json pod = minimal_pod();
  pod["spec"]["restartPolicy"] = "Never";
  pod["spec"]["terminationGracePeriodSeconds"] = 0;
  pod["spec"]["enableServiceLinks"] = false;
  pod["spec"]["containers"][0]["imagePullPolicy"] = "Never";
  json out = defaulted(pods(), pod);
  EXPECT_EQ(out["spec"]["restartPolicy"], "Never");
  EXPECT_EQ(out["spec"]["terminationGracePeriodSeconds"], 0);
  EXPECT_EQ(out["spec"]["enableServiceLinks"], false);
  EXPECT_EQ(out["spec"]["containers"][0]["imagePullPolicy"], "Never");
}

TEST(Defaults, PodRequestsDefaultToLimits) {
  json pod = minimal_pod();
  pod["spec"]["containers"][0]["resources"] =
      json::parse(R"({"limits":{"cpu":"1","memory":"64Mi"},"requests":{"cpu":"500m"}})");
  json r = defaulted(pods(), pod)["spec"]["containers"][0]["resources"];
  EXPECT_EQ(r["requests"]["cpu"], "500m");
  EXPECT_EQ(r["requests"]["memory"], "64Mi");
}

TEST(Defaults, DefaultingTwiceChangesNothing) {
  json pod = minimal_pod();
  pod["spec"]["containers"][0]["readinessProbe"] = json::parse(R"({"httpGet":{"port":80}})");
  json svc = json::parse(R"({"metadata":{"name":"web"},"spec":{"type":"NodePort","ports":[{"port":80}]}})");
  json ns = json::parse(R"({"metadata":{"name":"team"}})");
  json ep = json::parse(R"({"subsets":[{"ports":[{"port":80}]}]})");
  for (auto [resource, object] :
       std::vector<std::pair<const ResourceInfo*, json>>{{&pods(), pod},
                                                         {&services(), svc},
                                                         {&deployments(), minimal_deployment()},
                                                         {&info("apps", "replicasets"), minimal_deployment()},
                                                         {&info("", "namespaces"), ns},
                                                         {&info("", "endpoints"), ep}}) {
    json once = defaulted(*resource, object);
    EXPECT_NE(once, object) << resource->kind << " got no defaults";
    EXPECT_EQ(defaulted(*resource, once), once) << resource->kind;
  }
}

TEST(Defaults, ServiceGetsTypeAffinityPortsAndIpFamilies) {
  json svc = defaulted(services(),
                       json::parse(R"({"spec":{"ports":[{"port":80},{"port":443,"targetPort":8443}]}})"));
  const json& spec = svc["spec"];
  EXPECT_EQ(spec["type"], "ClusterIP");
  EXPECT_EQ(spec["sessionAffinity"], "None");
  EXPECT_EQ(spec["ports"][0]["protocol"], "TCP");
  EXPECT_EQ(spec["ports"][0]["targetPort"], 80);
  EXPECT_EQ(spec["ports"][1]["targetPort"], 8443);
  EXPECT_EQ(spec["internalTrafficPolicy"], "Cluster");
  EXPECT_FALSE(spec.contains("externalTrafficPolicy"));  // ClusterIP is not externally accessible
  EXPECT_EQ(spec["ipFamilies"], json::array({"IPv4"}));
  EXPECT_EQ(spec["ipFamilyPolicy"], "SingleStack");
}

TEST(Defaults, NodePortServiceGetsExternalTrafficPolicyCluster) {
  json svc = defaulted(services(), json::parse(R"({"spec":{"type":"NodePort","ports":[{"port":80}]}})"));
  EXPECT_EQ(svc["spec"]["externalTrafficPolicy"], "Cluster");
}

TEST(Defaults, ClientIpAffinityGetsUpstreamTimeout) {
  json svc =
      defaulted(services(), json::parse(R"({"spec":{"sessionAffinity":"ClientIP","ports":[{"port":80}]}})"));
  EXPECT_EQ(svc["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"], 10800);
}

TEST(Defaults, ExternalNameServiceGetsNoIpFamiliesNorTrafficPolicy) {
  json svc =
      defaulted(services(), json::parse(R"({"spec":{"type":"ExternalName","externalName":"example.com"}})"));
  EXPECT_FALSE(svc["spec"].contains("ipFamilies"));
  EXPECT_FALSE(svc["spec"].contains("internalTrafficPolicy"));
}

TEST(Defaults, DeploymentGetsReplicasStrategyLimitsAndTemplateDefaults) {
  json d = defaulted(deployments(), minimal_deployment());
  const json& spec = d["spec"];
  EXPECT_EQ(spec["replicas"], 1);
  EXPECT_EQ(
      spec["strategy"],
      json::parse(R"({"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"25%","maxSurge":"25%"}})"));
  EXPECT_EQ(spec["revisionHistoryLimit"], 10);
  EXPECT_EQ(spec["progressDeadlineSeconds"], 600);
  const json& tmpl = spec["template"];
  EXPECT_TRUE(tmpl["metadata"]["creationTimestamp"].is_null());
  EXPECT_EQ(tmpl["spec"]["restartPolicy"], "Always");
  EXPECT_EQ(tmpl["spec"]["containers"][0]["imagePullPolicy"], "Always");
  // SetDefaults_Pod is for pods only, not templates.
  EXPECT_FALSE(tmpl["spec"].contains("enableServiceLinks"));
}

TEST(Defaults, RecreateDeploymentGetsNoRollingUpdate) {
  json d = minimal_deployment();
  d["spec"]["strategy"] = {{"type", "Recreate"}};
  d["spec"]["replicas"] = 0;
  json out = defaulted(deployments(), d);
  EXPECT_FALSE(out["spec"]["strategy"].contains("rollingUpdate"));
  EXPECT_EQ(out["spec"]["replicas"], 0);
}

TEST(Defaults, ReplicaSetGetsOneReplica) {
  EXPECT_EQ(defaulted(info("apps", "replicasets"), minimal_deployment())["spec"]["replicas"], 1);
}

TEST(Defaults, NamespaceGetsMetadataNameLabelAndActivePhase) {
  json ns =
      defaulted(info("", "namespaces"),
                json::parse(R"({"metadata":{"name":"team","labels":{"kubernetes.io/metadata.name":"x"}}})"));
  EXPECT_EQ(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "team");
  EXPECT_EQ(ns["status"]["phase"], "Active");
}

TEST(Defaults, NodeAllocatableDefaultsToCapacity) {
  json node =
      defaulted(info("", "nodes"), json::parse(R"({"status":{"capacity":{"cpu":"2","pods":"110"}}})"));
  EXPECT_EQ(node["status"]["allocatable"], node["status"]["capacity"]);
}

TEST(Defaults, EndpointsPortsGetTcp) {
  json ep = defaulted(info("", "endpoints"),
                      json::parse(R"({"subsets":[{"ports":[{"port":80},{"port":53,"protocol":"UDP"}]}]})"));
  EXPECT_EQ(ep["subsets"][0]["ports"][0]["protocol"], "TCP");
  EXPECT_EQ(ep["subsets"][0]["ports"][1]["protocol"], "UDP");
}

TEST(Defaults, LeaseAndEventHaveNoDefaults) {
  json lease = json::parse(R"({"spec":{"holderIdentity":"a"}})");
  EXPECT_EQ(defaulted(info("coordination.k8s.io", "leases"), lease), lease);
  json event = json::parse(R"({"reason":"Started"})");
  EXPECT_EQ(defaulted(info("", "events"), event), event);
}

TEST(Defaults, MalformedShapesAreLeftAlone) {
  json pod = json::parse(R"({"spec":{"containers":"nope","volumes":[1]}})");
  EXPECT_NO_THROW(apply_defaults(pods(), pod));
  json svc = json::parse(R"({"spec":{"ports":[{"port":"x"}],"selector":3}})");
  EXPECT_NO_THROW(apply_defaults(services(), svc));
}

// ---------------------------------------------------------------------------
// Create-time admission

TEST(Admission, AddsDefaultTolerationsWithConfiguredSeconds) {
  json pod = defaulted(pods(), minimal_pod());
  AdmissionConfig config;
  config.default_not_ready_toleration_seconds = 15;
  config.default_unreachable_toleration_seconds = 20;
  EXPECT_FALSE(admit_create(pods(), pod, config).has_value());
  EXPECT_EQ(pod["spec"]["tolerations"], json::parse(R"([
    {"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":15},
    {"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":20}])"));
}

TEST(Admission, KeepsTolerationsThatAlreadyCoverTheTaints) {
  json pod = defaulted(pods(), minimal_pod());
  pod["spec"]["tolerations"] = json::parse(
      R"([{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":5}])");
  ASSERT_FALSE(admit_create(pods(), pod, AdmissionConfig{}).has_value());
  ASSERT_EQ(pod["spec"]["tolerations"].size(), 2U);
  EXPECT_EQ(pod["spec"]["tolerations"][0]["tolerationSeconds"], 5);
  EXPECT_EQ(pod["spec"]["tolerations"][1]["key"], "node.kubernetes.io/not-ready");
  EXPECT_EQ(pod["spec"]["tolerations"][1]["tolerationSeconds"], 300);

  // An empty key with an empty effect tolerates everything: nothing added.
  json all = defaulted(pods(), minimal_pod());
  all["spec"]["tolerations"] = json::parse(R"([{"operator":"Exists"}])");
  ASSERT_FALSE(admit_create(pods(), all, AdmissionConfig{}).has_value());
  EXPECT_EQ(all["spec"]["tolerations"].size(), 1U);
}

TEST(Admission, UpdateRestoresDroppedDefaultTolerations) {
  json pod = defaulted(pods(), minimal_pod());
  admit_update(pods(), pod, AdmissionConfig{});
  EXPECT_EQ(pod["spec"]["tolerations"].size(), 2U);
}

TEST(Admission, SetsPriorityServiceAccountAndPendingStatus) {
  json pod = defaulted(pods(), minimal_pod());
  ASSERT_FALSE(admit_create(pods(), pod, AdmissionConfig{}).has_value());
  EXPECT_EQ(pod["spec"]["priority"], 0);
  EXPECT_EQ(pod["spec"]["preemptionPolicy"], "PreemptLowerPriority");
  EXPECT_EQ(pod["spec"]["serviceAccountName"], "default");
  EXPECT_EQ(pod["spec"]["serviceAccount"], "default");
  EXPECT_EQ(pod["status"], json::parse(R"({"phase":"Pending","qosClass":"BestEffort"})"));
}

TEST(Admission, SystemPriorityClassesResolveAndUnknownOnesAreForbidden) {
  json pod = defaulted(pods(), minimal_pod());
  pod["spec"]["priorityClassName"] = "system-node-critical";
  ASSERT_FALSE(admit_create(pods(), pod, AdmissionConfig{}).has_value());
  EXPECT_EQ(pod["spec"]["priority"], 2000001000);

  json unknown = defaulted(pods(), minimal_pod());
  unknown["spec"]["priorityClassName"] = "gold";
  EXPECT_EQ(admit_create(pods(), unknown, AdmissionConfig{}), "no PriorityClass with name gold was found");

  json preset = defaulted(pods(), minimal_pod());
  preset["spec"]["priority"] = 7;
  auto denied = admit_create(pods(), preset, AdmissionConfig{});
  ASSERT_TRUE(denied.has_value());
  EXPECT_EQ(
      *denied,
      "the integer value of priority (7) must not be provided in pod spec; priority admission controller "
      "computed 0 from the given PriorityClass name");
}

TEST(Admission, QosClassFollowsRequestsAndLimits) {
  auto qos = [](const char* resources) {
    json pod = minimal_pod();
    pod["spec"]["containers"][0]["resources"] = json::parse(resources);
    apply_defaults(pods(), pod);
    return pod_qos_class(pod);
  };
  EXPECT_EQ(qos("{}"), "BestEffort");
  EXPECT_EQ(qos(R"({"limits":{"cpu":"1","memory":"1Gi"}})"), "Guaranteed");
  EXPECT_EQ(qos(R"({"limits":{"cpu":"1","memory":"1Gi"},"requests":{"cpu":"1000m","memory":"1024Mi"}})"),
            "Guaranteed");
  EXPECT_EQ(qos(R"({"limits":{"cpu":"1","memory":"1Gi"},"requests":{"cpu":"500m"}})"), "Burstable");
  EXPECT_EQ(qos(R"({"requests":{"memory":"64Mi"}})"), "Burstable");
}

TEST(Admission, NamespaceGetsKubernetesFinalizerAndWorkloadsAnEmptyStatus) {
  json ns = json::parse(R"({"metadata":{"name":"team"},"spec":{"finalizers":["example.com/x"]}})");
  ASSERT_FALSE(admit_create(info("", "namespaces"), ns, AdmissionConfig{}).has_value());
  EXPECT_EQ(ns["spec"]["finalizers"], json::parse(R"(["example.com/x","kubernetes"])"));
  EXPECT_EQ(ns["status"]["phase"], "Active");

  json d = minimal_deployment();
  d["status"] = {{"replicas", 3}};
  ASSERT_FALSE(admit_create(deployments(), d, AdmissionConfig{}).has_value());
  EXPECT_EQ(d["status"], json::object());

  json svc = json::parse(R"({"spec":{},"status":{"loadBalancer":{"ingress":[{"ip":"1.2.3.4"}]}}})");
  ASSERT_FALSE(admit_create(services(), svc, AdmissionConfig{}).has_value());
  EXPECT_EQ(svc["status"], json::parse(R"({"loadBalancer":{}})"));
}

// ---------------------------------------------------------------------------
// Validation

TEST(AdmissionValidation, DefaultedMinimalObjectsAreValid) {
  EXPECT_EQ(validate(pods(), defaulted(pods(), minimal_pod())), std::vector<std::string>{});
  EXPECT_EQ(validate(deployments(), defaulted(deployments(), minimal_deployment())),
            std::vector<std::string>{});
  json svc =
      defaulted(services(), json::parse(R"({"spec":{"selector":{"app":"web"},"ports":[{"port":80}]}})"));
  EXPECT_EQ(validate(services(), svc), std::vector<std::string>{});
}

TEST(AdmissionValidation, PodContainerImageAndNameAreRequired) {
  json pod = defaulted(pods(), minimal_pod());
  pod["spec"]["containers"][0].erase("image");
  pod["spec"]["containers"].push_back(pod["spec"]["containers"][0]);
  pod["spec"]["containers"][1]["name"] = "App";
  auto causes = validate_object(pods(), pod, nullptr);
  ASSERT_GE(causes.size(), 3U);
  EXPECT_EQ(causes[0].field, "spec.containers[0].image");
  EXPECT_EQ(causes[0].reason, "FieldValueRequired");
  EXPECT_EQ(causes[0].message, "Required value");
  EXPECT_EQ(causes[1].field, "spec.containers[1].name");
  EXPECT_EQ(
      causes[1].message,
      "Invalid value: \"App\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
      "or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
      "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')");
  EXPECT_EQ(causes[2].field, "spec.containers[1].image");
}

TEST(AdmissionValidation, PodWithoutContainersIsRequiredValue) {
  json pod = json::parse(R"({"spec":{"containers":[]}})");
  apply_defaults(pods(), pod);
  EXPECT_EQ(validate(pods(), pod), std::vector<std::string>{"spec.containers: Required value"});
}

TEST(AdmissionValidation, PodEnumsAndPortsUseUpstreamWording) {
  json pod = defaulted(pods(), minimal_pod());
  pod["spec"]["restartPolicy"] = "Sometimes";
  pod["spec"]["containers"][0]["ports"] =
      json::parse(R"([{"containerPort":70000,"protocol":"HTTP"},{"containerPort":0,"protocol":"TCP"}])");
  EXPECT_EQ(
      validate(pods(), pod),
      (std::vector<std::string>{
          "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, "
          "inclusive",
          "spec.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", "
          "\"TCP\", \"UDP\"",
          "spec.containers[0].ports[1].containerPort: Required value",
          "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", "
          "\"OnFailure\", "
          "\"Never\""}));
}

TEST(AdmissionValidation, ProbesNeedOneHandlerAndLivenessSuccessThresholdOne) {
  json pod = minimal_pod();
  pod["spec"]["containers"][0]["livenessProbe"] =
      json::parse(R"({"httpGet":{"port":80},"successThreshold":2})");
  pod["spec"]["containers"][0]["readinessProbe"] = json::parse(R"({"periodSeconds":-1})");
  apply_defaults(pods(), pod);
  EXPECT_EQ(
      validate(pods(), pod),
      (std::vector<std::string>{
          "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
          "spec.containers[0].readinessProbe: Required value: must specify a handler type",
          "spec.containers[0].readinessProbe.periodSeconds: Invalid value: -1: must be greater than or equal "
          "to 0"}));
}

TEST(AdmissionValidation, TolerationSecondsNeedNoExecute) {
  json pod = defaulted(pods(), minimal_pod());
  pod["spec"]["tolerations"] =
      json::parse(R"([{"key":"k","operator":"Exists","effect":"NoSchedule","tolerationSeconds":5}])");
  EXPECT_EQ(
      validate(pods(), pod),
      std::vector<std::string>{"spec.tolerations[0].effect: Invalid value: \"NoSchedule\": effect must be "
                               "'NoExecute' when `tolerationSeconds` is set"});
}

TEST(AdmissionValidation, PodUpdateMayChangeImagesAndAddTolerationsOnly) {
  json old = defaulted(pods(), minimal_pod());
  admit_create(pods(), old, AdmissionConfig{});
  json image = old;
  image["spec"]["containers"][0]["image"] = "nginx:1.26";
  image["spec"]["tolerations"].push_back(json::parse(R"({"key":"a","operator":"Exists"})"));
  EXPECT_EQ(validate(pods(), image, &old), std::vector<std::string>{});

  json ports = old;
  ports["spec"]["containers"][0]["ports"] = json::parse(R"([{"containerPort":80,"protocol":"TCP"}])");
  auto causes = validate_object(pods(), ports, &old);
  ASSERT_EQ(causes.size(), 1U);
  EXPECT_EQ(causes[0].field, "spec");
  EXPECT_EQ(causes[0].reason, "FieldValueForbidden");
  EXPECT_EQ(causes[0].message.rfind(
                "Forbidden: pod updates may not change fields other than `spec.containers[*].image`", 0),
            0U);

  json node = old;
  node["spec"]["nodeName"] = "node-1";
  EXPECT_EQ(validate_object(pods(), node, &old).size(), 1U);
  json removed = old;
  removed["spec"]["tolerations"].erase(0);
  EXPECT_EQ(validate_object(pods(), removed, &old).size(), 1U);
}

TEST(AdmissionValidation, ServicePortsNamesAndNodePorts) {
  json svc =
      defaulted(services(), json::parse(R"({"spec":{"ports":[{"port":80,"nodePort":30080},{"port":0}]}})"));
  EXPECT_EQ(validate(services(), svc),
            (std::vector<std::string>{
                "spec.ports[0].name: Required value",
                "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
                "spec.ports[1].name: Required value",
                "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.ports[1].targetPort: Invalid value: 0: must be between 1 and 65535, "
                "inclusive"}));
  json none = defaulted(services(), json::parse(R"({"spec":{"type":"Magic"}})"));
  EXPECT_EQ(validate(services(), none),
            (std::vector<std::string>{
                "spec.type: Unsupported value: \"Magic\": supported values: \"ClusterIP\", \"ExternalName\", "
                "\"LoadBalancer\", \"NodePort\"",
                "spec.ports: Required value"}));
  json headless = defaulted(services(), json::parse(R"({"spec":{"clusterIP":"None"}})"));
  EXPECT_EQ(validate(services(), headless), std::vector<std::string>{});
}

TEST(AdmissionValidation, ServiceClusterIpMayNotChangeOnceSet) {
  json old = defaulted(services(), json::parse(R"({"spec":{"ports":[{"port":80}]}})"));
  old["spec"]["clusterIP"] = "127.1.255.10";
  old["spec"]["clusterIPs"] = json::array({"127.1.255.10"});
  json changed = old;
  changed["spec"]["clusterIP"] = "127.1.255.11";
  changed["spec"]["clusterIPs"] = json::array({"127.1.255.11"});
  EXPECT_EQ(validate(services(), changed, &old),
            std::vector<std::string>{
                "spec.clusterIPs[0]: Invalid value: []string{\"127.1.255.11\"}: may not change once set"});
  json same = old;
  same["spec"]["ports"][0]["port"] = 81;
  same["spec"]["ports"][0]["targetPort"] = 81;
  EXPECT_EQ(validate(services(), same, &old), std::vector<std::string>{});
}

TEST(AdmissionValidation, DeploymentSelectorMustMatchTemplateAndIsImmutable) {
  json d = defaulted(deployments(), minimal_deployment());
  d["spec"]["template"]["metadata"]["labels"] = {{"app", "other"}};
  EXPECT_EQ(validate(deployments(), d),
            std::vector<std::string>{
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: "
                "`selector` does not match template `labels`"});

  json old = defaulted(deployments(), minimal_deployment());
  json moved = old;
  moved["spec"]["selector"]["matchLabels"] = {{"app", "web2"}};
  moved["spec"]["template"]["metadata"]["labels"] = {{"app", "web2"}};
  EXPECT_EQ(validate(deployments(), moved, &old),
            std::vector<std::string>{
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"
                "\"app\":\"web2\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field "
                "is immutable"});

  json no_selector = defaulted(deployments(), minimal_deployment());
  no_selector["spec"].erase("selector");
  EXPECT_EQ(validate(deployments(), no_selector), std::vector<std::string>{"spec.selector: Required value"});
}

TEST(AdmissionValidation, DeploymentReplicasStrategyAndRestartPolicy) {
  json d = minimal_deployment();
  d["spec"]["replicas"] = -1;
  d["spec"]["strategy"] = json::parse(R"({"rollingUpdate":{"maxUnavailable":0,"maxSurge":"0%"}})");
  d["spec"]["template"]["spec"]["restartPolicy"] = "Never";
  apply_defaults(deployments(), d);
  EXPECT_EQ(
      validate(deployments(), d),
      (std::vector<std::string>{
          "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
          "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
          "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is "
          "0"}));
  json percent = defaulted(deployments(), minimal_deployment());
  percent["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = "150%";
  EXPECT_EQ(
      validate(deployments(), percent),
      std::vector<std::string>{
          "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 150%: must not be greater than 100%"});
}

TEST(AdmissionValidation, LeaseDurationMustBePositive) {
  json lease = json::parse(R"({"spec":{"holderIdentity":"a","leaseDurationSeconds":0}})");
  EXPECT_EQ(validate(info("coordination.k8s.io", "leases"), lease),
            std::vector<std::string>{"spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"});
}

TEST(AdmissionValidation, EndpointsAcceptLoopbackPodIpsButNotGarbage) {
  json ep = defaulted(
      info("", "endpoints"),
      json::parse(R"({"subsets":[{"addresses":[{"ip":"127.1.2.5"},{"ip":"nope"}],"ports":[{"port":80}]}]})"));
  EXPECT_EQ(
      validate(info("", "endpoints"), ep),
      std::vector<std::string>{"subsets[0].addresses[1].ip: Invalid value: \"nope\": must be a valid IP "
                               "address, (e.g. 10.9.8.7 or 2001:db8::ffff)"});
}

TEST(AdmissionValidation, WrongJsonTypesAreCausesNotCrashes) {
  json pod =
      json::parse(R"({"spec":{"containers":[{"name":"a","image":"i","ports":[{"containerPort":"80"}]}]}})");
  apply_defaults(pods(), pod);
  auto causes = validate_object(pods(), pod, nullptr);
  ASSERT_FALSE(causes.empty());
  EXPECT_EQ(causes[0].reason, "FieldValueTypeInvalid");
  EXPECT_EQ(causes[0].field, "spec.containers[0].ports[0].containerPort");
}

}  // namespace
}  // namespace shakeout::api
