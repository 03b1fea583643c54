#pragma once
// RuntimeService: the node-local API of `shakeout runtime` (containerd's role,
// the CRI's shape), as the kubelet and kube-proxy see it.
//
//   kubelet ──► RuntimeService ──HTTP/JSON──► runtime ──► pod processes
//   proxy   ──► RuntimeService ──HTTP/JSON──► runtime ──► dataplane listeners
//
// The runtime listens on the node IP, port kRuntimePort (loopback only, as
// containerd's socket is local to its machine). It owns every container
// process: they survive a kubelet or proxy restart and die with the runtime
// (a node crash). Sandboxes and containers are kept in the runtime's memory
// only; a restarted runtime is a rebooted node and starts empty.
//
// HTTP routes (JSON bodies; errors are {"reason", "message"} with a 4xx/5xx):
//   GET    /healthz
//   POST   /v1/sandboxes                  PodSandboxConfig -> PodSandbox   (idempotent by uid)
//   GET    /v1/sandboxes                  -> {"items": [PodSandbox]}
//   DELETE /v1/sandboxes/<uid>            SIGKILL its containers, free the IP, forget them
//   POST   /v1/containers                 ContainerConfig -> ContainerStatus (created and started)
//   GET    /v1/containers[?podUid=<uid>]  -> {"items": [ContainerStatus]}
//   GET    /v1/containers/<id>            -> ContainerStatus
//   POST   /v1/containers/<id>/stop       {"timeoutMs"} SIGTERM, wait, SIGKILL; answers once exited
//   DELETE /v1/containers/<id>            forget an exited container (its log file stays until
//                                         the sandbox is removed)
//   POST   /v1/containers/<id>/exec       {"command": [...], "timeoutMs"} -> ExecResult
//   GET    /v1/containers/<id>/logs[?tailLines=N&follow=true]  text/plain, streamed with follow
//   PUT    /v1/dataplane                  DataplaneRules (replaces all, as iptables-restore)
//   GET    /v1/dataplane                  -> DataplaneRules as last programmed
// Threading: implementations run on one executor; not thread-safe.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace shakeout::runtime {

namespace asio = boost::asio;

inline constexpr int kRuntimePort = 10010;
// The image that means the built-in `shakeout app` (any tag).
inline constexpr const char* kAppImage = "shakeout/app";

// Reasons a container cannot be created, as the kubelet reports them in
// containerStatuses[].state.waiting.reason (upstream's words).
inline constexpr const char* kErrImagePull = "ErrImagePull";          // not shakeout/app and no command
inline constexpr const char* kInvalidImageName = "InvalidImageName";  // empty or malformed image
inline constexpr const char* kCreateContainerError = "CreateContainerError";  // e.g. executable not found

struct PodSandboxConfig {
  std::string uid;
  std::string ns;
  std::string name;
  std::map<std::string, std::string> labels;  // the pod's, as the CRI's: who is whose without the API
};

struct PodSandbox {
  std::string uid;
  std::string ns;
  std::string name;
  std::string ip;  // from the node's pod CIDR, held until the sandbox is removed
  int64_t created_unix_ms = 0;
  std::map<std::string, std::string> labels;
};

struct ContainerConfig {
  std::string pod_uid;  // a sandbox made by run_sandbox
  std::string name;
  int attempt = 0;  // restartCount at start, so logs of attempt-1 are "previous"
  std::string image;
  std::vector<std::string> command;  // argv; empty only for kAppImage
  std::vector<std::string> args;
  std::map<std::string, std::string> env;  // the whole environment (plus PATH and HOME if absent)
  std::string working_dir;
};

enum class ContainerState { kRunning, kExited };

struct ContainerStatus {
  std::string id;
  std::string pod_uid;
  std::string name;
  int attempt = 0;
  std::string image;
  ContainerState state = ContainerState::kRunning;
  int pid = 0;  // the container's main process (its process group leader)
  int64_t started_unix_ms = 0;
  int64_t finished_unix_ms = 0;  // 0 while running
  int exit_code = 0;             // 128+signal when killed by a signal, as a shell reports it
  std::string reason;            // when exited: "Completed" (0) or "Error"
  std::string log_path;
};

struct ExecResult {
  int exit_code = 0;
  std::string output;  // stdout and stderr, truncated to 16 KiB
};

// One Service port as kube-proxy programs it on a node.
struct ServiceRule {
  std::string name;        // "<namespace>/<service>:<port name or number>", for logs and counters
  std::string cluster_ip;  // "" when none (headless); bound with SO_REUSEPORT on every node
  int port = 0;            // the Service port, on cluster_ip and on the node IP (the node's own view)
  int node_port = 0;       // 0 when none; bound on the node IP
  std::string protocol = "TCP";
  std::string mode = "random";  // "random" (iptables) or "round-robin" (ipvs rr)
  struct Endpoint {
    std::string ip;
    int port = 0;
  };
  std::vector<Endpoint> endpoints;  // ready endpoints only; none: connections are refused
};

// What the runtime made of one ServiceRule (GET /v1/dataplane only; ignored
// on PUT). Counters live as long as a rule of that name is programmed.
struct ServiceRuleStatus {
  std::string name;
  std::vector<std::string> listening;    // "ip:port" bound
  std::vector<std::string> bind_errors;  // "ip:port: why", a rule's other listeners still work
  uint64_t connections_total = 0;        // accepted
  uint64_t connections_active = 0;       // being forwarded now
  uint64_t connect_failures_total = 0;   // no endpoint, or the endpoint refused/timed out
};

struct DataplaneRules {
  int64_t generation = 0;  // set by the runtime on each PUT
  std::vector<ServiceRule> services;
  std::vector<ServiceRuleStatus> status;  // filled by GET, one per service, same order
};

class RuntimeService {
 public:
  virtual ~RuntimeService() = default;

  virtual asio::awaitable<Result<PodSandbox>> run_sandbox(PodSandboxConfig config) = 0;
  virtual asio::awaitable<Result<std::vector<PodSandbox>>> list_sandboxes() = 0;
  virtual asio::awaitable<Status> remove_sandbox(std::string uid) = 0;

  // kInvalidArgument with message "<reason>: <text>" (reason one of the
  // constants above) when the container cannot be created.
  virtual asio::awaitable<Result<ContainerStatus>> start_container(ContainerConfig config) = 0;
  virtual asio::awaitable<Result<std::vector<ContainerStatus>>> list_containers(std::string pod_uid) = 0;
  virtual asio::awaitable<Result<ContainerStatus>> container_status(std::string id) = 0;
  virtual asio::awaitable<Status> stop_container(std::string id, int64_t timeout_ms) = 0;
  virtual asio::awaitable<Status> remove_container(std::string id) = 0;
  virtual asio::awaitable<Result<ExecResult>> exec_sync(std::string id, std::vector<std::string> command,
                                                        int64_t timeout_ms) = 0;

  virtual asio::awaitable<Status> set_dataplane(DataplaneRules rules) = 0;
  virtual asio::awaitable<Result<DataplaneRules>> dataplane() = 0;
};

// The HTTP client of a runtime at `endpoint` ("http://127.C.k.1:10010"), in
// runtime_client.cc. Errors name the endpoint; a refused connection is
// kUnavailable. `request_timeout` bounds each call (stop and exec: beyond
// their own timeout).
std::unique_ptr<RuntimeService> make_runtime_client(asio::any_io_executor executor, std::string endpoint,
                                                    std::chrono::milliseconds request_timeout);
inline std::unique_ptr<RuntimeService> make_runtime_client(asio::any_io_executor executor,
                                                           std::string endpoint) {
  return make_runtime_client(std::move(executor), std::move(endpoint), std::chrono::seconds(10));
}

}  // namespace shakeout::runtime
