// Store against a real 1-member etcd booted by the product's cluster code.

#include "api/store.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "etcd_fixture.h"

namespace shakeout::api {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const ResourceInfo& info(const char* group, const char* plural) {
  return *ResourceRegistry::builtin().by_plural(group, plural);
}

class StoreTest : public ::testing::Test {
 protected:
  // One etcd for the suite: booting takes a few seconds. Each test uses its
  // own namespace.
  static void SetUpTestSuite() {
    auto cluster = etcd::testing::EtcdCluster::start(1);
    ASSERT_TRUE(cluster.ok()) << cluster.error().describe();
    cluster_ = std::move(*cluster).release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    client_ = std::make_unique<etcd::Client>(io_.get_executor(),
                                             etcd::Config{cluster_->endpoints(), 5000ms, 1000ms});
    store_ = std::make_unique<Store>(*client_, clock_, 1234);
    ns_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : ns_) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    ns_ = "t-" + ns_;
    auto created =
        create(info("", "namespaces"), "", json::parse(R"({"metadata":{"name":")" + ns_ + R"("}})"));
    ASSERT_TRUE(created.ok()) << created.error().message();
  }

  template <typename T>
  T run(asio::awaitable<T> task) {
    return run_blocking(io_, std::move(task));
  }
  ApiResult<json> create(const ResourceInfo& r, const std::string& ns, json object) {
    return run(store_->create(r, ns, std::move(object)));
  }
  ApiResult<json> get(const ResourceInfo& r, const std::string& name) {
    return run(store_->get(r, ns_, name));
  }
  ApiResult<json> update(const ResourceInfo& r, json object) {
    std::string name = object["metadata"]["name"];
    return run(store_->update(r, ns_, name, std::move(object)));
  }
  ApiResult<json> list(const ResourceInfo& r, ListOptions options) {
    return run(store_->list(r, ns_, options));
  }
  ApiResult<DeleteResult> remove(const ResourceInfo& r, const std::string& name, DeleteOptions options) {
    return run(store_->remove(r, ns_, name, options));
  }
  json pod(const std::string& name) {
    json p =
        json::parse(R"({"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"name":"c","image":"i"}]}})");
    p["metadata"]["name"] = name;
    return p;
  }
  json must_create(json object, const ResourceInfo& r = info("", "pods")) {
    auto created = create(r, ns_, std::move(object));
    EXPECT_TRUE(created.ok()) << created.error().message();
    return created.ok() ? *created : json();
  }
  std::vector<std::string> names(const json& list) {
    std::vector<std::string> out;
    for (const auto& item : list["items"]) out.push_back(item["metadata"]["name"]);
    return out;
  }

  static etcd::testing::EtcdCluster* cluster_;
  asio::io_context io_;
  FakeClock clock_;
  std::unique_ptr<etcd::Client> client_;
  std::unique_ptr<Store> store_;
  std::string ns_;
};

etcd::testing::EtcdCluster* StoreTest::cluster_ = nullptr;

TEST_F(StoreTest, CreateSetsSystemFieldsAndWritesTheUpstreamKey) {
  json created = must_create(pod("web-1"));
  const auto& meta = created["metadata"];
  EXPECT_EQ(meta["namespace"], ns_);
  EXPECT_EQ(meta["uid"].get<std::string>().size(), 36U);
  EXPECT_EQ(meta["creationTimestamp"], format_timestamp(clock_.wall_now()));
  EXPECT_EQ(meta["generation"], 1);
  std::string rv = meta["resourceVersion"];

  auto raw = run(client_->range("/registry/pods/" + ns_ + "/web-1"));
  ASSERT_TRUE(raw.ok());
  ASSERT_EQ(raw->kvs.size(), 1U);
  EXPECT_EQ(std::to_string(raw->kvs[0].mod_revision), rv);
  json stored = json::parse(raw->kvs[0].value);
  EXPECT_FALSE(stored["metadata"].contains("resourceVersion"));
  EXPECT_EQ(stored["metadata"]["uid"], meta["uid"]);
  EXPECT_EQ(stored["kind"], "Pod");

  auto got = get(info("", "pods"), "web-1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, created);

  json svc = json::parse(R"({"metadata":{"name":"front"},"spec":{}})");
  must_create(svc, info("", "services"));
  auto raw_svc = run(client_->range("/registry/services/specs/" + ns_ + "/front"));
  ASSERT_TRUE(raw_svc.ok());
  EXPECT_EQ(raw_svc->kvs.size(), 1U);
  auto node = create(info("", "nodes"), "", json::parse(R"({"metadata":{"name":"node-a"}})"));
  ASSERT_TRUE(node.ok()) << node.error().message();
  EXPECT_FALSE(node->at("metadata").contains("namespace"));
  auto raw_node = run(client_->range("/registry/minions/node-a"));
  ASSERT_TRUE(raw_node.ok());
  EXPECT_EQ(raw_node->kvs.size(), 1U);
}

TEST_F(StoreTest, CreateErrors) {
  auto missing = create(info("", "pods"), "nope", pod("web-1"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, 404);
  EXPECT_EQ(missing.error().message(), "namespaces \"nope\" not found");

  must_create(pod("web-1"));
  auto taken = create(info("", "pods"), ns_, pod("web-1"));
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().code, 409);
  EXPECT_EQ(taken.error().reason(), "AlreadyExists");
  EXPECT_EQ(taken.error().message(), "pods \"web-1\" already exists");

  auto bad = create(info("", "pods"), ns_, pod("Web_1"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, 422);
  EXPECT_EQ(bad.error().status["details"]["causes"][0]["field"], "metadata.name");

  json wrong_ns = pod("web-2");
  wrong_ns["metadata"]["namespace"] = "other";
  auto mismatch = create(info("", "pods"), ns_, wrong_ns);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().code, 400);
}

TEST_F(StoreTest, GenerateNameAddsFiveCharacters) {
  json p = pod("");
  p["metadata"].erase("name");
  p["metadata"]["generateName"] = "web-";
  json a = must_create(p);
  json b = must_create(p);
  std::string name = a["metadata"]["name"];
  EXPECT_EQ(name.size(), 9U);
  EXPECT_EQ(name.substr(0, 4), "web-");
  EXPECT_NE(a["metadata"]["name"], b["metadata"]["name"]);
  EXPECT_NE(a["metadata"]["uid"], b["metadata"]["uid"]);
  EXPECT_TRUE(get(info("", "pods"), name).ok());
}

TEST_F(StoreTest, UpdateIsOptimisticAndBumpsGenerationOnSpecChange) {
  const auto& deployments = info("apps", "deployments");
  json d = must_create(json::parse(R"({"metadata":{"name":"web"},"spec":{"replicas":1}})"), deployments);
  json stale = d;
  json changed = d;
  changed["spec"]["replicas"] = 3;
  auto updated = update(deployments, changed);
  ASSERT_TRUE(updated.ok()) << updated.error().message();
  EXPECT_EQ(updated->at("metadata")["generation"], 2);
  EXPECT_EQ(updated->at("metadata")["uid"], d["metadata"]["uid"]);
  EXPECT_EQ(updated->at("metadata")["creationTimestamp"], d["metadata"]["creationTimestamp"]);
  EXPECT_NE(updated->at("metadata")["resourceVersion"], d["metadata"]["resourceVersion"]);

  stale["spec"]["replicas"] = 5;
  auto lost = update(deployments, stale);
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().code, 409);
  EXPECT_EQ(lost.error().reason(), "Conflict");
  EXPECT_EQ(
      lost.error().message(),
      "Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply "
      "your changes to the latest version and try again");

  json labels_only = *updated;
  labels_only["metadata"]["labels"]["a"] = "b";
  labels_only["metadata"].erase("resourceVersion");  // unconditional
  auto relabeled = update(deployments, labels_only);
  ASSERT_TRUE(relabeled.ok()) << relabeled.error().message();
  EXPECT_EQ(relabeled->at("metadata")["generation"], 2);
  EXPECT_EQ(get(deployments, "web")->at("metadata")["labels"]["a"], "b");

  auto absent = update(deployments, json::parse(R"({"metadata":{"name":"nope"}})"));
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.error().code, 404);
}

TEST_F(StoreTest, MainUpdateIgnoresStatusAndStatusUpdateIgnoresSpec) {
  const auto& pods = info("", "pods");
  json p = must_create(pod("web-1"));
  json with_status = p;
  with_status["status"]["phase"] = "Running";
  with_status["spec"]["nodeName"] = "n1";
  auto main = update(pods, with_status);
  ASSERT_TRUE(main.ok()) << main.error().message();
  EXPECT_FALSE(main->contains("status"));
  EXPECT_EQ(main->at("spec")["nodeName"], "n1");

  json status_change = *main;
  status_change["status"]["phase"] = "Running";
  status_change["spec"]["nodeName"] = "n2";
  auto status = run(store_->update_status(pods, ns_, "web-1", status_change));
  ASSERT_TRUE(status.ok()) << status.error().message();
  json stored = *get(pods, "web-1");
  EXPECT_EQ(stored["status"]["phase"], "Running");
  EXPECT_EQ(stored["spec"]["nodeName"], "n1");
}

TEST_F(StoreTest, FinalizerHoldsDeleteUntilCleared) {
  const auto& pods = info("", "pods");
  json p = pod("held");
  p["metadata"]["finalizers"] = json::array({"example.com/hold"});
  must_create(p);
  auto marked = remove(pods, "held", DeleteOptions());
  ASSERT_TRUE(marked.ok()) << marked.error().message();
  EXPECT_FALSE(marked->removed);
  EXPECT_EQ(marked->object["metadata"]["deletionGracePeriodSeconds"], 0);
  json current = *get(pods, "held");
  EXPECT_TRUE(current["metadata"].contains("deletionTimestamp"));

  current["metadata"]["finalizers"] = json::array();
  auto cleared = update(pods, current);
  ASSERT_TRUE(cleared.ok()) << cleared.error().message();
  auto gone = get(pods, "held");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, 404);
}

TEST_F(StoreTest, BoundPodDeletesGracefullyThenWithGraceZero) {
  const auto& pods = info("", "pods");
  json p = pod("bound");
  p["spec"]["nodeName"] = "n1";
  p["spec"]["terminationGracePeriodSeconds"] = 45;
  must_create(p);
  auto first = remove(pods, "bound", DeleteOptions());
  ASSERT_TRUE(first.ok()) << first.error().message();
  EXPECT_FALSE(first->removed);
  EXPECT_EQ(first->object["metadata"]["deletionGracePeriodSeconds"], 45);
  EXPECT_EQ(first->object["metadata"]["deletionTimestamp"], format_timestamp(clock_.wall_now() + 45s));
  EXPECT_TRUE(get(pods, "bound").ok());

  DeleteOptions now;
  now.grace_period_seconds = 0;
  auto second = remove(pods, "bound", now);
  ASSERT_TRUE(second.ok()) << second.error().message();
  EXPECT_TRUE(second->removed);
  EXPECT_EQ(get(pods, "bound").error().code, 404);

  must_create(pod("unbound"));
  auto direct = remove(pods, "unbound", DeleteOptions());
  ASSERT_TRUE(direct.ok());
  EXPECT_TRUE(direct->removed) << "an unscheduled pod is deleted at once";

  json defaulted = pod("bound-default");
  defaulted["spec"]["nodeName"] = "n1";
  must_create(defaulted);
  auto thirty = remove(pods, "bound-default", DeleteOptions());
  ASSERT_TRUE(thirty.ok());
  EXPECT_EQ(thirty->object["metadata"]["deletionGracePeriodSeconds"], 30);
}

TEST_F(StoreTest, DeletePreconditions) {
  const auto& pods = info("", "pods");
  json p = must_create(pod("web-1"));
  DeleteOptions wrong_uid;
  wrong_uid.precondition_uid = "not-the-uid";
  auto refused = remove(pods, "web-1", wrong_uid);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, 409);
  EXPECT_NE(refused.error().message().find("Precondition failed: UID in precondition: not-the-uid"),
            std::string::npos);
  DeleteOptions wrong_rv;
  wrong_rv.precondition_resource_version = "1";
  EXPECT_EQ(remove(pods, "web-1", wrong_rv).error().code, 409);
  EXPECT_TRUE(get(pods, "web-1").ok());

  DeleteOptions right;
  right.precondition_uid = p["metadata"]["uid"].get<std::string>();
  right.precondition_resource_version = p["metadata"]["resourceVersion"].get<std::string>();
  auto removed = remove(pods, "web-1", right);
  ASSERT_TRUE(removed.ok()) << removed.error().message();
  EXPECT_TRUE(removed->removed);
  EXPECT_EQ(remove(pods, "web-1", DeleteOptions()).error().code, 404);

  auto bad_policy = DeleteOptions::from_json(json::parse(R"({"propagationPolicy":"Sideways"})"));
  ASSERT_FALSE(bad_policy.ok());
  EXPECT_EQ(bad_policy.error().code, 400);
  auto parsed = DeleteOptions::from_json(json::parse(
      R"({"gracePeriodSeconds":5,"propagationPolicy":"Foreground","preconditions":{"uid":"u"}})"));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->grace_period_seconds, 5);
  EXPECT_EQ(parsed->propagation_policy, "Foreground");
  EXPECT_EQ(parsed->precondition_uid, "u");
}

TEST_F(StoreTest, ListFiltersBySelectorsAndRejectsUnknownFields) {
  const auto& pods = info("", "pods");
  for (auto [name, app, node] :
       {std::tuple{"a", "web", "n1"}, std::tuple{"b", "web", "n2"}, std::tuple{"c", "db", "n1"}}) {
    json p = pod(name);
    p["metadata"]["labels"]["app"] = app;
    p["spec"]["nodeName"] = node;
    must_create(p);
  }
  ListOptions by_label;
  by_label.label_selector = "app=web";
  EXPECT_EQ(names(*list(pods, by_label)), (std::vector<std::string>{"a", "b"}));
  ListOptions by_set;
  by_set.label_selector = "app notin (web)";
  EXPECT_EQ(names(*list(pods, by_set)), (std::vector<std::string>{"c"}));
  ListOptions by_field;
  by_field.field_selector = "spec.nodeName=n1";
  EXPECT_EQ(names(*list(pods, by_field)), (std::vector<std::string>{"a", "c"}));
  ListOptions both;
  both.label_selector = "app=web";
  both.field_selector = "spec.nodeName!=n1,metadata.namespace=" + ns_;
  EXPECT_EQ(names(*list(pods, both)), (std::vector<std::string>{"b"}));

  ListOptions bad_field;
  bad_field.field_selector = "spec.foo=x";
  auto refused = list(pods, bad_field);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, 400);
  EXPECT_EQ(refused.error().message(), "field label not supported: spec.foo");
  ListOptions bad_label;
  bad_label.label_selector = "app in web";
  EXPECT_EQ(list(pods, bad_label).error().code, 400);

  json all = *list(pods, ListOptions());
  EXPECT_EQ(all["kind"], "PodList");
  EXPECT_FALSE(all["items"][0].contains("kind"));
  auto everywhere = run(store_->list(pods, "", ListOptions()));
  ASSERT_TRUE(everywhere.ok());
  EXPECT_GE(everywhere->at("items").size(), 3U);
}

TEST_F(StoreTest, PaginationStaysAtTheFirstPagesRevision) {
  const auto& pods = info("", "pods");
  for (const char* name : {"p1", "p2", "p3", "p4", "p5"}) must_create(pod(name));
  ListOptions page;
  page.limit = 2;
  json first = *list(pods, page);
  EXPECT_EQ(names(first), (std::vector<std::string>{"p1", "p2"}));
  std::string rv = first["metadata"]["resourceVersion"];
  EXPECT_EQ(first["metadata"]["remainingItemCount"], 3);
  ASSERT_TRUE(first["metadata"].contains("continue"));

  // A write between pages: the list continues at the first page's revision.
  must_create(pod("p6"));
  ASSERT_TRUE(remove(pods, "p5", DeleteOptions()).ok());

  page.continue_token = first["metadata"]["continue"];
  json second = *list(pods, page);
  EXPECT_EQ(names(second), (std::vector<std::string>{"p3", "p4"}));
  EXPECT_EQ(second["metadata"]["resourceVersion"], rv);
  page.continue_token = second["metadata"]["continue"];
  json third = *list(pods, page);
  EXPECT_EQ(names(third), (std::vector<std::string>{"p5"}));
  EXPECT_FALSE(third["metadata"].contains("continue"));
  EXPECT_EQ(third["metadata"]["resourceVersion"], rv);

  json fresh = *list(pods, ListOptions());
  EXPECT_EQ(names(fresh), (std::vector<std::string>{"p1", "p2", "p3", "p4", "p6"}));
  EXPECT_GT(std::stoll(fresh["metadata"]["resourceVersion"].get<std::string>()), std::stoll(rv));

  ListOptions garbage;
  garbage.continue_token = "not a token";
  EXPECT_EQ(list(pods, garbage).error().code, 400);
}

TEST_F(StoreTest, ExpiredContinueIsGone) {
  const auto& pods = info("", "pods");
  for (const char* name : {"p1", "p2", "p3"}) must_create(pod(name));
  ListOptions page;
  page.limit = 1;
  json first = *list(pods, page);
  must_create(pod("p4"));
  auto latest = run(client_->range("/registry/pods/" + ns_ + "/p4"));
  ASSERT_TRUE(latest.ok());
  ASSERT_TRUE(run(client_->compact(latest->header.revision)).ok());
  page.continue_token = first["metadata"]["continue"];
  auto expired = list(pods, page);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().code, 410);
  EXPECT_EQ(expired.error().reason(), "Expired");
}

}  // namespace
}  // namespace shakeout::api
