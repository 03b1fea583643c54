#pragma once
// Cluster: one running mini Kubernetes cluster owned by this process.
//
//   create()  validate options, take the run dir and a 127.C.0.0/16 subnet
//   start()   launch every component and wait until each is ready
//   stop()    graceful teardown (SIGTERM, grace, SIGKILL), in reverse order
//   abort()   SIGKILL everything now; a pending start() then fails fast
//   ~Cluster  kills what is left, releases the subnet, removes the run dir
//
// cluster.json in the run dir is rewritten whenever a process starts or exits,
// so `shakeout status` and `shakeout down` in other processes see the truth.
// Threading: everything on the io_context's thread.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/address_plan.h"
#include "cluster/etcd_members.h"
#include "cluster/profile.h"
#include "cluster/run_dir.h"
#include "cluster/supervisor.h"
#include "common/result.h"
#include "faults/link.h"
#include "net/http_client.h"

namespace shakeout::cluster {

// The path of the running executable (/proc/self/exe).
std::string self_executable();

struct ClusterOptions {
  std::string name = "shakeout";
  int nodes = 1;
  int etcd_members = 1;
  Profile profile = Profile::fast();
  std::filesystem::path runtime_root = default_runtime_root();
  Millis start_timeout{30000};
  std::string etcd_binary = "etcd";
  int apiservers = 1;  // 0 = etcd only (and no controller managers or schedulers)
  // Leader-elected replicas, started once the apiservers are ready, with the
  // profile's leader-election timings.
  int controller_managers = 1;
  int schedulers = 1;
  // Per node: `shakeout runtime`, `shakeout kubelet` and `shakeout proxy`;
  // start() waits until every Node is Ready. Off: the nodes exist only in
  // the address plan (tests that play kubelets themselves).
  bool node_components = true;
  // The apiservers' --anonymous-auth (off: a request without a token is 401).
  bool anonymous_auth = false;
  // The binary whose roles (`shakeout apiserver`, ...) the components run;
  // by default the running executable.
  std::string shakeout_binary = self_executable();
  // Every controller manager's, scheduler's, kubelet's and kube-proxy's
  // connection to apiserver i goes through a link proxy owned by this
  // process, named "<client>->apiserver-<i>" (DESIGN §4), where link faults
  // happen. Off: components talk to the apiservers directly.
  bool links = true;
  // With links on, every apiserver's connection to etcd member j goes
  // through "apiserver-<i>->etcd-<j>" too. Off by default: the links run on
  // this process's io_context, and an owner that blocks it (a test waiting
  // on kubectl) would stall every API call, not only the components' loops.
  // `shakeout run`, which never blocks it, turns them on.
  bool etcd_links = false;
  uint64_t seed = 0;  // the links' toxicity rolls and jitter
};

// kInvalidArgument naming the bad field.
Status validate(const ClusterOptions& options);

class Cluster {
 public:
  static Result<std::unique_ptr<Cluster>> create(asio::io_context& io, ClusterOptions options);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  asio::awaitable<Status> start();
  asio::awaitable<void> stop();
  void abort();

  const ClusterOptions& options() const { return options_; }
  const AddressPlan& addresses() const { return addresses_; }
  const RunDir& run_dir() const { return run_dir_; }
  const EtcdClusterPlan& etcd() const { return etcd_; }
  // "http://127.C.0.2i:6443" for apiserver i (1-based), in order. The same
  // port serves https (kubeconfig_path()).
  std::vector<std::string> apiserver_urls() const;
  // Where controller-manager / scheduler i (1-based) serves /healthz and
  // /metrics: 127.C.0.3i:10257 and 127.C.0.4i:10259 (upstream's ports).
  net::Endpoint controller_manager_endpoint(int index) const;
  net::Endpoint scheduler_endpoint(int index) const;
  // A kubeconfig for this cluster (written by start()): https to apiserver 1
  // with the cluster CA and the admin token.
  std::filesystem::path kubeconfig_path() const { return run_dir_.path() / "kubeconfig"; }
  // The cluster's CA certificate (PEM) and the apiservers' serving
  // certificate, made fresh by start() under <run dir>/pki (keys 0600).
  std::filesystem::path ca_certificate_path() const { return run_dir_.path() / "pki" / "ca.crt"; }
  std::filesystem::path apiserver_certificate_path() const {
    return run_dir_.path() / "pki" / "apiserver.crt";
  }
  std::filesystem::path apiserver_key_path() const { return run_dir_.path() / "pki" / "apiserver.key"; }
  // The apiservers' --token-auth-file (written by start(), mode 0600).
  std::filesystem::path token_file_path() const { return run_dir_.path() / "tokens.csv"; }
  // One user's token alone, for a component's --token-file (mode 0600).
  std::filesystem::path token_file_of(std::string_view user) const {
    std::string name(user);
    std::replace(name.begin(), name.end(), ':', '-');
    return run_dir_.path() / (name + ".token");
  }
  // The bearer token of a user of this cluster: "kubernetes-admin" (the
  // kubeconfig's; group system:masters), "shakeout" (the harness and its
  // probes), "system:kube-controller-manager", "system:kube-scheduler",
  // "system:kube-proxy", "system:node:node-<k>". "" before start() or for
  // another name. Tokens are fresh random per cluster.
  std::string token(std::string_view user) const;
  Supervisor& supervisor() { return supervisor_; }

  // Node k (1-based): its name "node-k" and its processes' names
  // "runtime-node-k", "kubelet-node-k", "proxy-node-k".
  static std::string node_name(int node);
  static std::string node_process(const std::string& role, int node);
  net::Endpoint runtime_endpoint(int node) const;
  net::Endpoint kubelet_endpoint(int node) const;
  // Starts node k's runtime, kubelet and proxy (again, after crash_node())
  // and waits until the Node is Ready.
  asio::awaitable<Status> start_node(int node);
  // Starts one of node k's processes ("runtime", "kubelet" or "proxy") that
  // is not running, e.g. a kubelet after a kill; does not wait.
  Status start_node_component(const std::string& role, int node);
  // A node crash: SIGKILL to its kubelet, proxy and runtime; its pods die
  // with the runtime. The Node object stays, as a crashed machine's does.
  Status crash_node(int node);
  // The record as last written to cluster.json.
  const ClusterRecord& record() const { return record_; }

  // The link proxies (empty with options.links off), by name:
  // "kubelet/node-k->apiserver-i", "proxy/node-k->apiserver-i",
  // "controller-manager-j->apiserver-i", "scheduler-j->apiserver-i",
  // "apiserver-i->etcd-j". Each listens on its client's own address (node
  // IP, or the controller manager's, scheduler's or apiserver's IP), port
  // kLinkPort + 10 x role + the server's index (role 0 kubelet, controller
  // manager, scheduler; 1 proxy; 2 apiserver).
  // The runner adds "client->service/<name>/node-<k>" (runner.h).
  const std::map<std::string, std::unique_ptr<faults::Link>, std::less<>>& links() const { return links_; }
  faults::Link* link(std::string_view name);
  // Starts one more link (port 0 in `listen`: any free port); it lives as
  // long as the cluster. kAlreadyExists if the name is taken.
  Result<faults::Link*> add_link(const std::string& name, net::Endpoint listen, net::Endpoint upstream);

 private:
  Cluster(asio::io_context& io, ClusterOptions options, RunDir run_dir, SubnetLease subnet);
  void write_record(const std::string& state);
  asio::awaitable<Status> start_apiservers();
  asio::awaitable<Status> start_control_plane();
  ProcessSpec apiserver_spec(int index) const;
  ProcessSpec control_plane_spec(const std::string& role, int index) const;
  ProcessSpec node_spec(const std::string& role, int node) const;
  Status launch_node(int node);
  // Polls the API until Node `node` is Ready (fails fast if its kubelet exits).
  asio::awaitable<Status> wait_node_ready(int node);
  // (No defaulted class-type argument: g++ 12 destroys it twice in a coroutine.)
  asio::awaitable<Status> wait_healthy(std::string name, net::Endpoint endpoint, std::string path);
  Status write_kubeconfig() const;
  Status write_tokens();
  Status write_certificates() const;
  // Creates and starts the links of DESIGN §4 (see links()).
  Status start_links();
  // --etcd-servers for apiserver i: its links to every member, or the
  // members themselves with links off.
  std::string etcd_servers_for(int apiserver) const;
  // --master for `client`: its links to every apiserver, in order, or the
  // apiservers themselves with links off.
  std::string masters_for(const std::string& client) const;

  ClusterOptions options_;
  asio::io_context& io_;
  // Declaration order is teardown order in reverse: the supervisor (and its
  // processes) goes first, then the subnet lease, then the run dir.
  RunDir run_dir_;
  SubnetLease subnet_;
  AddressPlan addresses_;
  EtcdClusterPlan etcd_;
  ClusterRecord record_;
  std::map<std::string, std::string, std::less<>> tokens_;  // user -> token
  Supervisor supervisor_;
  // Declared last, so destroyed first: by then stop() has ended the
  // components, or the supervisor's destructor is about to SIGKILL them.
  std::map<std::string, std::unique_ptr<faults::Link>, std::less<>> links_;
};

}  // namespace shakeout::cluster
