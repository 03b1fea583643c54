#pragma once
// PodTracker: watches every pod and EndpointSlice of the cluster under test
// (two informers) and keeps, per pod, the timeline of what the control
// loops did to it (metrics::PodEvent), each event stamped on the one steady
// clock when its watch event arrived. The runner reads it for the
// control-loop breakdown (metrics/control_loop.h).
//
//   pod added / bound / container running or not / restartCount up (a
//   restart seen as not running then running) / Ready or not / deletion
//   timestamp set / deleted; EndpointSlice endpoints turning ready or not
//   ready or going (by targetRef, conditions.ready absent = ready).
//
// A relist after a broken watch delivers what changed meanwhile, stamped
// when the relist arrives.
// Threading: the executor's thread; run() returns after stop().

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <set>
#include <string>

#include "client/client.h"
#include "client/informer.h"
#include "client/timers.h"
#include "common/clock.h"
#include "metrics/control_loop.h"

namespace shakeout::probes {

// Runs two informers until both have returned (after their stop()).
boost::asio::awaitable<void> run_both(client::Informer& first, client::Informer& second);

class PodTracker {
 public:
  PodTracker(boost::asio::any_io_executor executor, client::Config api, const Clock& clock);
  ~PodTracker();
  PodTracker(const PodTracker&) = delete;
  PodTracker& operator=(const PodTracker&) = delete;

  // Both informers until stop().
  boost::asio::awaitable<void> run();
  void stop();
  bool synced() const { return pods_.has_synced() && slices_.has_synced(); }

  // Keyed "namespace/name".
  const std::map<std::string, metrics::PodTimeline>& timelines() const { return timelines_; }

 private:
  void record(const std::string& key, metrics::PodEvent event);
  void pod_changed(const nlohmann::json* old_pod, const nlohmann::json& pod);
  // The pods a slice lists as ready endpoints, "namespace/name".
  static std::set<std::string> ready_endpoints(const nlohmann::json& slice);
  void slice_changed(const std::set<std::string>& before, const std::set<std::string>& after);

  const Clock& clock_;
  client::Client client_;
  client::SeededRandom random_{1};
  client::Informer pods_;
  client::Informer slices_;
  std::map<std::string, metrics::PodTimeline> timelines_;
};

}  // namespace shakeout::probes
