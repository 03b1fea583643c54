#pragma once
// The run directory of a cluster and the records in it.
//
//   <runtime root>/                    $SHAKEOUT_RUNTIME_DIR, else $XDG_RUNTIME_DIR/shakeout,
//                                      else /dev/shm/shakeout-<uid> (tmpfs: etcd's fsyncs are cheap)
//     clusters.lock                    held briefly while a run dir is created or cleaned
//     locks/subnet-<C>.lock            held by the supervisor that owns 127.C.0.0/16
//     clusters/<name>/                 mode 0700, one per cluster
//       supervisor.lock                held by the live supervisor for its whole life
//       cluster.json                   every process, pid and address (ClusterRecord)
//       logs/<component>.log
//       data/<component>/
//
// Liveness is the lock, not the pid: a supervisor that dies in any way
// (SIGKILL included) releases its locks, so a run dir whose supervisor.lock
// can be taken is stale, and its subnet is free again.

#include <sys/types.h>

#include <nlohmann/json_fwd.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace shakeout::cluster {

namespace fs = std::filesystem;

fs::path default_runtime_root();

// An exclusive flock(2) on a file, released when destroyed. Move-only.
class FileLock {
 public:
  // kConflict if another open file description holds the lock.
  static Result<FileLock> try_acquire(const fs::path& path);
  // Blocks until the lock is free.
  static Result<FileLock> acquire(const fs::path& path);
  // Like try_acquire, but never creates the file: kNotFound if it is missing.
  static Result<FileLock> try_acquire_existing(const fs::path& path);
  // A machine-wide lock with no file: a bound abstract Unix socket named
  // "\0<name>" (one namespace for every user and runtime root; released by
  // the kernel when the holder dies). kConflict if another process holds it.
  static Result<FileLock> try_acquire_abstract(const std::string& name);
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  static Result<FileLock> lock(const fs::path& path, int operation, int open_flags);
  int fd_ = -1;
};

// Cluster names are DNS labels: [a-z0-9-], 1..40 chars, alphanumeric ends.
Status validate_cluster_name(const std::string& name);

struct ProcessRecord {
  std::string name;  // "etcd-1"
  std::string role;  // "etcd"
  pid_t pid = 0;
  uint64_t start_ticks = 0;
  std::string state;  // "running" | "paused" | "exited"
  std::string log;
  std::map<std::string, std::string> addresses;  // "client" -> "http://127.1.0.11:2379"
};

struct NodeRecord {
  std::string name;      // "node-1"
  std::string ip;        // "127.C.1.1"
  std::string pod_cidr;  // "127.C.1.0/24"
};

struct ClusterRecord {
  std::string name;
  int subnet = 0;
  std::string run_dir;
  std::string profile;
  std::string state;  // "starting" | "ready" | "stopping"
  pid_t supervisor_pid = 0;
  uint64_t supervisor_start_ticks = 0;
  std::string created_at;  // RFC 3339
  std::vector<std::string> etcd_endpoints;
  std::vector<NodeRecord> nodes;
  std::vector<ProcessRecord> processes;
  std::vector<std::pair<std::string, std::string>> timings;  // profile's effective values
};

void to_json(nlohmann::json& j, const ClusterRecord& r);
void from_json(const nlohmann::json& j, ClusterRecord& r);
Result<ClusterRecord> read_record(const fs::path& run_dir);

// The subnet C a cluster owns while the lease lives.
struct SubnetLease {
  int subnet = 0;
  FileLock lock;          // locks/subnet-C.lock under the runtime root
  FileLock machine_lock;  // "shakeout-subnet-C", across runtime roots and users
};
// Takes the lowest free subnet: both its locks are free and its etcd ports
// bind. (The runtime root's lock alone let two roots, e.g. two users or two
// SHAKEOUT_RUNTIME_DIRs, take the same C before either etcd had bound.)
Result<SubnetLease> lease_subnet(const fs::path& root);

// A live cluster's run directory, owned by its supervisor. Destruction
// removes the directory (unless keep() was called) and releases the lock.
class RunDir {
 public:
  // Creates clusters/<name> under `root`. A stale run dir of that name is
  // cleaned first; a live one gives kAlreadyExists.
  static Result<RunDir> create(const fs::path& root, const std::string& name);
  RunDir(RunDir&& other) noexcept;
  RunDir& operator=(RunDir&&) = delete;
  RunDir(const RunDir&) = delete;
  ~RunDir();

  const fs::path& path() const { return path_; }
  const std::string& name() const { return name_; }
  fs::path log_file(const std::string& component) const { return path_ / "logs" / (component + ".log"); }
  fs::path data_dir(const std::string& component) const { return path_ / "data" / component; }
  // Writes cluster.json atomically (temp file + rename).
  Status write_record(const ClusterRecord& record) const;
  // Leaves the directory in place on destruction (for post-mortem logs).
  void keep() { keep_ = true; }

 private:
  RunDir(fs::path path, std::string name, FileLock lock)
      : path_(std::move(path)), name_(std::move(name)), lock_(std::move(lock)) {}
  fs::path path_;
  std::string name_;
  FileLock lock_;
  bool keep_ = false;
};

struct ClusterEntry {
  std::string name;
  fs::path dir;
  bool supervisor_alive = false;
  std::optional<ClusterRecord> record;  // absent if cluster.json is missing or unreadable
};
std::vector<ClusterEntry> list_clusters(const fs::path& root);

struct DownResult {
  bool was_running = false;         // a live supervisor was asked to stop
  bool was_stale = false;           // the supervisor had died; leftovers cleaned
  std::vector<std::string> killed;  // leftover processes that had to be killed
};
// Stops cluster `name`: a live supervisor gets SIGTERM and `timeout` to tear
// down (then SIGKILL); leftovers of a dead one are killed; the run dir goes.
// kNotFound if there is no such cluster.
Result<DownResult> down_cluster(const fs::path& root, const std::string& name, Millis timeout);

}  // namespace shakeout::cluster
