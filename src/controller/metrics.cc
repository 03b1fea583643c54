#include "controller/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace shakeout::controller {

struct ControllerMetrics::Families {
  prometheus::Family<prometheus::Gauge>* depth = nullptr;
  prometheus::Family<prometheus::Counter>* adds = nullptr;
  prometheus::Family<prometheus::Counter>* retries = nullptr;
  prometheus::Family<prometheus::Histogram>* duration = nullptr;
  prometheus::Family<prometheus::Counter>* reconciles = nullptr;
  prometheus::Gauge* leader = nullptr;
};

class ControllerMetrics::Queue final : public WorkQueueMetrics {
 public:
  Queue(Families& families, const std::string& name)
      : depth_(families.depth->Add({{"name", name}})),
        adds_(families.adds->Add({{"name", name}})),
        retries_(families.retries->Add({{"name", name}})) {}
  void on_add() override { adds_.Increment(); }
  void on_depth(std::size_t depth) override { depth_.Set(static_cast<double>(depth)); }
  void on_retry() override { retries_.Increment(); }

 private:
  prometheus::Gauge& depth_;
  prometheus::Counter& adds_;
  prometheus::Counter& retries_;
};

class ControllerMetrics::Sync final : public SyncMetrics {
 public:
  Sync(Families& families, const std::string& name)
      : duration_(families.duration->Add({{"controller", name}}, buckets())),
        success_(families.reconciles->Add({{"controller", name}, {"result", "success"}})),
        conflict_(families.reconciles->Add({{"controller", name}, {"result", "conflict"}})),
        error_(families.reconciles->Add({{"controller", name}, {"result", "error"}})) {}
  void on_sync(SyncResult result, double seconds) override {
    duration_.Observe(seconds);
    switch (result) {
      case SyncResult::kSuccess:
        success_.Increment();
        break;
      case SyncResult::kConflict:
        conflict_.Increment();
        break;
      case SyncResult::kError:
        error_.Increment();
        break;
    }
  }

 private:
  // Upstream's workqueue_work_duration_seconds buckets (10^-8 .. 10^1),
  // from 100us: a sync makes at least one local decision.
  static prometheus::Histogram::BucketBoundaries buckets() {
    return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  }
  prometheus::Histogram& duration_;
  prometheus::Counter& success_;
  prometheus::Counter& conflict_;
  prometheus::Counter& error_;
};

ControllerMetrics::ControllerMetrics(const std::string& lease_name)
    : registry_(std::make_shared<prometheus::Registry>()), families_(std::make_unique<Families>()) {
  families_->depth = &prometheus::BuildGauge()
                          .Name("shakeout_workqueue_depth")
                          .Help("Keys waiting in a controller's work queue.")
                          .Register(*registry_);
  families_->adds =
      &prometheus::BuildCounter()
           .Name("shakeout_workqueue_adds_total")
           .Help("Keys added to a controller's work queue (duplicates of queued keys excluded).")
           .Register(*registry_);
  families_->retries = &prometheus::BuildCounter()
                            .Name("shakeout_workqueue_retries_total")
                            .Help("Rate-limited re-adds after a failed sync.")
                            .Register(*registry_);
  families_->duration = &prometheus::BuildHistogram()
                             .Name("shakeout_controller_reconcile_duration_seconds")
                             .Help("Time one sync of one key took.")
                             .Register(*registry_);
  families_->reconciles = &prometheus::BuildCounter()
                               .Name("shakeout_controller_reconciles_total")
                               .Help("Syncs by result: success, conflict (409) or error.")
                               .Register(*registry_);
  families_->leader = &prometheus::BuildGauge()
                           .Name("shakeout_leader_election_master_status")
                           .Help("1 while this process holds the leader Lease, else 0.")
                           .Register(*registry_)
                           .Add({{"name", lease_name}});
}

ControllerMetrics::~ControllerMetrics() = default;

WorkQueueMetrics* ControllerMetrics::queue(const std::string& name) {
  auto& slot = queues_[name];
  if (!slot) slot = std::make_unique<Queue>(*families_, name);
  return slot.get();
}

SyncMetrics* ControllerMetrics::sync(const std::string& name) {
  auto& slot = syncs_[name];
  if (!slot) slot = std::make_unique<Sync>(*families_, name);
  return slot.get();
}

void ControllerMetrics::set_leader(bool leading) {
  families_->leader->Set(leading ? 1 : 0);
}

std::string ControllerMetrics::serialize() const {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry_->Collect());
}

}  // namespace shakeout::controller
