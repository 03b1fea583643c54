#pragma once
// What upstream kube-apiserver does to a create or update body between
// decoding it and storing it, for the resources shakeout serves:
//
//   body -> apply_defaults -> admit_create / admit_update -> validate_object -> Store
//           (scheme defaults)  (strategy + admission plugins)  (type validation)
//
// - apply_defaults: the versioned defaulting functions
//   (k8s.io/kubernetes/pkg/apis/core/v1/defaults.go, pkg/apis/apps/v1/defaults.go
//   and the generated SetObjectDefaults_* in zz_generated.defaults.go), plus
//   the defaults the service registry fills in on every write (ipFamilies,
//   ipFamilyPolicy; pkg/registry/core/service/storage/alloc.go).
// - admit_create: the strategies' PrepareForCreate (status reset, namespace
//   finalizer) and the mutating admission plugins that act on create
//   (DefaultTolerationSeconds, Priority, ServiceAccount).
// - validate_object: pkg/apis/core/validation and pkg/apis/apps/validation,
//   restricted to the fields our controllers, scheduler, kubelet and proxy
//   read, worded as upstream (field paths and messages), so a 422 reads the
//   same as a real cluster's. Object metadata is validated by the Store
//   (validate_object_meta), not here.
//
// All functions are pure and work on JSON of any shape: a field of the wrong
// JSON type is left alone by defaulting and never crashes validation.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/resource_registry.h"
#include "api/status.h"

namespace shakeout::api {

struct AdmissionConfig {
  int64_t default_not_ready_toleration_seconds = 300;    // --default-not-ready-toleration-seconds
  int64_t default_unreachable_toleration_seconds = 300;  // --default-unreachable-toleration-seconds
};

// Upstream defaulting applied to a create or update body of `resource`.
// Idempotent: defaulting a defaulted object changes nothing; explicit values
// are kept. Resources without upstream defaults (Lease, Event,
// EndpointSlice) are left unchanged.
void apply_defaults(const ResourceInfo& resource, nlohmann::json& object);

// Create-time mutation, after apply_defaults:
// - strategies' PrepareForCreate: pods get status {phase: Pending, qosClass}
//   (pkg/registry/core/pod/strategy.go, qos from pkg/apis/core/helper/qos);
//   namespaces get the "kubernetes" finalizer and status.phase Active;
//   deployments, replicasets and services start with an empty status.
// - DefaultTolerationSeconds (plugin/pkg/admission/defaulttolerationseconds):
//   pods get node.kubernetes.io/not-ready and node.kubernetes.io/unreachable
//   Exists/NoExecute tolerations with the configured seconds, unless a
//   toleration already covers that taint (same key or empty key, NoExecute
//   or empty effect).
// - Priority (plugin/pkg/admission/priority): spec.priority from
//   spec.priorityClassName (0 without one; the two built-in system classes
//   are known) and preemptionPolicy PreemptLowerPriority.
// - ServiceAccount (plugin/pkg/admission/serviceaccount): serviceAccountName
//   "default" when none is given. No token volume is mounted (shakeout has
//   no service account tokens).
// Returns a Forbidden detail when upstream admission would reject the
// object (e.g. `no PriorityClass with name x was found`); the REST layer
// answers api::forbidden(resource, name, detail) then.
std::optional<std::string> admit_create(const ResourceInfo& resource, nlohmann::json& object,
                                        const AdmissionConfig& config);

// Update-time mutation: DefaultTolerationSeconds also runs on pod updates
// (it registers for Create and Update), so an update that drops the
// default tolerations gets them back.
void admit_update(const ResourceInfo& resource, nlohmann::json& object, const AdmissionConfig& config);

// Type validation; `old` is null on create. Includes immutable fields on
// update: pod spec except containers[*].image, initContainers[*].image,
// activeDeadlineSeconds, tolerations (additions) and
// terminationGracePeriodSeconds; service clusterIP once set; deployment and
// replicaset selectors. Causes become a 422 via api::invalid.
std::vector<Cause> validate_object(const ResourceInfo& resource, const nlohmann::json& object,
                                   const nlohmann::json* old);

// The quality of service class upstream assigns a pod (Guaranteed,
// Burstable or BestEffort) from its containers' resources.
std::string pod_qos_class(const nlohmann::json& pod);

// Upstream ParseImageName's tag rule: the image's tag, "latest" when it has
// neither tag nor digest, "" when it has only a digest.
std::string image_tag(const std::string& image);

}  // namespace shakeout::api
