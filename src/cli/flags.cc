// The flag helpers every role command uses, apart from cli.cc's run() so that
// `shakeout-app` links them without every other command.

#include <cstdio>
#include <fstream>
#include <string>

#include "cli/commands.h"
#include "cluster/profile.h"

namespace shakeout::cli {

// --token-file: the first line of the file becomes the token (so it is not
// in the process's argv); an unreadable or empty file is a usage error.
bool read_token_file(const std::string& path, std::string& token) {
  if (path.empty()) return true;
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line) || line.empty()) {
    std::fprintf(stderr, "shakeout: error: --token-file: cannot read a token from %s\n", path.c_str());
    return false;
  }
  token = line;
  return true;
}

bool parse_duration_flag(const char* name, const std::string& text, Millis& out) {
  auto parsed = cluster::parse_duration(text);
  if (!parsed) {
    std::fprintf(stderr, "shakeout: error: %s: %s\n", name, parsed.error().message.c_str());
    return false;
  }
  out = parsed.value();
  return true;
}

}  // namespace shakeout::cli
