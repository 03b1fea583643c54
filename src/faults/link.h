#pragma once
// Link: an L4 (TCP) proxy through which one component reaches one server, the
// place where network faults happen (DESIGN §4). Named `<client>-><server>`,
// e.g. `kubelet/node-2->apiserver`. Faults follow toxiproxy's model: a chain of
// toxics per direction, each toxic's toxicity rolled once per connection.
//
//   client ──► [listen] ── reader ─► queue ─► writer: toxic, toxic, ... ─► [upstream] server
//          ◄──────────── writer: toxic, ... ◄─ queue ◄─ reader ──────────◄
//
// Each direction of a connection has a reader, which reads chunks (up to
// 128 KiB) into a few preallocated buffers and stamps them with their arrival
// time, and a writer, which passes each chunk, in order, through the toxics of
// its direction that apply to this connection (in the order they were added)
// and writes what comes out (with no toxic and nothing queued, the reader
// writes what the socket takes at once itself). The reader stops reading
// while every buffer waits (backpressure: a held direction fills the
// kernel's buffers and the sender blocks, as on a congested network).
//
// What each toxic does to a connection it applies to:
// - latency: each chunk leaves latency ± jitter (uniform, drawn per chunk)
//   after it arrived; chunks never overtake each other.
// - bandwidth: at most rate_kbps * 1000 bytes per second pass.
// - slow_close: an end of stream (the sender's FIN) is passed on `delay` later.
// - timeout: no data passes (it is held, not dropped: removing the toxic lets
//   it through, like a healed partition); `timeout` after the toxic began to
//   apply to the connection (toxic added or connection accepted, the later)
//   the connection is closed; with timeout 0 never (a blackhole).
//   (toxiproxy's code drops the held data; its README says "delayed", which
//   is what we do, so a healed partition does not corrupt a stream.)
// - reset_peer: `timeout` after the toxic began to apply to the connection,
//   both sockets are reset (SO_LINGER 0: the peers read ECONNRESET). Unlike
//   toxiproxy, which waits for the next chunk first, this does not need data.
// - slicer: chunks are cut into pieces of average_size ± size_variation
//   bytes, `delay` apart.
// - limit_data: once `bytes` bytes passed it (per connection), the
//   connection is closed.
// - down (set_enabled(false), toxiproxy's disabled proxy): the listening
//   socket is closed (new connections are refused) and every connection is
//   closed; set_enabled(true) listens again on the same port.
// A toxic's stream decides where it acts; timeout's close, reset_peer and
// limit_data's close end the whole connection.
//
// Contract:
// - Toxics can be added and removed at any time. Open connections pick the
//   change up for the bytes that follow; no byte in flight is dropped (a chunk
//   held by a removed toxic goes on through the rest of the chain), and every
//   wait inside a toxic (latency, bandwidth, slicer, timeout, slow_close)
//   ends at once when its toxic is removed or the connection closes.
// - An end of stream is passed on as a half-close (shutdown of the write side);
//   a connection ends when both directions ended, on an error, or on a fault.
//   A reset from one peer resets the other. If the upstream refuses the
//   connection, the client is reset.
// - Randomness (toxicity, jitter, slice sizes) comes from the seed alone
//   (see toxic_applies()), so a run is reproducible.
// - stop() closes the listening socket and every connection at once; the
//   port can be listened on again (SO_REUSEADDR) when it returns. The
//   destructor stops. The connections' coroutines then unwind on the
//   io_context without touching the Link, so the io_context must run (or be
//   destroyed) afterwards. When the harness
//   process dies, the kernel closes every socket, so nothing outlives it.
// - start() sets SIGPIPE to ignored if it was at its default (the splice path
//   writes with splice(2), which has no MSG_NOSIGNAL).
// Threading: everything runs on the io_context passed in, which must be run
// by one thread; call every method from that thread. Nothing is thread-safe.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "faults/toxic.h"
#include "net/http_client.h"  // Endpoint

namespace shakeout::faults {

namespace asio = boost::asio;

// Counters since start(); they survive stop() and set_enabled().
struct LinkStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_active = 0;
  uint64_t upstream_failures = 0;  // connections whose upstream could not be reached (client reset)
  uint64_t bytes_upstream = 0;     // client -> server, written to the server
  uint64_t bytes_downstream = 0;   // server -> client, written to the client
  uint64_t toxics_applied = 0;     // (connection, toxic) pairs whose toxicity roll said "applies"
};

namespace detail {
struct LinkCore;
}

class Link {
 public:
  // `seed` drives every random choice (see toxic_applies()).
  Link(asio::io_context& io, std::string name, net::Endpoint listen, net::Endpoint upstream, uint64_t seed);
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // Binds and listens (port 0: any free port, see listen_endpoint()); the
  // upstream is resolved now and connected to per accepted connection. The
  // error names the link and the address. Once only.
  Status start();
  // Stops accepting and closes every connection. Idempotent.
  void stop();

  // kInvalidArgument for a bad toxic (see validate()), kAlreadyExists if a
  // toxic of that name is on this link.
  Status add_toxic(Toxic toxic);
  // kNotFound if no toxic has that name.
  Status remove_toxic(std::string_view name);
  // false: `down` (see above); true: listening again. A no-op before start()
  // and after stop(). Enabling fails (and the link stays down) if the port
  // was taken meanwhile.
  Status set_enabled(bool enabled);
  bool enabled() const;

  const LinkStats& stats() const;
  const std::string& name() const;
  // After start(): the bound address (port 0 resolved).
  net::Endpoint listen_endpoint() const;

 private:
  std::shared_ptr<detail::LinkCore> core_;
};

}  // namespace shakeout::faults
