#pragma once
// FakeRuntime: an in-process RuntimeService for kubelet and proxy tests. Containers
// are records the test can make exit; every call is counted. Logs are real
// files under a directory the test owns.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "runtime/runtime_service.h"

namespace shakeout::kubelet::testing {

namespace asio = boost::asio;

class FakeRuntime final : public runtime::RuntimeService {
 public:
  explicit FakeRuntime(std::filesystem::path log_dir) : log_dir_(std::move(log_dir)) {}

  struct Stop {
    std::string id;
    int64_t timeout_ms = 0;
  };

  std::map<std::string, runtime::PodSandbox> sandboxes;        // by uid
  std::map<std::string, runtime::ContainerStatus> containers;  // by id
  std::map<std::string, runtime::ContainerConfig> configs;     // by id
  std::vector<Stop> stops;
  std::vector<std::string> removed_sandboxes;
  int starts = 0;
  bool exec_fails = false;  // exec probes fail while set

  // Makes container `id` exit with `code` now.
  void exit(const std::string& id, int code) {
    auto& c = containers.at(id);
    c.state = runtime::ContainerState::kExited;
    c.exit_code = code;
    c.reason = code == 0 ? "Completed" : "Error";
    c.finished_unix_ms = now_ms();
  }
  // The running container named `name` of pod `uid`, or nullptr.
  const runtime::ContainerStatus* running(const std::string& uid, const std::string& name) const {
    for (const auto& entry : containers)
      if (entry.second.pod_uid == uid && entry.second.name == name &&
          entry.second.state == runtime::ContainerState::kRunning)
        return &entry.second;
    return nullptr;
  }

  asio::awaitable<Result<runtime::PodSandbox>> run_sandbox(runtime::PodSandboxConfig config) override {
    auto it = sandboxes.find(config.uid);
    if (it != sandboxes.end()) co_return it->second;
    runtime::PodSandbox sandbox;
    sandbox.uid = config.uid;
    sandbox.ns = config.ns;
    sandbox.name = config.name;
    sandbox.ip = fmt::format("127.0.1.{}", next_ip_++);
    sandbox.labels = config.labels;
    sandbox.created_unix_ms = now_ms();
    sandboxes[config.uid] = sandbox;
    co_return sandbox;
  }
  asio::awaitable<Result<std::vector<runtime::PodSandbox>>> list_sandboxes() override {
    std::vector<runtime::PodSandbox> out;
    for (const auto& entry : sandboxes) out.push_back(entry.second);
    co_return out;
  }
  asio::awaitable<Status> remove_sandbox(std::string uid) override {
    removed_sandboxes.push_back(uid);
    sandboxes.erase(uid);
    for (auto it = containers.begin(); it != containers.end();)
      it = it->second.pod_uid == uid ? containers.erase(it) : std::next(it);
    co_return Status{};
  }
  asio::awaitable<Result<runtime::ContainerStatus>> start_container(
      runtime::ContainerConfig config) override {
    if (sandboxes.count(config.pod_uid) == 0) co_return make_error(ErrorCode::kNotFound, "no sandbox");
    if (config.image.rfind(runtime::kAppImage, 0) != 0 && config.command.empty())
      co_return make_error(ErrorCode::kInvalidArgument, fmt::format("{}: image \"{}\" cannot be run here",
                                                                    runtime::kErrImagePull, config.image));
    ++starts;
    runtime::ContainerStatus c;
    c.id = fmt::format("c{}", next_id_++);
    c.pod_uid = config.pod_uid;
    c.name = config.name;
    c.attempt = config.attempt;
    c.image = config.image;
    c.pid = 1000 + next_id_;
    c.started_unix_ms = now_ms();
    c.log_path = (log_dir_ / (c.id + ".log")).string();
    std::ofstream(c.log_path) << "line 1 of " << c.name << " attempt " << c.attempt << "\nline 2\n";
    containers[c.id] = c;
    configs[c.id] = config;
    co_return c;
  }
  asio::awaitable<Result<std::vector<runtime::ContainerStatus>>> list_containers(
      std::string pod_uid) override {
    std::vector<runtime::ContainerStatus> out;
    for (const auto& entry : containers)
      if (pod_uid.empty() || entry.second.pod_uid == pod_uid) out.push_back(entry.second);
    co_return out;
  }
  asio::awaitable<Result<runtime::ContainerStatus>> container_status(std::string id) override {
    auto it = containers.find(id);
    if (it == containers.end()) co_return make_error(ErrorCode::kNotFound, "no container " + id);
    co_return it->second;
  }
  asio::awaitable<Status> stop_container(std::string id, int64_t timeout_ms) override {
    stops.push_back(Stop{id, timeout_ms});
    if (containers.count(id) != 0 && containers[id].state == runtime::ContainerState::kRunning) exit(id, 143);
    co_return Status{};
  }
  asio::awaitable<Status> remove_container(std::string id) override {
    containers.erase(id);
    co_return Status{};
  }
  asio::awaitable<Result<runtime::ExecResult>> exec_sync(std::string, std::vector<std::string>,
                                                         int64_t) override {
    runtime::ExecResult result;
    result.exit_code = exec_fails ? 1 : 0;
    result.output = exec_fails ? "not healthy" : "";
    co_return result;
  }
  // The dataplane: the last rules PUT, and how many PUTs there were.
  runtime::DataplaneRules rules;
  int dataplane_puts = 0;

  asio::awaitable<Status> set_dataplane(runtime::DataplaneRules programmed) override {
    rules = std::move(programmed);
    rules.generation = ++dataplane_puts;
    co_return Status{};
  }
  asio::awaitable<Result<runtime::DataplaneRules>> dataplane() override { co_return rules; }

 private:
  static int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::filesystem::path log_dir_;
  int next_ip_ = 2;
  int next_id_ = 1;
};

}  // namespace shakeout::kubelet::testing
