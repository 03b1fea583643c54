#pragma once
// `shakeout app`: the default workload, in the spirit of agnhost netexec. An
// HTTP server that says who it is and whose health can be steered from
// outside, so experiments can make pods unready, dead, slow or stubborn.
//
//   GET  /                       {"pod","namespace","node","ip"}\n (after --latency)
//   GET  /healthz                200 ok | 500 when liveness is failed
//   GET  /readyz                 200 ok | 503 when readiness is failed or shutting down
//   POST /control/readiness?fail=true|false
//   POST /control/liveness?fail=true|false
//   POST /control/latency?ms=N   delays every later GET /
//   POST /control/exit?code=N    answers 200, then exits with that code at once
//   POST /control/sigterm?ignore=true|false
//
// SIGTERM (and SIGINT): /readyz turns 503, the server keeps serving for
// shutdown_delay (a preStop sleep), then stops accepting, lets in-flight
// requests finish and run() returns 0. With ignore_sigterm a SIGTERM is
// logged and otherwise ignored (SIGINT still stops).
// Threading: one io_context thread.

#include <cstdint>
#include <string>

#include "common/clock.h"
#include "common/result.h"

namespace shakeout::app {

struct Options {
  std::string bind_address;  // empty: $POD_IP, else 127.0.0.1 (see resolve_defaults)
  int http_port = 8080;
  bool fail_readiness = false;
  bool fail_liveness = false;
  Millis latency{0};
  bool ignore_sigterm = false;
  Millis shutdown_delay{0};
  // Who the app is, from the downward-API environment.
  std::string pod_name;
  std::string pod_namespace;
  std::string node_name;
  std::string pod_ip;
};

// Fills the identity from POD_NAME, POD_NAMESPACE, NODE_NAME, POD_IP and an
// empty bind_address from POD_IP (else 127.0.0.1).
void resolve_defaults(Options& options);
// kInvalidArgument naming the flag when an option is out of range.
Status validate(const Options& options);

// The body of GET /: one line of JSON.
std::string identity_json(const Options& options);

// Serves until SIGTERM/SIGINT or /control/exit; the process exit code.
int run(const Options& options);

}  // namespace shakeout::app
