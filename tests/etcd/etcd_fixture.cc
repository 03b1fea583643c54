#include "etcd_fixture.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "etcd/client.h"

namespace shakeout::etcd::testing {

namespace {

constexpr int kClientPort = 2379;
constexpr int kPeerPort = 2380;
constexpr int kAddressAttempts = 100;

// Whether something else already holds ip:port (with SO_REUSEADDR, as etcd's
// Go listeners use it, so TIME_WAIT leftovers do not count).
bool can_bind(const std::string& ip, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &address.sin_addr);
  const bool ok = bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return ok;
}

Result<std::string> pick_address(std::mt19937& random, const std::set<std::string>& taken) {
  std::uniform_int_distribution<int> x(200, 250), y(0, 255), z(1, 254);
  for (int attempt = 0; attempt < kAddressAttempts; ++attempt) {
    const std::string ip = fmt::format("127.{}.{}.{}", x(random), y(random), z(random));
    if (!taken.contains(ip) && can_bind(ip, kClientPort) && can_bind(ip, kPeerPort)) return ip;
  }
  return make_error(ErrorCode::kUnavailable, "no free loopback address for etcd");
}

std::vector<std::string> etcd_args(const std::string& name, const std::string& ip, const std::filesystem::path& dir,
                                   const std::string& initial_cluster) {
  const std::string client_url = fmt::format("http://{}:{}", ip, kClientPort);
  const std::string peer_url = fmt::format("http://{}:{}", ip, kPeerPort);
  return {"/usr/bin/etcd",
          "--name", name,
          "--data-dir", (dir / name).string(),
          "--listen-client-urls", client_url,
          "--advertise-client-urls", client_url,
          "--listen-peer-urls", peer_url,
          "--initial-advertise-peer-urls", peer_url,
          "--initial-cluster", initial_cluster,
          "--initial-cluster-state", "new",
          "--initial-cluster-token", dir.filename().string(),  // one per cluster
          "--heartbeat-interval", "10",
          "--election-timeout", "100",
          "--experimental-watch-progress-notify-interval", "100ms",
          "--logger", "zap",
          "--log-outputs", "stderr"};
}

// One linearizable range against exactly `endpoint`.
asio::awaitable<bool> answers_range(asio::io_context& io, std::string endpoint) {
  Client client(io.get_executor(), Config{{std::move(endpoint)}, Millis(1000), Millis(500)});
  auto range = co_await client.range("shakeout-fixture-ready");
  co_return range.ok();
}

asio::awaitable<void> pause(Millis duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  co_await timer.async_wait(asio::use_awaitable);
}

}  // namespace

Result<std::unique_ptr<EtcdCluster>> EtcdCluster::start(int size, Millis ready_timeout) {
  if (size != 1 && size != 3) return make_error(ErrorCode::kInvalidArgument, "etcd test cluster size must be 1 or 3");
  std::string dir_template = "/dev/shm/shakeout-etcd-XXXXXX";
  if (mkdtemp(dir_template.data()) == nullptr) {
    return make_error(ErrorCode::kIo, fmt::format("mkdtemp: {}", std::strerror(errno)));
  }
  std::unique_ptr<EtcdCluster> cluster(new EtcdCluster(dir_template));

  std::mt19937 random(std::random_device{}());
  std::set<std::string> taken;
  std::string initial_cluster;
  for (int i = 0; i < size; ++i) {
    auto ip = pick_address(random, taken);
    if (!ip) return ip.error();
    taken.insert(*ip);
    Member member{fmt::format("etcd-{}", i), *ip, fmt::format("http://{}:{}", *ip, kClientPort)};
    initial_cluster += fmt::format("{}{}=http://{}:{}", i == 0 ? "" : ",", member.name, member.ip, kPeerPort);
    cluster->members_.push_back(std::move(member));
  }
  for (auto& member : cluster->members_) {
    if (auto spawned = cluster->spawn(member, initial_cluster); !spawned) return spawned.error();
  }
  if (auto ready = cluster->wait_ready(ready_timeout); !ready) return ready.error();
  return cluster;
}

EtcdCluster::~EtcdCluster() {
  for (int i = 0; i < size(); ++i) kill_member(i);
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::vector<std::string> EtcdCluster::endpoints() const {
  std::vector<std::string> result;
  for (const auto& member : members_) result.push_back(member.endpoint);
  return result;
}

void EtcdCluster::kill_member(int i) {
  Member& member = members_.at(i);
  if (member.pid <= 0) return;
  kill(member.pid, SIGKILL);
  while (waitpid(member.pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  member.pid = -1;
}

void EtcdCluster::pause_member(int i) { kill(members_.at(i).pid, SIGSTOP); }

void EtcdCluster::resume_member(int i) { kill(members_.at(i).pid, SIGCONT); }

Status EtcdCluster::spawn(Member& member, const std::string& initial_cluster) {
  // Everything the child needs is prepared before fork(): after it, only
  // async-signal-safe calls.
  const auto args = etcd_args(member.name, member.ip, dir_, initial_cluster);
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const std::string log_path = (dir_ / (member.name + ".log")).string();
  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (log_fd < 0 || null_fd < 0) return make_error(ErrorCode::kIo, fmt::format("open {}: {}", log_path, std::strerror(errno)));
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the test died before prctl took effect
    dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    close_range(3, ~0U, 0);
    execv(argv[0], argv.data());
    _exit(127);
  }
  const int fork_errno = errno;
  close(log_fd);
  close(null_fd);
  if (pid < 0) return make_error(ErrorCode::kIo, fmt::format("fork: {}", std::strerror(fork_errno)));
  member.pid = pid;
  return {};
}

Status EtcdCluster::wait_ready(Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  asio::io_context io;
  for (auto& member : members_) {
    for (;;) {
      if (waitpid(member.pid, nullptr, WNOHANG) == member.pid) {
        member.pid = -1;  // reaped
        return make_error(ErrorCode::kUnavailable,
                          fmt::format("{} exited during start-up; log tail:\n{}", member.name, log_tail(member)));
      }
      if (run_blocking(io, answers_range(io, member.endpoint))) break;
      if (std::chrono::steady_clock::now() > deadline) {
        return make_error(ErrorCode::kTimeout,
                          fmt::format("{} not ready within {}; log tail:\n{}", member.name, format_duration(timeout),
                                      log_tail(member)));
      }
      run_blocking(io, pause(Millis(20)));  // the member is still starting: poll again shortly
    }
  }
  return {};
}

std::string EtcdCluster::log_tail(const Member& member) const {
  std::ifstream log(dir_ / (member.name + ".log"));
  std::stringstream text;
  text << log.rdbuf();
  const std::string all = text.str();
  return all.size() > 3000 ? all.substr(all.size() - 3000) : all;
}

}  // namespace shakeout::etcd::testing
