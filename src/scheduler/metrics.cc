#include "scheduler/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace shakeout::scheduler {

struct SchedulerMetrics::Families {
  prometheus::Family<prometheus::Gauge>* pending = nullptr;
  prometheus::Family<prometheus::Counter>* attempts = nullptr;
  prometheus::Family<prometheus::Histogram>* duration = nullptr;
  prometheus::Gauge* leader = nullptr;
};

SchedulerMetrics::SchedulerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()), families_(std::make_unique<Families>()) {
  families_->pending = &prometheus::BuildGauge()
                            .Name("shakeout_scheduler_pending_pods")
                            .Help("Pods waiting to be scheduled, by queue (active, backoff, unschedulable).")
                            .Register(*registry_);
  families_->attempts = &prometheus::BuildCounter()
                             .Name("shakeout_scheduler_schedule_attempts_total")
                             .Help("Scheduling attempts by result (scheduled, unschedulable, error).")
                             .Register(*registry_);
  families_->duration = &prometheus::BuildHistogram()
                             .Name("shakeout_scheduler_scheduling_attempt_duration_seconds")
                             .Help("From taking a pod off the queue to its binding answered, by result.")
                             .Register(*registry_);
  families_->leader = &prometheus::BuildGauge()
                           .Name("shakeout_scheduler_leader_election_master_status")
                           .Help("Whether this scheduler holds the leader Lease (1) or not (0).")
                           .Register(*registry_)
                           .Add({});
  // Every series exists from the start, so a scrape sees zeros, not gaps.
  set_pending(0, 0, 0);
  for (const char* result : {"scheduled", "unschedulable", "error"})
    families_->attempts->Add({{"result", result}});
}

SchedulerMetrics::~SchedulerMetrics() = default;

void SchedulerMetrics::set_pending(double active, double backoff, double unschedulable) {
  families_->pending->Add({{"queue", "active"}}).Set(active);
  families_->pending->Add({{"queue", "backoff"}}).Set(backoff);
  families_->pending->Add({{"queue", "unschedulable"}}).Set(unschedulable);
}

void SchedulerMetrics::observe_attempt(const std::string& result, double seconds) {
  families_->attempts->Add({{"result", result}}).Increment();
  // kube-scheduler's scheduling_attempt_duration_seconds buckets
  // (exponential from 1ms, factor 2, 15 buckets).
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.001, 0.002, 0.004, 0.008, 0.016,
                                                                   0.032, 0.064, 0.128, 0.256, 0.512,
                                                                   1.024, 2.048, 4.096, 8.192, 16.384};
  families_->duration->Add({{"result", result}}, kBuckets).Observe(seconds);
}

void SchedulerMetrics::set_leader(bool leading) {
  families_->leader->Set(leading ? 1 : 0);
}

std::string SchedulerMetrics::serialize() const {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry_->Collect());
}

}  // namespace shakeout::scheduler
