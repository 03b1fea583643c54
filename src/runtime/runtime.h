#pragma once
// Runtime: the RuntimeService implementation inside `shakeout runtime`
// (containerd's role on one node). See runtime_service.h for the API.
//
//   HTTP (runtime_server.cc) ──► Runtime ──► cluster::Supervisor ──► container processes
//                                   ├──► IpPool (sandbox IPs)
//                                   └──► Dataplane (Service listeners)
//
// Contract:
// - A container is a real process in its own process group, its argv exec'd
//   directly (never through a shell), its environment exactly the config's
//   env plus PATH and HOME defaults, stdout+stderr appended to
//   <root>/pods/<ns>_<name>_<uid>/<container>/<attempt>.log. Image
//   shakeout/app[:tag] without a command runs `<app_binary> app <args...>`.
// - Containers are children of the runtime: PR_SET_PDEATHSIG kills them if
//   the runtime dies, and shutdown() SIGKILLs them (the node goes away).
// - Bad input is an Error value, never a crash.
// Threading: one io_context thread (the thread that created the Runtime
// must outlive the containers: PDEATHSIG follows the thread).

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/io_context.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster/supervisor.h"
#include "runtime/dataplane.h"
#include "runtime/ip_pool.h"
#include "runtime/runtime_service.h"

namespace shakeout::runtime {

struct Options {
  std::string node_name;
  std::string node_ip;         // listens here; must be the .1 of pod_cidr
  std::string pod_cidr;        // 127.C.k.0/24
  std::filesystem::path root;  // logs under root/pods, exec output under root/exec
  int port = kRuntimePort;
  std::filesystem::path app_binary;  // empty: this binary (see Runtime::app_binary())
};

// kInvalidArgument naming the flag.
Status validate(const Options& options);

// Where a container's log lives (like /var/log/pods).
std::filesystem::path container_log_path(const std::filesystem::path& root, const PodSandbox& sandbox,
                                         const std::string& container, int attempt);

// The argv to exec for `config` (image rules above); kInvalidArgument with
// "InvalidImageName: ..." or "ErrImagePull: ..." when there is none.
Result<std::vector<std::string>> container_argv(const ContainerConfig& config, const std::string& app_binary);

class Runtime final : public RuntimeService {
 public:
  // `options` must be valid (validate()).
  Runtime(asio::io_context& io, Options options);
  ~Runtime() override;

  asio::awaitable<Result<PodSandbox>> run_sandbox(PodSandboxConfig config) override;
  asio::awaitable<Result<std::vector<PodSandbox>>> list_sandboxes() override;
  asio::awaitable<Status> remove_sandbox(std::string uid) override;
  asio::awaitable<Result<ContainerStatus>> start_container(ContainerConfig config) override;
  asio::awaitable<Result<std::vector<ContainerStatus>>> list_containers(std::string pod_uid) override;
  asio::awaitable<Result<ContainerStatus>> container_status(std::string id) override;
  asio::awaitable<Status> stop_container(std::string id, int64_t timeout_ms) override;
  asio::awaitable<Status> remove_container(std::string id) override;
  asio::awaitable<Result<ExecResult>> exec_sync(std::string id, std::vector<std::string> command,
                                                int64_t timeout_ms) override;
  asio::awaitable<Status> set_dataplane(DataplaneRules rules) override;
  asio::awaitable<Result<DataplaneRules>> dataplane() override;

  // For the logs route: the status (log path, state) of a known container.
  Result<ContainerStatus> status_now(const std::string& id) const;
  // SIGKILLs every container and closes the dataplane (the node goes away).
  void shutdown();

 private:
  struct Container {
    ContainerStatus status;
    ContainerConfig config;
  };
  struct Sandbox {
    PodSandbox sandbox;
  };

  asio::awaitable<void> kill_and_wait(std::string id);
  void on_exit(const cluster::ProcessInfo& info, const cluster::ExitStatus& exit);
  Error not_found(const std::string& id) const;
  std::string app_binary() const;

  asio::io_context& io_;
  Options options_;
  IpPool pool_;
  cluster::Supervisor supervisor_;
  Dataplane dataplane_;
  std::map<std::string, Sandbox> sandboxes_;     // by uid
  std::map<std::string, Container> containers_;  // by id
  uint64_t next_id_ = 0;
  uint64_t id_salt_;
};

// Serves the runtime until SIGTERM/SIGINT; the process exit code.
int run(const Options& options);

}  // namespace shakeout::runtime
