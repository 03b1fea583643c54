#pragma once
// Bearer-token authentication, as kube-apiserver's --token-auth-file does it
// (staging/src/k8s.io/apiserver/plugin/pkg/authenticator/token/tokenfile):
// a CSV file of `token,user,uid,"group1,group2"` lines, read once at start.
// A request without a valid `Authorization: Bearer <token>` is anonymous;
// the server answers 401 except on the health and version endpoints
// (upstream's system:public-info-viewer, which kind grants anonymous users).

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace shakeout::apiserver {

struct UserInfo {
  std::string name;  // "kubernetes-admin", "system:node:node-1", ...
  std::string uid;
  std::vector<std::string> groups;
};

struct TokenEntry {
  std::string token;
  UserInfo user;
};

class TokenAuthenticator {
 public:
  // Parses a token file; kInvalidArgument naming the file and line for a
  // malformed line (fewer than 3 columns, an empty token, a duplicate).
  static Result<TokenAuthenticator> load(const std::string& path);
  static Result<TokenAuthenticator> parse(std::string_view text, std::string_view source);

  // The user of an `Authorization` header value, or nullopt (anonymous).
  // Tokens are compared in constant time.
  std::optional<UserInfo> authenticate(std::string_view authorization) const;
  std::size_t size() const { return users_.size(); }

 private:
  std::map<std::string, UserInfo, std::less<>> users_;
};

// A fresh random token: 32 bytes from /dev/urandom as 64 hex characters.
Result<std::string> generate_token();
// The token file for `entries` in upstream's format.
std::string format_token_file(const std::vector<TokenEntry>& entries);

}  // namespace shakeout::apiserver
