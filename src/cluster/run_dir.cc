#include "cluster/run_dir.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <fstream>

#include "cluster/address_plan.h"
#include "cluster/supervisor.h"
#include "common/log.h"

namespace shakeout::cluster {
namespace {

Error io_error(const std::string& what, const fs::path& path) {
  return make_error(ErrorCode::kIo, fmt::format("{} {}: {}", what, path.string(), std::strerror(errno)));
}

Status make_private_dir(const fs::path& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return make_error(ErrorCode::kIo, fmt::format("create {}: {}", path.string(), ec.message()));
  if (::chmod(path.c_str(), 0700) != 0) return io_error("chmod", path);
  return {};
}

// The runtime root must be ours: a predictable path like /dev/shm/shakeout-0
// could have been made by another user to plant records that `down` acts on.
Status ensure_runtime_root(const fs::path& root) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return make_error(ErrorCode::kIo, fmt::format("create {}: {}", root.string(), ec.message()));
  struct stat st {};
  if (::lstat(root.c_str(), &st) != 0) return io_error("stat", root);
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::getuid()) {
    return make_error(ErrorCode::kIo,
                      fmt::format("runtime dir {} must be a directory (not a link) owned by uid {}",
                                  root.string(), ::getuid()));
  }
  if (::chmod(root.c_str(), 0700) != 0) return io_error("chmod", root);
  return {};
}

// True if 127.C.0.11:2379 and :2380 can be bound, i.e. nothing outside our
// locks (another user's cluster, a stray etcd) sits on the subnet.
bool subnet_ports_free(int subnet) {
  const AddressPlan plan(subnet);
  for (int port : {AddressPlan::kEtcdClientPort, AddressPlan::kEtcdPeerPort}) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, plan.etcd_ip(1).c_str(), &addr.sin_addr);
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (!ok) return false;
  }
  return true;
}

std::string rfc3339_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Waits until `pid` exits, up to `timeout`. True if it exited.
bool wait_pid_exit(pid_t pid, Millis timeout) {
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno == ESRCH;
  pollfd pfd{fd, POLLIN, 0};
  int rc;
  do {
    rc = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
  } while (rc < 0 && errno == EINTR);
  ::close(fd);
  return rc > 0;
}

// Kills what a dead supervisor left: every recorded process that is still the
// same process (pid and start time), with its process group.
std::vector<std::string> kill_leftovers(const ClusterRecord& record) {
  std::vector<std::string> killed;
  for (const auto& p : record.processes) {
    if (p.pid <= 0 || !process_alive(p.pid, p.start_ticks)) continue;
    ::kill(-p.pid, SIGKILL);
    ::kill(p.pid, SIGKILL);
    killed.push_back(p.name);
  }
  // Remove nothing while they may still write into the run dir.
  for (const auto& p : record.processes) {
    if (std::find(killed.begin(), killed.end(), p.name) != killed.end()) wait_pid_exit(p.pid, Millis{5000});
  }
  return killed;
}

Status remove_tree(const fs::path& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) return make_error(ErrorCode::kIo, fmt::format("remove {}: {}", dir.string(), ec.message()));
  return {};
}

// Cleans a run dir whose supervisor is gone. Caller holds clusters.lock and
// the run dir's supervisor.lock.
std::vector<std::string> clean_stale(const fs::path& dir) {
  std::vector<std::string> killed;
  if (auto record = read_record(dir)) killed = kill_leftovers(*record);
  if (auto removed = remove_tree(dir); !removed) log::warn("cluster", "{}", removed.error().message);
  return killed;
}

}  // namespace

fs::path default_runtime_root() {
  if (const char* dir = std::getenv("SHAKEOUT_RUNTIME_DIR"); dir != nullptr && *dir != '\0') return dir;
  if (const char* dir = std::getenv("XDG_RUNTIME_DIR"); dir != nullptr && *dir != '\0') {
    return fs::path(dir) / "shakeout";
  }
  const auto user_dir = fmt::format("shakeout-{}", ::getuid());
  std::error_code ec;
  if (fs::is_directory("/dev/shm", ec)) return fs::path("/dev/shm") / user_dir;
  return fs::temp_directory_path() / user_dir;
}

// --- FileLock ---------------------------------------------------------------

Result<FileLock> FileLock::lock(const fs::path& path, int operation, int open_flags) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | open_flags, 0600);
  if (fd < 0) {
    if (errno == ENOENT)
      return make_error(ErrorCode::kNotFound, fmt::format("{}: no such file", path.string()));
    return io_error("open", path);
  }
  while (::flock(fd, operation) != 0) {
    if (errno == EINTR) continue;
    const int saved = errno;
    ::close(fd);
    if (saved == EWOULDBLOCK) {
      return make_error(ErrorCode::kConflict, fmt::format("{} is held by another process", path.string()));
    }
    errno = saved;
    return io_error("flock", path);
  }
  return FileLock(fd);
}

Result<FileLock> FileLock::try_acquire(const fs::path& path) {
  return lock(path, LOCK_EX | LOCK_NB, O_CREAT);
}
Result<FileLock> FileLock::acquire(const fs::path& path) {
  return lock(path, LOCK_EX, O_CREAT);
}
Result<FileLock> FileLock::try_acquire_existing(const fs::path& path) {
  return lock(path, LOCK_EX | LOCK_NB, 0);
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

// Closing (never LOCK_UN) releases the lock only when the last descriptor of
// the open file is closed, so a lock carried across fork() stays held.
Result<FileLock> FileLock::try_acquire_abstract(const std::string& name) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(ErrorCode::kIo, fmt::format("socket: {}", std::strerror(errno)));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const size_t length = std::min(name.size(), sizeof(addr.sun_path) - 1);
  std::memcpy(addr.sun_path + 1, name.data(), length);  // sun_path[0] == '\0': abstract
  const auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + length);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), size) != 0) {
    const int error = errno;
    ::close(fd);
    if (error == EADDRINUSE) return make_error(ErrorCode::kConflict, "held: @" + name);
    return make_error(ErrorCode::kIo, fmt::format("bind @{}: {}", name, std::strerror(error)));
  }
  return FileLock(fd);
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

// --- names and records ------------------------------------------------------

Status validate_cluster_name(const std::string& name) {
  const bool chars_ok =
      !name.empty() && name.size() <= 40 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      });
  if (!chars_ok || name.front() == '-' || name.back() == '-') {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("invalid cluster name '{}': use 1-40 of a-z, 0-9 and '-', "
                                  "starting and ending with a letter or digit",
                                  name));
  }
  return {};
}

void to_json(nlohmann::json& j, const ClusterRecord& r) {
  nlohmann::json processes = nlohmann::json::array();
  for (const auto& p : r.processes) {
    processes.push_back({{"name", p.name},
                         {"role", p.role},
                         {"pid", p.pid},
                         {"startTicks", p.start_ticks},
                         {"state", p.state},
                         {"log", p.log},
                         {"addresses", p.addresses}});
  }
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& n : r.nodes) nodes.push_back({{"name", n.name}, {"ip", n.ip}, {"podCIDR", n.pod_cidr}});
  nlohmann::json timings = nlohmann::json::object();
  for (const auto& [name, value] : r.timings) timings[name] = value;
  j = {{"name", r.name},
       {"subnet", r.subnet},
       {"runDir", r.run_dir},
       {"profile", r.profile},
       {"state", r.state},
       {"supervisor", {{"pid", r.supervisor_pid}, {"startTicks", r.supervisor_start_ticks}}},
       {"createdAt", r.created_at},
       {"etcdEndpoints", r.etcd_endpoints},
       {"nodes", nodes},
       {"processes", processes},
       {"timings", timings}};
}

void from_json(const nlohmann::json& j, ClusterRecord& r) {
  r.name = j.at("name").get<std::string>();
  r.subnet = j.at("subnet").get<int>();
  r.run_dir = j.at("runDir").get<std::string>();
  r.profile = j.value("profile", "");
  r.state = j.value("state", "");
  r.supervisor_pid = j.at("supervisor").at("pid").get<pid_t>();
  r.supervisor_start_ticks = j.at("supervisor").value("startTicks", uint64_t{0});
  r.created_at = j.value("createdAt", "");
  r.etcd_endpoints = j.value("etcdEndpoints", std::vector<std::string>{});
  r.nodes.clear();
  for (const auto& n : j.value("nodes", nlohmann::json::array())) {
    r.nodes.push_back(
        {n.at("name").get<std::string>(), n.at("ip").get<std::string>(), n.at("podCIDR").get<std::string>()});
  }
  r.processes.clear();
  for (const auto& p : j.at("processes")) {
    r.processes.push_back({p.at("name").get<std::string>(), p.value("role", ""), p.at("pid").get<pid_t>(),
                           p.value("startTicks", uint64_t{0}), p.value("state", ""), p.value("log", ""),
                           p.value("addresses", std::map<std::string, std::string>{})});
  }
  r.timings.clear();
  const auto timings = j.value("timings", nlohmann::json::object());  // items() must not outlive it
  for (const auto& [name, value] : timings.items()) {
    r.timings.emplace_back(name, value.get<std::string>());
  }
}

Result<ClusterRecord> read_record(const fs::path& run_dir) {
  const auto path = run_dir / "cluster.json";
  std::ifstream in(path);
  if (!in) return make_error(ErrorCode::kNotFound, fmt::format("{}: cannot open", path.string()));
  try {
    return nlohmann::json::parse(in).get<ClusterRecord>();
  } catch (const nlohmann::json::exception& e) {
    return make_error(ErrorCode::kProtocol, fmt::format("{}: {}", path.string(), e.what()));
  }
}

// --- subnets ----------------------------------------------------------------

Result<SubnetLease> lease_subnet(const fs::path& root) {
  if (auto owned = ensure_runtime_root(root); !owned) return owned.error();
  if (auto made = make_private_dir(root / "locks"); !made) return made.error();
  for (int subnet = AddressPlan::kMinSubnet; subnet <= AddressPlan::kMaxSubnet; ++subnet) {
    auto lock = FileLock::try_acquire(root / "locks" / fmt::format("subnet-{}.lock", subnet));
    if (!lock) {
      if (lock.error().code == ErrorCode::kConflict) continue;
      return lock.error();
    }
    auto machine_lock = FileLock::try_acquire_abstract(fmt::format("shakeout-subnet-{}", subnet));
    if (!machine_lock) {
      if (machine_lock.error().code == ErrorCode::kConflict) continue;  // another runtime root's cluster
      return machine_lock.error();
    }
    if (!subnet_ports_free(subnet)) {
      log::debug("cluster", "subnet 127.{}.0.0/16 is in use outside shakeout's locks; skipping", subnet);
      continue;
    }
    return SubnetLease{subnet, std::move(*lock), std::move(*machine_lock)};
  }
  return make_error(ErrorCode::kUnavailable, "every subnet 127.1-254.0.0/16 is taken by a running cluster");
}

// --- RunDir -----------------------------------------------------------------

Result<RunDir> RunDir::create(const fs::path& root, const std::string& name) {
  if (auto valid = validate_cluster_name(name); !valid) return valid.error();
  if (auto owned = ensure_runtime_root(root); !owned) return owned.error();
  if (auto made = make_private_dir(root / "clusters"); !made) return made.error();
  auto global = FileLock::acquire(root / "clusters.lock");
  if (!global) return global.error();

  const auto dir = root / "clusters" / name;
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    auto lock = FileLock::try_acquire(dir / "supervisor.lock");
    if (!lock) {
      if (lock.error().code == ErrorCode::kConflict) {
        return make_error(ErrorCode::kAlreadyExists,
                          fmt::format("cluster '{}' is already running (run dir {})", name, dir.string()));
      }
      return lock.error();
    }
    log::info("cluster", "cleaning up stale cluster '{}' left by a supervisor that died", name);
    clean_stale(dir);
  }
  for (const char* sub : {"", "logs", "data"}) {
    if (auto made = make_private_dir(dir / sub); !made) return made.error();
  }
  auto lock = FileLock::try_acquire(dir / "supervisor.lock");
  if (!lock) return lock.error();
  return RunDir(dir, name, std::move(*lock));
}

RunDir::RunDir(RunDir&& other) noexcept
    : path_(std::exchange(other.path_, {})),
      name_(std::move(other.name_)),
      lock_(std::move(other.lock_)),
      keep_(other.keep_) {}

RunDir::~RunDir() {
  if (path_.empty() || keep_) return;
  if (auto removed = remove_tree(path_); !removed) log::warn("cluster", "{}", removed.error().message);
}

Status RunDir::write_record(const ClusterRecord& record) const {
  ClusterRecord stamped = record;
  if (stamped.created_at.empty()) stamped.created_at = rfc3339_now();
  const auto path = path_ / "cluster.json";
  const auto tmp = path_ / "cluster.json.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return io_error("write", tmp);
    out << nlohmann::json(stamped).dump(2) << '\n';
    if (!out.flush()) return io_error("write", tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return io_error("rename", tmp);
  return {};
}

// --- listing and teardown ----------------------------------------------------

std::vector<ClusterEntry> list_clusters(const fs::path& root) {
  std::vector<ClusterEntry> out;
  std::error_code ec;
  if (!fs::is_directory(root / "clusters", ec)) return out;
  // Under clusters.lock, so a probe never races a run dir being created or
  // cleaned; the probe never creates a lock file (a supervisor may be
  // removing its directory right now).
  auto global = FileLock::acquire(root / "clusters.lock");
  for (const auto& entry : fs::directory_iterator(root / "clusters", ec)) {
    if (!entry.is_directory()) continue;
    ClusterEntry e;
    e.name = entry.path().filename().string();
    e.dir = entry.path();
    auto lock = FileLock::try_acquire_existing(e.dir / "supervisor.lock");
    e.supervisor_alive = !lock && lock.error().code == ErrorCode::kConflict;
    if (auto record = read_record(e.dir)) e.record = std::move(*record);
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

namespace {

// Asks a live supervisor to tear down, as Ctrl-C would, and waits for it to
// exit (SIGKILL after `timeout`: its children die with it).
Status stop_supervisor(const fs::path& dir, const std::string& name, Millis timeout) {
  auto record = read_record(dir);
  if (!record) return record.error();
  const pid_t pid = record->supervisor_pid;
  if (pid <= 0 || !process_alive(pid, record->supervisor_start_ticks)) return {};
  ::kill(pid, SIGTERM);
  if (!wait_pid_exit(pid, timeout)) {
    log::warn("cluster", "supervisor of '{}' (pid {}) did not stop within {}; killing it", name, pid,
              format_duration(timeout));
    ::kill(pid, SIGKILL);
    wait_pid_exit(pid, Millis{5000});
  }
  return {};
}

}  // namespace

Result<DownResult> down_cluster(const fs::path& root, const std::string& name, Millis timeout) {
  if (auto valid = validate_cluster_name(name); !valid) return valid.error();
  const auto dir = root / "clusters" / name;
  DownResult result;
  // At most twice: a live supervisor is stopped outside clusters.lock, then
  // whatever it left is cleaned under it.
  for (int round = 0; round < 2; ++round) {
    {
      auto global = FileLock::acquire(root / "clusters.lock");
      if (!global) return global.error();
      std::error_code ec;
      if (!fs::is_directory(dir, ec)) {
        if (result.was_running) return result;  // it stopped cleanly and removed its run dir
        return make_error(ErrorCode::kNotFound,
                          fmt::format("no cluster named '{}' (under {})", name, root.string()));
      }
      auto lock = FileLock::try_acquire_existing(dir / "supervisor.lock");
      if (lock || lock.error().code == ErrorCode::kNotFound) {
        // No live supervisor (it died, or never finished creating the dir).
        result.was_stale = !result.was_running;
        result.killed = clean_stale(dir);
        return result;
      }
      if (lock.error().code != ErrorCode::kConflict) return lock.error();
      if (result.was_running) {
        return make_error(ErrorCode::kConflict,
                          fmt::format("cluster '{}' is running again (another `up` started it)", name));
      }
      result.was_running = true;
    }  // clusters.lock released: the supervisor takes it to remove its run dir
    if (auto stopped = stop_supervisor(dir, name, timeout); !stopped) return stopped.error();
  }
  return result;
}

}  // namespace shakeout::cluster
