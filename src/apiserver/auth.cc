#include "apiserver/auth.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

namespace shakeout::apiserver {
namespace {

// One CSV record with upstream's quoting ("a,b" is one field; "" escapes ").
std::vector<std::string> split_csv(std::string_view line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

Result<TokenAuthenticator> TokenAuthenticator::load(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return make_error(ErrorCode::kInvalidArgument, fmt::format("--token-auth-file: cannot read {}", path));
  std::stringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

Result<TokenAuthenticator> TokenAuthenticator::parse(std::string_view text, std::string_view source) {
  TokenAuthenticator authenticator;
  int line_number = 0;
  while (!text.empty()) {
    ++line_number;
    auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    auto fields = split_csv(line);
    if (fields.size() < 3 || fields[0].empty() || fields[1].empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("{}:{}: expected token,user,uid[,\"groups\"]", source, line_number));
    }
    UserInfo user;
    user.name = fields[1];
    user.uid = fields[2];
    if (fields.size() > 3) {
      std::string_view groups = fields[3];
      while (!groups.empty()) {
        auto comma = groups.find(',');
        if (auto group = groups.substr(0, comma); !group.empty()) user.groups.emplace_back(group);
        groups.remove_prefix(comma == std::string_view::npos ? groups.size() : comma + 1);
      }
    }
    if (!authenticator.users_.emplace(fields[0], std::move(user)).second) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("{}:{}: duplicate token", source, line_number));
    }
  }
  return authenticator;
}

std::optional<UserInfo> TokenAuthenticator::authenticate(std::string_view authorization) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size()) return std::nullopt;
  // The scheme is case-insensitive (RFC 7235); upstream accepts "bearer" too.
  for (size_t i = 0; i < kBearer.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
        std::tolower(static_cast<unsigned char>(kBearer[i])))
      return std::nullopt;
  }
  std::string_view token = authorization.substr(kBearer.size());
  std::optional<UserInfo> found;
  // Compare against every token so timing does not tell which one matched.
  for (const auto& [candidate, user] : users_) {
    if (constant_time_equal(candidate, token)) found = user;
  }
  return found;
}

Result<std::string> generate_token() {
  std::ifstream random("/dev/urandom", std::ios::binary);
  unsigned char bytes[32];
  if (!random.read(reinterpret_cast<char*>(bytes), sizeof bytes))
    return make_error(ErrorCode::kInternal, "cannot read /dev/urandom");
  std::string token;
  for (unsigned char b : bytes) token += fmt::format("{:02x}", b);
  return token;
}

std::string format_token_file(const std::vector<TokenEntry>& entries) {
  std::string text;
  for (const auto& entry : entries) {
    std::string groups;
    for (const auto& group : entry.user.groups) groups += (groups.empty() ? "" : ",") + group;
    text += fmt::format("{},{},{}", entry.token, entry.user.name, entry.user.uid);
    if (!groups.empty()) text += fmt::format(",\"{}\"", groups);
    text += "\n";
  }
  return text;
}

}  // namespace shakeout::apiserver
