#include "runner/live_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "net/http_client.h"
#include "probes/probe.h"
#include "runner/injector.h"

namespace shakeout::runner {

struct LiveMetrics::Families {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>* experiments_family = nullptr;
  prometheus::Counter* experiments = nullptr;
  prometheus::Family<prometheus::Gauge>* running = nullptr;
  prometheus::Family<prometheus::Gauge>* repeat = nullptr;
  prometheus::Family<prometheus::Gauge>* passed = nullptr;
  prometheus::Family<prometheus::Counter>* samples = nullptr;
  prometheus::Family<prometheus::Counter>* failed = nullptr;
  prometheus::Family<prometheus::Gauge>* up = nullptr;
  prometheus::Family<prometheus::Histogram>* latency = nullptr;
  prometheus::Family<prometheus::Gauge>* fault_active = nullptr;
  prometheus::Family<prometheus::Counter>* injections = nullptr;
};

LiveMetrics::LiveMetrics(boost::asio::any_io_executor executor, const Runner& runner)
    : runner_(runner), executor_(std::move(executor)), families_(std::make_unique<Families>()) {
  auto& registry = *families_->registry;
  families_->experiments_family = &prometheus::BuildCounter()
                                       .Name("shakeout_run_experiments_total")
                                       .Help("Experiments this run has finished.")
                                       .Register(registry);
  families_->experiments = &families_->experiments_family->Add({});
  families_->running = &prometheus::BuildGauge()
                            .Name("shakeout_experiment_running")
                            .Help("1 while the experiment runs.")
                            .Register(registry);
  families_->repeat = &prometheus::BuildGauge()
                           .Name("shakeout_experiment_repeat")
                           .Help("The repeat of the experiment running now (1-based).")
                           .Register(registry);
  families_->passed = &prometheus::BuildGauge()
                           .Name("shakeout_experiment_passed")
                           .Help("1 if the experiment passed, 0 if not; set when it ends.")
                           .Register(registry);
  families_->samples = &prometheus::BuildCounter()
                            .Name("shakeout_probe_samples_total")
                            .Help("Answered probe samples.")
                            .Register(registry);
  families_->failed = &prometheus::BuildCounter()
                           .Name("shakeout_probe_failed_samples_total")
                           .Help("Answered probe samples that failed.")
                           .Register(registry);
  families_->up = &prometheus::BuildGauge()
                       .Name("shakeout_probe_up")
                       .Help("1 if the probe's last answered sample succeeded.")
                       .Register(registry);
  families_->latency = &prometheus::BuildHistogram()
                            .Name("shakeout_probe_latency_seconds")
                            .Help("Latency of successful request probe samples.")
                            .Register(registry);
  families_->fault_active = &prometheus::BuildGauge()
                                 .Name("shakeout_fault_active")
                                 .Help("1 while the fault is in effect.")
                                 .Register(registry);
  families_->injections = &prometheus::BuildCounter()
                               .Name("shakeout_fault_injections_total")
                               .Help("Faults injected.")
                               .Register(registry);
}

LiveMetrics::~LiveMetrics() = default;

Status LiveMetrics::start(const std::string& address) {
  auto endpoint = net::parse_endpoint("http://" + address);
  if (!endpoint.ok())
    return make_error(ErrorCode::kInvalidArgument,
                      "--metrics-address " + address + ": " + endpoint.error().message);
  net::HttpServerConfig config;
  config.address = endpoint->host;
  config.port = endpoint->port;
  config.stop_grace = Millis(500);
  server_ = std::make_unique<net::HttpServer>(
      executor_, config,
      [this](net::ServerRequest& request, net::ResponseWriter& writer) -> boost::asio::awaitable<void> {
        net::ServerResponse response;
        if (request.path == "/metrics") {
          response.status = 200;
          response.content_type = "text/plain; version=0.0.4; charset=utf-8";
          response.body = scrape();
        } else {
          response.status = 404;
          response.content_type = "text/plain";
          response.body = "only /metrics here\n";
        }
        (void)co_await writer.send(std::move(response));
      });
  if (auto started = server_->start(); !started)
    return make_error(started.error().code, "--metrics-address " + address + ": " + started.error().message);
  return Status{};
}

uint16_t LiveMetrics::port() const {
  return server_ ? server_->port() : 0;
}

boost::asio::awaitable<void> LiveMetrics::stop() {
  if (server_) co_await server_->stop();
}

void LiveMetrics::experiment_done(const nlohmann::json& journal) {
  const std::string experiment = journal.value("experiment", "");
  families_->passed->Add({{"experiment", experiment}}).Set(journal.value("passed", false) ? 1 : 0);
  families_->running->Add({{"experiment", experiment}}).Set(0);
  if (running_ == experiment) running_.clear();
  families_->experiments->Increment();
}

void LiveMetrics::catch_up() {
  const LiveView view = runner_.live();
  if (view.experiment.empty()) return;
  if (running_ != view.experiment) {
    if (!running_.empty()) families_->running->Add({{"experiment", running_}}).Set(0);
    running_ = view.experiment;
  }
  families_->running->Add({{"experiment", view.experiment}}).Set(1);
  families_->repeat->Add({{"experiment", view.experiment}}).Set(view.repeat);
  // Milliseconds to a couple of seconds: probes on loopback.
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                   0.05,   0.1,   0.25,   0.5,   1,    2.5};
  for (const probes::Probe* probe : view.probes) {
    const std::string& name = probe->spec().name;
    const prometheus::Labels labels = {{"experiment", view.experiment}, {"probe", name}};
    auto& total = families_->samples->Add(labels);
    auto& failed = families_->failed->Add(labels);
    size_t& counted = counted_[{view.experiment, view.repeat, name}];
    const auto& samples = probe->samples();
    const metrics::Sample* last = nullptr;
    for (; counted < samples.size() && !samples[counted].pending; ++counted) {
      const auto& sample = samples[counted];
      total.Increment();
      if (!sample.ok) failed.Increment();
      if (sample.ok && sample.latency_ms > 0)  // request probes only
        families_->latency->Add(labels, kBuckets).Observe(sample.latency_ms / 1000.0);
      last = &sample;
    }
    if (last != nullptr) families_->up->Add(labels).Set(last->ok ? 1 : 0);
  }
  for (size_t i = 0; i < view.injections.size(); ++i) {
    const Injection& injection = *view.injections[i];
    const prometheus::Labels labels = {{"experiment", view.experiment},
                                       {"fault", std::string(experiment::to_string(injection.fault.action))},
                                       {"target", injection.fault.target.text}};
    if (injections_seen_.insert({view.experiment, view.repeat, i}).second)
      families_->injections->Add(labels).Increment();
    families_->fault_active->Add(labels).Set(injection.ended ? 0 : 1);
  }
}

std::map<std::string, std::string> LiveMetrics::families() const {
  const Families& f = *families_;
  std::map<std::string, std::string> out;
  for (const auto* family : {f.experiments_family, f.samples, f.failed, f.injections})
    out[family->GetName()] = "counter";
  for (const auto* family : {f.running, f.repeat, f.passed, f.up, f.fault_active})
    out[family->GetName()] = "gauge";
  out[f.latency->GetName()] = "histogram";
  return out;
}

std::string LiveMetrics::scrape() {
  catch_up();
  prometheus::TextSerializer serializer;
  return serializer.Serialize(families_->registry->Collect());
}

}  // namespace shakeout::runner
