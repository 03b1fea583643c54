#include "common/clock.h"

#include <fmt/format.h>

namespace shakeout {
namespace {

class SystemClock final : public Clock {
 public:
  SteadyTime now() const override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point wall_now() const override { return std::chrono::system_clock::now(); }
};

}  // namespace

const Clock& system_clock() {
  static const SystemClock kClock;
  return kClock;
}

std::string format_duration(std::chrono::nanoseconds d) {
  using namespace std::chrono;
  const auto ns = d.count();
  if (ns == 0) return "0s";
  const char* sign = ns < 0 ? "-" : "";
  const auto abs_ns = ns < 0 ? -ns : ns;
  if (abs_ns < 1'000) return fmt::format("{}{}ns", sign, abs_ns);
  if (abs_ns < 1'000'000) return fmt::format("{}{:g}µs", sign, static_cast<double>(abs_ns) / 1e3);
  if (abs_ns < 1'000'000'000) return fmt::format("{}{:g}ms", sign, static_cast<double>(abs_ns) / 1e6);
  const double secs = static_cast<double>(abs_ns) / 1e9;
  if (secs < 60) return fmt::format("{}{:g}s", sign, secs);
  const auto total_ms = abs_ns / 1'000'000;
  const auto hours = total_ms / 3'600'000;
  const auto minutes = (total_ms / 60'000) % 60;
  const double rest = static_cast<double>(total_ms % 60'000) / 1e3;
  if (hours > 0) return fmt::format("{}{}h{}m{:g}s", sign, hours, minutes, rest);
  return fmt::format("{}{}m{:g}s", sign, minutes, rest);
}

}  // namespace shakeout
