#pragma once
// Toxic: one fault on one direction of a link (DESIGN §4), after toxiproxy's
// toxics. A toxic is plain, validated data; what it does to the bytes is the
// Link's business (link.h), where each kind is described.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"

namespace shakeout::faults {

enum class ToxicType {
  kLatency,    // delay each chunk by latency ± jitter (uniform), in order
  kBandwidth,  // at most rate_kbps kilobytes (1000 bytes) per second
  kSlowClose,  // delay passing on an end of stream by `delay`
  kTimeout,    // hold all data; close the connection after `timeout` (0: never)
  kResetPeer,  // reset both sides (RST) `timeout` after it applies to a connection
  kSlicer,     // cut chunks into average_size ± size_variation pieces, `delay` apart
  kLimitData,  // close the connection once `bytes` bytes passed this toxic
};

// upstream: client -> server bytes; downstream: server -> client bytes.
enum class Stream { kUpstream, kDownstream };

struct Toxic {
  std::string name;  // unique per link
  ToxicType type = ToxicType::kLatency;
  Stream stream = Stream::kDownstream;
  double toxicity = 1.0;                         // chance, rolled once per connection, that it applies to it
  Millis latency{0};                             // kLatency
  Millis jitter{0};                              // kLatency
  int64_t rate_kbps = 0;                         // kBandwidth, > 0
  Millis delay{0};                               // kSlowClose; kSlicer (between pieces)
  Millis timeout{0};                             // kTimeout; kResetPeer
  int64_t bytes = 0;                             // kLimitData
  int64_t average_size = 0, size_variation = 0;  // kSlicer
};

const char* to_string(ToxicType type);
const char* to_string(Stream stream);
// "latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer",
// "limit_data" (toxiproxy's names); kInvalidArgument otherwise.
Result<ToxicType> parse_toxic_type(std::string_view text);
// "upstream" or "downstream".
Result<Stream> parse_stream(std::string_view text);

// kInvalidArgument naming the toxic and the first bad field.
Status validate(const Toxic& toxic);

// Whether a toxic of this name and toxicity applies to the connection with
// this index (0 for a link's first accepted connection) on a link seeded
// `seed`: a pure function, so a run is reproducible and a test can predict
// which connections a toxic hits. toxicity <= 0: never, >= 1: always.
bool toxic_applies(uint64_t seed, uint64_t connection, std::string_view name, double toxicity);

// A well-mixed 64-bit value of its inputs (splitmix64 over them).
uint64_t mix_seed(uint64_t a, uint64_t b);

}  // namespace shakeout::faults
