#include "faults/toxic.h"
#include <utility>

#include <fmt/format.h>

#include <array>

namespace shakeout::faults {
namespace {

constexpr std::array<std::pair<ToxicType, const char*>, 7> kTypeNames = {{
    {ToxicType::kLatency, "latency"},
    {ToxicType::kBandwidth, "bandwidth"},
    {ToxicType::kSlowClose, "slow_close"},
    {ToxicType::kTimeout, "timeout"},
    {ToxicType::kResetPeer, "reset_peer"},
    {ToxicType::kSlicer, "slicer"},
    {ToxicType::kLimitData, "limit_data"},
}};

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// FNV-1a: stable across builds, unlike std::hash.
uint64_t hash_name(std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace

const char* to_string(ToxicType type) {
  for (const auto& [t, name] : kTypeNames)
    if (t == type) return name;
  return "unknown";
}

const char* to_string(Stream stream) {
  return stream == Stream::kUpstream ? "upstream" : "downstream";
}

Result<ToxicType> parse_toxic_type(std::string_view text) {
  for (const auto& [t, name] : kTypeNames)
    if (text == name) return t;
  return make_error(ErrorCode::kInvalidArgument,
                    fmt::format("unknown toxic type \"{}\" (latency, bandwidth, slow_close, timeout, "
                                "reset_peer, slicer, limit_data)",
                                text));
}

Result<Stream> parse_stream(std::string_view text) {
  if (text == "upstream") return Stream::kUpstream;
  if (text == "downstream") return Stream::kDownstream;
  return make_error(ErrorCode::kInvalidArgument,
                    fmt::format("unknown stream \"{}\" (upstream or downstream)", text));
}

Status validate(const Toxic& toxic) {
  auto bad = [&](std::string_view what) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("toxic \"{}\" ({}): {}", toxic.name, to_string(toxic.type), what));
  };
  if (toxic.name.empty()) return bad("a toxic needs a name");
  if (!(toxic.toxicity >= 0.0 && toxic.toxicity <= 1.0)) return bad("toxicity must be in [0, 1]");
  if (toxic.latency.count() < 0 || toxic.jitter.count() < 0) return bad("latency and jitter must be >= 0");
  if (toxic.delay.count() < 0) return bad("delay must be >= 0");
  if (toxic.timeout.count() < 0) return bad("timeout must be >= 0");
  switch (toxic.type) {
    case ToxicType::kBandwidth:
      if (toxic.rate_kbps <= 0) return bad("rate must be > 0 KB/s");
      break;
    case ToxicType::kLimitData:
      if (toxic.bytes < 0) return bad("bytes must be >= 0");
      break;
    case ToxicType::kSlicer:
      if (toxic.average_size <= 0) return bad("average_size must be > 0");
      if (toxic.size_variation < 0 || toxic.size_variation >= toxic.average_size)
        return bad("size_variation must be in [0, average_size)");
      break;
    default:
      break;
  }
  return {};
}

uint64_t mix_seed(uint64_t a, uint64_t b) {
  return splitmix64(splitmix64(a) ^ b);
}

bool toxic_applies(uint64_t seed, uint64_t connection, std::string_view name, double toxicity) {
  if (toxicity >= 1.0) return true;
  if (toxicity <= 0.0) return false;
  const uint64_t bits = mix_seed(mix_seed(seed, connection), hash_name(name));
  const double roll = static_cast<double>(bits >> 11) * 0x1.0p-53;  // uniform in [0, 1)
  return roll < toxicity;
}

}  // namespace shakeout::faults
