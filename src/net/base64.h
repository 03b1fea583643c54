#pragma once
// Base64 (RFC 4648, standard alphabet, '=' padding), as etcd's JSON gateway
// and the Kubernetes API use for bytes fields.

#include <optional>
#include <string>
#include <string_view>

namespace shakeout::net {

std::string base64_encode(std::string_view bytes);
// nullopt unless `text` is canonical padded base64 (length a multiple of 4,
// alphabet characters only, '=' only as the last one or two characters).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace shakeout::net
