#pragma once
// RoleFixture: what the app and runtime integration tests share: an
// io_context, a Supervisor owning every process a test starts (its
// destructor SIGKILLs whatever is left, so a failed test leaves nothing), a
// temporary directory, an HTTP client, and a raw blocking TCP connection for
// tests that must hold one connection open.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <fstream>
#include <functional>
#include <optional>
#include <string>

#include "cluster/supervisor.h"
#include "common/async.h"
#include "net/http_client.h"
#include "test_support.h"

namespace shakeout::testing {

using namespace std::chrono_literals;

class RoleFixture : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) {
      for (const auto& process : supervisor_.list()) {
        std::ifstream log(process.log_file);
        std::printf("---- %s (%s)\n%s\n", process.name.c_str(), cluster::to_string(process.state),
                    std::string(std::istreambuf_iterator<char>(log), {}).c_str());
      }
    }
  }

  template <typename T>
  T run(asio::awaitable<T> task) {
    return run_blocking(io_, std::move(task));
  }

  void sleep(Millis d) {
    asio::steady_timer timer(io_, d);
    run(timer.async_wait(asio::use_awaitable));
  }

  bool eventually(const std::function<bool()>& done, Millis timeout = 30000ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      sleep(50ms);
    }
    return true;
  }

  // One exchange (the client may reuse a kept-alive connection: use
  // RawConnection where each call must be a new TCP connection).
  Result<net::HttpResponse> http(const std::string& method, const std::string& host, int port,
                                 const std::string& target, Millis timeout = 10000ms) {
    net::HttpRequest request;
    request.method = method;
    request.target = target;
    net::Endpoint endpoint;
    endpoint.host = host;
    endpoint.port = static_cast<uint16_t>(port);
    return run(http_.request(endpoint, std::move(request), timeout));
  }

  std::optional<cluster::ExitStatus> exit_of(const std::string& name) {
    const auto info = supervisor_.info(name);
    if (!info || info->state != cluster::ProcessState::kExited) return std::nullopt;
    return info->last_exit;
  }

  std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  asio::io_context io_;
  cluster::Supervisor supervisor_{io_};
  TempDir dir_{"shakeout-role-test"};
  net::HttpClient http_{io_.get_executor()};
};

// A blocking TCP connection with a receive timeout, for holding one
// connection open across rule changes.
class RawConnection {
 public:
  RawConnection(const std::string& ip, int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval timeout{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, ip.c_str(), &address.sin_addr);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~RawConnection() { ::close(fd_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }

  // Sends GET `target` and reads one response with Content-Length; nullopt
  // if the connection ended (or timed out) first. The body on success.
  std::optional<std::string> get(const std::string& target) {
    const std::string request = "GET " + target + " HTTP/1.1\r\nHost: test\r\n\r\n";
    if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size()))
      return std::nullopt;
    std::string data;
    char buffer[4096];
    for (;;) {
      const std::size_t header_end = data.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        const std::size_t at = data.find("Content-Length: ");
        if (at == std::string::npos || at > header_end) return std::nullopt;
        const std::size_t length = std::stoul(data.substr(at + 16));
        if (data.size() >= header_end + 4 + length) return data.substr(header_end + 4, length);
      }
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) return std::nullopt;
      data.append(buffer, static_cast<std::size_t>(n));
    }
  }

  bool send_all(const std::string& data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
  // Everything until the peer's end of file; nullopt on an error or timeout.
  std::optional<std::string> read_to_end() {
    std::string data;
    char buffer[65536];
    for (;;) {
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n == 0) return data;
      if (n < 0) return std::nullopt;
      data.append(buffer, static_cast<std::size_t>(n));
    }
  }

  // True if the peer closes (or resets) the connection without sending
  // anything within the receive timeout.
  bool closed_by_peer() {
    char byte;
    const ssize_t n = ::recv(fd_, &byte, 1, 0);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

}  // namespace shakeout::testing
