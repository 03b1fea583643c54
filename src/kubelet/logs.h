#pragma once
// Reading a container's log file for the kubelet API's /containerLogs.

#include <cstdint>
#include <string>

namespace shakeout::kubelet {

// The bytes of `path` from `offset` to its current end ("" if unreadable).
std::string read_log_file(const std::string& path, std::size_t offset);
// The last `lines` lines of `text` (a final line without '\n' counts).
std::string tail(const std::string& text, int64_t lines);

}  // namespace shakeout::kubelet
