#pragma once
// The HTTP face of a Runtime: the routes listed in runtime_service.h, JSON
// bodies through codec.h, errors as {"reason", "message"} with a 4xx/5xx.
// Threading: the Runtime's executor.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>

#include "net/http_server.h"
#include "runtime/runtime.h"

namespace shakeout::runtime {

// Answers one request against `runtime`. The logs route streams with
// follow=true until the container exits, the client leaves or the server stops.
asio::awaitable<void> handle_request(Runtime& runtime, net::ServerRequest& request,
                                     net::ResponseWriter& writer);

}  // namespace shakeout::runtime
