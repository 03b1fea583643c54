#pragma once
// The API server's /metrics (Prometheus text format), prometheus-cpp
// families that mirror kube-apiserver's request metrics under shakeout's
// prefix (STYLE: shakeout_, base units, _total on counters):
//
//   shakeout_apiserver_requests_total{verb,resource,subresource,code}
//   shakeout_apiserver_request_duration_seconds{verb,resource}   histogram
//   shakeout_apiserver_requests_in_flight                        gauge
//   shakeout_apiserver_open_watches                              gauge
//   shakeout_apiserver_injected_faults_total{type}               error | latency | drop-watch
//
// verb is upstream's request verb (GET, LIST, WATCH, POST, PUT, PATCH,
// APPLY, DELETE, DELETECOLLECTION, CONNECT), resource a served resource's
// group_resource() or "" for non-resource paths: label sets stay bounded.
// Not thread-safe beyond what prometheus-cpp guarantees (one io thread).

#include <memory>
#include <string>

namespace prometheus {
class Registry;
}

namespace shakeout::apiserver {

class ApiMetrics {
 public:
  ApiMetrics();
  ~ApiMetrics();
  ApiMetrics(const ApiMetrics&) = delete;
  ApiMetrics& operator=(const ApiMetrics&) = delete;

  void observe(const std::string& verb, const std::string& resource, const std::string& subresource,
               unsigned code, double seconds);
  void set_in_flight(double requests);
  void set_open_watches(double watches);
  // One request (or watch stream) a fault of `type` acted on (fault_filter.h).
  void count_injected(const std::string& type);
  // The exposition text for GET /metrics.
  std::string serialize() const;

 private:
  struct Families;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> families_;
};

}  // namespace shakeout::apiserver
