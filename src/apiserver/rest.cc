#include "apiserver/rest.h"

#include <fmt/format.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <charconv>
#include <optional>
#include <vector>

#include "api/openapi.h"
#include "api/patch.h"
#include "api/selector.h"
#include "api/table.h"
#include "common/log.h"
#include "net/http_client.h"
#include "net/http_server.h"

namespace shakeout::apiserver {
namespace {

using api::ApiError;
using api::ApiResult;
using nlohmann::json;

// Subresource objects live in other groups (discovery says so too).
constexpr const char* kScaleApiVersion = "autoscaling/v1";

// metav1.Status{Status: Success} as delete, binding and eviction answer.
json success_status(const api::ResourceInfo& resource, const std::string& name, const std::string& uid,
                    int code) {
  json details = {{"name", name}, {"kind", resource.plural}};
  if (!resource.group.empty()) details["group"] = resource.group;
  if (!uid.empty()) details["uid"] = uid;
  return {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
          {"status", "Success"}, {"details", details}, {"code", code}};
}

std::string meta_string(const json& object, const char* field) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  auto value = meta->find(field);
  return value != meta->end() && value->is_string() ? value->get<std::string>() : "";
}

// The response for `result`: the object with `success` (or the code a
// Status object carries), or the error's Status with its code.
net::ServerResponse to_response(const ApiResult<json>& result, unsigned success) {
  net::ServerResponse response;
  response.content_type = "application/json";
  if (!result) {
    response.status = static_cast<unsigned>(result.error().code);
    response.body = result.error().status.dump();
    return response;
  }
  response.status = success;
  if (result->is_object() && result->value("kind", "") == "Status" && result->contains("code"))
    response.status = result->value("code", success);
  response.body = result->dump();
  return response;
}

// A GET's answer: a Table when the client asks for one (kubectl get), else
// `object` itself.
ApiResult<json> negotiate_table(const api::ResourceInfo& resource, json object, bool is_list,
                                const net::ServerRequest& request,
                                std::chrono::system_clock::time_point now) {
  if (!api::accepts_table(request.header("Accept"))) return object;
  auto include = api::parse_include_object(request.query_value("includeObject"));
  if (!include)
    return api::bad_request(
        fmt::format("unrecognized includeObject value: {:?}", request.query_value("includeObject")));
  return api::to_table(resource, object, is_list, now, *include);
}

// Request bodies: JSON, or YAML when the client says so.
ApiResult<json> parse_body(const net::ServerRequest& request) {
  std::string_view content_type = request.header("Content-Type");
  // Protobuf and CBOR are not served: 415, on which client-go (kubectl
  // create namespace sends protobuf) retries in JSON.
  if (content_type.find("protobuf") != std::string_view::npos ||
      content_type.find("cbor") != std::string_view::npos) {
    return api::make_status(
        415, "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json, application/yaml",
        nullptr);
  }
  if (content_type.find("yaml") != std::string_view::npos) {
    auto parsed = api::yaml_to_json(request.body);
    if (!parsed) return api::bad_request(parsed.error().message);
    return std::move(*parsed);
  }
  json body = json::parse(request.body, nullptr, false);
  if (body.is_discarded())
    return api::bad_request("couldn't get version/kind; json parse error: the body is not valid JSON");
  if (!body.is_object())
    return api::bad_request("couldn't get version/kind; json parse error: the body is not a JSON object");
  return body;
}

ApiResult<std::optional<int64_t>> int_query(const net::ServerRequest& request, std::string_view name) {
  std::string_view text = request.query_value(name);
  if (text.empty()) return std::optional<int64_t>();
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size())
    return api::bad_request(fmt::format("invalid {}: {:?} is not an integer", name, text));
  return std::optional<int64_t>(value);
}

bool dry_run(const net::ServerRequest& request) {
  return request.query_value("dryRun") == "All";
}

// fieldValidation (upstream handlers/rest.go fieldValidation): Strict
// rejects unknown fields with 400, Warn (the default) reports them in
// Warning headers, Ignore drops them silently.
// Subresource bodies are checked as their own kind (Scale, Binding, ...).
std::optional<ApiError> check_fields(const api::ResourceInfo& resource, std::string_view subresource,
                                     const json& object, const net::ServerRequest& request,
                                     std::vector<std::string>& warnings) {
  std::string_view mode = request.query_value("fieldValidation");
  if (mode == "Ignore") return std::nullopt;
  if (!mode.empty() && mode != "Strict" && mode != "Warn")
    return api::bad_request(
        fmt::format("fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", not {:?}", mode));
  auto unknown = api::unknown_fields(resource, subresource, object);
  auto duplicate = api::duplicate_fields(request.body);
  if (unknown.empty() && duplicate.empty()) return std::nullopt;
  if (mode == "Strict") return api::strict_decoding_error(resource, subresource, unknown, duplicate);
  for (auto& message : api::strict_decoding_messages(unknown, duplicate))
    warnings.push_back(std::move(message));
  return std::nullopt;
}

// Admission for an update: defaults, mutating admission (the default pod
// tolerations) and type validation against the stored object (upstream:
// the strategy's PrepareForUpdate, then ValidateUpdate).
ApiResult<json> admit_for_update(const api::ResourceInfo& resource, const api::AdmissionConfig& config,
                                 json updated, const json& old) {
  if (resource.group.empty() && resource.plural == "namespaces") {
    // namespace strategy PrepareForUpdate: spec.finalizers change only
    // through /finalize.
    json& spec = updated["spec"];
    if (!spec.is_object()) spec = json::object();
    if (auto it = old.find("spec"); it != old.end() && it->contains("finalizers")) {
      spec["finalizers"] = (*it)["finalizers"];
    } else {
      spec.erase("finalizers");
    }
  }
  api::apply_defaults(resource, updated);
  api::admit_update(resource, updated, config);
  auto causes = api::validate_object(resource, updated, &old);
  if (!causes.empty()) return api::invalid(resource, meta_string(updated, "name"), causes);
  return updated;
}

ApiResult<api::DeleteOptions> delete_options(const net::ServerRequest& request) {
  json body = json::object();
  if (!request.body.empty()) {
    body = json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object())
      return api::bad_request("the DeleteOptions body is not a JSON object");
  }
  // Query parameters as kubectl --raw or curl send them.
  auto grace = int_query(request, "gracePeriodSeconds");
  if (!grace) return grace.error();
  if (grace->has_value()) body["gracePeriodSeconds"] = **grace;
  if (request.has_query("propagationPolicy"))
    body["propagationPolicy"] = request.query_value("propagationPolicy");
  if (request.has_query("orphanDependents"))
    body["orphanDependents"] = request.query_value("orphanDependents") == "true";
  return api::DeleteOptions::from_json(body);
}

// autoscaling/v1 Scale of a Deployment or ReplicaSet (upstream
// pkg/registry/apps/deployment/storage/storage.go scaleFromDeployment).
json scale_of(const json& object) {
  json scale = json::object();
  scale["kind"] = "Scale";
  scale["apiVersion"] = kScaleApiVersion;
  const json& meta = object.at("metadata");
  json scale_meta = json::object();
  for (const char* field : {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"}) {
    if (meta.contains(field)) scale_meta[field] = meta[field];
  }
  scale["metadata"] = scale_meta;
  const json spec = object.value("spec", json::object());
  const json status = object.value("status", json::object());
  scale["spec"] = {{"replicas", spec.value("replicas", 1)}};
  // status.selector is the label selector in its string form.
  std::string selector;
  const json match = spec.value("selector", json::object()).value("matchLabels", json::object());
  for (auto it = match.begin(); it != match.end(); ++it) {
    if (!selector.empty()) selector += ",";
    selector += it.key() + "=" + it.value().get<std::string>();
  }
  scale["status"] = {{"replicas", status.value("replicas", 0)}, {"selector", selector}};
  return scale;
}

}  // namespace

ResourceHandler::ResourceHandler(asio::any_io_executor executor, etcd::Client& etcd, const Clock& clock,
                                 RestOptions options)
    : executor_(std::move(executor)),
      etcd_(etcd),
      clock_(clock),
      options_(std::move(options)),
      store_(etcd, clock, options_.seed),
      allocator_(etcd, options_.service_ranges, options_.seed ^ 0x5eed),
      kubelets_(std::make_unique<net::HttpClient>(executor_)) {}

ResourceHandler::~ResourceHandler() = default;

asio::awaitable<ApiResult<void>> ResourceHandler::bootstrap() {
  const auto* namespaces = api::ResourceRegistry::builtin().by_plural("", "namespaces");
  for (const char* name : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    Route route;
    route.resource = namespaces;
    json object = json::object();
    object["apiVersion"] = "v1";
    object["kind"] = "Namespace";
    object["metadata"] = {{"name", name}};
    auto created = co_await admit_and_create(route, std::move(object), false);
    if (!created && created.error().code != 409) co_return created.error();
  }
  // Every watch cache starts before the first request is served, as
  // upstream's do with the server: a cache started lazily by its first
  // watch would list at a revision newer than a list the client made just
  // before, and answer that client's watch from it with 410 Expired.
  for (const auto& resource : api::ResourceRegistry::builtin().all()) {
    auto cache = co_await cache_for(resource);
    if (!cache) co_return cache.error();
  }
  co_return ApiResult<void>();
}

asio::awaitable<void> ResourceHandler::stop() {
  stopping_ = true;
  for (auto& [name, slot] : caches_) {
    if (slot->ready) co_await slot->cache->stop();
  }
}

std::size_t ResourceHandler::end_watches(const std::function<bool(const api::ResourceInfo&)>& match) {
  std::size_t ended = 0;
  for (auto& [id, open] : watch_streams_) {
    auto watcher = open.watcher.lock();
    if (!watcher || watcher->ended() || !match(*open.resource)) continue;
    watcher->stop();
    ++ended;
  }
  return ended;
}

asio::awaitable<void> ResourceHandler::serve(Route route, net::ServerRequest& request,
                                             net::ResponseWriter& writer) {
  const std::string& method = request.method;
  const auto& resource = *route.resource;
  ApiResult<json> result = api::method_not_allowed();
  unsigned success = 200;
  bool table_ok = false;
  std::vector<std::string> warnings;

  if (route.subresource.empty() && route.collection()) {
    if (method == "GET") {
      co_await list_or_watch(route, request, writer);
      co_return;
    }
    if (method == "POST" && (!resource.namespaced || !route.ns.empty())) {
      result = co_await create(route, request, &warnings);
      success = 201;
    } else if (method == "DELETE" && resource.plural != "namespaces" &&
               resource.group + resource.plural != "") {
      result = co_await remove_collection(route, request);
    }
  } else if (route.subresource.empty() || route.subresource == "status") {
    if (method == "GET") {
      result = co_await store_.get(resource, route.ns, route.name);
      table_ok = route.subresource.empty();
    } else if (method == "PUT") {
      result = co_await update(route, request, &warnings);
    } else if (method == "PATCH") {
      bool created = false;
      result = co_await patch(route, request, &created);
      if (created) success = 201;
    } else if (method == "DELETE" && route.subresource.empty()) {
      result = co_await remove(route, request);
    }
  } else if (route.subresource == "scale") {
    if (method == "GET" || method == "PUT" || method == "PATCH") result = co_await scale(route, request);
  } else if (route.subresource == "finalize") {
    if (method == "PUT") result = co_await finalize(route, request);
  } else if (route.subresource == "binding") {
    if (method == "POST") {
      result = co_await bind(route, request);
      success = 201;
    }
  } else if (route.subresource == "eviction") {
    if (method == "POST") {
      result = co_await evict(route, request);
      success = 201;
    }
  } else if (route.subresource == "log" && method == "GET") {
    co_await pod_log(std::move(route), request, writer);
    co_return;
  }

  if (result && table_ok)
    result = negotiate_table(resource, std::move(*result), false, request, clock_.wall_now());
  net::ServerResponse response = to_response(result, success);
  for (const auto& warning : warnings)
    response.headers.emplace_back("Warning", fmt::format("299 - {:?}", warning));
  co_await writer.send(std::move(response));
}

asio::awaitable<void> ResourceHandler::pod_log(Route route, net::ServerRequest& request,
                                               net::ResponseWriter& writer) {
  const auto& resource = *route.resource;
  auto pod = co_await store_.get(resource, route.ns, route.name);
  if (!pod) {
    co_await writer.send(to_response(pod.error(), 200));
    co_return;
  }
  const json spec = pod->value("spec", json::object());
  const std::string node_name = spec.value("nodeName", "");
  // Upstream's checks and messages (pkg/registry/core/pod/strategy.go LogLocation).
  std::vector<std::string> names;
  for (const char* field : {"containers", "initContainers"}) {
    const json containers = spec.value(field, json::array());
    for (const auto& container : containers) names.push_back(container.value("name", ""));
  }
  std::string container(request.query_value("container"));
  std::optional<ApiError> refused;
  if (container.empty() && spec.value("containers", json::array()).size() == 1) {
    container = spec["containers"][0].value("name", "");
  } else if (container.empty()) {
    refused =
        api::bad_request(fmt::format("a container name must be specified for pod {}, choose one of: [{}]",
                                     route.name, fmt::join(names, " ")));
  } else if (std::find(names.begin(), names.end(), container) == names.end()) {
    refused = api::bad_request(fmt::format("container {} is not valid for pod {}", container, route.name));
  }
  if (!refused && node_name.empty())
    refused = api::bad_request(fmt::format("pod {} does not have a host assigned", route.name));
  std::optional<net::Endpoint> kubelet;
  if (!refused) {
    const auto* nodes = api::ResourceRegistry::builtin().by_plural("", "nodes");
    auto node = co_await store_.get(*nodes, "", node_name);
    if (!node) {
      refused = node.error();
    } else {
      const json status = node->value("status", json::object());
      std::string ip;
      const json addresses = status.value("addresses", json::array());
      for (const auto& address : addresses)
        if (address.value("type", "") == "InternalIP" && ip.empty()) ip = address.value("address", "");
      const int port = status.value("daemonEndpoints", json::object())
                           .value("kubeletEndpoint", json::object())
                           .value("Port", 0);
      if (ip.empty() || port <= 0 || port > 65535) {
        refused = api::service_unavailable(fmt::format("node {} has no kubelet endpoint", node_name));
      } else {
        kubelet = net::Endpoint{ip, static_cast<uint16_t>(port)};
      }
    }
  }
  if (refused) {
    co_await writer.send(to_response(*refused, 200));
    co_return;
  }

  std::vector<std::pair<std::string, std::string>> params;
  for (const char* name : {"follow", "previous", "timestamps", "tailLines", "sinceSeconds", "limitBytes"})
    if (request.has_query(name)) params.emplace_back(name, std::string(request.query_value(name)));
  net::HttpRequest upstream;
  upstream.target =
      fmt::format("/containerLogs/{}/{}/{}{}", route.ns, route.name, container, net::query_string(params));
  if (!options_.kubelet_client_token.empty())
    upstream.headers.emplace_back("Authorization", "Bearer " + options_.kubelet_client_token);
  auto stream = co_await kubelets_->open_stream(*kubelet, std::move(upstream), Millis(10000));
  if (!stream) {
    co_await writer.send(to_response(
        api::service_unavailable(fmt::format("the kubelet of node {} at {} did not answer: {}", node_name,
                                             kubelet->to_string(), stream.error().message)),
        200));
    co_return;
  }
  auto& body = **stream;
  if (body.status() / 100 != 2) {
    std::string text;
    while (true) {
      auto piece = co_await body.read_piece(Millis(10000));
      if (!piece || !*piece || text.size() > 64 * 1024) break;
      text += **piece;
    }
    // Upstream passes the kubelet's error through with its status.
    co_await writer.send(to_response(
        api::make_status(static_cast<int>(body.status()),
                         body.status() == 401 ? "Unauthorized" : "BadRequest", text, json::object()),
        200));
    co_return;
  }
  net::ServerResponse head;
  head.status = 200;
  head.content_type = "text/plain";
  if (!co_await writer.begin_stream(std::move(head))) co_return;
  net::HttpStream* open = stream->get();
  writer.on_close([open] { open->cancel(); });
  bool streaming = true;
  while (streaming) {
    auto piece = co_await body.read_piece();
    if (!piece || !*piece) break;
    streaming = static_cast<bool>(co_await writer.write_chunk(std::move(**piece)));
  }
  writer.on_close(nullptr);
  if (streaming) co_await writer.end_stream();
}

asio::awaitable<void> ResourceHandler::list_or_watch(Route route, net::ServerRequest& request,
                                                     net::ResponseWriter& writer) {
  std::string_view watch_flag = request.query_value("watch");
  if (watch_flag == "true" || watch_flag == "1") {
    co_await watch(std::move(route), request, writer);
    co_return;
  }
  api::ListOptions options;
  options.label_selector = std::string(request.query_value("labelSelector"));
  options.field_selector = std::string(request.query_value("fieldSelector"));
  options.continue_token = std::string(request.query_value("continue"));
  auto limit = int_query(request, "limit");
  ApiResult<json> list = limit.ok() ? ApiResult<json>(json()) : ApiResult<json>(limit.error());
  if (limit) {
    options.limit = limit->value_or(0);
    list = co_await store_.list(*route.resource, route.ns, std::move(options));
  }
  if (list) list = negotiate_table(*route.resource, std::move(*list), true, request, clock_.wall_now());
  co_await writer.send(to_response(list, 200));
}

asio::awaitable<ApiResult<api::WatchCache*>> ResourceHandler::cache_for(const api::ResourceInfo& resource) {
  if (stopping_) co_return api::service_unavailable("the server is shutting down");
  const std::string key = resource.group_resource();
  if (auto found = caches_.find(key); found != caches_.end()) {
    std::shared_ptr<CacheSlot> slot = found->second;
    if (!slot->ready) {
      // Another request is starting this cache: wait for its first list.
      boost::system::error_code ignored;
      co_await slot->started.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    if (!slot->ready)
      co_return api::service_unavailable(fmt::format("the watch cache of {} could not start", key));
    co_return slot->cache.get();
  }
  auto slot = std::make_shared<CacheSlot>(executor_);
  slot->cache = std::make_unique<api::WatchCache>(executor_, etcd_, resource, options_.watch_cache);
  slot->started.expires_at(asio::steady_timer::time_point::max());
  caches_.emplace(key, slot);
  auto started = co_await slot->cache->start();
  slot->ready = started.ok();
  slot->started.cancel();
  if (!started) {
    caches_.erase(key);
    co_return api::from_storage_error(started.error());
  }
  co_return slot->cache.get();
}

asio::awaitable<void> ResourceHandler::watch(Route route, net::ServerRequest& request,
                                             net::ResponseWriter& writer) {
  api::WatchRequest watch_request;
  watch_request.ns = route.ns;
  watch_request.label_selector = std::string(request.query_value("labelSelector"));
  watch_request.field_selector = std::string(request.query_value("fieldSelector"));
  watch_request.allow_bookmarks = request.query_value("allowWatchBookmarks") == "true";
  auto rv = int_query(request, "resourceVersion");
  auto timeout = int_query(request, "timeoutSeconds");
  ApiResult<std::shared_ptr<api::Watcher>> watcher = api::bad_request("");
  if (!rv) {
    watcher = rv.error();
  } else if (!timeout) {
    watcher = timeout.error();
  } else {
    if (rv->has_value() && **rv != 0) watch_request.resource_version = **rv;
    auto cache = co_await cache_for(*route.resource);
    if (!cache) {
      watcher = cache.error();
    } else {
      watcher = (*cache)->watch(std::move(watch_request));
    }
  }
  if (!watcher) {
    co_await writer.send(to_response(watcher.error(), 200));
    co_return;
  }

  const bool as_table = api::accepts_table(request.header("Accept"));
  auto include = api::parse_include_object(request.query_value("includeObject"));
  net::ServerResponse head;
  head.status = 200;
  head.content_type = "application/json";
  if (!co_await writer.begin_stream(std::move(head))) co_return;

  ++open_watches_;
  std::shared_ptr<api::Watcher> stream = *watcher;
  const uint64_t stream_id = ++next_watch_id_;
  {
    OpenWatch& open = watch_streams_[stream_id];  // no braced temporary: g++ 12 coroutines
    open.resource = route.resource;
    open.watcher = stream;
  }
  // Dropped (a drop-watch fault): the stream ends before its first event.
  const bool dropped = watch_gate_ && watch_gate_(*route.resource);
  // The watch ends when the client goes away, at timeoutSeconds (upstream
  // default: a random 30-60 min; kubectl sends its own), or at stop().
  auto timer = std::make_shared<asio::steady_timer>(executor_);
  timer->expires_after(std::chrono::seconds(timeout->value_or(1800)));
  timer->async_wait([stream](boost::system::error_code ec) {
    if (!ec) stream->stop();
  });
  writer.on_close([weak = std::weak_ptr<api::Watcher>(stream)] {
    if (auto alive = weak.lock()) alive->stop();
  });

  bool first_row = true;
  while (!dropped) {
    auto event = co_await stream->next();
    if (!event) break;
    std::string line;
    const bool object_event = event->type == api::WatchEvent::Type::kAdded ||
                              event->type == api::WatchEvent::Type::kModified ||
                              event->type == api::WatchEvent::Type::kDeleted;
    if (as_table && include && object_event) {
      // Table watches carry one row per event (kubectl get -w).
      json wrapped = json::object();
      wrapped["type"] = api::to_string(event->type);
      // Column definitions go out with the first row only, as upstream's.
      wrapped["object"] =
          api::to_table(*route.resource, *event->object, false, clock_.wall_now(), *include, !first_row);
      first_row = false;
      line = wrapped.dump() + "\n";
    } else {
      line = *event->line;  // serialized once by the cache for every watcher
    }
    if (!co_await writer.write_chunk(std::move(line))) break;
  }
  timer->cancel();
  stream->stop();
  watch_streams_.erase(stream_id);
  --open_watches_;
  co_await writer.end_stream();
}

asio::awaitable<ApiResult<json>> ResourceHandler::create(Route route, net::ServerRequest& request,
                                                         std::vector<std::string>* warnings) {
  auto body = parse_body(request);
  if (!body) co_return body.error();
  if (auto error = check_fields(*route.resource, route.subresource, *body, request, *warnings))
    co_return *error;
  co_return co_await admit_and_create(std::move(route), std::move(*body), dry_run(request));
}

asio::awaitable<ApiResult<json>> ResourceHandler::admit_and_create(Route route, json object, bool dry) {
  const auto& resource = *route.resource;
  if (!object.contains("metadata") || !object["metadata"].is_object()) object["metadata"] = json::object();
  if (resource.namespaced && !object["metadata"].contains("namespace"))
    object["metadata"]["namespace"] = route.ns;
  api::apply_defaults(resource, object);
  if (auto denied = api::admit_create(resource, object, options_.admission))
    co_return api::forbidden(resource, meta_string(object, "name"), *denied);
  auto causes = api::validate_object(resource, object, nullptr);
  if (!causes.empty()) co_return api::invalid(resource, meta_string(object, "name"), causes);
  if (dry) co_return object;
  const bool is_service = resource.group.empty() && resource.plural == "services";
  if (is_service) {
    auto allocated = co_await allocator_.allocate(std::move(object));
    if (!allocated) co_return allocated.error();
    object = std::move(*allocated);
  }
  auto created = co_await store_.create(resource, route.ns, object);
  if (!created && is_service) co_await allocator_.release(object);
  co_return created;
}

asio::awaitable<ApiResult<json>> ResourceHandler::update(Route route, net::ServerRequest& request,
                                                         std::vector<std::string>* warnings) {
  auto body = parse_body(request);
  if (!body) co_return body.error();
  if (auto error = check_fields(*route.resource, route.subresource, *body, request, *warnings))
    co_return *error;
  const auto& resource = *route.resource;
  const bool status = route.subresource == "status";
  if (dry_run(request)) {
    auto current = co_await store_.get(resource, route.ns, route.name);
    if (!current) co_return current.error();
    co_return admit_for_update(
        resource, options_.admission,
        api::prepare_update(resource, *current, *body,
                            status ? api::UpdateTarget::kStatus : api::UpdateTarget::kMain),
        *current);
  }
  const bool is_service = resource.group.empty() && resource.plural == "services" && !status;
  if (is_service) {
    const bool guarded = !meta_string(*body, "resourceVersion").empty();
    co_return co_await write_service(
        route, [body = *body](const json&) -> ApiResult<json> { return body; }, !guarded);
  }
  api::Store::AdmitFn admit = [resource, admission = options_.admission](json updated, const json& old) {
    return admit_for_update(resource, admission, std::move(updated), old);
  };
  if (status)
    co_return co_await store_.update_status(resource, route.ns, route.name, std::move(*body), admit);
  co_return co_await store_.update(resource, route.ns, route.name, std::move(*body), admit);
}

asio::awaitable<ApiResult<json>> ResourceHandler::patch(Route route, net::ServerRequest& request,
                                                        bool* created) {
  const auto& resource = *route.resource;
  std::string content_type(request.header("Content-Type"));
  auto type = api::patch_type_from_content_type(content_type);
  if (!type) co_return api::unsupported_media_type(content_type);
  if (*type == api::PatchType::kApplyPatch && request.query_value("fieldManager").empty()) {
    api::Cause cause;
    cause.reason = "FieldValueRequired";
    cause.field = "fieldManager";
    cause.message = "Required value: is required for apply patch";
    ApiError error = api::invalid(resource, "", {cause});
    error.status["message"] =
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch";
    error.status["details"] = {
        {"group", "meta.k8s.io"}, {"kind", "PatchOptions"}, {"causes", error.status["details"]["causes"]}};
    co_return error;
  }
  const bool status = route.subresource == "status";
  const auto target = status ? api::UpdateTarget::kStatus : api::UpdateTarget::kMain;
  std::string body = request.body;
  const bool dry = dry_run(request);

  auto current = co_await store_.get(resource, route.ns, route.name);
  if (!current && current.error().code == 404 && *type == api::PatchType::kApplyPatch && !status) {
    // Server-side apply creates what does not exist yet.
    auto object = api::yaml_to_json(body);
    if (!object) co_return api::bad_request(object.error().message);
    if (!object->is_object()) co_return api::bad_request("the apply configuration is not an object");
    if (meta_string(*object, "name") != route.name)
      co_return api::bad_request(
          fmt::format("the name of the object ({}) does not match the name on the URL ({})",
                      meta_string(*object, "name"), route.name));
    *created = true;
    co_return co_await admit_and_create(route, std::move(*object), dry);
  }
  if (!current) co_return current.error();

  // One transform, rerun on every lost race (upstream patcher.patchResource
  // inside GuaranteedUpdate): a patch without a resourceVersion always
  // applies to the latest object; one with a stale resourceVersion conflicts.
  const bool strict = request.query_value("fieldValidation") == "Strict";
  auto transform = [resource, admission = options_.admission, strict, name = route.name, type = *type, body,
                    target](const json& stored) -> ApiResult<json> {
    auto patched = api::apply_patch(type, resource, stored, body);
    if (!patched) return patched.error();
    // Upstream checks the patched object, not the patch (handlers/patch.go).
    if (strict) {
      auto unknown = api::unknown_fields(resource, *patched);
      if (!unknown.empty()) return api::strict_patch_error(patched->dump(), unknown);
    }
    std::string patched_rv = meta_string(*patched, "resourceVersion");
    if (!patched_rv.empty() && patched_rv != meta_string(stored, "resourceVersion"))
      return api::conflict(resource, name, api::kOptimisticLockMessage);
    if (meta_string(*patched, "name") != name)
      return api::bad_request(
          fmt::format("the name of the object ({}) does not match the name on the URL ({})",
                      meta_string(*patched, "name"), name));
    return admit_for_update(resource, admission,
                            api::prepare_update(resource, stored, std::move(*patched), target), stored);
  };
  if (dry) co_return transform(*current);

  const bool is_service = resource.group.empty() && resource.plural == "services" && !status;
  if (is_service) co_return co_await write_service(route, transform, true);
  co_return co_await store_.guaranteed_update(resource, route.ns, route.name, transform);
}

asio::awaitable<ApiResult<json>> ResourceHandler::write_service(Route route, api::Store::TransformFn desired,
                                                                bool retry_conflicts) {
  const auto& resource = *route.resource;
  // Node ports are reserved outside the storage transaction, so a lost race
  // re-runs the whole write (bounded) after undoing its reservations.
  for (int attempt = 0; attempt < 8; ++attempt) {
    auto current = co_await store_.get(resource, route.ns, route.name);
    if (!current) co_return current.error();
    auto wanted = desired(*current);
    if (!wanted) co_return wanted.error();
    json body = std::move(*wanted);
    api::patch_allocated_values(*current, body);
    auto admitted =
        admit_for_update(resource, options_.admission,
                         api::prepare_update(resource, *current, body, api::UpdateTarget::kMain), *current);
    if (!admitted) co_return admitted.error();
    auto allocated = co_await allocator_.reallocate(*current, std::move(*admitted));
    if (!allocated) co_return allocated.error();
    if (meta_string(*allocated, "resourceVersion").empty())
      (*allocated)["metadata"]["resourceVersion"] = meta_string(*current, "resourceVersion");
    api::Store::AdmitFn admit = [resource, admission = options_.admission](json updated, const json& old) {
      return admit_for_update(resource, admission, std::move(updated), old);
    };
    auto updated = co_await store_.update(resource, route.ns, route.name, *allocated, admit);
    if (updated) {
      co_await allocator_.release_unused(*current, *updated);
      co_return updated;
    }
    co_await allocator_.release_unused(*allocated, *current);
    if (!retry_conflicts || updated.error().code != 409) co_return updated;
  }
  co_return api::conflict(resource, route.name, api::kOptimisticLockMessage);
}

asio::awaitable<ApiResult<json>> ResourceHandler::remove(Route route, net::ServerRequest& request) {
  const auto& resource = *route.resource;
  auto options = delete_options(request);
  if (!options) co_return options.error();
  if (dry_run(request)) co_return co_await store_.get(resource, route.ns, route.name);
  if (resource.group.empty() && resource.plural == "namespaces")
    co_return co_await remove_namespace(std::move(route), std::move(*options));
  auto deleted = co_await store_.remove(resource, route.ns, route.name, *options);
  if (!deleted) co_return deleted.error();
  if (!deleted->removed) co_return std::move(deleted->object);
  if (resource.group.empty() && resource.plural == "services") co_await allocator_.release(deleted->object);
  // Upstream stores with ReturnDeletedObject (pods, services) answer with the
  // object; the others with a Success Status.
  if (resource.group.empty() && (resource.plural == "pods" || resource.plural == "services"))
    co_return std::move(deleted->object);
  co_return success_status(resource, route.name, meta_string(deleted->object, "uid"), 200);
}

// pkg/registry/core/namespace/storage/storage.go Delete: the first delete
// sets deletionTimestamp and phase Terminating (and the garbage collector's
// finalizers) and answers with the namespace while spec.finalizers holds
// it; a delete before the namespace controller has finalized it is 409.
asio::awaitable<ApiResult<json>> ResourceHandler::remove_namespace(Route route, api::DeleteOptions options) {
  const auto& resource = *route.resource;
  auto current = co_await store_.get(resource, "", route.name);
  if (!current) co_return current.error();
  auto spec_finalizers = [](const json& ns) {
    auto spec = ns.find("spec");
    if (spec == ns.end() || !spec->is_object()) return false;
    auto it = spec->find("finalizers");
    return it != spec->end() && it->is_array() && !it->empty();
  };
  if (meta_string(*current, "deletionTimestamp").empty()) {
    auto now = api::format_timestamp(clock_.wall_now());
    api::Store::TransformFn mark = [&resource, options, now, name = route.name](const json& existing) {
      json ns = existing;
      std::string uid = meta_string(ns, "uid");
      if (options.precondition_uid && *options.precondition_uid != uid)
        return ApiResult<json>(
            api::conflict(resource, name,
                          fmt::format("Precondition failed: UID in precondition: {}, UID in object meta: {}",
                                      *options.precondition_uid, uid)));
      if (meta_string(ns, "deletionTimestamp").empty()) ns["metadata"]["deletionTimestamp"] = now;
      ns["status"]["phase"] = "Terminating";
      if (auto finalizers = api::gc_finalizers(ns, options)) {
        ns["metadata"]["finalizers"] = std::move(*finalizers);
        if (ns["metadata"]["finalizers"].empty()) ns["metadata"].erase("finalizers");
      }
      return ApiResult<json>(std::move(ns));
    };
    auto marked = co_await store_.guaranteed_update(resource, "", route.name, std::move(mark));
    if (!marked) co_return marked.error();
    if (spec_finalizers(*marked)) co_return std::move(*marked);
    current = std::move(marked);
  }
  if (spec_finalizers(*current))
    co_return api::conflict(resource, route.name,
                            "The system is ensuring all content is removed from this namespace.  Upon "
                            "completion, this namespace will automatically be purged by the system.");
  auto deleted = co_await store_.remove(resource, "", route.name, options);
  if (!deleted) co_return deleted.error();
  if (!deleted->removed) co_return std::move(deleted->object);
  co_return success_status(resource, route.name, meta_string(deleted->object, "uid"), 200);
}

// namespaces/{name}/finalize (FinalizeREST): only spec.finalizers changes,
// with the usual optimistic concurrency.
asio::awaitable<ApiResult<json>> ResourceHandler::finalize(Route route, net::ServerRequest& request) {
  auto body = parse_body(request);
  if (!body) co_return body.error();
  const auto& resource = *route.resource;
  if (meta_string(*body, "name") != route.name)
    co_return api::bad_request(
        fmt::format("the name of the object ({}) does not match the name on the URL ({})",
                    meta_string(*body, "name"), route.name));
  json finalizers = json::array();
  if (auto spec = body->find("spec"); spec != body->end() && spec->is_object())
    if (auto it = spec->find("finalizers"); it != spec->end() && it->is_array()) finalizers = *it;
  for (std::size_t i = 0; i < finalizers.size(); ++i)
    if (!finalizers[i].is_string() || finalizers[i].get<std::string>().empty())
      co_return api::invalid(resource, route.name,
                             {api::Cause{"FieldValueInvalid", fmt::format("spec.finalizers[{}]", i),
                                         "a finalizer must be a non-empty qualified name"}});
  std::string expected = meta_string(*body, "resourceVersion");
  api::Store::TransformFn transform = [&resource, finalizers, expected,
                                       name = route.name](const json& existing) {
    if (!expected.empty() && expected != meta_string(existing, "resourceVersion"))
      return ApiResult<json>(api::conflict(resource, name, api::kOptimisticLockMessage));
    json ns = existing;
    ns["spec"]["finalizers"] = finalizers;
    return ApiResult<json>(std::move(ns));
  };
  co_return co_await store_.guaranteed_update(resource, "", route.name, std::move(transform));
}

asio::awaitable<ApiResult<json>> ResourceHandler::remove_collection(Route route,
                                                                    net::ServerRequest& request) {
  const auto& resource = *route.resource;
  auto options = delete_options(request);
  if (!options) co_return options.error();
  api::ListOptions list_options;
  list_options.label_selector = std::string(request.query_value("labelSelector"));
  list_options.field_selector = std::string(request.query_value("fieldSelector"));
  auto list = co_await store_.list(resource, route.ns, std::move(list_options));
  if (!list) co_return list.error();
  json items = json::array();
  for (auto& item : (*list)["items"]) {
    std::string ns = meta_string(item, "namespace");
    std::string name = meta_string(item, "name");
    auto deleted = co_await store_.remove(resource, ns, name, *options);
    if (!deleted) {
      if (deleted.error().code == 404) continue;
      co_return deleted.error();
    }
    if (deleted->removed && resource.group.empty() && resource.plural == "services")
      co_await allocator_.release(deleted->object);
    items.push_back(std::move(deleted->object));
  }
  (*list)["items"] = std::move(items);
  co_return std::move(*list);
}

asio::awaitable<ApiResult<json>> ResourceHandler::scale(Route route, net::ServerRequest& request) {
  const auto& resource = *route.resource;
  auto current = co_await store_.get(resource, route.ns, route.name);
  if (!current) co_return current.error();
  if (request.method == "GET") co_return scale_of(*current);

  // The Scale the request asks for, given the stored object: a PUT's body,
  // or the patch applied to the latest Scale on every try, so that a patch
  // without a resourceVersion never conflicts with another writer (upstream
  // runs the patch inside GuaranteedUpdate, as for the object itself).
  json put_body;
  std::optional<api::PatchType> patch_type;
  if (request.method == "PUT") {
    auto body = parse_body(request);
    if (!body) co_return body.error();
    std::vector<std::string> warnings;  // (Warning headers are not sent for subresource bodies yet)
    if (auto error = check_fields(resource, route.subresource, *body, request, warnings)) co_return *error;
    put_body = std::move(*body);
  } else {
    std::string content_type(request.header("Content-Type"));
    patch_type = api::patch_type_from_content_type(content_type);
    if (!patch_type) co_return api::unsupported_media_type(content_type);
  }
  const std::string& patch = request.body;
  auto transform = [&](const json& stored) -> ApiResult<json> {
    json wanted = put_body;
    if (patch_type) {
      auto patched = api::apply_patch(*patch_type, resource, scale_of(stored), patch);
      if (!patched) return patched.error();
      wanted = std::move(*patched);
    }
    if (!wanted.contains("spec") || !wanted["spec"].is_object() || !wanted["spec"].contains("replicas") ||
        !wanted["spec"]["replicas"].is_number_integer()) {
      api::Cause cause{"FieldValueRequired", "spec.replicas", "Required value"};
      return api::invalid(resource, route.name, {cause});
    }
    const int64_t replicas = wanted["spec"]["replicas"].get<int64_t>();
    if (replicas < 0) {
      api::Cause cause{"FieldValueInvalid", "spec.replicas",
                       fmt::format("Invalid value: {}: must be greater than or equal to 0", replicas)};
      return api::invalid(resource, route.name, {cause});
    }
    const std::string expected = meta_string(wanted, "resourceVersion");
    if (!expected.empty() && expected != meta_string(stored, "resourceVersion"))
      return api::conflict(resource, route.name, api::kOptimisticLockMessage);
    json next = stored;
    next["spec"]["replicas"] = replicas;
    if (next != stored && resource.tracks_generation)
      next["metadata"]["generation"] = stored["metadata"].value("generation", 1) + 1;
    return next;
  };
  auto updated = co_await store_.guaranteed_update(resource, route.ns, route.name, transform);
  if (!updated) co_return updated.error();
  co_return scale_of(*updated);
}

asio::awaitable<ApiResult<json>> ResourceHandler::bind(Route route, net::ServerRequest& request) {
  const auto& resource = *route.resource;
  auto body = parse_body(request);
  if (!body) co_return body.error();
  std::vector<std::string> warnings;  // (Warning headers are not sent for subresource bodies yet)
  if (auto error = check_fields(resource, route.subresource, *body, request, warnings)) co_return *error;
  std::string node = body->value("target", json::object()).value("name", "");
  if (node.empty()) {
    api::Cause cause{"FieldValueRequired", "target.name", "Required value"};
    co_return api::invalid(resource, route.name, {cause});
  }
  const std::string binding_name = meta_string(*body, "name");
  if (!binding_name.empty() && binding_name != route.name)
    co_return api::bad_request(
        fmt::format("name in URL does not match name in Binding object: {} != {}", route.name, binding_name));
  const auto now = api::format_timestamp(clock_.wall_now());
  // Upstream pkg/registry/core/pod/storage/storage.go assignPod/setPodNodeAndMetadata.
  auto bound = co_await store_.guaranteed_update(
      resource, route.ns, route.name, [&](const json& stored) -> ApiResult<json> {
        if (!meta_string(stored, "deletionTimestamp").empty())
          return api::conflict(
              resource, route.name,
              fmt::format("pod {} is being deleted, cannot be assigned to a host", route.name));
        std::string assigned = stored.value("spec", json::object()).value("nodeName", "");
        if (!assigned.empty())
          return api::conflict(resource, route.name,
                               fmt::format("pod {} is already assigned to node {:?}", route.name, assigned));
        json next = stored;
        next["spec"]["nodeName"] = node;
        json& status = next["status"];
        if (!status.is_object()) status = json::object();
        json& conditions = status["conditions"];
        if (!conditions.is_array()) conditions = json::array();
        json scheduled = {{"type", "PodScheduled"},
                          {"status", "True"},
                          {"lastProbeTime", nullptr},
                          {"lastTransitionTime", now}};
        auto existing = std::find_if(conditions.begin(), conditions.end(),
                                     [](const json& c) { return c.value("type", "") == "PodScheduled"; });
        if (existing != conditions.end()) {
          *existing = scheduled;
        } else {
          conditions.push_back(scheduled);
        }
        return next;
      });
  if (!bound) {
    ApiError error = bound.error();
    if (error.code == 409) {
      // The conflict names the binding subresource, as upstream's does.
      error.status["message"] =
          fmt::format("Operation cannot be fulfilled on pods/binding {:?}: {}", route.name,
                      error.status["details"].value("causes", json::array()).empty()
                          ? error.message().substr(error.message().find(": ") + 2)
                          : error.message());
    }
    co_return error;
  }
  co_return success_status(resource, route.name, "", 201);
}

namespace {

constexpr const char* kBudgetViolated = "Cannot evict pod as it would violate the pod's disruption budget.";
constexpr std::size_t kMaxDisruptedPods = 2000;  // eviction.go MaxDisruptedPodSize

// errors.NewTooManyRequests with a DisruptionBudget cause.
api::ApiError too_many_requests(const std::string& cause, int retry_after_seconds) {
  json details = {{"causes", {{{"reason", "DisruptionBudget"}, {"message", cause}}}}};
  if (retry_after_seconds > 0) details["retryAfterSeconds"] = retry_after_seconds;
  return api::make_status(429, "TooManyRequests", kBudgetViolated, std::move(details));
}

bool pod_ready(const json& pod) {
  const json* conditions = pod.contains("status") ? &pod["status"] : nullptr;
  if (conditions == nullptr || !conditions->contains("conditions") || !(*conditions)["conditions"].is_array())
    return false;
  for (const auto& condition : (*conditions)["conditions"])
    if (condition.value("type", "") == "Ready") return condition.value("status", "") == "True";
  return false;
}

int64_t int_at(const json& object, const char* section, const char* key) {
  if (!object.contains(section) || !object[section].is_object()) return 0;
  const json& value = object[section].value(key, json());
  return value.is_number_integer() ? value.get<int64_t>() : 0;
}

// checkAndDecrement: the budget after taking one disruption from it, or why
// it cannot give one.
ApiResult<json> take_disruption(const json& current, const std::string& pod_name, std::string now,
                                const api::ResourceInfo& pdb_resource) {
  const std::string name = meta_string(current, "name");
  if (int_at(current, "status", "observedGeneration") < int_at(current, "metadata", "generation"))
    return too_many_requests(
        fmt::format("The disruption budget {} is still being processed by the server.", name), 10);
  const int64_t allowed = int_at(current, "status", "disruptionsAllowed");
  if (allowed < 0) return api::forbidden(pdb_resource, name, "pdb disruptions allowed is negative");
  json pdb = current;
  json& status = pdb["status"];
  if (!status.contains("disruptedPods") || !status["disruptedPods"].is_object())
    status["disruptedPods"] = json::object();
  if (status["disruptedPods"].size() > kMaxDisruptedPods)
    return api::forbidden(pdb_resource, name,
                          "DisruptedPods map too big - too many evictions not confirmed by PDB controller");
  if (allowed == 0)
    return too_many_requests(
        fmt::format("The disruption budget {} needs {} healthy pods and has {} currently", name,
                    int_at(current, "status", "desiredHealthy"), int_at(current, "status", "currentHealthy")),
        0);
  status["disruptionsAllowed"] = allowed - 1;
  status["disruptedPods"][pod_name] = std::move(now);
  return pdb;
}

}  // namespace

// pkg/registry/core/pod/storage/eviction.go (v1.32): a terminal, pending or
// terminating pod goes without a budget check; otherwise the one budget
// whose selector matches the pod must allow a disruption, which the eviction
// takes (status.disruptionsAllowed - 1, the pod in disruptedPods) before the
// pod is deleted. An unready pod may go without taking one when the budget
// is healthy (IfHealthyBudget) or says AlwaysAllow.
asio::awaitable<std::optional<api::ApiError>> ResourceHandler::check_disruption_budget(const json& pod,
                                                                                       bool dry) {
  const std::string phase = pod.contains("status") ? pod["status"].value("phase", "") : "";
  if (phase == "Succeeded" || phase == "Failed" || phase == "Pending" ||
      !meta_string(pod, "deletionTimestamp").empty())
    co_return std::nullopt;
  const auto* pdb_resource = api::ResourceRegistry::builtin().by_plural("policy", "poddisruptionbudgets");
  const std::string ns = meta_string(pod, "namespace");
  auto listed = co_await store_.list(*pdb_resource, ns, api::ListOptions());
  if (!listed) co_return listed.error();
  const json* labels = pod.contains("metadata") ? &pod["metadata"] : nullptr;
  labels = labels != nullptr && labels->contains("labels") ? &(*labels)["labels"] : nullptr;
  std::vector<const json*> matching;
  for (const auto& pdb : (*listed)["items"]) {
    const json& spec = pdb.value("spec", json::object());
    // policy/v1: a null selector selects nothing, an empty one everything.
    if (spec.contains("selector") && spec["selector"].is_object() &&
        api::label_selector_matches(spec["selector"], labels))
      matching.push_back(&pdb);
  }
  if (matching.empty()) co_return std::nullopt;
  if (matching.size() > 1)
    co_return api::internal_error(
        "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.");
  const json& budget = *matching.front();
  if (!pod_ready(pod)) {
    const std::string policy =
        budget.value("spec", json::object()).value("unhealthyPodEvictionPolicy", "IfHealthyBudget");
    const int64_t desired = int_at(budget, "status", "desiredHealthy");
    if (policy == "AlwaysAllow" || (int_at(budget, "status", "currentHealthy") >= desired && desired > 0))
      co_return std::nullopt;
  }
  const std::string pod_name = meta_string(pod, "name");
  const std::string now = api::format_timestamp(clock_.wall_now());
  if (dry) {
    auto taken = take_disruption(budget, pod_name, now, *pdb_resource);
    if (!taken) co_return taken.error();
    co_return std::nullopt;
  }
  auto updated = co_await store_.guaranteed_update(
      *pdb_resource, ns, meta_string(budget, "name"),
      [&](const json& current) { return take_disruption(current, pod_name, now, *pdb_resource); });
  if (!updated) co_return updated.error();
  co_return std::nullopt;
}

asio::awaitable<ApiResult<json>> ResourceHandler::evict(Route route, net::ServerRequest& request) {
  const auto& resource = *route.resource;
  auto body = parse_body(request);
  if (!body) co_return body.error();
  std::vector<std::string> warnings;  // (Warning headers are not sent for subresource bodies yet)
  if (auto error = check_fields(resource, route.subresource, *body, request, warnings)) co_return *error;
  const std::string name = meta_string(*body, "name");
  if (name != route.name)
    co_return api::bad_request(
        fmt::format("name in URL does not match name in Eviction object: {} != {}", route.name, name));
  auto pod = co_await store_.get(resource, route.ns, route.name);
  if (!pod) co_return pod.error();
  json delete_body = body->value("deleteOptions", json::object());
  auto options = api::DeleteOptions::from_json(delete_body);
  if (!options) co_return options.error();
  const bool dry = dry_run(request);
  if (auto blocked = co_await check_disruption_budget(*pod, dry)) co_return *blocked;
  if (!dry) {
    auto deleted = co_await store_.remove(resource, route.ns, route.name, *options);
    if (!deleted) co_return deleted.error();
  }
  json status = success_status(resource, route.name, "", 201);
  status.erase("details");
  co_return status;
}

}  // namespace shakeout::apiserver
