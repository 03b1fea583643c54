#include "apiserver/fault_filter.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "api/generic_status.h"

namespace shakeout::apiserver {
namespace {

using json = nlohmann::json;

constexpr std::array<std::string_view, 8> kVerbs = {"get",    "list",  "watch",  "create",
                                                    "update", "patch", "delete", "deletecollection"};

Error field_error(std::string_view field, std::string_view message) {
  return make_error(ErrorCode::kInvalidArgument, fmt::format("{}: {}", field, message));
}

bool listed(const std::vector<std::string>& list, const std::string& value) {
  return list.empty() || std::find(list.begin(), list.end(), value) != list.end();
}

// A list of non-empty strings at `field` (absent: empty).
Result<std::vector<std::string>> strings(const json& body, std::string_view field) {
  std::vector<std::string> out;
  const auto found = body.find(std::string(field));
  if (found == body.end() || found->is_null()) return out;
  if (!found->is_array()) return field_error(field, "must be a list of strings");
  for (const auto& item : *found) {
    if (!item.is_string() || item.get<std::string>().empty())
      return field_error(field, "must be a list of non-empty strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

// A non-negative integer number of milliseconds at `field`, or nullopt when absent.
Result<std::optional<Millis>> millis(const json& body, std::string_view field) {
  const auto found = body.find(std::string(field));
  if (found == body.end() || found->is_null()) return std::optional<Millis>();
  if (!found->is_number_integer() || found->get<int64_t>() < 0)
    return field_error(field, "must be a non-negative integer (milliseconds)");
  return std::optional<Millis>(Millis(found->get<int64_t>()));
}

}  // namespace

std::string_view to_string(FaultType type) {
  switch (type) {
    case FaultType::kError:
      return "error";
    case FaultType::kLatency:
      return "latency";
    case FaultType::kDropWatch:
      return "drop-watch";
  }
  return "error";
}

json ApiFault::to_json() const {
  json out = json::object();
  out["id"] = id;
  out["type"] = std::string(to_string(type));
  if (type == FaultType::kError) {
    out["status"] = status;
    out["percent"] = percent;
  }
  if (type == FaultType::kLatency) {
    out["latencyMs"] = latency.count();
    out["jitterMs"] = jitter.count();
  }
  out["verbs"] = verbs;
  out["resources"] = resources;
  out["durationMs"] = duration.count();
  out["seed"] = seed;
  return out;
}

Result<ApiFault> parse_fault(const json& body) {
  if (!body.is_object()) return field_error("body", "must be a JSON object");
  for (auto it = body.begin(); it != body.end(); ++it) {
    static const std::array<std::string_view, 10> kKnown = {
        "id",        "type",      "status",   "percent",    "verbs",
        "resources", "latencyMs", "jitterMs", "durationMs", "seed"};
    if (std::find(kKnown.begin(), kKnown.end(), it.key()) == kKnown.end())
      return field_error(it.key(), "unknown field");
  }
  ApiFault fault;
  const auto id = body.find("id");
  if (id == body.end() || !id->is_string() || id->get<std::string>().empty() ||
      id->get<std::string>().find('/') != std::string::npos)
    return field_error("id", "required: a non-empty string without '/'");
  fault.id = id->get<std::string>();

  const std::string type = body.value("type", json()).is_string() ? body["type"].get<std::string>() : "";
  if (type == "error") {
    fault.type = FaultType::kError;
  } else if (type == "latency") {
    fault.type = FaultType::kLatency;
  } else if (type == "drop-watch") {
    fault.type = FaultType::kDropWatch;
  } else {
    return field_error("type", "required: one of error, latency, drop-watch");
  }

  if (const auto status = body.find("status"); status != body.end()) {
    if (!status->is_number_integer() || status->get<int64_t>() < 400 || status->get<int64_t>() > 599)
      return field_error("status", "must be an integer from 400 to 599");
    fault.status = status->get<int>();
  }
  if (const auto percent = body.find("percent"); percent != body.end()) {
    if (!percent->is_number() || percent->get<double>() <= 0 || percent->get<double>() > 100)
      return field_error("percent", "must be a number above 0 and at most 100");
    fault.percent = percent->get<double>();
  }
  auto verbs = strings(body, "verbs");
  if (!verbs) return verbs.error();
  for (const auto& verb : *verbs)
    if (std::find(kVerbs.begin(), kVerbs.end(), verb) == kVerbs.end())
      return field_error("verbs", fmt::format("'{}' is not one of {}", verb, fmt::join(kVerbs, ", ")));
  fault.verbs = std::move(*verbs);
  auto resources = strings(body, "resources");
  if (!resources) return resources.error();
  fault.resources = std::move(*resources);

  auto latency = millis(body, "latencyMs");
  if (!latency) return latency.error();
  auto jitter = millis(body, "jitterMs");
  if (!jitter) return jitter.error();
  if (fault.type == FaultType::kLatency) {
    if (!*latency || **latency <= Millis(0)) return field_error("latencyMs", "required for latency: > 0");
    fault.latency = **latency;
    fault.jitter = jitter->value_or(Millis(0));
    if (fault.jitter > fault.latency) return field_error("jitterMs", "must not exceed latencyMs");
  }
  auto duration = millis(body, "durationMs");
  if (!duration) return duration.error();
  if (!*duration || **duration <= Millis(0))
    return field_error("durationMs", "required: > 0 (the fault expires on its own after it)");
  fault.duration = **duration;

  if (const auto seed = body.find("seed"); seed != body.end()) {
    if (!seed->is_number_unsigned() && !(seed->is_number_integer() && seed->get<int64_t>() >= 0))
      return field_error("seed", "must be a non-negative integer");
    fault.seed = seed->get<uint64_t>();
  } else {
    fault.seed = std::random_device()();
  }
  return fault;
}

api::ApiError injected_error(int code, const std::string& fault_id) {
  api::ApiError error = api::generic_server_response(code, "injected fault " + fault_id);
  error.status["message"] = fmt::format("{} (injected by shakeout fault {})", error.message(), fault_id);
  // What upstream's own 429s and 503s tell the client (and Retry-After says again).
  if (code == 429 || code == 503) error.status["details"]["retryAfterSeconds"] = 1;
  return error;
}

void FaultFilter::prune() {
  const SteadyTime now = clock_.now();
  std::erase_if(faults_, [now](const Active& active) { return active.expires <= now; });
}

Status FaultFilter::add(ApiFault fault) {
  prune();
  for (const auto& active : faults_)
    if (active.fault.id == fault.id)
      return make_error(ErrorCode::kAlreadyExists, fmt::format("fault {} is already active", fault.id));
  Active active{std::move(fault), {}, {}};
  active.expires = clock_.now() + active.fault.duration;
  active.random.seed(active.fault.seed);
  faults_.push_back(std::move(active));
  return {};
}

bool FaultFilter::remove(const std::string& id) {
  prune();
  const auto before = faults_.size();
  std::erase_if(faults_, [&id](const Active& active) { return active.fault.id == id; });
  return faults_.size() != before;
}

std::vector<ApiFault> FaultFilter::active() {
  prune();
  std::vector<ApiFault> out;
  out.reserve(faults_.size());
  for (const auto& active : faults_) out.push_back(active.fault);
  return out;
}

FaultDecision FaultFilter::decide(const std::string& verb, const std::string& resource) {
  prune();
  FaultDecision decision;
  for (auto& active : faults_) {
    const ApiFault& fault = active.fault;
    if (!listed(fault.verbs, verb) || !listed(fault.resources, resource)) continue;
    if (fault.type == FaultType::kLatency) {
      std::uniform_int_distribution<int64_t> spread(-fault.jitter.count(), fault.jitter.count());
      decision.delay += fault.latency + Millis(spread(active.random));
      decision.injected.emplace_back("latency");
    } else if (fault.type == FaultType::kError && !decision.error) {
      std::uniform_real_distribution<double> roll(0, 100);
      if (roll(active.random) < fault.percent) {
        decision.error = injected_error(fault.status, fault.id);
        decision.injected.emplace_back("error");
      }
    }
  }
  return decision;
}

bool FaultFilter::drops_watches(const std::string& resource) {
  prune();
  return std::any_of(faults_.begin(), faults_.end(), [&resource](const Active& active) {
    return active.fault.type == FaultType::kDropWatch && listed(active.fault.verbs, "watch") &&
           listed(active.fault.resources, resource);
  });
}

}  // namespace shakeout::apiserver
