#include "cluster/run_dir.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster/address_plan.h"
#include "cluster/supervisor.h"
#include "test_support.h"

namespace shakeout::cluster {
namespace {

using namespace std::chrono_literals;
using shakeout::testing::TempDir;

TEST(RunDir, CreatesAPrivateDirectoryAndRemovesItOnDestruction) {
  TempDir root;
  fs::path path;
  {
    auto dir = RunDir::create(root.path(), "alpha");
    ASSERT_TRUE(dir.ok()) << dir.error().message;
    path = dir->path();
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    EXPECT_TRUE(fs::is_directory(path / "logs"));
    EXPECT_TRUE(fs::is_directory(path / "data"));
  }
  EXPECT_FALSE(fs::exists(path));
}

TEST(RunDir, RefusesARuntimeRootThatIsASymlink) {
  TempDir base;
  fs::create_directory(base.path() / "elsewhere");
  fs::create_directory_symlink(base.path() / "elsewhere", base.path() / "root");
  auto dir = RunDir::create(base.path() / "root", "alpha");
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.error().message.find("not a link"), std::string::npos) << dir.error().message;
  EXPECT_TRUE(fs::is_empty(base.path() / "elsewhere"));
}

TEST(RunDir, SecondCreateOfALiveClusterIsRefused) {
  TempDir root;
  auto first = RunDir::create(root.path(), "alpha");
  ASSERT_TRUE(first.ok());
  auto second = RunDir::create(root.path(), "alpha");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, ErrorCode::kAlreadyExists);
  EXPECT_TRUE(fs::exists(first->path()));  // the refused attempt did not touch it
}

TEST(RunDir, RejectsNamesThatAreNotDnsLabels) {
  TempDir root;
  for (const char* bad : {"", "Upper", "has space", "-lead", "trail-", "a/b", ".."}) {
    auto dir = RunDir::create(root.path(), bad);
    ASSERT_FALSE(dir.ok()) << bad;
    EXPECT_EQ(dir.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_FALSE(fs::exists(root.path() / "clusters" / "a"));
}

TEST(RunDir, RecordRoundTripsThroughClusterJson) {
  TempDir root;
  auto dir = RunDir::create(root.path(), "alpha");
  ASSERT_TRUE(dir.ok());
  ClusterRecord record;
  record.name = "alpha";
  record.subnet = 9;
  record.run_dir = dir->path();
  record.profile = "fast";
  record.state = "ready";
  record.supervisor_pid = ::getpid();
  record.etcd_endpoints = {"http://127.9.0.11:2379"};
  record.nodes = {{"node-1", "127.9.1.1", "127.9.1.0/24"}};
  record.processes = {{"etcd-1", "etcd", 42, 7, "running", "/x.log", {{"client", "http://127.9.0.11:2379"}}}};
  record.timings = {{"node-lease-duration", "2s"}};
  ASSERT_TRUE(dir->write_record(record).ok());
  auto back = read_record(dir->path());
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->subnet, 9);
  EXPECT_EQ(back->state, "ready");
  EXPECT_EQ(back->nodes.at(0).pod_cidr, "127.9.1.0/24");
  EXPECT_EQ(back->processes.at(0).pid, 42);
  EXPECT_EQ(back->processes.at(0).addresses.at("client"), "http://127.9.0.11:2379");
  EXPECT_EQ(back->timings.at(0).second, "2s");
  EXPECT_FALSE(back->created_at.empty());
}

// A child process plays a supervisor that dies without cleaning up: it takes
// the run dir, records a process (a `sleep` the test started), and _exits.
pid_t leave_stale_cluster(const fs::path& root, const std::string& name, pid_t leftover) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    auto dir = RunDir::create(root, name);
    if (!dir) ::_exit(3);
    ClusterRecord record;
    record.name = name;
    record.subnet = 200;
    record.run_dir = dir->path();
    record.supervisor_pid = ::getpid();
    record.processes = {{"sleeper", "test", leftover, process_start_ticks(leftover), "running", "", {}}};
    if (!dir->write_record(record)) ::_exit(4);
    ::_exit(0);  // no destructors: the run dir stays, the lock goes
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  return pid;
}

pid_t start_sleeper() {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::execlp("sleep", "sleep", "1000", nullptr);
    ::_exit(127);
  }
  return pid;
}

TEST(RunDir, DownCleansAStaleClusterAndKillsItsLeftovers) {
  TempDir root;
  const pid_t sleeper = start_sleeper();
  leave_stale_cluster(root.path(), "stale", sleeper);

  auto listed = list_clusters(root.path());
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_FALSE(listed[0].supervisor_alive);
  ASSERT_TRUE(listed[0].record.has_value());

  auto down = down_cluster(root.path(), "stale", 5000ms);
  ASSERT_TRUE(down.ok()) << down.error().message;
  EXPECT_TRUE(down->was_stale);
  ASSERT_EQ(down->killed, std::vector<std::string>{"sleeper"});
  int status = 0;
  ASSERT_EQ(::waitpid(sleeper, &status, 0), sleeper);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_FALSE(fs::exists(root.path() / "clusters" / "stale"));
}

TEST(RunDir, CreateOverAStaleClusterCleansItFirst) {
  TempDir root;
  const pid_t sleeper = start_sleeper();
  leave_stale_cluster(root.path(), "again", sleeper);
  auto dir = RunDir::create(root.path(), "again");
  ASSERT_TRUE(dir.ok()) << dir.error().message;
  int status = 0;
  ASSERT_EQ(::waitpid(sleeper, &status, 0), sleeper);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_FALSE(fs::exists(dir->path() / "cluster.json"));
}

TEST(RunDir, DownOfAnUnknownClusterIsNotFound) {
  TempDir root;
  auto down = down_cluster(root.path(), "nothing", 1000ms);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().code, ErrorCode::kNotFound);
}

TEST(SubnetLease, LiveLeasesNeverShareASubnetAndFreedOnesAreReused) {
  TempDir root;
  auto a = lease_subnet(root.path());
  ASSERT_TRUE(a.ok()) << a.error().message;
  auto b = lease_subnet(root.path());
  ASSERT_TRUE(b.ok());
  EXPECT_NE(a->subnet, b->subnet);
  const int freed = a->subnet;
  { auto drop = std::move(*a); }
  auto c = lease_subnet(root.path());
  ASSERT_TRUE(c.ok());
  EXPECT_LE(c->subnet, freed);  // the lowest free subnet comes back
  EXPECT_NE(c->subnet, b->subnet);
}

TEST(SubnetLease, TwoRuntimeRootsNeverShareASubnet) {
  // Before the machine-wide lock, two roots (two users, two
  // SHAKEOUT_RUNTIME_DIRs) could both take the lowest free C before either
  // cluster's etcd bound its ports, and their etcd members joined each other.
  TempDir root_a;
  TempDir root_b;
  std::vector<SubnetLease> a;
  std::vector<SubnetLease> b;
  for (int i = 0; i < 5; ++i) {
    auto one = lease_subnet(root_a.path());
    ASSERT_TRUE(one.ok()) << one.error().message;
    a.push_back(std::move(*one));
    auto other = lease_subnet(root_b.path());
    ASSERT_TRUE(other.ok()) << other.error().message;
    b.push_back(std::move(*other));
  }
  for (const auto& x : a)
    for (const auto& y : b) EXPECT_NE(x.subnet, y.subnet);
  // The machine-wide lock is the kernel's: taking it twice fails.
  auto held = FileLock::try_acquire_abstract(fmt::format("shakeout-subnet-{}", a[0].subnet));
  ASSERT_FALSE(held.ok());
  EXPECT_EQ(held.error().code, ErrorCode::kConflict);
}

// Listens on `subnet`'s etcd client port, as a foreign process would; -1 if
// the port is already taken.
int occupy_etcd_port(int subnet) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(AddressPlan::kEtcdClientPort);
  ::inet_pton(AF_INET, AddressPlan(subnet).etcd_ip(1).c_str(), &addr.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 1) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST(SubnetLease, SkipsASubnetWhoseEtcdPortIsTakenOutsideOurLocks) {
  TempDir root;  // a root of our own: only the port probe can make it skip
  int blocked = 0;
  int fd = -1;
  for (int subnet = 2; subnet < AddressPlan::kMaxSubnet && fd < 0; ++subnet) {
    fd = occupy_etcd_port(subnet);
    blocked = subnet;
  }
  ASSERT_GE(fd, 0);
  // Take leases, lowest first, until one lies past the blocked subnet.
  std::vector<SubnetLease> leases;
  while (leases.empty() || leases.back().subnet < blocked) {
    auto lease = lease_subnet(root.path());
    ASSERT_TRUE(lease.ok()) << lease.error().message;
    EXPECT_NE(lease->subnet, blocked);
    leases.push_back(std::move(*lease));
  }
  ::close(fd);
}

}  // namespace
}  // namespace shakeout::cluster
