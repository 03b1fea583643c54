#pragma once
// A minimal leveled logger writing one line per call to stderr:
//   2026-11-28T21:50:01.123Z INFO  supervisor: started etcd-1 pid=1234
// Thread-safe (one write(2) per line).

#include <fmt/format.h>

#include <string_view>

namespace shakeout::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

void set_level(Level level);
Level level();
// Parses "debug|info|warn|error|off"; returns false on anything else.
bool parse_level(std::string_view text, Level* out);
void write(Level level, std::string_view component, std::string_view message);

template <typename... Args>
void debug(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::kDebug) write(Level::kDebug, component, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::kInfo) write(Level::kInfo, component, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::kWarn) write(Level::kWarn, component, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::kError) write(Level::kError, component, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace shakeout::log
