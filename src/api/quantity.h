#pragma once
// resource.Quantity (k8s.io/apimachinery/pkg/api/resource/quantity.go):
// "100m", "0.5", "128Mi", "1G", "1e3", or a JSON number.
//
// Contract:
// - Grammar: an optional sign, digits with an optional fraction, then one
//   suffix: binary (Ki Mi Gi Ti Pi Ei), decimal SI (n u m "" k M G T P E) or
//   a decimal exponent (e3, E-2). Anything else does not parse.
// - milli_value() is the quantity times 1000 and value() the quantity,
//   both rounded up to an integer as upstream's MilliValue()/Value() are
//   (so "1.5m" CPU is 2 milli-CPU and "0.1" bytes is 1 byte); values beyond
//   int64 saturate. Exact (integer arithmetic), no floating point.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string_view>

namespace shakeout::api {

struct Quantity {
  int64_t milli = 0;  // the quantity x 1000, rounded up (saturating)

  int64_t milli_value() const { return milli; }
  // Rounded up to a whole unit.
  int64_t value() const;
  double as_double() const { return static_cast<double>(milli) / 1000.0; }
};

std::optional<Quantity> parse_quantity(std::string_view text);
// A ResourceList value: a JSON string as above, or a JSON number.
std::optional<Quantity> quantity_of(const nlohmann::json& value);

}  // namespace shakeout::api
