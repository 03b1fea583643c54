#pragma once
// Experiment files (YAML or JSON, DESIGN §6) into an Experiment plan:
//
//   text ──► yaml-cpp nodes (line:column) ──► checked field by field ──► Experiment
//                                               │
//                                               └► every error, each with
//                                                  file:line:column and field
//
// The parser collects every error it can find rather than stopping at the
// first, so one `shakeout validate` run shows all that is wrong with a file.
// The format is documented field by field in docs/experiments.md.
// Pure functions of their input (and of the workload files they read); safe
// to call from any thread.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "experiment/experiment.h"

namespace shakeout::experiment {

struct ParseError {
  SourceLocation where;  // line/column 0 when unknown (an unreadable file)
  std::string field;     // dotted path, "spec.probes[1].rate"; empty for syntax errors
  std::string message;

  // "exp.yaml:12:9: spec.faults[0].target: unknown component 'etcdd' (...)"
  std::string describe() const;
};

struct ParseResult {
  std::optional<Experiment> experiment;  // set iff `errors` is empty
  std::vector<ParseError> errors;        // in file order (manifest files' errors last)
};

// Reads and parses `file`; an unreadable file gives one error naming it.
// Workload paths resolve against the file's directory.
ParseResult parse_experiment_file(const std::filesystem::path& file);

// Parses `text` as if read from `file_name` (used in messages and as
// Experiment::file); workload paths resolve against `base_dir`.
ParseResult parse_experiment_text(std::string_view text, const std::string& file_name,
                                  const std::filesystem::path& base_dir);

}  // namespace shakeout::experiment
