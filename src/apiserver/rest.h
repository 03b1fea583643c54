#pragma once
// ResourceHandler: the REST verbs of every served resource, on top of
// api::Store (storage semantics), admission (defaults, tolerations, type
// validation, Service IP/port allocation), patch, Table conversion and the
// watch caches. Upstream's counterpart is apiserver/pkg/endpoints/handlers
// (create.go, get.go, update.go, patch.go, delete.go, watch.go) plus the
// per-resource REST storage in pkg/registry.
//
//   request --> parse_route --> verb handler --> admission --> Store --> etcd
//                                   |                                   |
//                                   +--- watch --> WatchCache <- one etcd watch per resource
//
// Threading: one io_context thread; start() before serving, stop() before
// destruction. Keeps a reference to the etcd client and the clock.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api/admission.h"
#include "api/service_allocator.h"
#include "api/status.h"
#include "api/store.h"
#include "api/watch_cache.h"
#include "apiserver/route.h"
#include "common/clock.h"
#include "common/result.h"

namespace shakeout::net {
struct ServerRequest;
class ResponseWriter;
class HttpClient;
}  // namespace shakeout::net
namespace shakeout::etcd {
class Client;
}

namespace shakeout::apiserver {

namespace asio = boost::asio;

struct RestOptions {
  api::AdmissionConfig admission;
  api::ServiceRanges service_ranges;
  api::WatchCacheConfig watch_cache;
  uint64_t seed = 0;  // uids, generated names, allocation start points
  // The bearer token pods/log presents to kubelets (--kubelet-client-token-file).
  std::string kubelet_client_token;
};

class ResourceHandler {
 public:
  ResourceHandler(asio::any_io_executor executor, etcd::Client& etcd, const Clock& clock,
                  RestOptions options);
  ~ResourceHandler();
  ResourceHandler(const ResourceHandler&) = delete;
  ResourceHandler& operator=(const ResourceHandler&) = delete;

  // Creates the namespaces every cluster has (default, kube-system,
  // kube-public, kube-node-lease), as upstream's bootstrap controller does;
  // existing ones are kept. Fails while etcd does not answer.
  asio::awaitable<api::ApiResult<void>> bootstrap();

  // Stops every watch cache and ends open watches.
  asio::awaitable<void> stop();

  // Answers one request addressed to `route`.
  asio::awaitable<void> serve(Route route, net::ServerRequest& request, net::ResponseWriter& writer);

  std::size_t open_watches() const { return open_watches_; }

  // Ends every open watch stream on a resource `match` accepts, cleanly (the
  // chunked body ends as at timeoutSeconds); returns how many. For the
  // drop-watch fault.
  std::size_t end_watches(const std::function<bool(const api::ResourceInfo&)>& match);
  // Asked right after a watch stream has started: true ends it at once.
  void set_watch_gate(std::function<bool(const api::ResourceInfo&)> gate) { watch_gate_ = std::move(gate); }

 private:
  asio::awaitable<void> list_or_watch(Route route, net::ServerRequest& request, net::ResponseWriter& writer);
  asio::awaitable<void> watch(Route route, net::ServerRequest& request, net::ResponseWriter& writer);
  // `warnings` collects Warning headers (unknown fields under fieldValidation=Warn).
  asio::awaitable<api::ApiResult<nlohmann::json>> create(Route route, net::ServerRequest& request,
                                                         std::vector<std::string>* warnings);
  asio::awaitable<api::ApiResult<nlohmann::json>> update(Route route, net::ServerRequest& request,
                                                         std::vector<std::string>* warnings);
  asio::awaitable<api::ApiResult<nlohmann::json>> patch(Route route, net::ServerRequest& request,
                                                        bool* created);
  asio::awaitable<api::ApiResult<nlohmann::json>> remove(Route route, net::ServerRequest& request);
  asio::awaitable<api::ApiResult<nlohmann::json>> remove_collection(Route route, net::ServerRequest& request);
  asio::awaitable<api::ApiResult<nlohmann::json>> scale(Route route, net::ServerRequest& request);
  asio::awaitable<api::ApiResult<nlohmann::json>> bind(Route route, net::ServerRequest& request);
  asio::awaitable<api::ApiResult<nlohmann::json>> evict(Route route, net::ServerRequest& request);
  // pods/log: proxied to the kubelet of the pod's node (its InternalIP and
  // daemonEndpoints.kubeletEndpoint.Port), streamed back as it arrives.
  asio::awaitable<void> pod_log(Route route, net::ServerRequest& request, net::ResponseWriter& writer);
  // Namespaces: the first delete marks Terminating; the namespace
  // controller empties it, then finalize, then the final delete.
  asio::awaitable<api::ApiResult<nlohmann::json>> remove_namespace(Route route, api::DeleteOptions options);
  asio::awaitable<api::ApiResult<nlohmann::json>> finalize(Route route, net::ServerRequest& request);
  // The eviction's PodDisruptionBudget check (and decrement): nullopt when
  // the pod may go.
  asio::awaitable<std::optional<api::ApiError>> check_disruption_budget(const nlohmann::json& pod, bool dry);
  // Create after admission: defaults, DefaultTolerationSeconds, type
  // validation, Service allocation (released again if the create fails).
  asio::awaitable<api::ApiResult<nlohmann::json>> admit_and_create(Route route, nlohmann::json object,
                                                                   bool dry_run);
  // PUT or PATCH of a Service: `desired` builds the new object from the
  // stored one; node ports are reserved and released around the write.
  asio::awaitable<api::ApiResult<nlohmann::json>> write_service(Route route, api::Store::TransformFn desired,
                                                                bool retry_conflicts);
  // The watch cache of `resource`, started on first use.
  asio::awaitable<api::ApiResult<api::WatchCache*>> cache_for(const api::ResourceInfo& resource);

  asio::any_io_executor executor_;
  etcd::Client& etcd_;
  const Clock& clock_;
  RestOptions options_;
  api::Store store_;
  api::ServiceAllocator allocator_;
  std::unique_ptr<net::HttpClient> kubelets_;
  // A watch cache and whether its first list is in; watches that arrive
  // while it starts wait on `started` (cancelled once start() returns).
  struct CacheSlot {
    explicit CacheSlot(const asio::any_io_executor& executor) : started(executor) {}
    std::unique_ptr<api::WatchCache> cache;
    bool ready = false;
    asio::steady_timer started;
  };
  std::map<std::string, std::shared_ptr<CacheSlot>> caches_;  // by group_resource()
  std::size_t open_watches_ = 0;
  // The open watch streams, for end_watches().
  struct OpenWatch {
    const api::ResourceInfo* resource = nullptr;
    std::weak_ptr<api::Watcher> watcher;
  };
  std::map<uint64_t, OpenWatch> watch_streams_;
  uint64_t next_watch_id_ = 0;
  std::function<bool(const api::ResourceInfo&)> watch_gate_;
  bool stopping_ = false;
};

}  // namespace shakeout::apiserver
