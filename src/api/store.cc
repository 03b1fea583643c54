#include "api/store.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <set>

#include "api/selector.h"
#include "api/validation.h"
#include "net/base64.h"

namespace shakeout::api {

namespace {

using nlohmann::json;

// Unconditional updates and deletes retry a lost race until this much time
// has passed (upstream GuaranteedUpdate loops until it wins, within the
// request's 60 s deadline). A lost race means another write won, so N
// writers of one object at once need at most N tries each: a count of tries
// would turn a burst of writers (a scale beside a busy controller) into 409s.
constexpr auto kRetryFor = std::chrono::seconds(60);

bool may_retry(std::chrono::steady_clock::time_point until) {
  return std::chrono::steady_clock::now() < until;
}
// Upstream RetryGenerateName tries up to 8 names.
constexpr int kGenerateNameAttempts = 8;

const ResourceInfo& namespaces_info() {
  return *ResourceRegistry::builtin().by_plural("", "namespaces");
}

json& metadata(json& object) {
  auto& meta = object["metadata"];
  if (!meta.is_object()) meta = json::object();
  return meta;
}

std::string meta_string(const json& object, const char* field) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  auto it = meta->find(field);
  return it != meta->end() && it->is_string() ? it->get<std::string>() : "";
}

bool has_finalizers(const json& object) {
  auto meta = object.find("metadata");
  if (meta == object.end()) return false;
  auto it = meta->find("finalizers");
  return it != meta->end() && it->is_array() && !it->empty();
}

std::optional<int64_t> meta_int(const json& object, const char* field) {
  auto meta = object.find("metadata");
  if (meta == object.end()) return std::nullopt;
  auto it = meta->find(field);
  if (it == meta->end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

// Stored value: the object without resourceVersion (upstream clears it
// before storing; the key's mod_revision is the version).
std::string encode(json object) {
  metadata(object).erase("resourceVersion");
  return object.dump();
}

ApiResult<json> decode(const etcd::KeyValue& kv) {
  json object = json::parse(kv.value, nullptr, false);
  if (object.is_discarded() || !object.is_object())
    return internal_error(fmt::format("stored object at {} is not a JSON object", kv.key));
  metadata(object)["resourceVersion"] = std::to_string(kv.mod_revision);
  return object;
}

std::string prefix_end(std::string prefix) {
  // Every prefix ends in '/', so bumping the last byte cannot overflow.
  prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

etcd::TxnRequest guarded_put(const std::string& key, int64_t mod_revision, const json& object) {
  etcd::TxnRequest request;
  request.compare.push_back(etcd::Compare::mod_revision(key, etcd::Compare::Op::kEqual, mod_revision));
  etcd::PutOp put;
  put.key = key;
  put.value = encode(object);
  request.success.emplace_back(std::move(put));
  return request;
}

etcd::TxnRequest guarded_delete(const std::string& key, int64_t mod_revision) {
  etcd::TxnRequest request;
  request.compare.push_back(etcd::Compare::mod_revision(key, etcd::Compare::Op::kEqual, mod_revision));
  etcd::DeleteOp del;
  del.key = key;
  request.success.emplace_back(std::move(del));
  return request;
}

// kind/apiVersion must name `resource` when present; filled in otherwise.
std::optional<ApiError> check_type(const ResourceInfo& resource, json& object) {
  auto kind = object.find("kind");
  if (kind != object.end() && !kind->is_null() && *kind != resource.kind)
    return bad_request(fmt::format("the kind of the provided object ({}) does not match the resource ({})",
                                   kind->is_string() ? kind->get<std::string>() : kind->dump(),
                                   resource.kind));
  auto version = object.find("apiVersion");
  if (version != object.end() && !version->is_null() && *version != resource.api_version())
    return bad_request(fmt::format(
        "the API version in the data ({}) does not match the expected API version ({})",
        version->is_string() ? version->get<std::string>() : version->dump(), resource.api_version()));
  object["kind"] = resource.kind;
  object["apiVersion"] = resource.api_version();
  return std::nullopt;
}

// Namespace handling shared by create and update (upstream
// rest.EnsureObjectNamespaceMatchesRequestNamespace).
std::optional<ApiError> check_namespace(const ResourceInfo& resource, const std::string& ns, json& object) {
  auto& meta = metadata(object);
  if (!resource.namespaced) {
    meta.erase("namespace");
    return std::nullopt;
  }
  if (ns.empty())
    return bad_request("the server could not find the requested resource: namespace is required");
  std::string given = meta.value("namespace", "");
  if (!given.empty() && given != ns)
    return bad_request(
        "the namespace of the provided object does not match the namespace sent on the request");
  meta["namespace"] = ns;
  return std::nullopt;
}

struct ContinueToken {
  int64_t revision = 0;
  std::string start;  // key relative to the list prefix
};

// Upstream's continue token shape (storage/continue.go): base64url (no
// padding) of {"v":"meta.k8s.io/v1","rv":N,"start":"<next key>"}.
std::string encode_continue(int64_t revision, const std::string& start) {
  json token = json::object();
  token["v"] = "meta.k8s.io/v1";
  token["rv"] = revision;
  token["start"] = start;
  std::string text = net::base64_encode(token.dump());
  for (char& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!text.empty() && text.back() == '=') text.pop_back();
  return text;
}

ApiResult<ContinueToken> decode_continue(std::string text) {
  for (char& c : text) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (text.size() % 4 != 0) text += '=';
  auto bytes = net::base64_decode(text);
  if (!bytes) return bad_request("continue key is not valid: illegal base64 data");
  json token = json::parse(*bytes, nullptr, false);
  if (token.is_discarded() || !token.is_object() || token.value("v", "") != "meta.k8s.io/v1" ||
      !token.contains("rv") || !token["rv"].is_number_integer() || !token.contains("start") ||
      !token["start"].is_string())
    return bad_request(
        "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)");
  ContinueToken out;
  out.revision = token["rv"].get<int64_t>();
  out.start = token["start"].get<std::string>();
  if (out.revision <= 0)
    return bad_request("continue key is not valid: incorrect encoded start resourceVersion");
  if (out.start.find("..") != std::string::npos || (!out.start.empty() && out.start.front() == '/'))
    return bad_request("continue key is not valid: keys may not contain '..' or start with '/'");
  return out;
}

const char* const kContinueExpired =
    "The provided continue parameter is too old to display a consistent list result. You can start a new "
    "list "
    "without the continue parameter, or use the continue token in this response to retrieve the remainder of "
    "the results. Continuing with the provided token results in an inconsistent list - objects that were "
    "created, modified, or deleted between the time the first chunk was returned and now may show up in the "
    "list.";

ApiError precondition_failed(const ResourceInfo& resource, const std::string& name, const char* what,
                             const std::string& wanted, const std::string& have) {
  return conflict(resource, name,
                  fmt::format("Precondition failed: {} in precondition: {}, {} in object meta: {}", what,
                              wanted, what, have));
}

}  // namespace

bool spec_changed(const json& old, const json& updated) {
  auto a = old.find("spec");
  auto b = updated.find("spec");
  bool has_a = a != old.end() && !a->is_null();
  bool has_b = b != updated.end() && !b->is_null();
  if (has_a != has_b) return true;
  return has_a && *a != *b;
}

json prepare_update(const ResourceInfo& resource, const json& old, json incoming, UpdateTarget target) {
  if (target == UpdateTarget::kStatus) {
    json out = old;
    auto status = incoming.find("status");
    if (status != incoming.end()) {
      out["status"] = *status;
    } else {
      out.erase("status");
    }
    return out;
  }
  const json& old_meta = old.at("metadata");
  auto& meta = metadata(incoming);
  // rest.BeforeUpdate: system fields a client cannot change.
  for (const char* field : {"creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"}) {
    auto it = old_meta.find(field);
    if (it != old_meta.end()) {
      meta[field] = *it;
    } else {
      meta.erase(field);
    }
  }
  if (meta.value("uid", "").empty() && old_meta.contains("uid")) meta["uid"] = old_meta["uid"];
  if (resource.has_subresource("status")) {
    auto status = old.find("status");
    if (status != old.end()) {
      incoming["status"] = *status;
    } else {
      incoming.erase("status");
    }
  }
  auto old_generation = old_meta.find("generation");
  if (old_generation != old_meta.end()) {
    int64_t generation = old_generation->get<int64_t>();
    if (resource.tracks_generation && spec_changed(old, incoming)) ++generation;
    meta["generation"] = generation;
  } else {
    meta.erase("generation");
  }
  return incoming;
}

std::string generate_name(std::string_view base, std::mt19937_64& random) {
  static constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::string name(base.substr(0, 58));
  std::uniform_int_distribution<size_t> pick(0, kAlphabet.size() - 1);
  for (int i = 0; i < 5; ++i) name += kAlphabet[pick(random)];
  return name;
}

std::string random_uuid(std::mt19937_64& random) {
  std::array<uint8_t, 16> bytes{};
  for (size_t i = 0; i < bytes.size(); i += 8) {
    uint64_t word = random();
    for (size_t j = 0; j < 8; ++j) bytes[i + j] = static_cast<uint8_t>(word >> (8 * j));
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x40;  // version 4
  bytes[8] = (bytes[8] & 0x3f) | 0x80;  // RFC 4122 variant
  std::string out;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += fmt::format("{:02x}", bytes[i]);
  }
  return out;
}

std::string format_timestamp(std::chrono::system_clock::time_point t) {
  std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::optional<std::chrono::system_clock::time_point> parse_timestamp(std::string_view text) {
  std::tm tm{};
  std::string s(text);
  char z = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &z) != 7 ||
      z != 'Z')
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

ApiResult<DeleteOptions> DeleteOptions::from_json(const json& body) {
  DeleteOptions options;
  if (body.is_null()) return options;
  if (!body.is_object()) return bad_request("DeleteOptions: the body must be a JSON object");
  if (auto it = body.find("gracePeriodSeconds"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer()) return bad_request("DeleteOptions: gracePeriodSeconds must be an integer");
    options.grace_period_seconds = it->get<int64_t>();
  }
  if (auto it = body.find("preconditions"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return bad_request("DeleteOptions: preconditions must be an object");
    if (auto uid = it->find("uid"); uid != it->end() && uid->is_string())
      options.precondition_uid = uid->get<std::string>();
    if (auto rv = it->find("resourceVersion"); rv != it->end() && rv->is_string())
      options.precondition_resource_version = rv->get<std::string>();
  }
  if (auto it = body.find("propagationPolicy"); it != body.end() && !it->is_null()) {
    std::string policy = it->is_string() ? it->get<std::string>() : it->dump();
    if (policy != "Orphan" && policy != "Background" && policy != "Foreground") {
      ApiError error =
          invalid(*ResourceRegistry::builtin().by_plural("", "pods"), "",
                  {Cause{"FieldValueNotSupported", "propagationPolicy",
                         fmt::format("Unsupported value: \"{}\": supported values: \"Foreground\", "
                                     "\"Background\", \"Orphan\", \"nil\"",
                                     policy)}});
      return bad_request(error.message());
    }
    options.propagation_policy = policy;
  }
  if (auto it = body.find("orphanDependents"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return bad_request("DeleteOptions: orphanDependents must be a boolean");
    options.orphan_dependents = it->get<bool>();
    if (options.propagation_policy)
      return bad_request(
          "DeleteOptions: orphanDependents and deletionPropagation cannot be both set (propagationPolicy)");
  }
  return options;
}

std::optional<json> gc_finalizers(const json& object, const DeleteOptions& options) {
  json current = json::array();
  if (auto meta = object.find("metadata"); meta != object.end() && meta->is_object())
    if (auto it = meta->find("finalizers"); it != meta->end() && it->is_array()) current = *it;
  auto has = [&](const char* name) {
    return std::find(current.begin(), current.end(), json(name)) != current.end();
  };
  bool orphan = has(kFinalizerOrphan) && !has(kFinalizerForeground);
  bool foreground = has(kFinalizerForeground);
  if (options.orphan_dependents) {
    orphan = *options.orphan_dependents;
    foreground = false;
  } else if (options.propagation_policy) {
    orphan = *options.propagation_policy == "Orphan";
    foreground = *options.propagation_policy == "Foreground";
  }
  json wanted = json::array();
  for (const auto& name : current)
    if (name != kFinalizerOrphan && name != kFinalizerForeground) wanted.push_back(name);
  if (orphan) wanted.push_back(kFinalizerOrphan);
  if (foreground) wanted.push_back(kFinalizerForeground);
  auto as_set = [](const json& list) {
    std::set<std::string> out;
    for (const auto& name : list)
      if (name.is_string()) out.insert(name.get<std::string>());
    return out;
  };
  if (as_set(wanted) == as_set(current)) return std::nullopt;
  return wanted;
}

Store::Store(etcd::Client& etcd, const Clock& clock, uint64_t seed)
    : etcd_(etcd), clock_(clock), random_(seed) {}

asio::awaitable<ApiResult<json>> Store::create(ResourceInfo resource, std::string ns, json object) {
  if (!object.is_object()) co_return bad_request("the body of the request was not a JSON object");
  if (auto error = check_type(resource, object)) co_return *error;
  if (auto error = check_namespace(resource, ns, object)) co_return *error;
  auto& meta = metadata(object);
  if (!meta.value("resourceVersion", "").empty())
    co_return internal_error("resourceVersion should not be set on objects to be created");

  if (resource.namespaced) {
    const ResourceInfo& namespaces = namespaces_info();
    auto found = co_await etcd_.range(namespaces.key("", ns));
    if (!found) co_return from_storage_error(found.error());
    if (found->kvs.empty()) co_return not_found(namespaces, ns);
    auto ns_object = decode(found->kvs.front());
    if (ns_object && !meta_string(*ns_object, "deletionTimestamp").empty())
      co_return forbidden(
          resource, meta.value("name", ""),
          fmt::format("unable to create new content in namespace {} because it is being terminated", ns));
  }

  // rest.FillObjectMetaSystemFields and the strategies' PrepareForCreate.
  meta["uid"] = random_uuid(random_);
  meta["creationTimestamp"] = format_timestamp(clock_.wall_now());
  meta.erase("deletionTimestamp");
  meta.erase("deletionGracePeriodSeconds");
  meta.erase("resourceVersion");
  if (resource.tracks_generation) {
    meta["generation"] = 1;
  } else {
    meta.erase("generation");
  }

  std::string generate_from = meta.value("generateName", "");
  bool generating = meta.value("name", "").empty() && !generate_from.empty();
  int attempts = generating ? kGenerateNameAttempts : 1;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (generating) meta["name"] = generate_name(generate_from, random_);
    std::string name = meta.value("name", "");
    auto causes = validate_object_meta(resource, object);
    if (!causes.empty()) co_return invalid(resource, name, causes);
    std::string key = resource.key(ns, name);
    auto response = co_await etcd_.txn(guarded_put(key, 0, object));
    if (!response) co_return from_storage_error(response.error());
    if (response->succeeded) {
      meta["resourceVersion"] = std::to_string(response->header.revision);
      co_return object;
    }
    if (!generating) co_return already_exists(resource, name);
  }
  co_return already_exists(resource, meta.value("name", ""));
}

asio::awaitable<ApiResult<json>> Store::get(ResourceInfo resource, std::string ns, std::string name) {
  auto found = co_await etcd_.range(resource.key(ns, name));
  if (!found) co_return from_storage_error(found.error());
  if (found->kvs.empty()) co_return not_found(resource, name);
  co_return decode(found->kvs.front());
}

asio::awaitable<ApiResult<json>> Store::list(ResourceInfo resource, std::string ns, ListOptions options) {
  auto labels = LabelSelector::parse(options.label_selector);
  if (!labels) co_return bad_request(labels.error().message);
  auto fields = FieldSelector::parse(options.field_selector, resource);
  if (!fields) co_return bad_request(fields.error().message);
  if (options.limit < 0) co_return bad_request("limit must not be negative");

  const std::string prefix = resource.list_prefix(ns);
  const std::string end = prefix_end(prefix);
  std::string start = prefix;
  int64_t revision = 0;
  bool continuing = !options.continue_token.empty();
  if (continuing) {
    auto token = decode_continue(options.continue_token);
    if (!token) co_return token.error();
    start = prefix + token->start;
    revision = token->revision;
  }

  json items = json::array();
  std::string continue_token;
  std::optional<int64_t> remaining;
  bool filtering = !labels->empty() || !fields->empty();
  // Upstream etcd3 store.GetList: read `limit` keys at a time at one
  // revision until `limit` objects matched or the range is exhausted.
  bool done = false;
  while (!done) {
    etcd::RangeOptions range;
    range.range_end = end;
    range.revision = revision;
    range.limit = options.limit;
    auto response = co_await etcd_.range(start, range);
    if (!response) {
      if (response.error().code == ErrorCode::kCompacted && continuing) co_return expired(kContinueExpired);
      if (response.error().code == ErrorCode::kCompacted)
        co_return expired(fmt::format("too old resource version: {}", revision));
      co_return from_storage_error(response.error());
    }
    if (revision == 0) revision = response->header.revision;
    const auto& kvs = response->kvs;
    for (size_t i = 0; i < kvs.size(); ++i) {
      auto object = decode(kvs[i]);
      if (!object) co_return object.error();
      if (!labels->matches_object(*object) || !fields->matches_object(*object)) continue;
      object->erase("kind");
      object->erase("apiVersion");
      items.push_back(std::move(*object));
      if (options.limit > 0 && static_cast<int64_t>(items.size()) == options.limit) {
        bool more = i + 1 < kvs.size() || response->more;
        if (more) {
          continue_token = encode_continue(revision, kvs[i].key.substr(prefix.size()) + std::string(1, '\0'));
          if (!filtering) remaining = response->count - static_cast<int64_t>(i + 1);
        }
        done = true;
        break;
      }
    }
    if (done || !response->more || kvs.empty() || options.limit == 0) break;
    start = kvs.back().key + std::string(1, '\0');
  }

  json list = json::object();
  list["kind"] = resource.kind + "List";
  list["apiVersion"] = resource.api_version();
  json list_meta = json::object();
  list_meta["resourceVersion"] = std::to_string(revision);
  if (!continue_token.empty()) list_meta["continue"] = continue_token;
  if (remaining) list_meta["remainingItemCount"] = *remaining;
  list["metadata"] = std::move(list_meta);
  list["items"] = std::move(items);
  co_return list;
}

asio::awaitable<ApiResult<json>> Store::update(ResourceInfo resource, std::string ns, std::string name,
                                               json object) {
  co_return co_await update_impl(std::move(resource), std::move(ns), std::move(name), std::move(object),
                                 UpdateTarget::kMain, AdmitFn());
}

asio::awaitable<ApiResult<json>> Store::update(ResourceInfo resource, std::string ns, std::string name,
                                               json object, AdmitFn admit) {
  co_return co_await update_impl(std::move(resource), std::move(ns), std::move(name), std::move(object),
                                 UpdateTarget::kMain, std::move(admit));
}

asio::awaitable<ApiResult<json>> Store::update_status(ResourceInfo resource, std::string ns, std::string name,
                                                      json object) {
  co_return co_await update_status(std::move(resource), std::move(ns), std::move(name), std::move(object),
                                   AdmitFn());
}

asio::awaitable<ApiResult<json>> Store::update_status(ResourceInfo resource, std::string ns, std::string name,
                                                      json object, AdmitFn admit) {
  if (!resource.has_subresource("status")) co_return not_found(resource, name);
  co_return co_await update_impl(std::move(resource), std::move(ns), std::move(name), std::move(object),
                                 UpdateTarget::kStatus, std::move(admit));
}

namespace {

// The PUT body's optimistic-lock and uid preconditions against the stored
// object, then prepare_update and admission.
ApiResult<json> transform_for_update(const ResourceInfo& resource, const std::string& name,
                                     std::optional<int64_t> expected, const json& object, UpdateTarget target,
                                     const Store::AdmitFn& admit, const json& current) {
  if (expected && std::to_string(*expected) != meta_string(current, "resourceVersion"))
    return conflict(resource, name, kOptimisticLockMessage);
  std::string given_uid = meta_string(object, "uid");
  std::string stored_uid = meta_string(current, "uid");
  if (!given_uid.empty() && given_uid != stored_uid)
    return precondition_failed(resource, name, "UID", given_uid, stored_uid);
  json updated = prepare_update(resource, current, object, target);
  if (!admit) return updated;
  return admit(std::move(updated), current);
}

}  // namespace

asio::awaitable<ApiResult<json>> Store::update_impl(ResourceInfo resource, std::string ns, std::string name,
                                                    json object, UpdateTarget target, AdmitFn admit) {
  if (!object.is_object()) co_return bad_request("the body of the request was not a JSON object");
  if (auto error = check_type(resource, object)) co_return *error;
  if (auto error = check_namespace(resource, ns, object)) co_return *error;
  std::string body_name = meta_string(object, "name");
  if (body_name != name)
    co_return bad_request(
        fmt::format("the name of the object ({}) does not match the name on the URL ({})", body_name, name));
  std::optional<int64_t> expected;
  if (std::string rv = meta_string(object, "resourceVersion"); !rv.empty()) {
    try {
      expected = std::stoll(rv);
    } catch (const std::exception&) {
      co_return bad_request(fmt::format("invalid resourceVersion: {}", rv));
    }
  }
  TransformFn transform = [resource, name, expected, object = std::move(object), target,
                           admit = std::move(admit)](const json& current) {
    return transform_for_update(resource, name, expected, object, target, admit, current);
  };
  co_return co_await guaranteed_update(std::move(resource), std::move(ns), std::move(name),
                                       std::move(transform));
}

asio::awaitable<ApiResult<json>> Store::guaranteed_update(ResourceInfo resource, std::string ns,
                                                          std::string name, TransformFn transform) {
  const std::string key = resource.key(ns, name);
  for (const auto until = std::chrono::steady_clock::now() + kRetryFor; may_retry(until);) {
    auto found = co_await etcd_.range(key);
    if (!found) co_return from_storage_error(found.error());
    if (found->kvs.empty()) co_return not_found(resource, name);
    const etcd::KeyValue current = found->kvs.front();
    auto old = decode(current);
    if (!old) co_return old.error();
    auto transformed = transform(*old);
    if (!transformed) co_return transformed.error();
    json updated = std::move(*transformed);
    metadata(updated).erase("resourceVersion");
    auto causes = validate_object_meta(resource, updated);
    if (!causes.empty()) co_return invalid(resource, name, causes);

    // store.go shouldDeleteDuringUpdate: the last finalizer of an object
    // whose deletion is due (grace 0) is gone.
    bool delete_now = !has_finalizers(updated) && has_finalizers(*old) &&
                      !meta_string(*old, "deletionTimestamp").empty() &&
                      meta_int(*old, "deletionGracePeriodSeconds").value_or(-1) == 0;
    if (delete_now) {
      auto response = co_await etcd_.txn(guarded_delete(key, current.mod_revision));
      if (!response) co_return from_storage_error(response.error());
      if (!response->succeeded) continue;
      metadata(updated)["resourceVersion"] = std::to_string(response->header.revision);
      co_return updated;
    }

    json compare_old = *old;
    metadata(compare_old).erase("resourceVersion");
    if (compare_old == updated) co_return *old;  // no-op updates write nothing, as upstream

    auto response = co_await etcd_.txn(guarded_put(key, current.mod_revision, updated));
    if (!response) co_return from_storage_error(response.error());
    if (response->succeeded) {
      metadata(updated)["resourceVersion"] = std::to_string(response->header.revision);
      co_return updated;
    }
  }
  co_return conflict(resource, name, kOptimisticLockMessage);
}

asio::awaitable<ApiResult<DeleteResult>> Store::remove(ResourceInfo resource, std::string ns,
                                                       std::string name, DeleteOptions options) {
  const std::string key = resource.key(ns, name);
  const bool is_pod = resource.group.empty() && resource.plural == "pods";
  for (const auto until = std::chrono::steady_clock::now() + kRetryFor; may_retry(until);) {
    auto found = co_await etcd_.range(key);
    if (!found) co_return from_storage_error(found.error());
    if (found->kvs.empty()) co_return not_found(resource, name);
    const etcd::KeyValue current = found->kvs.front();
    auto decoded = decode(current);
    if (!decoded) co_return decoded.error();
    json object = std::move(*decoded);

    std::string uid = meta_string(object, "uid");
    if (options.precondition_uid && *options.precondition_uid != uid)
      co_return precondition_failed(resource, name, "UID", *options.precondition_uid, uid);
    std::string rv = std::to_string(current.mod_revision);
    if (options.precondition_resource_version && *options.precondition_resource_version != rv)
      co_return precondition_failed(resource, name, "ResourceVersion", *options.precondition_resource_version,
                                    rv);

    // Grace period: only pods delete gracefully (pod strategy
    // CheckGracefulDelete, pkg/registry/core/pod/strategy.go): options, else
    // the pod's terminationGracePeriodSeconds, else 30; an unbound or
    // finished pod goes at once.
    int64_t grace = 0;
    if (is_pod) {
      grace = 30;
      const json& spec = object.contains("spec") ? object["spec"] : json::object();
      if (auto it = spec.find("terminationGracePeriodSeconds"); it != spec.end() && it->is_number_integer())
        grace = it->get<int64_t>();
      if (options.grace_period_seconds) grace = *options.grace_period_seconds;
      std::string phase = field_value(object, "status.phase");
      if (field_value(object, "spec.nodeName").empty() || phase == "Succeeded" || phase == "Failed")
        grace = 0;
      if (grace < 0) grace = 1;  // upstream: a negative grace period means the minimum, 1s
    }
    const auto now = clock_.wall_now();
    auto& meta = metadata(object);
    const bool deleting = meta.contains("deletionTimestamp");
    bool write = false;
    bool remove_now = false;
    // rest.BeforeDelete: a graceful deletion under way can only be
    // shortened, counted from when it started; otherwise the delete is
    // pending and changes nothing (finalizers included).
    const int64_t old_grace = meta_int(object, "deletionGracePeriodSeconds").value_or(0);
    const bool pending = deleting && old_grace > 0 && grace >= old_grace;
    if (!pending) {
      // updateForGracefulDeletionAndFinalizers: the garbage collector's
      // finalizers follow the options, then the deletion is marked.
      if (auto finalizers = gc_finalizers(object, options)) {
        meta["finalizers"] = std::move(*finalizers);
        if (meta["finalizers"].empty()) meta.erase("finalizers");
        write = true;
      }
      const bool finalizers = has_finalizers(object);
      if (deleting && old_grace > 0) {
        auto stamp = parse_timestamp(meta_string(object, "deletionTimestamp"));
        auto started = stamp ? *stamp - std::chrono::seconds(old_grace) : now;
        meta["deletionTimestamp"] = format_timestamp(started + std::chrono::seconds(grace));
        meta["deletionGracePeriodSeconds"] = grace;
        write = true;
        remove_now = grace == 0 && !finalizers;
      } else if (deleting) {
        // A non-graceful deletion held by finalizers (a terminating
        // namespace's final delete marks its grace 0 here, so the last
        // finalizer's removal deletes it).
        remove_now = !finalizers;
        if (finalizers && !meta.contains("deletionGracePeriodSeconds")) {
          meta["deletionGracePeriodSeconds"] = 0;
          write = true;
        }
      } else if (grace > 0) {
        meta["deletionTimestamp"] = format_timestamp(now + std::chrono::seconds(grace));
        meta["deletionGracePeriodSeconds"] = grace;
        write = true;
      } else if (finalizers) {
        meta["deletionTimestamp"] = format_timestamp(now);
        meta["deletionGracePeriodSeconds"] = 0;
        write = true;
      } else {
        remove_now = true;
      }
    }

    DeleteResult result;
    if (remove_now) {
      auto response = co_await etcd_.txn(guarded_delete(key, current.mod_revision));
      if (!response) co_return from_storage_error(response.error());
      if (!response->succeeded) continue;
      meta["resourceVersion"] = std::to_string(response->header.revision);
      result.object = std::move(object);
      result.removed = true;
      co_return result;
    }
    if (write) {
      auto response = co_await etcd_.txn(guarded_put(key, current.mod_revision, object));
      if (!response) co_return from_storage_error(response.error());
      if (!response->succeeded) continue;
      meta["resourceVersion"] = std::to_string(response->header.revision);
    }
    result.object = std::move(object);
    result.removed = false;
    co_return result;
  }
  co_return conflict(resource, name, kOptimisticLockMessage);
}

}  // namespace shakeout::api
