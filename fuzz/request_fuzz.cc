// Fuzz target for what the API server parses from a request: the path
// (routing), the query (percent-decoding, selectors, integers), and the body
// (JSON, YAML, DeleteOptions, the four patch types against a stored object,
// admission and field validation, Table conversion of the result).
//
// LLVMFuzzerTestOneInput is libFuzzer's entry point: with clang,
//   clang++ -fsanitize=fuzzer,address ... fuzz/request_fuzz.cc <libs>
// builds a coverage-guided fuzzer. Without it (g++), fuzz/driver.cc runs the
// same target over a seed corpus and seeded random mutations of it; ctest
// runs that driver briefly under the sanitizer build.
//
// Input layout: the bytes up to the first '\n' are the path and query, the
// next byte picks the body's content type, the rest is the body.

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/admission.h"
#include "api/openapi.h"
#include "api/patch.h"
#include "api/resource_registry.h"
#include "api/selector.h"
#include "api/store.h"
#include "api/table.h"
#include "apiserver/route.h"
#include "net/http_server.h"

namespace {

using nlohmann::json;
using namespace shakeout;

// A stored pod the patches apply to.
const json& stored_pod() {
  static const json pod = json::parse(R"({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "web-1", "namespace": "default", "uid": "u", "resourceVersion": "7",
                 "labels": {"app": "web"}, "finalizers": ["a"]},
    "spec": {"containers": [{"name": "app", "image": "shakeout/app",
                             "ports": [{"containerPort": 80}], "env": [{"name": "A", "value": "1"}]}],
             "tolerations": [{"key": "k", "operator": "Exists"}]},
    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})");
  return pod;
}

void exercise_query(const api::ResourceInfo& resource, std::string_view query) {
  auto params = net::parse_query(query);
  if (!params) return;
  for (const auto& [key, value] : *params) {
    if (key == "labelSelector") {
      auto selector = api::LabelSelector::parse(value);
      if (selector) (void)selector->matches_object(stored_pod());
    } else if (key == "fieldSelector") {
      auto selector = api::FieldSelector::parse(value, resource);
      if (selector) (void)selector->matches_object(stored_pod());
    } else if (key == "includeObject") {
      (void)api::parse_include_object(value);
    }
  }
}

void exercise_body(const api::ResourceInfo& resource, uint8_t selector, std::string_view body) {
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  switch (selector % 6) {
    case 0: {
      json object = json::parse(body, nullptr, false);
      if (object.is_discarded()) return;
      (void)api::DeleteOptions::from_json(object);
      if (!object.is_object()) return;
      api::apply_defaults(resource, object);
      api::AdmissionConfig config;
      api::admit_create(resource, object, config);
      (void)api::validate_object(resource, object, nullptr);
      (void)api::validate_object(resource, object, &stored_pod());
      (void)api::unknown_fields(resource, object);
      (void)api::table_row(resource, object, now, api::IncludeObject::kMetadata);
      return;
    }
    case 1: {
      auto object = api::yaml_to_json(body);
      if (object && object->is_object()) (void)api::unknown_fields(resource, *object);
      return;
    }
    default: {
      static constexpr api::PatchType kTypes[] = {api::PatchType::kJsonPatch, api::PatchType::kMergePatch,
                                                  api::PatchType::kStrategicMergePatch,
                                                  api::PatchType::kApplyPatch};
      auto patched = api::apply_patch(kTypes[selector % 4], resource, stored_pod(), body);
      if (patched && patched->is_object()) {
        api::apply_defaults(resource, *patched);
        (void)api::validate_object(resource, *patched, &stored_pod());
        (void)api::prepare_update(resource, stored_pod(), *patched, api::UpdateTarget::kMain);
        (void)api::table_row(resource, *patched, now, api::IncludeObject::kObject);
      }
      return;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto newline = input.find('\n');
  std::string_view target = input.substr(0, newline);
  std::string_view rest = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
  const uint8_t selector = rest.empty() ? 0 : static_cast<uint8_t>(rest.front());
  std::string_view body = rest.empty() ? rest : rest.substr(1);

  const auto question = target.find('?');
  auto path = net::percent_decode(target.substr(0, question), false);
  const auto& registry = api::ResourceRegistry::builtin();
  const api::ResourceInfo* resource = registry.by_plural("", "pods");
  if (path) {
    if (auto route = apiserver::parse_route(*path, registry)) resource = route->resource;
  }
  if (question != std::string_view::npos) exercise_query(*resource, target.substr(question + 1));
  exercise_body(*resource, selector, body);
  return 0;
}
