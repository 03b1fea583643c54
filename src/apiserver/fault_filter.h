#pragma once
// FaultFilter: API faults "in front of" the API server, after Envoy's HTTP
// fault filter (source/extensions/filters/http/fault): immutable fault specs
// added and removed through the control endpoint, matched per request.
//
//   request --> auth --> FaultFilter::decide --> error Status | delay | (handler)
//                                                drop-watch: open and new watch streams end
//
//   error       a matching request is answered with a metav1.Status of
//               `status` (reason as upstream picks it for that code), with
//               probability percent/100 from the fault's own seeded RNG
//   latency     a matching request waits latency ± jitter before it is handled
//   drop-watch  watch streams on a matching resource end cleanly (as at a
//               watch timeout), and new ones end right after they start
//
// A request matches a fault when its Kubernetes verb (get, list, watch,
// create, update, patch, delete, deletecollection) and its resource plural
// are in the fault's lists (an empty list matches all). Only resource
// requests are ever matched: health, version, discovery, openapi, metrics
// and the control endpoint itself never are. Every fault expires on its
// own after `duration` (a safety net should whoever added it die).
// Pure apart from the clock; not thread-safe (the server's io thread).

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "api/status.h"
#include "common/clock.h"
#include "common/result.h"

namespace shakeout::apiserver {

enum class FaultType { kError, kLatency, kDropWatch };

std::string_view to_string(FaultType type);  // "error", "latency", "drop-watch"

// One fault as the control endpoint accepts it.
struct ApiFault {
  std::string id;
  FaultType type = FaultType::kError;
  int status = 503;                    // error: 400..599
  double percent = 100;                // error: (0, 100]
  std::vector<std::string> verbs;      // empty = every verb
  std::vector<std::string> resources;  // plurals; empty = every resource
  Millis latency{0};                   // latency: > 0
  Millis jitter{0};                    // latency: >= 0, at most latency
  Millis duration{0};                  // > 0: expires on its own after this
  uint64_t seed = 0;

  // The control endpoint's JSON form (what parse_fault reads).
  nlohmann::json to_json() const;
};

// Parses a control-endpoint body:
//   {"id": "f1", "type": "error"|"latency"|"drop-watch", "status": 503,
//    "percent": 50, "verbs": [...], "resources": [...], "latencyMs": 200,
//    "jitterMs": 50, "durationMs": 2000, "seed": 1}
// kInvalidArgument whose message starts with the offending field's name.
Result<ApiFault> parse_fault(const nlohmann::json& body);

// The Status an injected error answers with: upstream's reason for the code
// (k8s.io/apimachinery/pkg/api/errors NewGenericServerResponse).
api::ApiError injected_error(int code, const std::string& fault_id);

// What to do with one request.
struct FaultDecision {
  std::optional<api::ApiError> error;  // answer with this instead
  Millis delay{0};                     // then wait this long before handling
  std::vector<std::string> injected;   // the fault types that acted ("error", "latency")
};

class FaultFilter {
 public:
  explicit FaultFilter(const Clock& clock) : clock_(clock) {}

  // kAlreadyExists if an active fault has the same id.
  Status add(ApiFault fault);
  // Whether a fault with that id was active.
  bool remove(const std::string& id);
  // The active faults, oldest first.
  std::vector<ApiFault> active();

  // Rolls the dice for a request of `verb` on `resource` (a plural).
  FaultDecision decide(const std::string& verb, const std::string& resource);
  // Whether an active drop-watch fault covers watches on `resource`.
  bool drops_watches(const std::string& resource);

 private:
  struct Active {
    ApiFault fault;
    SteadyTime expires;
    std::mt19937_64 random;
  };
  void prune();

  const Clock& clock_;
  std::vector<Active> faults_;
};

}  // namespace shakeout::apiserver
