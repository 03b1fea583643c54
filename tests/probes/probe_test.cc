// Probes against a real HTTP server on loopback whose outage the test
// switches on and off on the same clock the probes stamp their samples with.

#include "probes/probe.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "cluster/supervisor.h"
#include "net/http_server.h"
#include "pump.h"

namespace shakeout::probes {
namespace {

using std::chrono::milliseconds;

// A probe made from spec and context, its prepare() done.
std::unique_ptr<Probe> prepared_probe(asio::io_context& io, const experiment::ProbeSpec& spec,
                                      const ProbeContext& context) {
  auto probe = make_probe(spec, context);
  bool prepared = false;
  asio::co_spawn(
      io,
      [&probe, &prepared]() -> asio::awaitable<void> {
        auto status = co_await probe->prepare();
        EXPECT_TRUE(status.ok());
        prepared = true;
      },
      asio::detached);
  EXPECT_TRUE(shakeout::testing::pump(
      io, [&] { return prepared; }, milliseconds(5000)));
  return probe;
}

// Runs the io_context for `duration` of real time.
void run_io_for(asio::io_context& io, milliseconds duration) {
  const auto until = std::chrono::steady_clock::now() + duration;
  shakeout::testing::pump(
      io, [&] { return std::chrono::steady_clock::now() >= until; }, duration * 2);
}

class ProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    net::HttpServerConfig config;
    config.address = "127.0.0.1";
    server_ = std::make_unique<net::HttpServer>(
        io_.get_executor(), config,
        [this](net::ServerRequest&, net::ResponseWriter& writer) -> asio::awaitable<void> {
          net::ServerResponse response;
          response.status = outage_ ? 503 : 200;
          response.body = outage_ ? "down" : "ok";
          (void)co_await writer.send(std::move(response));
        });
    ASSERT_TRUE(server_->start().ok());
  }

  void TearDown() override {
    bool stopped = false;
    asio::co_spawn(io_, server_->stop(), [&](const std::exception_ptr&) { stopped = true; });
    shakeout::testing::pump(
        io_, [&] { return stopped; }, milliseconds(5000));
  }

  std::unique_ptr<Probe> http_probe(double rate) {
    experiment::ProbeSpec spec;
    spec.name = "http";
    spec.kind = experiment::ProbeKind::kHttp;
    spec.url = "http://127.0.0.1:" + std::to_string(server_->port()) + "/";
    spec.rate = rate;
    spec.timeout = milliseconds(1000);
    ProbeContext context;
    context.executor = io_.get_executor();
    return prepared_probe(io_, spec, context);
  }

  void run_for(milliseconds duration) { run_io_for(io_, duration); }

  // The widest gap between answered samples within [from, to]: the
  // probe's real resolution there, a period unless the machine stalled it.
  static milliseconds widest_gap(const std::vector<metrics::Sample>& samples, SteadyTime from,
                                 SteadyTime to) {
    milliseconds widest{0};
    for (size_t i = 1; i < samples.size(); ++i) {
      if (samples[i].at < from || samples[i - 1].at > to) continue;
      widest = std::max(widest, std::chrono::duration_cast<milliseconds>(samples[i].at - samples[i - 1].at));
    }
    return widest;
  }

  asio::io_context io_;
  std::unique_ptr<net::HttpServer> server_;
  bool outage_ = false;
};

TEST_F(ProbeTest, DowntimeOfAnOutageOfKnownLengthMatchesWithinTwoProbePeriods) {
  auto probe = http_probe(200);
  ASSERT_EQ(probe->period(), milliseconds(5));
  bool done = false;
  asio::co_spawn(io_, probe->run(), [&](const std::exception_ptr&) { done = true; });
  run_for(milliseconds(300));
  const SteadyTime outage_start = system_clock().now();
  outage_ = true;
  run_for(milliseconds(500));
  const SteadyTime outage_end = system_clock().now();
  outage_ = false;
  run_for(milliseconds(400));
  probe->stop();
  ASSERT_TRUE(shakeout::testing::pump(
      io_, [&] { return done; }, milliseconds(5000)));
  const SteadyTime end = system_clock().now();

  const auto& samples = probe->samples();
  ASSERT_GT(samples.size(), 150u);
  const auto outage = std::chrono::duration_cast<milliseconds>(outage_end - outage_start);
  // Two periods, or two of the widest gaps the machine really left between
  // samples at the edges (a loaded CI machine can stall the probe's timer).
  const auto tolerance =
      2 * std::max({probe->period(),
                    widest_gap(samples, outage_start - milliseconds(20), outage_start + milliseconds(20)),
                    widest_gap(samples, outage_end - milliseconds(20), outage_end + milliseconds(20))});
  const auto impact = metrics::measure_impact(samples, outage_start, end, milliseconds(200));
  ASSERT_TRUE(impact.time_to_impact);
  EXPECT_LE(*impact.time_to_impact, tolerance);
  EXPECT_NEAR(impact.downtime.count(), outage.count(), tolerance.count())
      << "outage " << outage.count() << " ms, tolerance " << tolerance.count() << " ms";
  ASSERT_TRUE(impact.time_to_recover);
  EXPECT_NEAR(impact.time_to_recover->count(), outage.count(), tolerance.count());
  auto availability = metrics::measure_availability(samples, outage_start, outage_end);
  EXPECT_GT(availability.errors["http 503"], 80);
}

TEST_F(ProbeTest, ARefusedConnectionIsCountedAsRefusedAndNoSampleIsLeftPending) {
  auto probe = http_probe(100);
  bool done = false;
  asio::co_spawn(io_, probe->run(), [&](const std::exception_ptr&) { done = true; });
  run_for(milliseconds(100));
  bool stopped = false;
  asio::co_spawn(io_, server_->stop(), [&](const std::exception_ptr&) { stopped = true; });
  ASSERT_TRUE(shakeout::testing::pump(
      io_, [&] { return stopped; }, milliseconds(5000)));
  const SteadyTime stopped_at = system_clock().now();
  run_for(milliseconds(200));
  probe->stop();
  ASSERT_TRUE(shakeout::testing::pump(
      io_, [&] { return done; }, milliseconds(5000)));
  EXPECT_EQ(probe->in_flight(), 0);
  for (const auto& sample : probe->samples()) EXPECT_FALSE(sample.pending);
  auto availability = metrics::measure_availability(probe->samples(), stopped_at, system_clock().now());
  EXPECT_EQ(availability.ok, 0);
  EXPECT_GT(availability.errors["refused"], 10) << availability.errors.size();
}

// exec probes run real commands through a real supervisor.
class ExecProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("shakeout-exec-probe-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    bool stopped = false;
    asio::co_spawn(io_, commands_.stop_all(), [&](const std::exception_ptr&) { stopped = true; });
    shakeout::testing::pump(
        io_, [&] { return stopped; }, milliseconds(5000));
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<Probe> exec_probe(std::vector<std::string> command, double rate, milliseconds timeout) {
    experiment::ProbeSpec spec;
    spec.name = "check";
    spec.kind = experiment::ProbeKind::kExec;
    spec.command = std::move(command);
    spec.rate = rate;
    spec.timeout = timeout;
    ProbeContext context;
    context.executor = io_.get_executor();
    context.commands = &commands_;
    context.log_dir = dir_;
    context.command_env["PROBE_FLAG"] = (dir_ / "down").string();
    return prepared_probe(io_, spec, context);
  }

  void run_for(milliseconds duration) { run_io_for(io_, duration); }

  asio::io_context io_;
  cluster::Supervisor commands_{io_};
  std::filesystem::path dir_;
};

TEST_F(ExecProbeTest, ExitStatusIsTheOutcomeAndTheEnvironmentReachesTheCommand) {
  // Fails while the file its environment names exists.
  auto probe = exec_probe({"sh", "-c", "echo checked; test ! -e \"$PROBE_FLAG\""}, 50, milliseconds(2000));
  bool done = false;
  asio::co_spawn(io_, probe->run(), [&](const std::exception_ptr&) { done = true; });
  run_for(milliseconds(300));
  const SteadyTime outage_start = system_clock().now();
  std::ofstream(dir_ / "down").put('x');
  run_for(milliseconds(400));
  std::filesystem::remove(dir_ / "down");
  const SteadyTime outage_end = system_clock().now();
  run_for(milliseconds(300));
  probe->stop();
  ASSERT_TRUE(shakeout::testing::pump(
      io_, [&] { return done; }, milliseconds(5000)));

  const auto& samples = probe->samples();
  ASSERT_GT(samples.size(), 20u);
  const auto during =
      metrics::measure_availability(samples, outage_start + milliseconds(50), outage_end - milliseconds(50));
  EXPECT_GT(during.total, 3);
  EXPECT_EQ(during.ok, 0);
  EXPECT_EQ(during.errors.begin()->first, "exit code 1");
  const auto before = metrics::measure_availability(samples, SteadyTime{}, outage_start - milliseconds(50));
  EXPECT_GT(before.total, 3);
  EXPECT_EQ(before.ok, before.total);
  const auto impact = metrics::measure_impact(samples, outage_start, system_clock().now(), milliseconds(100));
  ASSERT_TRUE(impact.time_to_recover);
  // Each command's output is kept, and nothing is left running.
  std::ifstream log(dir_ / "probe-check.log");
  std::string first_line;
  std::getline(log, first_line);
  EXPECT_EQ(first_line, "checked");
  EXPECT_TRUE(commands_.list().empty());
}

TEST_F(ExecProbeTest, ACommandPastItsTimeoutIsKilledAndCountedAsATimeout) {
  // A duration no other process on the machine sleeps for.
  const std::string seconds = "29." + std::to_string(::getpid());
  auto probe = exec_probe({"sh", "-c", "sleep " + seconds + "; echo woke"}, 10, milliseconds(200));
  bool done = false;
  asio::co_spawn(io_, probe->run(), [&](const std::exception_ptr&) { done = true; });
  run_for(milliseconds(500));
  probe->stop();
  ASSERT_TRUE(shakeout::testing::pump(
      io_, [&] { return done; }, milliseconds(5000)));
  const auto availability =
      metrics::measure_availability(probe->samples(), SteadyTime{}, system_clock().now());
  EXPECT_GE(availability.total, 3);
  EXPECT_EQ(availability.ok, 0);
  EXPECT_EQ(availability.errors.at("timeout"), availability.total);
  // The whole process group went: no sleep left behind.
  EXPECT_TRUE(commands_.list().empty());
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream cmdline(entry.path() / "cmdline");
    std::string argv;
    std::getline(cmdline, argv);
    EXPECT_NE(argv, std::string("sleep") + '\0' + seconds + '\0') << entry.path();
  }
}

}  // namespace
}  // namespace shakeout::probes
