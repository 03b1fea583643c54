// `shakeout up`: boot a cluster and supervise it.
//
// Foreground: boot, print the addresses, run until SIGINT/SIGTERM/SIGHUP,
// tear down, exit. With --detach the command forks first (before any thread
// or io_context exists) and the child becomes the supervisor in its own
// session; the parent waits on a pipe for "ready" or an error and exits with
// 0 or 2. Either way the supervisor's children carry PDEATHSIG, so killing
// the supervisor, even with SIGKILL, takes the cluster with it.

#include <utility>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/async.h"
#include "common/log.h"
#include "etcd/client.h"

namespace shakeout::cli {
namespace {

using cluster::Cluster;

// Where the supervisor reports how its boot went: the terminal in the
// foreground, the waiting parent's pipe when detached.
class BootReporter {
 public:
  explicit BootReporter(int pipe_fd = -1) : fd_(pipe_fd) {}
  bool detached() const { return fd_ >= 0; }
  void ready(const std::string& summary) { send("ready\n" + summary); }
  void failed(const std::string& message) { send("error\n" + message); }

 private:
  void send(const std::string& message) {
    if (fd_ < 0) {
      std::fputs(message.substr(message.find('\n') + 1).c_str(),
                 message.rfind("error", 0) == 0 ? stderr : stdout);
      std::fflush(nullptr);
      return;
    }
    for (size_t off = 0; off < message.size();) {
      const auto n = ::write(fd_, message.data() + off, message.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::close(fd_);
    fd_ = -1;
  }
  int fd_;
};

asio::awaitable<std::string> describe_leader(Cluster& cluster) {
  etcd::Config config;
  config.endpoints = cluster.etcd().client_urls();
  config.request_timeout = Millis{1000};
  etcd::Client client(co_await asio::this_coro::executor, std::move(config));
  // An election may still be settling right after boot: ask a few times.
  asio::steady_timer pause(co_await asio::this_coro::executor);
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto leader = co_await etcd::find_leader(client);
    if (leader) co_return leader->endpoint;
    pause.expires_after(Millis{50});
    co_await pause.async_wait(asio::use_awaitable);
  }
  co_return std::string{};
}

std::string summary(Cluster& cluster, Millis boot_time, const std::string& leader_endpoint) {
  const auto& opts = cluster.options();
  const auto& plan = cluster.addresses();
  std::string out = fmt::format("cluster \"{}\" ready in {} (profile {}, subnet {})\n", opts.name,
                                format_duration(boot_time), opts.profile.name(), plan.cidr());
  // One row per process or node, names padded to the longest.
  std::vector<std::pair<std::string, std::string>> rows;
  for (const auto& m : cluster.etcd().members) {
    const auto info = cluster.supervisor().info(m.name);
    rows.emplace_back(m.name, fmt::format("{:<26} pid {:<8}{}", m.client_url, info ? info->pid : 0,
                                          m.client_url == leader_endpoint ? " leader" : ""));
  }
  const auto apiservers = cluster.apiserver_urls();
  for (size_t i = 0; i < apiservers.size(); ++i)
    rows.emplace_back(fmt::format("apiserver-{}", i + 1), apiservers[i]);
  for (int i = 1; i <= opts.controller_managers && !apiservers.empty(); ++i) {
    rows.emplace_back(fmt::format("controller-manager-{}", i),
                      fmt::format("http://{}/metrics", cluster.controller_manager_endpoint(i).to_string()));
  }
  for (int i = 1; i <= opts.schedulers && !apiservers.empty(); ++i) {
    rows.emplace_back(fmt::format("scheduler-{}", i),
                      fmt::format("http://{}/metrics", cluster.scheduler_endpoint(i).to_string()));
  }
  for (const auto& node : cluster.record().nodes) {
    rows.emplace_back(node.name, fmt::format("node IP {:<18} pod CIDR {:<18} kubelet :{}", node.ip,
                                             node.pod_cidr, cluster::AddressPlan::kKubeletPort));
  }
  std::size_t width = 12;
  for (const auto& row : rows) width = std::max(width, row.first.size());
  for (const auto& [name, rest] : rows) out += fmt::format("  {:<{}} {}\n", name, width, rest);
  out += fmt::format("  run dir    {}\n", cluster.run_dir().path().string());
  out += fmt::format("  etcdctl --endpoints={} endpoint status -w table\n",
                     fmt::join(cluster.etcd().client_urls(), ","));
  if (!apiservers.empty()) {
    out += fmt::format("  kubeconfig {}\n", cluster.kubeconfig_path().string());
    out += fmt::format("  kubectl --kubeconfig {} get nodes -o wide\n", cluster.kubeconfig_path().string());
  }
  return out;
}

// What the signal handler and the supervising coroutine share.
struct StopState {
  explicit StopState(asio::io_context& io) : event(io, asio::steady_timer::time_point::max()) {}
  // Expiring the timer (rather than cancelling a wait) also completes a wait
  // that starts later, so a signal during boot or leader lookup is not lost.
  void request() { event.expires_at(asio::steady_timer::time_point::min()); }
  asio::steady_timer event;
  Cluster* cluster = nullptr;  // set once created
  bool ready = false;
  bool interrupted = false;
  int signals = 0;
};

// Boots the cluster, reports, and supervises it until a stop is requested.
asio::awaitable<int> run_cluster(Cluster* cluster, BootReporter* reporter, StopState* stop) {
  const auto begin = std::chrono::steady_clock::now();
  auto started = co_await cluster->start();
  const auto boot_time = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - begin);
  if (!started) {
    reporter->failed(stop->interrupted ? std::string("shakeout: interrupted before the cluster was ready\n")
                                       : fmt::format("shakeout: error: {}\n", started.error().message));
    co_await cluster->stop();
    co_return stop->interrupted ? kExitInterrupted : kExitUsage;
  }
  stop->ready = true;
  const auto leader = co_await describe_leader(*cluster);
  reporter->ready(summary(*cluster, boot_time, leader) +
                  (reporter->detached()
                       ? fmt::format("Stop it with: shakeout down --name {}\n", cluster->options().name)
                       : std::string("Press Ctrl-C to stop.\n")));
  boost::system::error_code ec;
  co_await stop->event.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_await cluster->stop();
  log::info("up", "cluster \"{}\" stopped", cluster->options().name);
  co_return kExitOk;
}

// Boots and supervises until a stop signal. Returns the exit code.
int supervise(const UpOptions& options, BootReporter reporter) {
  asio::io_context io;
  // Signals are caught from before the run dir exists, so none can end the
  // process between creating it and tearing it down.
  StopState stop(io);
  asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec,
                                                                      int signo) {
    if (ec) return;
    log::info("up", "received {}, stopping cluster \"{}\"", strsignal(signo), options.cluster.name);
    stop.interrupted = !stop.ready;
    // Before the cluster is ready a signal aborts the boot (start() then
    // fails fast); once ready, a second signal means now.
    if (stop.cluster != nullptr && (!stop.ready || ++stop.signals > 1)) stop.cluster->abort();
    stop.request();
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);

  auto created = Cluster::create(io, options.cluster);
  if (!created) {
    reporter.failed(fmt::format("shakeout: error: {}\n", created.error().message));
    return kExitUsage;
  }
  Cluster& cluster = **created;
  stop.cluster = &cluster;
  io.poll();  // a signal that came during create
  if (stop.interrupted) {
    reporter.failed("shakeout: interrupted before the cluster was ready\n");
    return kExitInterrupted;
  }
  if (reporter.detached()) {
    // From here on the supervisor's own log is a file in the run dir.
    const auto log_path = cluster.run_dir().log_file("supervisor");
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      ::close(fd);
    }
  }
  const int exit_code = run_blocking(io, run_cluster(&cluster, &reporter, &stop));
  signals.cancel();
  created->reset();  // removes the run dir and releases the subnet
  return exit_code;
}

pid_t g_booting_supervisor = 0;
void forward_to_supervisor(int) {
  ::kill(g_booting_supervisor, SIGTERM);
}

// Forks the supervisor into its own session and waits for its boot report.
int up_detached(const UpOptions& options) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    std::perror("shakeout: pipe");
    return kExitUsage;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("shakeout: fork");
    return kExitUsage;
  }
  if (pid == 0) {
    ::close(fds[0]);
    ::setsid();
    const int null_fd = ::open("/dev/null", O_RDWR);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::_exit(supervise(options, BootReporter(fds[1])));
  }
  ::close(fds[1]);
  // Ctrl-C while waiting cancels the boot: the supervisor aborts and cleans up.
  g_booting_supervisor = pid;
  std::signal(SIGINT, forward_to_supervisor);
  std::signal(SIGTERM, forward_to_supervisor);
  std::string report;
  char buf[4096];
  // The supervisor either reports (then closes the pipe) or dies (EOF).
  for (;;) {
    const auto n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    report.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  if (report.rfind("ready\n", 0) == 0) {
    std::fputs(report.c_str() + 6, stdout);
    return kExitOk;
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (report.rfind("error\n", 0) == 0) {
    std::fputs(report.c_str() + 6, stderr);
  } else {
    std::fprintf(stderr, "shakeout: error: the supervisor died while booting\n");
  }
  return WIFEXITED(status) && WEXITSTATUS(status) != 0 ? WEXITSTATUS(status) : kExitUsage;
}

}  // namespace

int up(const UpOptions& options) {
  std::signal(SIGPIPE, SIG_IGN);
  if (options.detach) return up_detached(options);
  return supervise(options, BootReporter());
}

}  // namespace shakeout::cli
