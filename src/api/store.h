#pragma once
// Storage and object semantics of the Kubernetes API over etcd: what
// upstream's generic registry (staging/src/k8s.io/apiserver/pkg/registry/
// generic/registry/store.go), its etcd3 storage (.../pkg/storage/etcd3/
// store.go) and the per-resource strategies do, without HTTP. The REST layer
// maps a request onto one call here and writes the ApiResult back.
//
// Storage layout (DESIGN §5): each object is one etcd key,
// ResourceInfo::key(ns, name), whose value is the object as JSON without
// metadata.resourceVersion. resourceVersion is the key's mod_revision; a
// list's resourceVersion is the etcd revision it was read at. Writes are
// transactions guarded like upstream's: create on mod_revision == 0,
// update and delete on mod_revision == the revision read.
//
// Threading: a Store lives on the executor of its etcd::Client and is not
// thread-safe. It keeps references to the client and the clock, which must
// outlive it. Every call is a coroutine whose arguments are taken by value.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>

#include "api/resource_registry.h"
#include "api/status.h"
#include "common/clock.h"
#include "etcd/client.h"

namespace shakeout::api {

namespace asio = boost::asio;

struct ListOptions {
  std::string label_selector;  // Kubernetes label selector syntax
  std::string field_selector;  // a=b,c!=d over the resource's selectable fields
  int64_t limit = 0;           // 0 = everything
  std::string continue_token;  // from a previous page's metadata.continue
};

// metav1.DeleteOptions, the parts storage acts on.
struct DeleteOptions {
  std::optional<int64_t> grace_period_seconds;
  std::optional<std::string> precondition_uid;
  std::optional<std::string> precondition_resource_version;
  // "Orphan", "Background" or "Foreground": which garbage-collection
  // finalizer (orphan, foregroundDeletion) the delete leaves on the object
  // for the garbage collector (gc_finalizers below).
  std::optional<std::string> propagation_policy;
  // The deprecated orphanDependents; set together with propagationPolicy it
  // is 422 Invalid, as upstream's ValidateDeleteOptions.
  std::optional<bool> orphan_dependents;

  // From a DeleteOptions JSON body ({"gracePeriodSeconds":..,
  // "preconditions":{"uid":..,"resourceVersion":..},"propagationPolicy":..});
  // a malformed body or unknown policy is 400 BadRequest.
  static ApiResult<DeleteOptions> from_json(const nlohmann::json& body);
};

inline constexpr const char* kFinalizerOrphan = "orphan";
inline constexpr const char* kFinalizerForeground = "foregroundDeletion";

// The object's metadata.finalizers after a delete with `options`, or nullopt
// when they do not change (upstream registry/generic/registry/store.go
// deletionFinalizersForGarbageCollection, with every resource's default
// policy Background): an explicit orphanDependents or propagationPolicy
// decides; else an orphan/foregroundDeletion finalizer already there stays.
std::optional<nlohmann::json> gc_finalizers(const nlohmann::json& object, const DeleteOptions& options);

struct DeleteResult {
  nlohmann::json object;  // the last state (removed) or the marked object
  bool removed = false;   // false: deletionTimestamp set, object still stored
};

// Which half of an object an update may change.
enum class UpdateTarget {
  kMain,    // everything but status (when the resource has a status subresource)
  kStatus,  // only status
};

// The object an update stores, before validation (pure; unit-tested):
// - kMain: `incoming` with creationTimestamp, deletionTimestamp,
//   deletionGracePeriodSeconds from `old`, uid from `old` when absent, status
//   from `old` when the resource has a status subresource, and generation =
//   old + 1 when spec changed (resources that track generation), else old's.
// - kStatus: `old` with `incoming`'s status (upstream status strategies and
//   ResetObjectMetaForStatus: nothing else changes).
nlohmann::json prepare_update(const ResourceInfo& resource, const nlohmann::json& old,
                              nlohmann::json incoming, UpdateTarget target);

// Upstream's generation rule: spec (compared as JSON) differs.
bool spec_changed(const nlohmann::json& old, const nlohmann::json& updated);

// Upstream names.SimpleNameGenerator: base truncated to 58 characters plus 5
// characters of utilrand's alphabet "bcdfghjklmnpqrstvwxz2456789".
std::string generate_name(std::string_view base, std::mt19937_64& random);
// A random (version 4) UUID, lower-case hex.
std::string random_uuid(std::mt19937_64& random);
// RFC 3339 in UTC with seconds, as metav1.Time marshals: "2024-06-21T01:19:02Z".
std::string format_timestamp(std::chrono::system_clock::time_point t);
std::optional<std::chrono::system_clock::time_point> parse_timestamp(std::string_view text);

class Store {
 public:
  // `seed` drives uid and generateName randomness (tests fix it).
  Store(etcd::Client& etcd, const Clock& clock, uint64_t seed);

  // Creates `object` in `ns` (ignored for cluster-scoped resources).
  // - kind/apiVersion are filled in, or 400 when they name another resource;
  //   a metadata.namespace other than `ns` is 400.
  // - 404 `namespaces "x" not found` when `ns` does not exist; 403 when it is
  //   terminating (upstream NamespaceLifecycle admission).
  // - metadata.generateName without name: name = generate_name(prefix),
  //   retried on collision (upstream RetryGenerateName).
  // - 422 Invalid for a bad name or labels; 409 AlreadyExists when taken.
  // - Sets uid, creationTimestamp, generation 1 (resources tracking it);
  //   clears deletion fields. A resourceVersion in the body is 500, as
  //   upstream ("resourceVersion should not be set on objects to be created").
  // Returns the stored object with its resourceVersion.
  asio::awaitable<ApiResult<nlohmann::json>> create(ResourceInfo resource, std::string ns,
                                                    nlohmann::json object);

  // The object with metadata.resourceVersion = its mod_revision, or 404.
  asio::awaitable<ApiResult<nlohmann::json>> get(ResourceInfo resource, std::string ns, std::string name);

  // A <Kind>List of the objects in `ns` (every namespace when empty) that
  // match both selectors, in key order. Items carry no kind/apiVersion, as
  // upstream's list responses. metadata.resourceVersion is the revision read
  // at; with a limit, metadata.continue (opaque) resumes the list at that
  // same revision and metadata.remainingItemCount is set when no selector
  // is used. Bad selectors or continue tokens: 400; a continue whose
  // revision was compacted: 410 Expired.
  asio::awaitable<ApiResult<nlohmann::json>> list(ResourceInfo resource, std::string ns, ListOptions options);

  // PUT: replaces the object's main part (see prepare_update). A
  // resourceVersion in the body must equal the stored one, else 409
  // Conflict; without one the update is unconditional (retried on races).
  // A uid other than the stored one is 409 (upstream's uid precondition).
  // 404 when absent; 400 when body name/namespace differ from the URL's.
  // An update that removes the last finalizer of an object being deleted
  // with grace 0 deletes it (upstream shouldDeleteDuringUpdate). An update
  // that changes nothing writes nothing and returns the stored object.
  asio::awaitable<ApiResult<nlohmann::json>> update(ResourceInfo resource, std::string ns, std::string name,
                                                    nlohmann::json object);
  // PUT on /status: as update(), but only status changes. 404 when the
  // resource has no status subresource.
  asio::awaitable<ApiResult<nlohmann::json>> update_status(ResourceInfo resource, std::string ns,
                                                           std::string name, nlohmann::json object);

  // Admission on an update: gets the object prepare_update built and the
  // stored one, returns the object to store (defaults applied) or an error
  // (a 422 from type validation). Runs again on every retry.
  using AdmitFn = std::function<ApiResult<nlohmann::json>(nlohmann::json updated, const nlohmann::json& old)>;
  // update() / update_status() with admission (an empty AdmitFn admits all).
  asio::awaitable<ApiResult<nlohmann::json>> update(ResourceInfo resource, std::string ns, std::string name,
                                                    nlohmann::json object, AdmitFn admit);
  asio::awaitable<ApiResult<nlohmann::json>> update_status(ResourceInfo resource, std::string ns,
                                                           std::string name, nlohmann::json object,
                                                           AdmitFn admit);

  // Builds the object to store from the stored one (which carries its
  // resourceVersion), or fails; see guaranteed_update.
  using TransformFn = std::function<ApiResult<nlohmann::json>(const nlohmann::json& current)>;
  // Upstream's GuaranteedUpdate (etcd3/store.go): read the object, transform
  // it, write the result guarded by the read mod_revision; when another
  // write won the race, read and transform again (for up to 60 s). A
  // transform error ends the update with that error; 404 when absent. The
  // result's metadata is validated (422). A result equal to the stored
  // object writes nothing; one that drops the last finalizer of an object
  // whose deletion is due (grace 0) deletes it (shouldDeleteDuringUpdate).
  // Patches, bindings and scale writes use this directly.
  asio::awaitable<ApiResult<nlohmann::json>> guaranteed_update(ResourceInfo resource, std::string ns,
                                                               std::string name, TransformFn transform);

  // DELETE (upstream rest.BeforeDelete and store.Delete):
  // - preconditions (uid, resourceVersion) that do not hold: 409 Conflict;
  // - pods bound to a node (spec.nodeName set, not Succeeded/Failed) are
  //   deleted gracefully: deletionTimestamp = now + grace,
  //   deletionGracePeriodSeconds = grace, where grace comes from the options,
  //   else spec.terminationGracePeriodSeconds, else 30. A later delete with a
  //   shorter grace shortens it; with grace 0 (and no finalizers) removes it.
  // - an object with finalizers is marked (deletionTimestamp = now, grace 0)
  //   and stays until an update clears its finalizers;
  // - anything else is removed (txn guarded by mod_revision).
  asio::awaitable<ApiResult<DeleteResult>> remove(ResourceInfo resource, std::string ns, std::string name,
                                                  DeleteOptions options);

 private:
  asio::awaitable<ApiResult<nlohmann::json>> update_impl(ResourceInfo resource, std::string ns,
                                                         std::string name, nlohmann::json object,
                                                         UpdateTarget target, AdmitFn admit);
  etcd::Client& etcd_;
  const Clock& clock_;
  std::mt19937_64 random_;
};

}  // namespace shakeout::api
