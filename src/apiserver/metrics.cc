#include "apiserver/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace shakeout::apiserver {

struct ApiMetrics::Families {
  prometheus::Family<prometheus::Counter>* requests = nullptr;
  prometheus::Family<prometheus::Histogram>* duration = nullptr;
  prometheus::Gauge* in_flight = nullptr;
  prometheus::Gauge* open_watches = nullptr;
  prometheus::Family<prometheus::Counter>* injected = nullptr;
};

ApiMetrics::ApiMetrics()
    : registry_(std::make_shared<prometheus::Registry>()), families_(std::make_unique<Families>()) {
  families_->requests = &prometheus::BuildCounter()
                             .Name("shakeout_apiserver_requests_total")
                             .Help("Requests by verb, resource, subresource and HTTP status code.")
                             .Register(*registry_);
  families_->duration =
      &prometheus::BuildHistogram()
           .Name("shakeout_apiserver_request_duration_seconds")
           .Help("Time from request read to response written (watches: until the stream opened).")
           .Register(*registry_);
  families_->in_flight = &prometheus::BuildGauge()
                              .Name("shakeout_apiserver_requests_in_flight")
                              .Help("Requests being handled, long-running watches excluded.")
                              .Register(*registry_)
                              .Add({});
  families_->open_watches = &prometheus::BuildGauge()
                                 .Name("shakeout_apiserver_open_watches")
                                 .Help("Watch streams open.")
                                 .Register(*registry_)
                                 .Add({});
  families_->injected = &prometheus::BuildCounter()
                             .Name("shakeout_apiserver_injected_faults_total")
                             .Help("Requests and watch streams an API fault acted on, by fault type.")
                             .Register(*registry_);
  // Every type shows from the start (0), so a rate() has a baseline.
  for (const char* type : {"error", "latency", "drop-watch"}) families_->injected->Add({{"type", type}});
}

ApiMetrics::~ApiMetrics() = default;

void ApiMetrics::observe(const std::string& verb, const std::string& resource, const std::string& subresource,
                         unsigned code, double seconds) {
  families_->requests
      ->Add({{"verb", verb},
             {"resource", resource},
             {"subresource", subresource},
             {"code", std::to_string(code)}})
      .Increment();
  // kube-apiserver's request latency buckets (apiserver_request_duration_seconds), trimmed.
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  families_->duration->Add({{"verb", verb}, {"resource", resource}}, kBuckets).Observe(seconds);
}

void ApiMetrics::set_in_flight(double requests) {
  families_->in_flight->Set(requests);
}

void ApiMetrics::set_open_watches(double watches) {
  families_->open_watches->Set(watches);
}

void ApiMetrics::count_injected(const std::string& type) {
  families_->injected->Add({{"type", type}}).Increment();
}

std::string ApiMetrics::serialize() const {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry_->Collect());
}

}  // namespace shakeout::apiserver
