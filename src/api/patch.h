#pragma once
// PATCH semantics of kube-apiserver as a pure library: JSON patch (RFC 6902),
// JSON merge patch (RFC 7386), strategic merge patch and apply patches, with
// the error codes and wording of upstream's patch handler
// (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go), its
// libraries (gopkg.in/evanphx/json-patch.v4, apimachinery
// pkg/util/strategicpatch and pkg/util/mergepatch) and its decoders
// (sigs.k8s.io/json, sigs.k8s.io/yaml).
//
// Contract: every function is pure (no I/O, no globals but immutable tables)
// and safe to call from any thread. Inputs are never trusted: malformed
// bodies come back as ApiError values, never as exceptions.
//
// The server's default fieldValidation is assumed ("Warn" since 1.27): bodies
// are first decoded strictly, so a malformed JSON or merge patch reads
// "error decoding patch: <Go decoder error>", as upstream's does.
//
// Deviations from upstream, on purpose:
// - The result is JSON, not a typed object: fields unknown to Kubernetes are
//   kept (the caller's validation decides), but strategic-merge directive
//   keys ($patch, $retainKeys, $setElementOrder/..,
//   $deleteFromPrimitiveList/..) that upstream's typed decoding would drop are
//   removed from the result.
// - Strategic merge patch metadata (patchStrategy / patchMergeKey tags of
//   k8s.io/api) is known for the types shakeout serves (see kPatchMeta in
//   patch.cc); any other field behaves as in a merge patch (maps merge, lists
//   are replaced).
// - Apply (application/apply-patch+yaml) is "create or merge": the applied
//   configuration is strategic-merged into the live object. There is no
//   managedFields bookkeeping, so no field ownership and no 409 conflicts
//   between field managers, and fields a manager stops applying are not
//   removed. apiVersion must still match (upstream's 400 otherwise).

#include <utility>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "api/resource_registry.h"
#include "api/status.h"
#include "common/result.h"

namespace shakeout::api {

enum class PatchType { kJsonPatch, kMergePatch, kStrategicMergePatch, kApplyPatch };

// From a Content-Type header value (parameters such as charset ignored,
// case-insensitive): application/json-patch+json,
// application/merge-patch+json, application/strategic-merge-patch+json,
// application/apply-patch+yaml. nullopt otherwise.
std::optional<PatchType> patch_type_from_content_type(std::string_view content_type);

// The media type of `type`, e.g. "application/merge-patch+json".
std::string_view content_type_of(PatchType type);

// 415 UnsupportedMediaType Status for a PATCH with another content type,
// worded as upstream's negotiation.NewUnsupportedMediaTypeError (it lists the
// accepted types; the offending type is not echoed).
ApiError unsupported_media_type(std::string_view content_type);

// Applies `body` (the raw request body) to `original` (the stored object as
// JSON, with metadata). Returns the patched object, not yet validated or
// stored. Errors as upstream's handler returns them:
//   malformed body                      400 BadRequest (Go decoder wording)
//   json patch with > 10000 operations  413 RequestEntityTooLarge
//   json patch op failing (test, path)  422 Invalid, "the server rejected our
//                                       request due to an error in our request"
//   merge patch "null"                  400 "Invalid JSON Patch"
//   strategic directive misuse          400 (mergepatch.ErrBadPatchFormat...)
//   strategic list of lists             422 Invalid (generic wording)
//   other strategic failures (e.g. a    500, no reason, the library's message
//   list item without its merge key)    (upstream's ErrorToAPIStatus default)
//   apply with another apiVersion       400 "Incorrect version specified ..."
// For kApplyPatch, a null `original` means "no live object": the decoded
// body is returned as the object to create.
ApiResult<nlohmann::json> apply_patch(PatchType type, const ResourceInfo& resource,
                                      const nlohmann::json& original, std::string_view body);

// YAML (the first document) to JSON as sigs.k8s.io/yaml converts it
// (go-yaml v2 resolution: plain ints/floats become numbers, plain
// true/false/yes/no/on/off become booleans, plain ~/null/empty become null,
// quoted scalars stay strings; map keys become strings). Errors name the
// line and column: "yaml: line 3, column 7: <parser message>".
Result<nlohmann::json> yaml_to_json(std::string_view text);

// Building blocks, exposed for tests and other callers.

// RFC 6902 as gopkg.in/evanphx/json-patch.v4 applies it (including its
// quirks: "replace" of a missing object key adds it, negative array indices
// count from the end). The error is the library's message, e.g.
// "testing value /metadata/name failed: test failed".
Result<nlohmann::json> json_patch(nlohmann::json doc, const nlohmann::json& operations);

// RFC 7386 as evanphx/json-patch's MergePatch applies it: null deletes,
// objects merge recursively, anything else (arrays included) replaces, and
// nulls inside newly added values are pruned.
nlohmann::json merge_patch(nlohmann::json doc, const nlohmann::json& patch);

// Strategic merge patch of `patch` (a JSON object) into `original`, with the
// patch metadata of `resource`'s kind, errors mapped to statuses as above.
ApiResult<nlohmann::json> strategic_merge_patch(const ResourceInfo& resource, nlohmann::json original,
                                                nlohmann::json patch);

// The error Go's encoding/json reports for a syntactically invalid `text`
// ("invalid character 'x' looking for beginning of value", "unexpected end
// of JSON input"), or nullopt when `text` is valid JSON.
std::optional<std::string> go_json_syntax_error(std::string_view text);

}  // namespace shakeout::api
