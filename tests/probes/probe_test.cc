// Probes against a real HTTP server on loopback whose outage the test
// switches on and off on the same clock the probes stamp their samples with.

#include "probes/probe.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <memory>

#include "net/http_server.h"
#include "pump.h"

namespace shakeout::probes {
namespace {

using std::chrono::milliseconds;

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
    auto probe = make_probe(spec, context);
    bool prepared = false;
    asio::co_spawn(
        io_,
        [&probe, &prepared]() -> asio::awaitable<void> {
          auto status = co_await probe->prepare();
          EXPECT_TRUE(status.ok());
          prepared = true;
        },
        asio::detached);
    EXPECT_TRUE(shakeout::testing::pump(
        io_, [&] { return prepared; }, milliseconds(5000)));
    return probe;
  }

  // Runs the io_context for `duration` of real time.
  void run_for(milliseconds duration) {
    const auto until = std::chrono::steady_clock::now() + duration;
    shakeout::testing::pump(
        io_, [&] { return std::chrono::steady_clock::now() >= until; }, duration * 2);
  }

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

}  // namespace
}  // namespace shakeout::probes
