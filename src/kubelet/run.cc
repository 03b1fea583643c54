#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <random>

#include "client/timers.h"
#include "common/async.h"
#include "common/log.h"
#include "kubelet/kubelet.h"

// Apart from kubelet.cc so that tests of the Kubelet with a fake runtime do
// not need the runtime's HTTP client (runtime::make_runtime_client).
namespace shakeout::kubelet {
namespace {
constexpr const char* kLog = "kubelet";
}  // namespace

int run(const Options& options) {
  asio::io_context io;
  std::random_device device;
  client::SeededRandom random((static_cast<uint64_t>(device()) << 32) ^ device());
  auto runtime = runtime::make_runtime_client(io.get_executor(), options.runtime_endpoint);
  Kubelet kubelet(io.get_executor(), options, *runtime, client::real_timers(), random);
  if (auto started = kubelet.start(); !started) {
    log::error(kLog, "cannot serve on {}:{}: {}", options.node_ip, options.port, started.error().message);
    return 2;
  }
  log::info(kLog, "{}: kubelet API on {}:{}", options.node_name, options.node_ip, kubelet.port());
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&kubelet](const boost::system::error_code& error, int) {
    if (!error) kubelet.stop();
  });
  const int code = run_blocking(io, kubelet.run());
  signals.cancel();
  return code;
}

}  // namespace shakeout::kubelet
