// The link proxy over real loopback sockets. The Link runs on an io_context
// in a thread of its own; the backend server and the clients are plain
// blocking sockets in other threads, so they share no code with the Link.

#include "faults/link.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <future>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace shakeout::faults {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

std::string random_bytes(std::size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// An owned socket descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    reset(other.release());
    return *this;
  }
  ~Fd() { reset(-1); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

sockaddr_in loopback(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// A listening socket on 127.0.0.1 (port 0: any); its port via bound_port().
Fd listen_on(uint16_t port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM, 0));
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  auto addr = loopback(port);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return Fd();
  ::listen(fd.get(), 128);
  return fd;
}

uint16_t bound_port(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

// A connected client socket, or an invalid Fd with `*error` = errno.
Fd connect_to(uint16_t port, int* error = nullptr) {
  Fd fd(::socket(AF_INET, SOCK_STREAM, 0));
  auto addr = loopback(port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (error) *error = errno;
    return Fd();
  }
  const int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{};
  tv.tv_sec = 20;  // no test waits this long for anything that works
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// What a read of a client socket gave.
struct Received {
  std::string data;
  int reads = 0;          // recv() calls that returned data
  bool eof = false;       // the peer closed (recv returned 0)
  int error = 0;          // errno of a failed recv (EAGAIN: nothing within the wait)
  Clock::time_point end;  // when the last recv returned
};

// Reads until `want` bytes arrived, the peer closed, or an error; waits at
// most `wait` for each recv.
Received receive(int fd, std::size_t want, std::chrono::milliseconds wait = 20s) {
  timeval tv{};
  tv.tv_sec = wait.count() / 1000;
  tv.tv_usec = (wait.count() % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  Received r;
  std::vector<char> buffer(256 * 1024);
  while (r.data.size() < want) {
    const ssize_t n = ::recv(fd, buffer.data(), std::min(buffer.size(), want - r.data.size()), 0);
    r.end = Clock::now();
    if (n > 0) {
      r.data.append(buffer.data(), static_cast<std::size_t>(n));
      ++r.reads;
    } else {
      if (n == 0) r.eof = true;
      if (n < 0) r.error = errno;
      return r;
    }
  }
  return r;
}

// Reads until the peer closes or resets (or `wait` passes).
Received receive_until_closed(int fd, std::chrono::milliseconds wait = 20s) {
  return receive(fd, std::string::npos, wait);
}

// The server behind the link, one blocking thread per connection.
class Backend {
 public:
  enum class Mode {
    kEcho,           // sends back what it reads; closes after the client's FIN
    kSendThenClose,  // after the first byte in: sends `send_bytes` bytes and closes
  };
  explicit Backend(Mode mode, std::size_t send_bytes = 0)
      : mode_(mode), send_bytes_(send_bytes), listen_(listen_on(0)), port_(bound_port(listen_.get())) {
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~Backend() {
    stopping_ = true;
    ::shutdown(listen_.get(), SHUT_RDWR);
    acceptor_.join();
    {
      std::lock_guard lock(mutex_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : workers_) t.join();
  }
  uint16_t port() const { return port_; }
  uint64_t bytes_received() const { return received_; }
  // When the last byte came in (epoch if none yet).
  Clock::time_point last_received() const { return Clock::time_point(Clock::duration(last_received_ns_)); }

 private:
  void accept_loop() {
    while (!stopping_) {
      const int fd = ::accept(listen_.get(), nullptr, nullptr);
      if (fd < 0) return;
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::lock_guard lock(mutex_);
      fds_.push_back(fd);
      workers_.emplace_back([this, fd] { serve(fd); });
    }
  }
  void serve(int fd) {
    std::vector<char> buffer(256 * 1024);
    bool open = true;
    while (open) {
      const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
      if (n <= 0) {
        ::shutdown(fd, SHUT_WR);
        open = false;
      } else {
        received_ += static_cast<uint64_t>(n);
        last_received_ns_ = Clock::now().time_since_epoch().count();
        if (mode_ == Mode::kEcho) {
          open = send_all(fd, std::string_view(buffer.data(), static_cast<std::size_t>(n)));
        } else {
          send_all(fd, std::string(send_bytes_, 'd'));
          open = false;
        }
      }
    }
    std::lock_guard lock(mutex_);
    ::close(fd);
    std::erase(fds_, fd);
  }

  Mode mode_;
  std::size_t send_bytes_;
  Fd listen_;
  uint16_t port_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> received_{0};
  std::atomic<int64_t> last_received_ns_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> workers_;
  std::vector<int> fds_;
};

Toxic make_toxic(std::string name, ToxicType type, Stream stream) {
  Toxic t;
  t.name = std::move(name);
  t.type = type;
  t.stream = stream;
  return t;
}

class LinkTest : public ::testing::Test {
 protected:
  LinkTest() : guard_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  ~LinkTest() override {
    on_io([this] { link_.reset(); });
    guard_.reset();
    io_.stop();
    thread_.join();
  }

  // Runs `fn` on the io thread (every Link call must) and returns its result.
  template <typename F>
  auto on_io(F fn) -> decltype(fn()) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto result = task.get_future();
    asio::post(io_, [&task] { task(); });
    return result.get();
  }

  // A link named "client->backend" in front of `backend`, listening on `port`.
  void start_link(const Backend& backend, uint64_t seed = 42, uint16_t port = 0) {
    net::Endpoint listen{"127.0.0.1", port};
    net::Endpoint upstream{"127.0.0.1", backend.port()};
    auto started = on_io([&] {
      link_ = std::make_unique<Link>(io_, "client->backend", listen, upstream, seed);
      return link_->start();
    });
    ASSERT_TRUE(started.ok()) << started.error().describe();
    port_ = on_io([this] { return link_->listen_endpoint().port; });
  }
  void add(Toxic toxic) {
    auto added = on_io([&] { return link_->add_toxic(toxic); });
    ASSERT_TRUE(added.ok()) << added.error().describe();
  }
  void remove(const std::string& name) {
    auto removed = on_io([&] { return link_->remove_toxic(name); });
    ASSERT_TRUE(removed.ok()) << removed.error().describe();
  }
  LinkStats stats() {
    return on_io([this] { return link_->stats(); });
  }
  // Until the link saw every connection end (or 10 s); the counters then settle.
  void wait_idle() {
    const auto deadline = Clock::now() + 10s;
    while (stats().connections_active != 0 && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
  }
  // One byte there and back; the round trip in ms, or -1 if it failed.
  static int64_t ping(int fd) {
    const auto start = Clock::now();
    if (!send_all(fd, "p")) return -1;
    const auto r = receive(fd, 1);
    return r.data == "p" ? ms_since(start) : -1;
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::thread thread_;
  std::unique_ptr<Link> link_;
  uint16_t port_ = 0;
};

TEST_F(LinkTest, ForwardsLargePayloadBothWaysIntact) {
  Backend backend(Backend::Mode::kEcho);
  start_link(backend);
  Fd client = connect_to(port_);
  ASSERT_GE(client.get(), 0);
  const std::string payload = random_bytes(8 << 20, 1);
  std::thread sender([&] {
    send_all(client.get(), payload);
    ::shutdown(client.get(), SHUT_WR);  // the half-close must travel through too
  });
  const auto r = receive_until_closed(client.get());
  sender.join();
  EXPECT_TRUE(r.eof);
  ASSERT_EQ(r.data.size(), payload.size());
  EXPECT_TRUE(r.data == payload);
  client.reset(-1);
  wait_idle();
  const auto s = stats();
  EXPECT_EQ(s.connections_accepted, 1u);
  EXPECT_EQ(s.connections_active, 0u);
  EXPECT_EQ(s.bytes_upstream, payload.size());
  EXPECT_EQ(s.bytes_downstream, payload.size());
}

TEST_F(LinkTest, LatencyDelaysOnlyDownstream) {
  Backend backend(Backend::Mode::kEcho);
  start_link(backend);
  auto toxic = make_toxic("lag", ToxicType::kLatency, Stream::kDownstream);
  toxic.latency = 300ms;
  add(toxic);
  Fd client = connect_to(port_);
  const auto start = Clock::now();
  ASSERT_TRUE(send_all(client.get(), "hello"));
  const auto r = receive(client.get(), 5);
  ASSERT_EQ(r.data, "hello");
  const auto upstream_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(backend.last_received() - start).count();
  EXPECT_GE(std::chrono::duration_cast<std::chrono::milliseconds>(r.end - start).count(), 300);
  EXPECT_LT(upstream_ms, 300) << "the request, upstream, must not wait for the downstream latency";
  EXPECT_EQ(stats().toxics_applied, 1u);
}

TEST_F(LinkTest, JitterStaysWithinBounds) {
  Backend backend(Backend::Mode::kEcho);
  start_link(backend);
  auto toxic = make_toxic("lag", ToxicType::kLatency, Stream::kDownstream);
  toxic.latency = 100ms;
  toxic.jitter = 50ms;
  add(toxic);
  Fd client = connect_to(port_);
  std::vector<int64_t> rtts;
  for (int i = 0; i < 8; ++i) rtts.push_back(ping(client.get()));
  const auto [min, max] = std::minmax_element(rtts.begin(), rtts.end());
  EXPECT_GE(*min, 49);          // latency - jitter (ms granularity)
  EXPECT_LE(*max, 150 + 1000);  // latency + jitter, with room for a loaded machine
  EXPECT_GE(*max - *min, 5) << "jitter must vary the delay";
}

TEST_F(LinkTest, BandwidthLimitsRate) {
  Backend backend(Backend::Mode::kSendThenClose, 50'000);
  start_link(backend);
  auto toxic = make_toxic("narrow", ToxicType::kBandwidth, Stream::kDownstream);
  toxic.rate_kbps = 100;
  add(toxic);
  Fd client = connect_to(port_);
  const auto start = Clock::now();
  ASSERT_TRUE(send_all(client.get(), "go"));
  const auto r = receive_until_closed(client.get());
  EXPECT_EQ(r.data.size(), 50'000u);
  EXPECT_TRUE(r.eof);
  // 50 KB at 100 KB/s: 0.5 s.
  EXPECT_GE(std::chrono::duration_cast<std::chrono::milliseconds>(r.end - start).count(), 400);
}

TEST_F(LinkTest, TimeoutBlackholesThenCloses) {
  Backend backend(Backend::Mode::kEcho);
  start_link(backend);
  auto toxic = make_toxic("hole", ToxicType::kTimeout, Stream::kUpstream);
  toxic.timeout = 300ms;
  add(toxic);
  const auto start = Clock::now();
  Fd client = connect_to(port_);
  ASSERT_TRUE(send_all(client.get(), "anyone?"));
  const auto r = receive_until_closed(client.get());
  EXPECT_TRUE(r.data.empty());
  EXPECT_TRUE(r.eof || r.error == ECONNRESET) << "error " << r.error;
  EXPECT_GE(std::chrono::duration_cast<std::chrono::milliseconds>(r.end - start).count(), 290);
  EXPECT_EQ(backend.bytes_received(), 0u);
}

TEST_F(LinkTest, RemovingTimeoutRestoresFlowOnOpenConnection) {
  Backend backend(Backend::Mode::kEcho);
  start_link(backend);
  Fd client = connect_to(port_);
  ASSERT_GE(ping(client.get()), 0);
  auto toxic = make_toxic("hole", ToxicType::kTimeout, Stream::kUpstream);
  toxic.timeout = 1500ms;
  add(toxic);
  const auto added = Clock::now();
  ASSERT_TRUE(send_all(client.get(), "held"));
  const auto blocked = receive(client.get(), 4, 300ms);
  EXPECT_TRUE(blocked.data.empty());
  EXPECT_EQ(blocked.error, EAGAIN);
  remove("hole");
  const auto r = receive(client.get(), 4);
  EXPECT_EQ(r.data, "held") << "held bytes must flow once the toxic is gone";
  // The connection outlives the removed toxic's timeout.
  std::this_thread::sleep_until(added + 1700ms);
  EXPECT_GE(ping(client.get()), 0);
}

TEST_F(LinkTest, TimeoutZeroBlackholesUntilRemoved) {
  Backend backend(Backend::Mode::kEcho);
  start_link(backend);
  Fd client = connect_to(port_);
  ASSERT_GE(ping(client.get()), 0);
  auto toxic = make_toxic("hole", ToxicType::kTimeout, Stream::kDownstream);
  add(toxic);
  ASSERT_TRUE(send_all(client.get(), "abc"));
  const auto blocked = receive(client.get(), 3, 600ms);
  EXPECT_TRUE(blocked.data.empty());
  EXPECT_EQ(blocked.error, EAGAIN) << "timeout 0 must neither pass data nor close";
  EXPECT_EQ(backend.bytes_received(), 4u) << "only downstream is held";
  remove("hole");
  EXPECT_EQ(receive(client.get(), 3).data, "abc");
}

TEST_F(LinkTest, ResetPeerResetsClient) {
  Backend backend(Backend::Mode::kEcho);
  start_link(backend);
  auto toxic = make_toxic("rst", ToxicType::kResetPeer, Stream::kDownstream);
  toxic.timeout = 200ms;
  add(toxic);
  const auto start = Clock::now();
  Fd client = connect_to(port_);
  ASSERT_TRUE(send_all(client.get(), "x"));
  const auto r = receive_until_closed(client.get());
  EXPECT_EQ(r.data, "x") << "data flows until the reset";
  EXPECT_EQ(r.error, ECONNRESET);
  EXPECT_GE(std::chrono::duration_cast<std::chrono::milliseconds>(r.end - start).count(), 190);
}

TEST_F(LinkTest, SlowCloseDelaysClose) {
  Backend backend(Backend::Mode::kSendThenClose, 100);
  start_link(backend);
  auto toxic = make_toxic("slow", ToxicType::kSlowClose, Stream::kDownstream);
  toxic.delay = 400ms;
  add(toxic);
  Fd client = connect_to(port_);
  ASSERT_TRUE(send_all(client.get(), "go"));
  const auto data = receive(client.get(), 100);
  ASSERT_EQ(data.data.size(), 100u);
  const auto r = receive_until_closed(client.get());
  EXPECT_TRUE(r.eof);
  EXPECT_GE(std::chrono::duration_cast<std::chrono::milliseconds>(r.end - data.end).count(), 300)
      << "the server closed right after its data; the close must come 400 ms late";
}

TEST_F(LinkTest, SlicerDeliversAllBytesInSeveralReads) {
  Backend backend(Backend::Mode::kEcho);
  start_link(backend);
  auto toxic = make_toxic("slices", ToxicType::kSlicer, Stream::kDownstream);
  toxic.average_size = 100;
  toxic.size_variation = 20;
  toxic.delay = 5ms;
  add(toxic);
  Fd client = connect_to(port_);
  const std::string payload = random_bytes(2000, 2);
  ASSERT_TRUE(send_all(client.get(), payload));
  const auto r = receive(client.get(), payload.size());
  EXPECT_TRUE(r.data == payload);
  EXPECT_GE(r.reads, 8) << "2000 bytes in ~100-byte slices 5 ms apart";
}

TEST_F(LinkTest, LimitDataClosesAfterBytes) {
  Backend backend(Backend::Mode::kEcho);
  start_link(backend);
  auto toxic = make_toxic("cap", ToxicType::kLimitData, Stream::kDownstream);
  toxic.bytes = 1000;
  add(toxic);
  Fd client = connect_to(port_);
  const std::string payload = random_bytes(5000, 3);
  ASSERT_TRUE(send_all(client.get(), payload));
  const auto r = receive_until_closed(client.get());
  EXPECT_TRUE(r.eof || r.error == ECONNRESET) << "error " << r.error;
  EXPECT_EQ(r.data, payload.substr(0, 1000));
}

TEST_F(LinkTest, DownRefusesAndClosesThenUpAcceptsOnSamePort) {
  Backend backend(Backend::Mode::kEcho);
  start_link(backend);
  Fd existing = connect_to(port_);
  ASSERT_GE(ping(existing.get()), 0);
  ASSERT_TRUE(on_io([this] { return link_->set_enabled(false); }).ok());
  const auto closed = receive_until_closed(existing.get());
  EXPECT_TRUE(closed.eof || closed.error == ECONNRESET) << "error " << closed.error;
  int error = 0;
  EXPECT_LT(connect_to(port_, &error).get(), 0);
  EXPECT_EQ(error, ECONNREFUSED);
  auto up = on_io([this] { return link_->set_enabled(true); });
  ASSERT_TRUE(up.ok()) << up.error().describe();
  EXPECT_EQ(on_io([this] { return link_->listen_endpoint().port; }), port_);
  Fd again = connect_to(port_);
  ASSERT_GE(again.get(), 0);
  EXPECT_GE(ping(again.get()), 0);
}

// Whether a connection was reset at once (the reset_peer toxic applied to it).
bool reset_at_once(uint16_t port) {
  Fd client = connect_to(port);
  if (client.get() < 0 || !send_all(client.get(), "x")) return true;
  const auto r = receive(client.get(), 1);
  return r.data != "x";
}

TEST_F(LinkTest, ToxicityZeroNeverAppliesAndOneAlways) {
  Backend backend(Backend::Mode::kEcho);
  start_link(backend);
  auto toxic = make_toxic("rst", ToxicType::kResetPeer, Stream::kUpstream);
  toxic.toxicity = 0.0;
  add(toxic);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(reset_at_once(port_)) << "connection " << i;
  wait_idle();  // so the next toxic meets no connection of this round
  EXPECT_EQ(stats().toxics_applied, 0u);
  remove("rst");
  toxic.toxicity = 1.0;
  add(toxic);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(reset_at_once(port_)) << "connection " << i;
  EXPECT_EQ(stats().toxics_applied, 5u);
}

TEST_F(LinkTest, HalfToxicityAppliesToSeededSubset) {
  constexpr uint64_t kSeed = 42;
  constexpr int kConnections = 16;
  std::vector<bool> expected;
  for (int i = 0; i < kConnections; ++i) expected.push_back(toxic_applies(kSeed, i, "flaky", 0.5));
  const auto hits = std::count(expected.begin(), expected.end(), true);
  ASSERT_GT(hits, 0);  // the seed gives a real subset, or the test proves nothing
  ASSERT_LT(hits, kConnections);

  Backend backend(Backend::Mode::kEcho);
  start_link(backend, kSeed);
  auto toxic = make_toxic("flaky", ToxicType::kResetPeer, Stream::kUpstream);
  toxic.toxicity = 0.5;
  add(toxic);
  std::vector<bool> observed;
  for (int i = 0; i < kConnections; ++i) observed.push_back(reset_at_once(port_));
  EXPECT_EQ(observed, expected);
  EXPECT_EQ(stats().toxics_applied, static_cast<uint64_t>(hits));
}

TEST_F(LinkTest, RemovingToxicMidStreamLosesNoBytes) {
  Backend backend(Backend::Mode::kEcho);
  start_link(backend);
  auto narrow = make_toxic("narrow", ToxicType::kBandwidth, Stream::kDownstream);
  narrow.rate_kbps = 200;
  add(narrow);
  auto lag = make_toxic("lag", ToxicType::kLatency, Stream::kDownstream);
  lag.latency = 100ms;
  add(lag);
  auto slices = make_toxic("slices", ToxicType::kSlicer, Stream::kUpstream);
  slices.average_size = 4096;
  slices.delay = 1ms;
  add(slices);
  Fd client = connect_to(port_);
  const std::string payload = random_bytes(1 << 20, 4);
  std::thread sender([&] { send_all(client.get(), payload); });
  auto r = receive(client.get(), 40'000);  // mid-stream
  EXPECT_EQ(r.data.size(), 40'000u);
  remove("narrow");
  remove("lag");
  remove("slices");
  const auto rest = receive(client.get(), payload.size() - r.data.size());
  sender.join();
  r.data += rest.data;
  ASSERT_EQ(r.data.size(), payload.size());
  EXPECT_TRUE(r.data == payload);
}

TEST_F(LinkTest, AToxicAddedToAnOpenConnectionAppliesToTheBytesThatFollow) {
  // Untoxic bytes are spliced (never copied through the link); a toxic
  // added then must still catch the next bytes, and its removal free them.
  Backend backend(Backend::Mode::kEcho);
  start_link(backend);
  Fd client = connect_to(port_);
  auto round_trip_ms = [&](const std::string& text) {
    const auto start = Clock::now();
    EXPECT_TRUE(send_all(client.get(), text));
    const auto r = receive(client.get(), text.size());
    EXPECT_EQ(r.data, text);
    return std::chrono::duration_cast<std::chrono::milliseconds>(r.end - start).count();
  };
  EXPECT_LT(round_trip_ms("before"), 200);
  auto lag = make_toxic("lag", ToxicType::kLatency, Stream::kDownstream);
  lag.latency = 300ms;
  add(lag);
  EXPECT_GE(round_trip_ms("during"), 300);
  remove("lag");
  EXPECT_LT(round_trip_ms("after"), 200);
  const std::string payload = random_bytes(4 << 20, 9);
  std::thread sender([&] { send_all(client.get(), payload); });
  const auto r = receive(client.get(), payload.size());
  sender.join();
  EXPECT_TRUE(r.data == payload);
  EXPECT_EQ(stats().bytes_downstream, 6u + 6u + 5u + payload.size());
}

TEST_F(LinkTest, AClientGoneMidStreamEndsItsConnectionNotTheProcess) {
  // The server streams 64 MiB through the splice path; the client reads a
  // little and resets, 50 times over.
  Backend backend(Backend::Mode::kSendThenClose, 64 << 20);
  start_link(backend);
  for (int round = 0; round < 50; ++round) {
    Fd client = connect_to(port_);
    ASSERT_TRUE(send_all(client.get(), "go"));
    EXPECT_EQ(receive(client.get(), 1000).data.size(), 1000u);
    linger reset{};
    reset.l_onoff = 1;
    reset.l_linger = 0;
    ::setsockopt(client.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    client.reset(-1);
  }
  wait_idle();
  EXPECT_EQ(stats().connections_active, 0u);
  EXPECT_LT(stats().bytes_downstream, uint64_t{50} * (64 << 20));
  // The link still serves.
  Fd again = connect_to(port_);
  ASSERT_TRUE(send_all(again.get(), "go"));
  EXPECT_EQ(receive(again.get(), 1000).data.size(), 1000u);
  // Resets here end in ECONNRESET; the EPIPE case (seen in
  // InjectorTest.FailReadiness...) is covered by start() ignoring SIGPIPE.
  struct sigaction pipe_signal {};
  ::sigaction(SIGPIPE, nullptr, &pipe_signal);
  EXPECT_EQ(pipe_signal.sa_handler, SIG_IGN) << "start() sets SIGPIPE ignored";
}

TEST_F(LinkTest, StopClosesEverythingAndFreesPort) {
  Backend backend(Backend::Mode::kEcho);
  start_link(backend);
  Fd existing = connect_to(port_);
  ASSERT_GE(ping(existing.get()), 0);
  auto hole = make_toxic("hole", ToxicType::kTimeout, Stream::kDownstream);
  add(hole);  // a wait in a toxic must end too
  ASSERT_TRUE(send_all(existing.get(), "x"));
  on_io([this] {
    link_->stop();
    return 0;
  });
  const auto closed = receive_until_closed(existing.get());
  EXPECT_TRUE(closed.data.empty());
  EXPECT_TRUE(closed.eof || closed.error == ECONNRESET) << "error " << closed.error;
  int error = 0;
  EXPECT_LT(connect_to(port_, &error).get(), 0);
  EXPECT_EQ(error, ECONNREFUSED);
  const uint16_t port = port_;
  start_link(backend, 42, port);  // replaces (and destroys) the stopped link
  EXPECT_EQ(port_, port);
  Fd again = connect_to(port_);
  EXPECT_GE(ping(again.get()), 0);
}

TEST_F(LinkTest, UpstreamRefusedResetsClient) {
  Fd taken = listen_on(0);
  const uint16_t dead_port = bound_port(taken.get());
  taken.reset(-1);  // nothing listens there now
  auto started = on_io([&] {
    link_ = std::make_unique<Link>(io_, "client->nowhere", net::Endpoint{"127.0.0.1", 0},
                                   net::Endpoint{"127.0.0.1", dead_port}, 1);
    return link_->start();
  });
  ASSERT_TRUE(started.ok());
  Fd client = connect_to(on_io([this] { return link_->listen_endpoint().port; }));
  const auto r = receive_until_closed(client.get());
  EXPECT_EQ(r.error, ECONNRESET);
  EXPECT_EQ(stats().upstream_failures, 1u);
}

TEST_F(LinkTest, StartFailureNamesLinkAndAddress) {
  Fd taken = listen_on(0);
  const uint16_t port = bound_port(taken.get());
  auto started = on_io([&] {
    link_ = std::make_unique<Link>(io_, "kubelet/node-2->apiserver", net::Endpoint{"127.0.0.1", port},
                                   net::Endpoint{"127.0.0.1", 1}, 1);
    return link_->start();
  });
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.error().message.find("kubelet/node-2->apiserver"), std::string::npos);
  EXPECT_NE(started.error().message.find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << started.error().message;
}

TEST_F(LinkTest, ToxicNamesAreUniqueAndChecked) {
  Backend backend(Backend::Mode::kEcho);
  start_link(backend);
  auto toxic = make_toxic("lag", ToxicType::kLatency, Stream::kDownstream);
  add(toxic);
  auto again = on_io([&] { return link_->add_toxic(toxic); });
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
  auto bad = make_toxic("bw", ToxicType::kBandwidth, Stream::kDownstream);
  auto invalid = on_io([&] { return link_->add_toxic(bad); });
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.error().code, ErrorCode::kInvalidArgument);
  auto missing = on_io([&] { return link_->remove_toxic("nope"); });
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace shakeout::faults
