#include "api/watch_event.h"

#include <gtest/gtest.h>

#include <string>

namespace shakeout::api {
namespace {

TEST(WatchEventType, NamesRoundTripWithUpstreamSpelling) {
  for (auto type : {WatchEventType::kAdded, WatchEventType::kModified, WatchEventType::kDeleted,
                    WatchEventType::kBookmark, WatchEventType::kError}) {
    EXPECT_EQ(parse_watch_event_type(to_string(type)), type) << to_string(type);
  }
  EXPECT_EQ(std::string(to_string(WatchEventType::kBookmark)), "BOOKMARK");
  EXPECT_FALSE(parse_watch_event_type("added"));
  EXPECT_FALSE(parse_watch_event_type(""));
}

}  // namespace
}  // namespace shakeout::api
