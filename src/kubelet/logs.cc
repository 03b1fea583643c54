#include "kubelet/logs.h"

#include <fstream>
#include <iterator>

namespace shakeout::kubelet {

std::string read_log_file(const std::string& path, std::size_t offset) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::size_t>(in.tellg());
  if (offset >= size) return "";
  in.seekg(static_cast<std::streamoff>(offset));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string tail(const std::string& text, int64_t lines) {
  if (lines <= 0) return "";
  std::size_t end = text.size();
  // A final '\n' ends the last line; it does not start another.
  std::size_t pos = end;
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  int64_t seen = 0;
  while (pos > 0) {
    if (text[pos - 1] == '\n' && ++seen == lines) return text.substr(pos);
    --pos;
  }
  return text;
}

}  // namespace shakeout::kubelet
