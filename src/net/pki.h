#pragma once
// Certificates for a cluster's API servers, made in-process with OpenSSL
// (ECDSA P-256, SHA-256), as kubeadm's phase `certs` does with its own CA:
//
//   make_certificate_authority("shakeout-ca")          -> ca.crt / ca.key
//   make_serving_certificate(ca, {cn, IP SANs, DNS SANs}) -> apiserver.crt / .key
//
// PEM text in, PEM text out; writing files (and their modes) is the caller's.

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace shakeout::net {

struct PemPair {
  std::string certificate;  // "-----BEGIN CERTIFICATE-----..."
  std::string private_key;  // "-----BEGIN PRIVATE KEY-----..." (PKCS#8)
};

// A self-signed CA certificate (basicConstraints CA:TRUE, keyCertSign),
// valid from an hour ago (clock skew) for `days`.
Result<PemPair> make_certificate_authority(std::string_view common_name, int days);

struct ServingCertificateRequest {
  std::string common_name;
  std::vector<std::string> ip_addresses;  // IPv4/IPv6 literals for subjectAltName
  std::vector<std::string> dns_names;
  int days = 365;
};

// A TLS server certificate (extendedKeyUsage serverAuth) signed by `ca`.
// kInvalidArgument for an IP that does not parse or a CA that does not load.
Result<PemPair> make_serving_certificate(const PemPair& ca, const ServingCertificateRequest& request);

}  // namespace shakeout::net
