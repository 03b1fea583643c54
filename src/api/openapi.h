#pragma once
// OpenAPI v3 documents as kube-apiserver serves them under /openapi/v3, and
// server-side field validation (?fieldValidation=Strict|Warn|Ignore).
//
// What clients need (measured with kubectl 1.27-1.33 against a mock server):
// - `kubectl create|apply -f` (default --validate=strict) GETs /openapi/v3
//   (Accept "application/json, */*"), then the serverRelativeURL of the
//   object's group-version (Accept "application/json", ?hash kept). It looks
//   for a PATCH operation whose x-kubernetes-group-version-kind is the
//   object's GVK and which lists a `fieldValidation` parameter
//   (cli-runtime/pkg/resource/query_param_verifier_v3.go). If found, it sends
//   ?fieldValidation=Strict and leaves unknown/duplicate fields to the server;
//   otherwise (or on any v3 error) it falls back to /openapi/v2.
// - kubectl 1.27 and 1.28 also GET /openapi/v2 (protobuf) before anything
//   else whenever validation is on, and fail if it is not served
//   (kubectl/pkg/cmd/util/factory_client_access.go Validator); 1.29+ only
//   need v3. See openapi_v2_stub_protobuf().
// - `kubectl apply` on an existing object computes its strategic merge patch
//   from the v3 document when the PATCH operation accepts
//   application/strategic-merge-patch+json and a components schema carries
//   the kind's x-kubernetes-group-version-kind (list form); every field of
//   the manifest must then be in the schema, else it falls back to v2
//   (kubectl/pkg/cmd/apply/patcher.go, strategicpatch PatchMetaFromOpenAPIV3).
//
// Contract: documents are built once per registry and cached for the life
// of the program (registries are immutable); all functions are thread-safe.

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/resource_registry.h"
#include "api/status.h"

namespace shakeout::api {

// One served OpenAPI document, serialized once.
struct OpenApiV3Document {
  std::string body;  // compact JSON
  // Upper-case hex hash of `body`: the ETag and the ?hash= clients cache by.
  // (Upstream uses SHA-512; clients treat it as opaque.)
  std::string hash;
};

// GET /openapi/v3: {"paths": {"api": ..., "api/v1": {"serverRelativeURL":
// "/openapi/v3/api/v1?hash=<hash>"}, "apis": ..., "apis/apps": ...,
// "apis/apps/v1": ...}} for the registry's group-versions.
nlohmann::json openapi_v3_index(const ResourceRegistry& registry);
// GET /openapi/v3/<path> (path "api/v1", "apis/apps/v1", "api", "apis",
// "apis/apps"); nullopt for an unknown path.
std::optional<nlohmann::json> openapi_v3_document(const ResourceRegistry& registry, std::string_view path);
// The cached serialized forms of the two above: path "" is the index. The
// pointer lives as long as the program. Serve body as application/json with
// ETag "\"<hash>\""; when the request carries ?hash=<hash>, upstream adds
// "Cache-Control: public, immutable", "Expires: <now + 1 year>" and
// "Vary: Accept", and answers a stale ?hash with 301 to the current
// serverRelativeURL (kube-openapi pkg/handler3/handler.go).
const OpenApiV3Document* openapi_v3_serialized(const ResourceRegistry& registry, std::string_view path);

// Body for GET /openapi/v2 (Accept application/com.github.proto-openapi.spec.v2@v1.0+protobuf):
// a valid but empty gnostic OpenAPIv2 Document in protobuf ({swagger: "2.0",
// info: {title: "Kubernetes", version}}), enough for kubectl 1.27/1.28's
// eager v2 download; they then take field validation from v3. Serve it with
// Content-Type "application/octet-stream" (Go's mime parser rejects the '@'
// of the Accept type, and kubectl then reports an internal error).
std::string openapi_v2_stub_protobuf();

// Server-side field validation: the unknown fields of `object` against the
// schema of `resource`'s kind, as paths in upstream's form
// ("spec.template.spec.containers[0].foo", "metadata.labelz"), depth-first
// in key order. Free-form parts (labels, annotations, nodeSelector,
// resources.limits, ...) accept any key. Empty = valid.
std::vector<std::string> unknown_fields(const ResourceInfo& resource, const nlohmann::json& object);
// The same for the body of a request to `subresource` of `resource`:
// "status" and "" are decoded as the resource's kind, "scale" as
// autoscaling/v1 Scale, "eviction" as policy/v1 Eviction, "binding" as
// v1 Binding.
std::vector<std::string> unknown_fields(const ResourceInfo& resource, std::string_view subresource,
                                        const nlohmann::json& object);
// Keys that occur twice in one JSON object of `body`, as paths
// ("metadata.name"); empty also when `body` is not valid JSON.
std::vector<std::string> duplicate_fields(std::string_view body);
// The strict decoding errors, worded as upstream words each one:
// `duplicate field "metadata.name"` for each duplicate path, then
// `unknown field "spec.foo"` for each unknown path. Under
// fieldValidation=Warn each becomes one Warning header (`299 - "<text>"`).
std::vector<std::string> strict_decoding_messages(const std::vector<std::string>& unknown,
                                                  const std::vector<std::string>& duplicate = {});
// 400 BadRequest for a create/update body under fieldValidation=Strict
// (apiserver endpoints/handlers/create.go, transformDecodeError):
// `Pod in version "v1" cannot be handled as a Pod: strict decoding error:
// unknown field "spec.foo", unknown field "spec.bar"`.
ApiError strict_decoding_error(const ResourceInfo& resource, const std::vector<std::string>& unknown,
                               const std::vector<std::string>& duplicate = {});
// The same for a body sent to `subresource` (worded with the body's kind:
// `Scale in version "v1" cannot be handled as a Scale: ...`).
ApiError strict_decoding_error(const ResourceInfo& resource, std::string_view subresource,
                               const std::vector<std::string>& unknown,
                               const std::vector<std::string>& duplicate);
// 422 Invalid for a patch under fieldValidation=Strict whose result (the
// patched object, serialized as `patched`) has unknown fields
// (endpoints/handlers/patch.go): ` "" is invalid: patch: Invalid value:
// "<patched>": strict decoding error: ...`, one FieldValueInvalid cause on
// field "patch".
ApiError strict_patch_error(const std::string& patched, const std::vector<std::string>& unknown,
                            const std::vector<std::string>& duplicate = {});

}  // namespace shakeout::api
