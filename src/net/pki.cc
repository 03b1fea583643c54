#include "net/pki.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>
#include <memory>

namespace shakeout::net {
namespace {

struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertFree {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct BnFree {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;
using Bio = std::unique_ptr<BIO, BioFree>;
using Bn = std::unique_ptr<BIGNUM, BnFree>;

Error openssl_error(std::string_view what) {
  const unsigned long code = ERR_get_error();
  std::array<char, 256> text{};
  if (code != 0) ERR_error_string_n(code, text.data(), text.size());
  ERR_clear_error();
  return make_error(ErrorCode::kInternal,
                    fmt::format("pki: {}: {}", what, code != 0 ? text.data() : "failed"));
}

Result<Key> new_key() {
  Key key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return openssl_error("generate P-256 key");
  return key;
}

// Version 3, a random positive 127-bit serial, valid from an hour ago, the
// subject's CN and public key; issuer and extensions are the caller's.
Result<Cert> new_certificate(std::string_view common_name, EVP_PKEY* key, int days) {
  Cert cert(X509_new());
  if (!cert) return openssl_error("X509_new");
  std::array<unsigned char, 16> serial{};
  if (RAND_bytes(serial.data(), static_cast<int>(serial.size())) != 1) return openssl_error("serial");
  serial[0] &= 0x7f;  // positive, as RFC 5280 wants
  Bn number(BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr));
  const std::string cn(common_name);
  X509_NAME* name = X509_get_subject_name(cert.get());
  const bool ok =
      number && X509_set_version(cert.get(), 2) == 1 &&
      BN_to_ASN1_INTEGER(number.get(), X509_get_serialNumber(cert.get())) != nullptr &&
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) != nullptr &&
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 86400) != nullptr &&
      X509_set_pubkey(cert.get(), key) == 1 &&
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) == 1;
  if (!ok) return openssl_error("fill certificate");
  return cert;
}

Status add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str());
  if (extension == nullptr) return openssl_error(fmt::format("extension {}={}", OBJ_nid2sn(nid), value));
  const int added = X509_add_ext(cert, extension, -1);
  X509_EXTENSION_free(extension);
  if (added != 1) return openssl_error("add extension");
  return {};
}

Status add_extensions(X509* cert, X509* issuer, const std::vector<std::pair<int, std::string>>& extensions) {
  for (const auto& [nid, value] : extensions) {
    if (auto added = add_extension(cert, issuer, nid, value); !added) return added;
  }
  return {};
}

Result<PemPair> to_pem(X509* cert, EVP_PKEY* key) {
  Bio cert_bio(BIO_new(BIO_s_mem()));
  Bio key_bio(BIO_new(BIO_s_mem()));
  if (!cert_bio || !key_bio || PEM_write_bio_X509(cert_bio.get(), cert) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return openssl_error("write PEM");
  }
  auto text = [](BIO* bio) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(size));
  };
  return PemPair{text(cert_bio.get()), text(key_bio.get())};
}

}  // namespace

Result<PemPair> make_certificate_authority(std::string_view common_name, int days) {
  auto key = new_key();
  if (!key) return key.error();
  auto cert = new_certificate(common_name, key->get(), days);
  if (!cert) return cert.error();
  X509* self = cert->get();
  if (X509_set_issuer_name(self, X509_get_subject_name(self)) != 1) return openssl_error("issuer");
  auto extended = add_extensions(self, self,
                                 {{NID_basic_constraints, "critical,CA:TRUE"},
                                  {NID_key_usage, "critical,digitalSignature,keyEncipherment,keyCertSign"},
                                  {NID_subject_key_identifier, "hash"}});
  if (!extended) return extended.error();
  if (X509_sign(self, key->get(), EVP_sha256()) == 0) return openssl_error("sign CA");
  return to_pem(self, key->get());
}

Result<PemPair> make_serving_certificate(const PemPair& ca, const ServingCertificateRequest& request) {
  std::string alt_names;
  for (const auto& ip : request.ip_addresses) {
    std::array<unsigned char, 16> scratch{};
    if (inet_pton(AF_INET, ip.c_str(), scratch.data()) != 1 &&
        inet_pton(AF_INET6, ip.c_str(), scratch.data()) != 1) {
      return make_error(ErrorCode::kInvalidArgument, fmt::format("pki: not an IP address: '{}'", ip));
    }
    alt_names += fmt::format("{}IP:{}", alt_names.empty() ? "" : ",", ip);
  }
  for (const auto& dns : request.dns_names) {
    alt_names += fmt::format("{}DNS:{}", alt_names.empty() ? "" : ",", dns);
  }
  Bio ca_cert_bio(BIO_new_mem_buf(ca.certificate.data(), static_cast<int>(ca.certificate.size())));
  Bio ca_key_bio(BIO_new_mem_buf(ca.private_key.data(), static_cast<int>(ca.private_key.size())));
  Cert ca_cert(ca_cert_bio ? PEM_read_bio_X509(ca_cert_bio.get(), nullptr, nullptr, nullptr) : nullptr);
  Key ca_key(ca_key_bio ? PEM_read_bio_PrivateKey(ca_key_bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!ca_cert || !ca_key) {
    ERR_clear_error();
    return make_error(ErrorCode::kInvalidArgument, "pki: the CA's certificate or key does not load");
  }
  auto key = new_key();
  if (!key) return key.error();
  auto cert = new_certificate(request.common_name, key->get(), request.days);
  if (!cert) return cert.error();
  if (X509_set_issuer_name(cert->get(), X509_get_subject_name(ca_cert.get())) != 1) {
    return openssl_error("issuer");
  }
  std::vector<std::pair<int, std::string>> extensions = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
      {NID_ext_key_usage, "serverAuth"},
      {NID_authority_key_identifier, "keyid:always"}};
  if (!alt_names.empty()) extensions.emplace_back(NID_subject_alt_name, alt_names);
  if (auto extended = add_extensions(cert->get(), ca_cert.get(), extensions); !extended) {
    return extended.error();
  }
  if (X509_sign(cert->get(), ca_key.get(), EVP_sha256()) == 0) return openssl_error("sign certificate");
  return to_pem(cert->get(), key->get());
}

}  // namespace shakeout::net
