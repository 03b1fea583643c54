#include "runtime/runtime.h"

#include <unistd.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <csignal>
#include <fstream>
#include <random>

#include "common/log.h"

namespace shakeout::runtime {

namespace {

constexpr const char* kLog = "runtime";
constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr std::size_t kExecOutputLimit = 16 * 1024;

int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Error invalid(const char* reason, const std::string& text) {
  return make_error(ErrorCode::kInvalidArgument, fmt::format("{}: {}", reason, text));
}

// The environment a container (or an exec in it) gets: exactly its own, plus
// what a container image would provide.
std::map<std::string, std::string> container_env(const ContainerConfig& config) {
  std::map<std::string, std::string> env = config.env;
  env.try_emplace("PATH", kDefaultPath);
  env.try_emplace("HOME", "/");
  return env;
}

bool is_app_image(const std::string& image) {
  const std::string_view name(kAppImage);
  return image == name ||
         (image.starts_with(name) && image.size() > name.size() + 1 && image[name.size()] == ':');
}

// An image reference must be non-empty without spaces or control characters.
bool valid_image_name(const std::string& image) {
  if (image.empty()) return false;
  for (const char c : image)
    if (static_cast<unsigned char>(c) <= ' ' || c == '\x7f') return false;
  return true;
}

std::string read_prefix(const std::filesystem::path& path, std::size_t limit) {
  std::ifstream in(path, std::ios::binary);
  std::string data(limit, '\0');
  in.read(data.data(), static_cast<std::streamsize>(limit));
  data.resize(static_cast<std::size_t>(in.gcount()));
  return data;
}

}  // namespace

Status validate(const Options& options) {
  if (options.node_name.empty()) return make_error(ErrorCode::kInvalidArgument, "--node-name is required");
  boost::system::error_code error;
  asio::ip::make_address_v4(options.node_ip, error);
  if (error)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--node-ip: '{}' is not an IPv4 address", options.node_ip));
  auto pool = IpPool::make(options.pod_cidr);
  if (!pool) return make_error(ErrorCode::kInvalidArgument, "--pod-cidr: " + pool.error().message);
  if (pool->gateway() != options.node_ip)
    return make_error(ErrorCode::kInvalidArgument, fmt::format("--node-ip {} is not the .1 of --pod-cidr {}",
                                                               options.node_ip, options.pod_cidr));
  if (options.root.empty()) return make_error(ErrorCode::kInvalidArgument, "--root is required");
  if (options.port < 0 || options.port > 65535)
    return make_error(ErrorCode::kInvalidArgument, fmt::format("--port: {} is not 0..65535", options.port));
  return {};
}

std::filesystem::path container_log_path(const std::filesystem::path& root, const PodSandbox& sandbox,
                                         const std::string& container, int attempt) {
  return root / "pods" / fmt::format("{}_{}_{}", sandbox.ns, sandbox.name, sandbox.uid) / container /
         fmt::format("{}.log", attempt);
}

Result<std::vector<std::string>> container_argv(const ContainerConfig& config,
                                                const std::string& app_binary) {
  if (!valid_image_name(config.image)) return invalid(kInvalidImageName, fmt::format("'{}'", config.image));
  std::vector<std::string> argv;
  if (!config.command.empty()) {
    argv = config.command;
  } else if (is_app_image(config.image)) {
    argv = {app_binary, "app"};
  } else {
    return invalid(kErrImagePull, fmt::format("image {} cannot be pulled: only {}[:tag] is built in, other "
                                              "images need a command",
                                              config.image, kAppImage));
  }
  argv.insert(argv.end(), config.args.begin(), config.args.end());
  if (argv.front().empty()) return invalid(kCreateContainerError, "the command's executable is empty");
  return argv;
}

Runtime::Runtime(asio::io_context& io, Options options)
    : io_(io),
      options_(std::move(options)),
      pool_(std::move(IpPool::make(options_.pod_cidr).value())),
      supervisor_(io),
      dataplane_(io.get_executor(), options_.node_ip, std::random_device{}()),
      id_salt_(std::random_device{}()) {
  supervisor_.on_exit(
      [this](const cluster::ProcessInfo& info, const cluster::ExitStatus& exit) { on_exit(info, exit); });
}

Runtime::~Runtime() {
  dataplane_.stop();
}

std::string Runtime::app_binary() const {
  if (!options_.app_binary.empty()) return options_.app_binary.string();
  // Our own binary by its path (readable in ps), unless it was replaced
  // since we started (a rebuild): then the image we run, through /proc.
  std::error_code error;
  const auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error && !path.string().ends_with(" (deleted)")) return path.string();
  return fmt::format("/proc/{}/exe", ::getpid());
}

void Runtime::on_exit(const cluster::ProcessInfo& info, const cluster::ExitStatus& exit) {
  const auto it = containers_.find(info.name);
  if (it == containers_.end() || it->second.status.state == ContainerState::kExited) return;
  ContainerStatus& status = it->second.status;
  status.state = ContainerState::kExited;
  status.finished_unix_ms = unix_ms_now();
  status.exit_code = exit.signaled ? 128 + exit.code : exit.code;
  status.reason = status.exit_code == 0 ? "Completed" : "Error";
  log::info(kLog, "container {} ({}/{}) exited: {}", status.id, status.pod_uid, status.name, exit.describe());
}

Error Runtime::not_found(const std::string& id) const {
  return make_error(ErrorCode::kNotFound, fmt::format("container {} not found", id));
}

asio::awaitable<Result<PodSandbox>> Runtime::run_sandbox(PodSandboxConfig config) {
  if (config.uid.empty() || config.name.empty() || config.ns.empty())
    co_return make_error(ErrorCode::kInvalidArgument, "sandbox: uid, namespace and name are required");
  if (const auto it = sandboxes_.find(config.uid); it != sandboxes_.end()) co_return it->second.sandbox;
  auto ip = pool_.allocate(config.uid);
  if (!ip) co_return ip.error();
  PodSandbox sandbox;
  sandbox.uid = config.uid;
  sandbox.ns = config.ns;
  sandbox.name = config.name;
  sandbox.ip = *ip;
  sandbox.labels = std::move(config.labels);
  sandbox.created_unix_ms = unix_ms_now();
  sandboxes_.emplace(sandbox.uid, Sandbox{sandbox});
  log::info(kLog, "sandbox {}/{} uid={} ip={}", sandbox.ns, sandbox.name, sandbox.uid, sandbox.ip);
  co_return sandbox;
}

asio::awaitable<Result<std::vector<PodSandbox>>> Runtime::list_sandboxes() {
  std::vector<PodSandbox> items;
  for (const auto& entry : sandboxes_) items.push_back(entry.second.sandbox);
  co_return items;
}

asio::awaitable<void> Runtime::kill_and_wait(std::string id) {
  const auto info = supervisor_.info(id);
  if (!info || info->state == cluster::ProcessState::kExited) co_return;
  (void)supervisor_.kill(id, SIGKILL);
  (void)co_await supervisor_.wait_exit(id);
}

asio::awaitable<Status> Runtime::remove_sandbox(std::string uid) {
  const auto it = sandboxes_.find(uid);
  if (it == sandboxes_.end()) co_return Status{};  // idempotent, as CRI RemovePodSandbox
  const PodSandbox sandbox = it->second.sandbox;
  std::vector<std::string> ids;
  for (const auto& entry : containers_)
    if (entry.second.status.pod_uid == uid) ids.push_back(entry.first);
  for (const auto& id : ids) {
    co_await kill_and_wait(id);
    (void)supervisor_.forget(id);
    containers_.erase(id);
  }
  pool_.release(uid);
  sandboxes_.erase(uid);
  std::error_code error;
  std::filesystem::remove_all(
      options_.root / "pods" / fmt::format("{}_{}_{}", sandbox.ns, sandbox.name, sandbox.uid), error);
  log::info(kLog, "removed sandbox {}/{} uid={} ({} containers)", sandbox.ns, sandbox.name, uid, ids.size());
  co_return Status{};
}

asio::awaitable<Result<ContainerStatus>> Runtime::start_container(ContainerConfig config) {
  const auto sandbox = sandboxes_.find(config.pod_uid);
  if (sandbox == sandboxes_.end())
    co_return make_error(ErrorCode::kNotFound, fmt::format("sandbox {} not found", config.pod_uid));
  if (config.name.empty()) co_return invalid(kCreateContainerError, "container name is empty");
  for (const auto& entry : containers_) {
    const ContainerStatus& other = entry.second.status;
    if (other.pod_uid == config.pod_uid && other.name == config.name && other.attempt == config.attempt &&
        other.state == ContainerState::kRunning) {
      co_return make_error(ErrorCode::kAlreadyExists,
                           fmt::format("container {} attempt {} is already running as {}", config.name,
                                       config.attempt, other.id));
    }
  }
  auto argv = container_argv(config, app_binary());
  if (!argv) co_return argv.error();

  cluster::ProcessSpec spec;
  spec.name = fmt::format("{:08x}{:08x}", id_salt_ & 0xffffffffU, ++next_id_);
  spec.argv = std::move(*argv);
  spec.env = container_env(config);
  spec.inherit_environment = false;
  spec.log_file = container_log_path(options_.root, sandbox->second.sandbox, config.name, config.attempt);
  spec.working_dir = config.working_dir;
  const std::string id = spec.name;
  const std::string log_path = spec.log_file.string();
  if (auto started = supervisor_.start(std::move(spec)); !started)
    co_return invalid(kCreateContainerError, started.error().message);

  ContainerStatus status;
  status.id = id;
  status.pod_uid = config.pod_uid;
  status.name = config.name;
  status.attempt = config.attempt;
  status.image = config.image;
  status.state = ContainerState::kRunning;
  status.pid = supervisor_.info(id)->pid;
  status.started_unix_ms = unix_ms_now();
  status.log_path = log_path;
  containers_.emplace(id, Container{status, std::move(config)});
  co_return status;
}

asio::awaitable<Result<std::vector<ContainerStatus>>> Runtime::list_containers(std::string pod_uid) {
  std::vector<ContainerStatus> items;
  for (const auto& entry : containers_)
    if (pod_uid.empty() || entry.second.status.pod_uid == pod_uid) items.push_back(entry.second.status);
  co_return items;
}

Result<ContainerStatus> Runtime::status_now(const std::string& id) const {
  const auto it = containers_.find(id);
  if (it == containers_.end()) return not_found(id);
  return it->second.status;
}

asio::awaitable<Result<ContainerStatus>> Runtime::container_status(std::string id) {
  co_return status_now(id);
}

asio::awaitable<Status> Runtime::stop_container(std::string id, int64_t timeout_ms) {
  const auto it = containers_.find(id);
  if (it == containers_.end()) co_return not_found(id);
  if (it->second.status.state == ContainerState::kExited) co_return Status{};
  (void)supervisor_.resume(id);  // a stopped process would hold SIGTERM pending until SIGCONT
  (void)supervisor_.kill(id, SIGTERM);
  asio::steady_timer deadline(io_, Millis(std::max<int64_t>(0, timeout_ms)));
  deadline.async_wait([this, id](const boost::system::error_code& error) {
    if (error) return;
    log::info(kLog, "container {} still running after its grace period: SIGKILL", id);
    (void)supervisor_.kill(id, SIGKILL);
  });
  const auto exit = co_await supervisor_.wait_exit(id);
  deadline.cancel();
  if (auto info = supervisor_.info(id); exit && info) on_exit(*info, *exit);
  co_return Status{};
}

asio::awaitable<Status> Runtime::remove_container(std::string id) {
  if (!containers_.contains(id)) co_return not_found(id);
  co_await kill_and_wait(id);
  (void)supervisor_.forget(id);
  containers_.erase(id);
  co_return Status{};
}

asio::awaitable<Result<ExecResult>> Runtime::exec_sync(std::string id, std::vector<std::string> command,
                                                       int64_t timeout_ms) {
  const auto it = containers_.find(id);
  if (it == containers_.end()) co_return not_found(id);
  if (it->second.status.state != ContainerState::kRunning)
    co_return make_error(ErrorCode::kConflict, fmt::format("container {} is not running", id));
  if (command.empty() || command.front().empty())
    co_return make_error(ErrorCode::kInvalidArgument, "exec: the command is empty");

  cluster::ProcessSpec spec;
  spec.name = fmt::format("exec-{}-{}", id, ++next_id_);
  spec.argv = std::move(command);
  spec.env = container_env(it->second.config);
  spec.inherit_environment = false;
  spec.working_dir = it->second.config.working_dir;
  spec.log_file = options_.root / "exec" / (spec.name + ".out");
  const std::string name = spec.name;
  const std::filesystem::path output_file = spec.log_file;
  if (auto started = supervisor_.start(std::move(spec)); !started) {
    // As a shell reports a command it cannot run.
    ExecResult failed;
    failed.exit_code = 126;
    failed.output = started.error().message;
    std::error_code ignored;
    std::filesystem::remove(output_file, ignored);
    co_return failed;
  }
  // Shared: a handler already queued when the exit wins still runs after this frame is gone.
  auto timed_out = std::make_shared<bool>(false);
  asio::steady_timer deadline(io_, Millis(std::max<int64_t>(0, timeout_ms)));
  deadline.async_wait([this, name, timed_out](const boost::system::error_code& error) {
    if (error) return;
    *timed_out = true;
    (void)supervisor_.kill(name, SIGKILL);
  });
  const auto exit = co_await supervisor_.wait_exit(name);
  deadline.cancel();
  ExecResult result;
  result.output = read_prefix(output_file, kExecOutputLimit);
  if (exit) result.exit_code = exit->signaled ? 128 + exit->code : exit->code;
  std::error_code ignored;
  std::filesystem::remove(output_file, ignored);
  (void)supervisor_.forget(name);
  if (*timed_out)
    co_return make_error(ErrorCode::kTimeout, fmt::format("exec in {} timed out after {}ms", id, timeout_ms));
  co_return result;
}

asio::awaitable<Status> Runtime::set_dataplane(DataplaneRules rules) {
  auto generation = dataplane_.set_rules(std::move(rules.services));
  if (!generation) co_return generation.error();
  co_return Status{};
}

asio::awaitable<Result<DataplaneRules>> Runtime::dataplane() {
  co_return dataplane_.rules();
}

void Runtime::shutdown() {
  dataplane_.stop();
  for (const auto& entry : containers_)
    if (entry.second.status.state == ContainerState::kRunning) (void)supervisor_.kill(entry.first, SIGKILL);
  log::info(kLog, "shut down: every container killed");
}

}  // namespace shakeout::runtime
