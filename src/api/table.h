#pragma once
// Server-side printing: the meta.k8s.io/v1 Table that `kubectl get` asks for
// (Accept: application/json;as=Table;v=v1;g=meta.k8s.io) and prints as is.
//
// Reproduces kube-apiserver's TableConvertor for the built-in resources
// (pkg/printers/storage/storage.go over pkg/printers/internalversion/
// printers.go, AddHandlers and print<Kind>), the generic fallback
// (staging/src/k8s.io/apiserver/pkg/registry/rest/table.go,
// DefaultTableConvertor) and the request-side handling of includeObject
// (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/response.go, asTable).
//
// Like the server, rows always carry every column (GenerateOptions{Wide:
// true}); kubectl hides the priority-1 columns unless asked for -o wide.
//
// Contract: pure functions of their arguments (`now` stands for the clock);
// objects are versioned JSON (core/v1, apps/v1, ...) as the store returns
// them. Missing fields are read as their zero value, never an error.

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "api/resource_registry.h"

namespace shakeout::api {

// ?includeObject=None|Metadata|Object (metav1.IncludeObjectPolicy).
enum class IncludeObject { kNone, kMetadata, kObject };

// Parses the includeObject query value ("" = Metadata, the server's default);
// nullopt for any other value (upstream answers 400 "unrecognized
// includeObject value").
std::optional<IncludeObject> parse_include_object(std::string_view value);

// The Table version ("v1" or "v1beta1") an Accept header asks for, when its
// most preferred clause that the server can serve as JSON is an
// as=Table;g=meta.k8s.io one; nullopt when it prefers the plain object
// (application/json, application/*, */*) or names no Table at all. Clauses
// are ranked by q (stable), clauses for other encodings or other `as`
// targets are skipped, as upstream's negotiation skips what it cannot serve.
std::optional<std::string> accepted_table_version(std::string_view accept_header);

// True when an Accept header asks for as=Table (accepted_table_version).
bool accepts_table(std::string_view accept_header);

// The columnDefinitions (name, type, format, description, priority) of
// `resource`'s upstream printer, or DefaultTableConvertor's "Name" /
// "Created At" for a resource without one.
nlohmann::json table_column_definitions(const ResourceInfo& resource);

// One row {"cells": [...], "object": ...} (plus "conditions" for a finished
// pod, as printPod sets them). The object is a meta.k8s.io/v1
// PartialObjectMetadata {kind, apiVersion, metadata} for kMetadata, the whole
// object with kind/apiVersion filled in for kObject, null for kNone.
nlohmann::json table_row(const ResourceInfo& resource, const nlohmann::json& object,
                         std::chrono::system_clock::time_point now, IncludeObject include);

// A complete Table for a <Kind>List (is_list: Store::list's shape, items
// without kind/apiVersion) or for one object. metadata carries the list's
// resourceVersion, continue and remainingItemCount (the object's
// resourceVersion for a single object), each only when set.
// `no_headers` (TableOptions.noHeaders, which upstream sets for every watch
// event after the first) leaves columnDefinitions null.
nlohmann::json to_table(const ResourceInfo& resource, const nlohmann::json& list_or_object, bool is_list,
                        std::chrono::system_clock::time_point now, IncludeObject include,
                        bool no_headers = false);

// Upstream duration.HumanDuration (k8s.io/apimachinery/pkg/util/duration):
// "90s", "5m30s", "15m", "3h20m", "10h", "3d4h", "45d", "2y10d", "9y";
// "0s" for -1s, "<invalid>" below that.
std::string human_duration(std::chrono::seconds d);

}  // namespace shakeout::api
