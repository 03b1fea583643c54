#include "faults/link.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <exception>
#include <limits>
#include <random>
#include <unordered_map>
#include <vector>

#include "common/log.h"

namespace shakeout::faults {
namespace detail {
namespace {

using tcp = asio::ip::tcp;
using ErrorCodeT = boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;

// Reads take up to kChunkSize bytes; each direction of a connection holds at
// most kChunks chunks (allocated on first use, so an idle or chatty
// connection keeps one per direction). Large reads keep syscalls per byte
// low for bulk transfers; several chunks let reading overlap writing.
constexpr std::size_t kChunkSize = 128 * 1024;
constexpr std::size_t kChunks = 4;
// With no toxic on a direction and nothing queued, bytes go socket -> pipe
// -> socket with splice(2), never copied through the harness: up to
// kSpliceSize per call through a pipe of that size.
constexpr std::size_t kSpliceSize = 1024 * 1024;
constexpr std::string_view kComponent = "link";

// A small seeded generator (splitmix64) for jitter and slice sizes.
class SplitMix {
 public:
  using result_type = uint64_t;  // NOLINT(readability-identifier-naming): the URBG interface
  explicit SplitMix(uint64_t seed) : state_(seed) {}
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }
  result_type operator()() {
    state_ = mix_seed(state_, 0x6a09e667f3bcc909ULL);
    return state_;
  }

 private:
  uint64_t state_;
};

// A wake-up on a timer that never expires. One waiter at a time; it re-checks
// its condition after waking (one thread: nothing changes between the check
// and the wait, so no notification is lost).
class Signal {
 public:
  explicit Signal(const asio::any_io_executor& executor) : timer_(executor) {}
  void notify() {
    if (waiting_) timer_.cancel();
  }
  asio::awaitable<void> wait() {
    waiting_ = true;
    timer_.expires_at(asio::steady_timer::time_point::max());
    ErrorCodeT ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    waiting_ = false;
  }

 private:
  asio::steady_timer timer_;
  bool waiting_ = false;
};

}  // namespace

struct ToxicEntry {
  Toxic spec;
  uint64_t serial = 0;  // order of addition, which is the chain's order
  SteadyTime added_at;
  bool removed = false;
};
using ToxicPtr = std::shared_ptr<ToxicEntry>;

class Session;

struct LinkCore : std::enable_shared_from_this<LinkCore> {
  LinkCore(asio::io_context& io, std::string link_name, net::Endpoint listen_at, net::Endpoint upstream_at,
           uint64_t link_seed)
      : executor(io.get_executor()),
        name(std::move(link_name)),
        listen_config(std::move(listen_at)),
        upstream_config(std::move(upstream_at)),
        seed(link_seed),
        acceptor(io) {}

  Status listen();
  void close_sessions();
  void spawn_accept_loop();

  asio::any_io_executor executor;
  std::string name;
  net::Endpoint listen_config;
  net::Endpoint upstream_config;
  uint64_t seed;
  tcp::acceptor acceptor;
  tcp::endpoint listen_endpoint;  // after start(): the bound address
  tcp::endpoint upstream_endpoint;
  bool started = false;
  bool stopped = false;
  bool enabled = true;
  uint64_t accept_generation = 0;  // an accept loop ends once this moved on
  uint64_t next_connection = 0;
  uint64_t next_serial = 1;
  std::vector<ToxicPtr> toxics;                     // by serial
  std::unordered_map<uint64_t, Session*> sessions;  // each session removes itself
  LinkStats stats;
};

namespace {

// A part of a chunk on its way through the chain.
struct Piece {
  const char* data = nullptr;
  std::size_t size = 0;
  SteadyTime stamp;  // when it arrived, moved on by latency
};

Piece sub_piece(const Piece& piece, std::size_t offset, std::size_t size) {
  Piece part = piece;
  part.data += offset;
  part.size = size;
  return part;
}

struct Chunk {
  int buffer = -1;
  std::size_t offset = 0;  // what the reader wrote itself (see read_loop)
  std::size_t size = 0;
  SteadyTime arrived;
  bool eof = false;
};

// Per-connection state of one toxic in one direction.
struct ToxicState {
  int64_t bytes = 0;        // limit_data: bytes passed
  SteadyTime next_release;  // bandwidth: when the link is free again
};

// One direction of a connection: the reader fills chunks, the writer drains them.
struct Direction {
  Direction(Stream s, tcp::socket& source, tcp::socket& sink, const asio::any_io_executor& executor,
            uint64_t seed, uint64_t* counter)
      : stream(s),
        from(source),
        to(sink),
        reader_wake(executor),
        writer_wake(executor),
        toxic_timer(executor),
        rng(seed),
        bytes_written(counter) {}

  bool has_free_buffer() const { return !free.empty() || allocated < kChunks; }
  int take_buffer() {
    if (free.empty()) {
      buffers[allocated].reset(new char[kChunkSize]);
      return static_cast<int>(allocated++);
    }
    const int b = free.back();
    free.pop_back();
    return b;
  }
  void push(const Chunk& chunk) {
    ring[(head + count) % ring.size()] = chunk;
    ++count;
  }
  void pop() {
    if (ring[head].buffer >= 0) free.push_back(ring[head].buffer);
    head = (head + 1) % ring.size();
    --count;
  }

  Stream stream;
  tcp::socket& from;
  tcp::socket& to;
  std::array<std::unique_ptr<char[]>, kChunks> buffers;
  std::size_t allocated = 0;
  std::vector<int> free;
  std::array<Chunk, kChunks + 1> ring;  // + 1: the end of stream
  std::size_t head = 0;
  std::size_t count = 0;
  Signal reader_wake;
  Signal writer_wake;
  asio::steady_timer toxic_timer;  // the writer's waits inside toxics
  std::unordered_map<uint64_t, ToxicState> state;
  SplitMix rng;
  uint64_t* bytes_written;
  bool done = false;  // the end of stream was passed on
  // The splice path's pipe (read end, write end), made on first use; -1
  // when none or when pipes cannot be had (the copying path serves then).
  std::array<int, 2> pipe{-1, -1};
  bool pipe_failed = false;

  Direction(const Direction&) = delete;
  Direction& operator=(const Direction&) = delete;
  ~Direction() {
    for (int fd : pipe)
      if (fd >= 0) ::close(fd);
  }
  bool has_pipe() {
    if (pipe[0] < 0 && !pipe_failed) {
      pipe_failed = ::pipe2(pipe.data(), O_CLOEXEC | O_NONBLOCK) != 0;
      if (!pipe_failed) (void)::fcntl(pipe[1], F_SETPIPE_SZ, static_cast<int>(kSpliceSize));
    }
    return !pipe_failed;
  }
};

void log_exception(std::string_view what, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log::error(kComponent, "{}: {}", what, ex.what());
  }
}

Result<tcp::endpoint> resolve(const asio::any_io_executor& executor, const net::Endpoint& endpoint) {
  ErrorCodeT ec;
  const auto address = asio::ip::make_address(endpoint.host, ec);
  if (!ec) return tcp::endpoint(address, endpoint.port);
  tcp::resolver resolver(executor);
  const auto results = resolver.resolve(endpoint.host, std::to_string(endpoint.port), ec);
  if (ec || results.empty())
    return make_error(ErrorCode::kInvalidArgument, fmt::format("cannot resolve {}: {}", endpoint.to_string(),
                                                               ec ? ec.message() : "no address"));
  for (const auto& entry : results)
    if (entry.endpoint().address().is_v4()) return entry.endpoint();
  return results.begin()->endpoint();
}

}  // namespace

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<LinkCore> core, tcp::socket client, uint64_t id)
      : core_(std::move(core)),
        id_(id),
        accepted_at_(SteadyClock::now()),
        client_(std::move(client)),
        server_(core_->executor),
        control_(core_->executor),
        up_(Stream::kUpstream, client_, server_, core_->executor, mix_seed(mix_seed(core_->seed, id), 1),
            &core_->stats.bytes_upstream),
        down_(Stream::kDownstream, server_, client_, core_->executor, mix_seed(mix_seed(core_->seed, id), 2),
              &core_->stats.bytes_downstream) {}

  ~Session() {
    if (!closed_) --core_->stats.connections_active;
    core_->sessions.erase(id_);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  uint64_t id() const { return id_; }
  bool closed() const { return closed_; }
  bool applies(const ToxicEntry& toxic) const {
    return toxic_applies(core_->seed, id_, toxic.spec.name, toxic.spec.toxicity);
  }

  // Closes both sockets (reset: with RST) and wakes every waiter.
  void close(bool reset) {
    if (closed_) return;
    closed_ = true;
    --core_->stats.connections_active;
    ErrorCodeT ec;
    for (tcp::socket* socket : {&client_, &server_}) {
      if (reset && socket->is_open()) socket->set_option(tcp::socket::linger(true, 0), ec);
      socket->close(ec);
    }
    for (Direction* d : {&up_, &down_}) {
      d->reader_wake.notify();
      d->writer_wake.notify();
      d->toxic_timer.cancel();
    }
    control_.cancel();
  }

  // The link's toxics changed: every wait re-checks what it waits for.
  void toxics_changed() {
    up_.toxic_timer.cancel();
    down_.toxic_timer.cancel();
    control_.cancel();
  }

  static asio::awaitable<void> run(std::shared_ptr<Session> self);

 private:
  Direction& direction(Stream stream) { return stream == Stream::kUpstream ? up_ : down_; }
  static void spawn(const std::shared_ptr<Session>& self, asio::awaitable<void> task) {
    asio::co_spawn(self->core_->executor, std::move(task),
                   [](std::exception_ptr e) { log_exception("link session", e); });
  }
  void fail(const ErrorCodeT& ec) {
    if (closed_ || ec == asio::error::operation_aborted) return;
    log::debug(kComponent, "{} #{}: {}", core_->name, id_, ec.message());
    close(ec == asio::error::connection_reset);
  }

  static asio::awaitable<void> read_loop(std::shared_ptr<Session> self, Stream stream);
  static asio::awaitable<void> write_loop(std::shared_ptr<Session> self, Stream stream);
  static asio::awaitable<bool> splice_some(std::shared_ptr<Session> self, Direction& d);
  static asio::awaitable<void> control_loop(std::shared_ptr<Session> self);

  // The next toxic after `after` (a serial) that acts on this direction's data
  // and applies to this connection; null if none.
  ToxicPtr next_toxic(Stream stream, uint64_t after, bool end_of_stream) const;
  // Passes `piece` through the chain after toxic `after` and writes it; false
  // once the connection is closed (nothing more to do).
  asio::awaitable<bool> pass(Direction& d, Piece piece, uint64_t after);
  asio::awaitable<bool> write(Direction& d, Piece piece);
  // Until `due`, the toxic's removal or the connection's close; false on the last.
  asio::awaitable<bool> wait(Direction& d, const ToxicEntry& toxic, SteadyTime due);
  asio::awaitable<bool> latency(Direction& d, ToxicPtr toxic, Piece piece);
  asio::awaitable<bool> bandwidth(Direction& d, ToxicPtr toxic, Piece piece);
  asio::awaitable<bool> slicer(Direction& d, ToxicPtr toxic, Piece piece);
  asio::awaitable<bool> limit_data(Direction& d, ToxicPtr toxic, Piece piece);
  // The source ended: slow_close toxics, then a half-close of the sink.
  asio::awaitable<void> end_stream(Direction& d);

  std::shared_ptr<LinkCore> core_;
  uint64_t id_;
  SteadyTime accepted_at_;
  tcp::socket client_;
  tcp::socket server_;
  asio::steady_timer control_;  // timeout and reset_peer deadlines
  Direction up_;
  Direction down_;
  bool closed_ = false;
};

asio::awaitable<void> Session::run(std::shared_ptr<Session> self) {
  ErrorCodeT ec;
  co_await self->server_.async_connect(self->core_->upstream_endpoint,
                                       asio::redirect_error(asio::use_awaitable, ec));
  if (self->closed_) co_return;
  if (ec) {
    ++self->core_->stats.upstream_failures;
    log::debug(kComponent, "{} #{}: upstream {}: {}", self->core_->name, self->id_,
               self->core_->upstream_config.to_string(), ec.message());
    self->close(true);  // as close as a proxy gets to "connection refused"
    co_return;
  }
  self->server_.set_option(tcp::no_delay(true), ec);
  // Non-blocking for the readers' direct writes; the async operations do not mind.
  self->client_.non_blocking(true, ec);
  self->server_.non_blocking(true, ec);
  spawn(self, read_loop(self, Stream::kUpstream));
  spawn(self, read_loop(self, Stream::kDownstream));
  spawn(self, write_loop(self, Stream::kUpstream));
  spawn(self, write_loop(self, Stream::kDownstream));
  spawn(self, control_loop(self));
}

asio::awaitable<void> Session::read_loop(std::shared_ptr<Session> self, Stream stream) {
  Direction& d = self->direction(stream);
  bool running = true;
  while (running) {
    if (self->closed_) {
      running = false;
    } else if (!d.has_free_buffer()) {
      co_await d.reader_wake.wait();
    } else if (d.count == 0 && !self->next_toxic(stream, 0, false) && d.has_pipe()) {
      running = co_await splice_some(self, d);
    } else {
      const int b = d.take_buffer();
      ErrorCodeT ec;
      const std::size_t n = co_await d.from.async_read_some(asio::buffer(d.buffers[b].get(), kChunkSize),
                                                            asio::redirect_error(asio::use_awaitable, ec));
      Chunk chunk;
      chunk.arrived = SteadyClock::now();
      std::size_t sent = 0;
      if (n > 0 && !self->closed_ && d.count == 0 && !self->next_toxic(stream, 0, false)) {
        // The fast path: nothing queued and no toxic, so the reader writes what
        // the socket takes now, sparing a hand-over to the writer (latency).
        ErrorCodeT write_ec;
        sent = d.to.write_some(asio::buffer(d.buffers[b].get(), n), write_ec);
        if (write_ec == asio::error::would_block || write_ec == asio::error::try_again) write_ec.clear();
        *d.bytes_written += sent;
        if (write_ec) self->fail(write_ec);
      }
      if (n > sent && !self->closed_) {
        chunk.buffer = b;
        chunk.offset = sent;
        chunk.size = n - sent;
        d.push(chunk);
        d.writer_wake.notify();
      } else {
        d.free.push_back(b);
      }
      if (ec == asio::error::eof && !self->closed_) {
        Chunk end = chunk;
        end.buffer = -1;
        end.size = 0;
        end.eof = true;
        d.push(end);
        d.writer_wake.notify();
        running = false;
      } else if (ec) {
        self->fail(ec);
        running = false;
      }
    }
  }
}

// Once the source is readable, whatever it holds (up to kSpliceSize) goes on
// through the pipe, all of it, before the next read; a toxic added meanwhile
// applies from the next read on. false once the direction ended.
asio::awaitable<bool> Session::splice_some(std::shared_ptr<Session> self, Direction& d) {
  ErrorCodeT ec;
  co_await d.from.async_wait(tcp::socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
  if (self->closed_) co_return false;
  if (ec) {
    self->fail(ec);
    co_return false;
  }
  // A toxic may have come while waiting: the copying path reads then.
  if (d.count != 0 || self->next_toxic(d.stream, 0, false)) co_return true;
  const ssize_t in = ::splice(d.from.native_handle(), nullptr, d.pipe[1], nullptr, kSpliceSize,
                              SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (in < 0) {
    if (errno == EAGAIN || errno == EINTR) co_return true;
    self->fail(ErrorCodeT(errno, boost::system::system_category()));
    co_return false;
  }
  if (in == 0) {
    // The end of stream, passed on by the writer as from the copying path.
    Chunk end;
    end.arrived = SteadyClock::now();
    end.eof = true;
    d.push(end);
    d.writer_wake.notify();
    co_return false;
  }
  auto left = static_cast<std::size_t>(in);
  bool open = true;
  while (left > 0 && open && !self->closed_) {
    const ssize_t out =
        ::splice(d.pipe[0], nullptr, d.to.native_handle(), nullptr, left, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (out > 0) {
      left -= static_cast<std::size_t>(out);
      *d.bytes_written += static_cast<uint64_t>(out);
    } else if (out < 0 && (errno == EAGAIN || errno == EINTR)) {
      co_await d.to.async_wait(tcp::socket::wait_write, asio::redirect_error(asio::use_awaitable, ec));
      if (ec && !self->closed_) self->fail(ec);
      open = !ec;
    } else {
      self->fail(ErrorCodeT(out < 0 ? errno : EPIPE, boost::system::system_category()));
      open = false;
    }
  }
  co_return open && !self->closed_;
}

asio::awaitable<void> Session::write_loop(std::shared_ptr<Session> self, Stream stream) {
  Direction& d = self->direction(stream);
  bool running = true;
  while (running) {
    if (self->closed_) {
      running = false;
    } else if (d.count == 0) {
      co_await d.writer_wake.wait();
    } else if (d.ring[d.head].eof) {
      running = false;
      co_await self->end_stream(d);
    } else {
      const Chunk& chunk = d.ring[d.head];
      Piece piece;
      piece.data = d.buffers[chunk.buffer].get() + chunk.offset;
      piece.size = chunk.size;
      piece.stamp = chunk.arrived;
      const bool open = co_await self->pass(d, piece, 0);
      d.pop();
      d.reader_wake.notify();
      running = open;
    }
  }
}

asio::awaitable<void> Session::control_loop(std::shared_ptr<Session> self) {
  while (!self->closed_) {
    // Whether a timeout or reset_peer toxic's time came, else the next such time.
    const SteadyTime now = SteadyClock::now();
    SteadyTime next = SteadyTime::max();
    bool close = false;
    bool reset = false;
    for (const auto& toxic : self->core_->toxics) {
      const auto type = toxic->spec.type;
      const bool timed =
          type == ToxicType::kResetPeer || (type == ToxicType::kTimeout && toxic->spec.timeout.count() > 0);
      if (timed && self->applies(*toxic)) {
        const SteadyTime due = std::max(toxic->added_at, self->accepted_at_) + toxic->spec.timeout;
        if (due <= now) {
          close = true;
          reset = reset || type == ToxicType::kResetPeer;
        } else {
          next = std::min(next, due);
        }
      }
    }
    if (close) {
      log::debug(kComponent, "{} #{}: {} by a toxic", self->core_->name, self->id_,
                 reset ? "reset" : "closed");
      self->close(reset);
    } else {
      self->control_.expires_at(next);
      ErrorCodeT ec;
      co_await self->control_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
}

ToxicPtr Session::next_toxic(Stream stream, uint64_t after, bool end_of_stream) const {
  for (const auto& toxic : core_->toxics) {
    if (toxic->serial <= after || toxic->spec.stream != stream) continue;
    const auto type = toxic->spec.type;
    const bool acts = end_of_stream ? type == ToxicType::kSlowClose
                                    : type != ToxicType::kSlowClose && type != ToxicType::kResetPeer;
    if (acts && applies(*toxic)) return toxic;
  }
  return nullptr;
}

asio::awaitable<bool> Session::pass(Direction& d, Piece piece, uint64_t after) {
  // if/else rather than a switch: g++ 12 mishandles some co_awaits in switch cases.
  ToxicPtr toxic = next_toxic(d.stream, after, false);
  bool open = true;
  if (!toxic) {
    open = co_await write(d, piece);
  } else if (toxic->spec.type == ToxicType::kLatency) {
    open = co_await latency(d, toxic, piece);
  } else if (toxic->spec.type == ToxicType::kBandwidth) {
    open = co_await bandwidth(d, toxic, piece);
  } else if (toxic->spec.type == ToxicType::kSlicer) {
    open = co_await slicer(d, toxic, piece);
  } else if (toxic->spec.type == ToxicType::kLimitData) {
    open = co_await limit_data(d, toxic, piece);
  } else {
    // kTimeout: held until the toxic goes; the control loop closes at its timeout.
    open = co_await wait(d, *toxic, SteadyTime::max());
    if (open) open = co_await pass(d, piece, toxic->serial);
  }
  co_return open;
}

asio::awaitable<bool> Session::write(Direction& d, Piece piece) {
  ErrorCodeT ec;
  co_await asio::async_write(d.to, asio::buffer(piece.data, piece.size),
                             asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    fail(ec);
    co_return false;
  }
  *d.bytes_written += piece.size;
  co_return !closed_;
}

asio::awaitable<bool> Session::wait(Direction& d, const ToxicEntry& toxic, SteadyTime due) {
  while (!closed_ && !toxic.removed && SteadyClock::now() < due) {
    d.toxic_timer.expires_at(due);
    ErrorCodeT ec;
    co_await d.toxic_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return !closed_;
}

asio::awaitable<bool> Session::latency(Direction& d, ToxicPtr toxic, Piece piece) {
  int64_t delay = toxic->spec.latency.count();
  const int64_t jitter = toxic->spec.jitter.count();
  if (jitter > 0) delay += std::uniform_int_distribution<int64_t>(-jitter, jitter)(d.rng);
  const SteadyTime due = piece.stamp + Millis(std::max<int64_t>(delay, 0));
  if (!co_await wait(d, *toxic, due)) co_return false;
  piece.stamp = std::min(due, SteadyClock::now());
  co_return co_await pass(d, piece, toxic->serial);
}

asio::awaitable<bool> Session::bandwidth(Direction& d, ToxicPtr toxic, Piece piece) {
  // rate KB/s = rate bytes/ms. Pieces of at most 100 ms keep the flow smooth.
  ToxicState& state = d.state[toxic->serial];
  const int64_t rate = toxic->spec.rate_kbps;
  const auto max_part = static_cast<std::size_t>(std::max<int64_t>(rate * 100, 1));
  bool open = true;
  while (open && piece.size > 0) {
    if (toxic->removed) {
      open = co_await pass(d, piece, toxic->serial);
      piece.size = 0;
    } else {
      const std::size_t n = std::min(piece.size, max_part);
      state.next_release = std::max(state.next_release, SteadyClock::now()) +
                           std::chrono::nanoseconds(static_cast<int64_t>(n) * 1'000'000 / rate);
      open = co_await wait(d, *toxic, state.next_release);
      if (open) open = co_await pass(d, sub_piece(piece, 0, n), toxic->serial);
      piece = sub_piece(piece, n, piece.size - n);
    }
  }
  co_return open;
}

asio::awaitable<bool> Session::slicer(Direction& d, ToxicPtr toxic, Piece piece) {
  const int64_t average = toxic->spec.average_size;
  const int64_t variation = toxic->spec.size_variation;
  bool open = true;
  while (open && piece.size > 0) {
    if (toxic->removed) {
      open = co_await pass(d, piece, toxic->serial);
      piece.size = 0;
    } else {
      int64_t size = average;
      if (variation > 0) size += std::uniform_int_distribution<int64_t>(-variation, variation)(d.rng);
      const std::size_t n = std::min(piece.size, static_cast<std::size_t>(std::max<int64_t>(size, 1)));
      open = co_await pass(d, sub_piece(piece, 0, n), toxic->serial);
      piece = sub_piece(piece, n, piece.size - n);
      if (open && piece.size > 0 && toxic->spec.delay.count() > 0)
        open = co_await wait(d, *toxic, SteadyClock::now() + toxic->spec.delay);
    }
  }
  co_return open;
}

asio::awaitable<bool> Session::limit_data(Direction& d, ToxicPtr toxic, Piece piece) {
  ToxicState& state = d.state[toxic->serial];
  const int64_t limit = toxic->spec.bytes;
  const auto n = static_cast<std::size_t>(
      std::min<int64_t>(static_cast<int64_t>(piece.size), std::max<int64_t>(limit - state.bytes, 0)));
  state.bytes += static_cast<int64_t>(n);
  bool open = true;
  if (n > 0) open = co_await pass(d, sub_piece(piece, 0, n), toxic->serial);
  if (open && !toxic->removed && state.bytes >= limit) {
    log::debug(kComponent, "{} #{}: limit_data {} reached", core_->name, id_, limit);
    close(false);
    open = false;
  } else if (open && n < piece.size) {
    open = co_await pass(d, sub_piece(piece, n, piece.size - n), toxic->serial);
  }
  co_return open;
}

asio::awaitable<void> Session::end_stream(Direction& d) {
  bool open = true;
  ToxicPtr toxic = next_toxic(d.stream, 0, true);
  while (open && toxic) {
    open = co_await wait(d, *toxic, SteadyClock::now() + toxic->spec.delay);
    toxic = next_toxic(d.stream, toxic->serial, true);
  }
  if (!open) co_return;
  ErrorCodeT ec;
  d.to.shutdown(tcp::socket::shutdown_send, ec);
  d.done = true;
  if (up_.done && down_.done) close(false);
}

Status LinkCore::listen() {
  ErrorCodeT ec;
  auto fail = [&](std::string_view what) {
    ErrorCodeT ignored;
    acceptor.close(ignored);
    return make_error(ErrorCode::kUnavailable,
                      fmt::format("link {}: {} {}: {}", name, what, listen_config.to_string(), ec.message()));
  };
  acceptor.open(listen_endpoint.protocol(), ec);
  if (ec) return fail("cannot open a socket for");
  acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (ec) return fail("cannot set SO_REUSEADDR on");
  acceptor.bind(listen_endpoint, ec);
  if (ec) return fail("cannot bind");
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("cannot listen on");
  listen_endpoint = acceptor.local_endpoint(ec);
  spawn_accept_loop();
  return {};
}

void LinkCore::close_sessions() {
  std::vector<std::shared_ptr<Session>> open;
  for (auto& [id, session] : sessions) open.push_back(session->shared_from_this());
  for (auto& session : open) session->close(false);
}

namespace {

void start_session(const std::shared_ptr<LinkCore>& core, tcp::socket socket) {
  ErrorCodeT ec;
  socket.set_option(tcp::no_delay(true), ec);
  auto session = std::make_shared<Session>(core, std::move(socket), core->next_connection++);
  ++core->stats.connections_accepted;
  ++core->stats.connections_active;
  for (const auto& toxic : core->toxics)
    if (session->applies(*toxic)) ++core->stats.toxics_applied;
  core->sessions.emplace(session->id(), session.get());
  asio::co_spawn(core->executor, Session::run(session),
                 [](std::exception_ptr e) { log_exception("link session", e); });
}

asio::awaitable<void> accept_loop(std::shared_ptr<LinkCore> core, uint64_t generation) {
  bool running = true;
  asio::steady_timer backoff(core->executor);
  while (running) {
    ErrorCodeT ec;
    tcp::socket socket = co_await core->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    const bool closed = ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor;
    if (core->accept_generation != generation || core->stopped || !core->enabled || closed) {
      running = false;
    } else if (ec) {
      // Out of descriptors, say: try again shortly rather than spin.
      log::warn(kComponent, "link {}: accept: {}", core->name, ec.message());
      backoff.expires_after(Millis(50));
      co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    } else {
      start_session(core, std::move(socket));
    }
  }
}

}  // namespace

void LinkCore::spawn_accept_loop() {
  ++accept_generation;
  asio::co_spawn(executor, accept_loop(shared_from_this(), accept_generation),
                 [](std::exception_ptr e) { log_exception("link accept", e); });
}

}  // namespace detail

Link::Link(asio::io_context& io, std::string name, net::Endpoint listen, net::Endpoint upstream,
           uint64_t seed)
    : core_(std::make_shared<detail::LinkCore>(io, std::move(name), std::move(listen), std::move(upstream),
                                               seed)) {}

Link::~Link() {
  stop();
}

Status Link::start() {
  auto& core = *core_;
  if (core.started)
    return make_error(ErrorCode::kInternal, fmt::format("link {}: already started", core.name));
  // splice(2) into a socket whose peer is gone raises SIGPIPE (it has no
  // MSG_NOSIGNAL); the link wants EPIPE, as from its sends.
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL)
    std::signal(SIGPIPE, SIG_IGN);
  auto listen = detail::resolve(core.executor, core.listen_config);
  if (!listen)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("link {}: listen address: {}", core.name, listen.error().message));
  auto upstream = detail::resolve(core.executor, core.upstream_config);
  if (!upstream)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("link {}: upstream address: {}", core.name, upstream.error().message));
  core.listen_endpoint = *listen;
  core.upstream_endpoint = *upstream;
  if (auto listening = core.listen(); !listening) return listening;
  core.started = true;
  log::info(detail::kComponent, "link {}: {} -> {}", core.name, listen_endpoint().to_string(),
            core.upstream_config.to_string());
  return {};
}

void Link::stop() {
  auto& core = *core_;
  if (!core.started || core.stopped) return;
  core.stopped = true;
  ++core.accept_generation;
  boost::system::error_code ec;
  core.acceptor.close(ec);
  core.close_sessions();
  log::info(detail::kComponent, "link {}: stopped", core.name);
}

Status Link::add_toxic(Toxic toxic) {
  auto& core = *core_;
  if (auto valid = validate(toxic); !valid)
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("link {}: {}", core.name, valid.error().message));
  for (const auto& entry : core.toxics)
    if (entry->spec.name == toxic.name)
      return make_error(ErrorCode::kAlreadyExists,
                        fmt::format("link {}: a toxic named \"{}\" exists", core.name, toxic.name));
  auto entry = std::make_shared<detail::ToxicEntry>();
  entry->spec = std::move(toxic);
  entry->serial = core.next_serial++;
  entry->added_at = std::chrono::steady_clock::now();
  core.toxics.push_back(entry);
  for (auto& [id, session] : core.sessions) {
    if (session->closed()) continue;
    if (session->applies(*entry)) ++core.stats.toxics_applied;
    session->toxics_changed();
  }
  log::info(detail::kComponent, "link {}: + toxic {} ({}, {}, toxicity {})", core.name, entry->spec.name,
            to_string(entry->spec.type), to_string(entry->spec.stream), entry->spec.toxicity);
  return {};
}

Status Link::remove_toxic(std::string_view name) {
  auto& core = *core_;
  auto it = std::find_if(core.toxics.begin(), core.toxics.end(),
                         [&](const detail::ToxicPtr& entry) { return entry->spec.name == name; });
  if (it == core.toxics.end())
    return make_error(ErrorCode::kNotFound, fmt::format("link {}: no toxic named \"{}\"", core.name, name));
  (*it)->removed = true;
  core.toxics.erase(it);
  for (auto& [id, session] : core.sessions) session->toxics_changed();
  log::info(detail::kComponent, "link {}: - toxic {}", core.name, name);
  return {};
}

Status Link::set_enabled(bool enabled) {
  auto& core = *core_;
  if (!core.started || core.stopped || core.enabled == enabled) return {};
  if (!enabled) {
    core.enabled = false;
    ++core.accept_generation;
    boost::system::error_code ec;
    core.acceptor.close(ec);
    core.close_sessions();
    log::info(detail::kComponent, "link {}: down", core.name);
    return {};
  }
  if (auto listening = core.listen(); !listening) return listening;
  core.enabled = true;
  log::info(detail::kComponent, "link {}: up", core.name);
  return {};
}

bool Link::enabled() const {
  return core_->enabled;
}
const LinkStats& Link::stats() const {
  return core_->stats;
}
const std::string& Link::name() const {
  return core_->name;
}

net::Endpoint Link::listen_endpoint() const {
  net::Endpoint endpoint;
  endpoint.host = core_->listen_endpoint.address().to_string();
  endpoint.port = core_->listen_endpoint.port();
  return endpoint;
}

}  // namespace shakeout::faults
