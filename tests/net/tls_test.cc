// TLS: certificates made by net/pki and the HTTP server serving TLS and plain
// HTTP on one port, checked with a real OpenSSL client that verifies the CA.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <fstream>
#include <memory>
#include <string>

#include "common/async.h"
#include "net/http_server.h"
#include "net/pki.h"
#include "test_support.h"

namespace shakeout::net {
namespace {

using tcp = asio::ip::tcp;
constexpr Millis kDeadline{20000};

struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
using Cert = std::unique_ptr<X509, X509Free>;

Cert parse(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                BIO_free);
  return Cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

// X509_verify_cert of `leaf` against `ca` alone, for TLS server use.
bool verifies(const std::string& leaf_pem, const std::string& ca_pem) {
  Cert leaf = parse(leaf_pem);
  Cert ca = parse(ca_pem);
  if (!leaf || !ca) return false;
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  X509_STORE_add_cert(store.get(), ca.get());
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> context(X509_STORE_CTX_new(),
                                                                          X509_STORE_CTX_free);
  X509_STORE_CTX_init(context.get(), store.get(), leaf.get(), nullptr);
  X509_STORE_CTX_set_purpose(context.get(), X509_PURPOSE_SSL_SERVER);
  return X509_verify_cert(context.get()) == 1;
}

ServingCertificateRequest loopback_request() {
  ServingCertificateRequest request;
  request.common_name = "kube-apiserver";
  request.ip_addresses = {"127.0.0.1", "::1"};
  request.dns_names = {"localhost", "kubernetes.default.svc"};
  return request;
}

TEST(PkiTest, ServingCertificateVerifiesAgainstItsCaForItsNamesOnly) {
  auto ca = make_certificate_authority("test-ca", 1);
  ASSERT_TRUE(ca.ok()) << ca.error().message;
  EXPECT_NE(ca->certificate.find("-----BEGIN CERTIFICATE-----"), std::string::npos);
  EXPECT_NE(ca->private_key.find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
  auto serving = make_serving_certificate(*ca, loopback_request());
  ASSERT_TRUE(serving.ok()) << serving.error().message;
  EXPECT_TRUE(verifies(serving->certificate, ca->certificate));
  EXPECT_FALSE(verifies(serving->certificate, make_certificate_authority("other-ca", 1)->certificate));
  // The CA itself is not a server certificate's issuer by accident: the leaf
  // is not a CA.
  Cert leaf = parse(serving->certificate);
  ASSERT_TRUE(leaf);
  EXPECT_EQ(X509_check_ca(leaf.get()), 0);
  EXPECT_EQ(X509_check_ip_asc(leaf.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf.get(), "127.0.0.2", 0), 0);
  EXPECT_EQ(X509_check_host(leaf.get(), "kubernetes.default.svc", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(leaf.get(), "example.com", 0, 0, nullptr), 0);
}

TEST(PkiTest, BadInputIsRefused) {
  auto ca = make_certificate_authority("test-ca", 1);
  ASSERT_TRUE(ca.ok());
  auto request = loopback_request();
  request.ip_addresses = {"127.0.0.300"};
  auto bad_ip = make_serving_certificate(*ca, request);
  ASSERT_FALSE(bad_ip.ok());
  EXPECT_EQ(bad_ip.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(bad_ip.error().message.find("127.0.0.300"), std::string::npos);
  PemPair broken{ca->certificate, "not a key"};
  auto bad_ca = make_serving_certificate(broken, loopback_request());
  ASSERT_FALSE(bad_ca.ok());
  EXPECT_EQ(bad_ca.error().code, ErrorCode::kInvalidArgument);
}

class TlsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = make_certificate_authority("test-ca", 1);
    ASSERT_TRUE(ca.ok());
    ca_ = ca->certificate;
    auto serving = make_serving_certificate(*ca, loopback_request());
    ASSERT_TRUE(serving.ok());
    config_.tls_certificate_file = write("server.crt", serving->certificate);
    config_.tls_private_key_file = write("server.key", serving->private_key);
  }
  void TearDown() override {
    if (server_) run_blocking(io_, server_->stop());
    server_.reset();
    io_.restart();
    io_.poll();
  }

  std::string write(const std::string& name, const std::string& text) {
    const auto path = (dir_.path() / name).string();
    std::ofstream(path) << text;
    return path;
  }

  Status start(HttpHandler handler) {
    server_ = std::make_unique<HttpServer>(io_.get_executor(), config_, std::move(handler));
    return server_->start();
  }

  // A TLS client that trusts only `ca_` and checks the server's name:
  // sends `request`, reads until `until` has arrived or the server closes,
  // then closes. Returns what it read, or "handshake failed: ...".
  asio::awaitable<std::string> tls_exchange(std::string request, std::string until) {
    asio::ssl::context context(asio::ssl::context::tls_client);
    context.add_certificate_authority(asio::buffer(ca_));
    context.set_verify_mode(asio::ssl::verify_peer);
    asio::ssl::stream<tcp::socket> stream(io_, context);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(stream.native_handle()), "127.0.0.1");  // the name checked
    co_await stream.next_layer().async_connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()), asio::use_awaitable);
    boost::system::error_code ec;
    co_await stream.async_handshake(asio::ssl::stream_base::client,
                                    asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return "handshake failed: " + ec.message();
    co_await asio::async_write(stream, asio::buffer(request), asio::use_awaitable);
    std::string data;
    std::string buffer(4096, '\0');
    while (until.empty() || data.find(until) == std::string::npos) {
      const std::size_t n = co_await stream.async_read_some(asio::buffer(buffer),
                                                            asio::redirect_error(asio::use_awaitable, ec));
      data.append(buffer.data(), n);
      if (ec) break;
    }
    stream.next_layer().close();
    co_return data;
  }

  asio::io_context io_;
  shakeout::testing::TempDir dir_{"shakeout-tls"};
  std::string ca_;
  HttpServerConfig config_;
  std::unique_ptr<HttpServer> server_;
};

asio::awaitable<void> echo_scheme(ServerRequest& request, ResponseWriter& writer) {
  ServerResponse response;
  response.content_type = "text/plain";
  response.body = std::string(request.tls ? "tls " : "plain ") + request.path;
  co_await writer.send(std::move(response));
}

TEST_F(TlsServerTest, ServesTlsAndPlainHttpOnOnePort) {
  ASSERT_TRUE(start(echo_scheme).ok());
  auto secure =
      run_blocking(io_, tls_exchange("GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", ""));
  EXPECT_NE(secure.find("HTTP/1.1 200 OK"), std::string::npos) << secure;
  EXPECT_NE(secure.find("tls /x"), std::string::npos) << secure;

  HttpClient plain(io_.get_executor());
  HttpRequest request;
  request.target = "/y";
  auto response = run_blocking(io_, plain.request(server_->endpoint(), std::move(request), kDeadline));
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->body, "plain /y");
}

TEST_F(TlsServerTest, KeepAliveAndStreamsWorkOverTlsAndALeavingClientIsNoticed) {
  auto closed = std::make_shared<bool>(false);
  ASSERT_TRUE(start([closed](ServerRequest& request, ResponseWriter& writer) -> asio::awaitable<void> {
                if (request.path != "/watch") {
                  co_await echo_scheme(request, writer);
                  co_return;
                }
                writer.on_close([closed] { *closed = true; });
                co_await writer.begin_stream(ServerResponse());
                co_await writer.write_chunk("event one\n");
                co_await writer.wait_closed();
              }).ok());
  // Two requests on one TLS connection, the second a stream whose chunk
  // arrives while the server also reads (to notice the client leaving).
  auto data = run_blocking(
      io_, tls_exchange("GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /watch HTTP/1.1\r\nHost: a\r\n\r\n",
                        "event one\n"));
  EXPECT_NE(data.find("tls /a"), std::string::npos) << data;
  EXPECT_NE(data.find("Transfer-Encoding: chunked"), std::string::npos) << data;
  EXPECT_NE(data.find("event one\n"), std::string::npos) << data;
  run_blocking(io_, [&]() -> asio::awaitable<void> {
    asio::steady_timer pause(io_);
    for (int i = 0; i < 200 && !*closed; ++i) {
      pause.expires_after(Millis{50});
      co_await pause.async_wait(asio::use_awaitable);
    }
  }());
  EXPECT_TRUE(*closed) << "the server did not notice the TLS client leave";
}

TEST_F(TlsServerTest, AClientThatDoesNotTrustTheCaFailsTheHandshakeAndTheServerLivesOn) {
  ASSERT_TRUE(start(echo_scheme).ok());
  ca_ = make_certificate_authority("other-ca", 1)->certificate;
  auto refused = run_blocking(io_, tls_exchange("GET / HTTP/1.1\r\nHost: a\r\n\r\n", ""));
  EXPECT_EQ(refused.rfind("handshake failed", 0), 0u) << refused;
  HttpClient plain(io_.get_executor());
  HttpRequest request;
  request.target = "/still";
  auto response = run_blocking(io_, plain.request(server_->endpoint(), std::move(request), kDeadline));
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->body, "plain /still");
}

TEST_F(TlsServerTest, MissingOrMismatchedFilesFailStart) {
  config_.tls_private_key_file.clear();
  auto half = start(echo_scheme);
  ASSERT_FALSE(half.ok());
  EXPECT_EQ(half.error().code, ErrorCode::kInvalidArgument);

  config_.tls_private_key_file = (dir_.path() / "absent.key").string();
  auto absent = start(echo_scheme);
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(absent.error().message.find("absent.key"), std::string::npos) << absent.error().message;

  auto other = make_serving_certificate(*make_certificate_authority("other-ca", 1), loopback_request());
  ASSERT_TRUE(other.ok());
  config_.tls_private_key_file = write("other.key", other->private_key);
  auto mismatched = start(echo_scheme);
  ASSERT_FALSE(mismatched.ok()) << "a key that is not the certificate's was accepted";
  EXPECT_EQ(mismatched.error().code, ErrorCode::kInvalidArgument);
  server_.reset();
}

}  // namespace
}  // namespace shakeout::net
