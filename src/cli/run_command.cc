// `shakeout run PATH...`: run experiment files (or every *.yaml, *.yml and
// *.json in a directory), one after another, and report.
//
// Every file is parsed and validated first; one bad file stops the run
// before anything starts (exit 2). Each experiment then runs on fresh
// clusters, and its files go to <output>/<experiment>/: report.json (the
// journal), report.html (its timeline chart and tables) and metrics.prom;
// <output>/junit.xml covers them all. Exit 0 when
// every experiment passed, 1 when one failed, 2 on a setup failure, 130 on
// Ctrl-C (the faults are undone and the clusters removed first).

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/async.h"
#include "experiment/parser.h"
#include "metrics/html_report.h"
#include "metrics/report.h"
#include "net/http_client.h"
#include "runner/live_metrics.h"
#include "runner/runner.h"

namespace shakeout::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct RunFlags {
  std::vector<std::string> paths;
  std::string output = "shakeout-results";
  std::string pushgateway;
  std::string metrics_address;
  bool quiet = false;
};

// The experiment files a path names, in name order for a directory.
std::vector<fs::path> expand(const std::string& path) {
  std::vector<fs::path> files;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return {fs::path(path)};
  for (const auto& entry : fs::directory_iterator(path, ec)) {
    const auto extension = entry.path().extension();
    if (entry.is_regular_file() && (extension == ".yaml" || extension == ".yml" || extension == ".json"))
      files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

bool write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

// PUT the metrics to <url>/metrics/job/shakeout (replacing the group).
asio::awaitable<Status> push(std::string url, std::string body) {
  auto endpoint = net::parse_endpoint(url);
  if (!endpoint.ok()) co_return endpoint.error();
  const net::HttpClientConfig http_config;  // explicit: g++ 12 frees a defaulted one twice in a coroutine
  net::HttpClient http(co_await asio::this_coro::executor, http_config);
  net::HttpRequest request;
  request.method = "PUT";
  request.target = "/metrics/job/shakeout";
  request.content_type = "text/plain; version=0.0.4";
  request.body = std::move(body);
  auto response = co_await http.request(*endpoint, std::move(request), Millis(10000));
  if (!response.ok()) co_return response.error();
  if (response->status >= 300)
    co_return make_error(ErrorCode::kProtocol,
                         fmt::format("answered {}: {}", response->status, response->body));
  co_return Status{};
}

int run_experiments(const RunFlags& flags) {
  std::vector<experiment::Experiment> experiments;
  bool bad = false;
  for (const auto& path : flags.paths) {
    const auto files = expand(path);
    if (files.empty()) {
      std::fprintf(stderr, "shakeout: error: %s: no experiment files (*.yaml, *.yml, *.json)\n",
                   path.c_str());
      bad = true;
    }
    for (const auto& file : files) {
      auto parsed = experiment::parse_experiment_file(file);
      for (const auto& error : parsed.errors) std::fprintf(stderr, "%s\n", error.describe().c_str());
      if (!parsed.experiment) {
        bad = true;
      } else if (auto reason = runner::unsupported(*parsed.experiment); !reason.empty()) {
        std::fprintf(stderr, "%s\n", reason.c_str());
        bad = true;
      } else {
        experiments.push_back(std::move(*parsed.experiment));
      }
    }
  }
  if (bad) return kExitUsage;

  std::error_code ec;
  fs::create_directories(flags.output, ec);
  if (ec) {
    std::fprintf(stderr, "shakeout: error: --output %s: %s\n", flags.output.c_str(), ec.message().c_str());
    return kExitUsage;
  }

  asio::io_context io;
  runner::RunOptions options;
  options.runtime_root = cluster::default_runtime_root();
  options.output_dir = flags.output;
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  if (!flags.quiet)
    options.progress = [tty](const std::string& line) {
      // On a terminal one line rewritten in place; otherwise one per phase.
      std::fprintf(stderr, tty ? "\r\033[K%s" : "%s\n", line.c_str());
      std::fflush(stderr);
    };
  // The live metrics count a repeat's last samples before it is gone.
  std::unique_ptr<runner::LiveMetrics> live;
  options.repeat_ending = [&live] {
    if (live) live->catch_up();
  };
  runner::Runner runner(io, options);
  if (!flags.metrics_address.empty()) {
    live = std::make_unique<runner::LiveMetrics>(io.get_executor(), runner);
    if (auto started = live->start(flags.metrics_address); !started) {
      std::fprintf(stderr, "shakeout: error: %s\n", started.error().message.c_str());
      return kExitUsage;
    }
    if (!flags.quiet) std::fprintf(stderr, "metrics on http://%s/metrics\n", flags.metrics_address.c_str());
  }
  // The first signal aborts the run (faults undone, clusters removed); a
  // second one exits at once (the components die with us by PDEATHSIG;
  // `shakeout down --all` removes the run dirs left).
  bool interrupted = false;
  asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> on_signal;
  on_signal = [&](const boost::system::error_code& error, int) {
    if (error) return;
    if (interrupted) std::_Exit(kExitInterrupted);
    interrupted = true;
    std::fprintf(stderr, "\nshakeout: interrupted; undoing the faults and removing the cluster\n");
    runner.abort();
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);

  std::vector<json> journals;
  int exit_code = kExitOk;
  for (const auto& experiment : experiments) {
    if (interrupted) break;
    json journal = run_blocking(io, runner.run(experiment));
    if (tty && !flags.quiet) std::fprintf(stderr, "\r\033[K");
    std::fputs(metrics::summary_table(journal).c_str(), stdout);
    std::fflush(stdout);
    const fs::path dir = fs::path(flags.output) / experiment.name;
    fs::create_directories(dir, ec);
    write_file(dir / "report.json", journal.dump(2) + "\n");
    write_file(dir / "metrics.prom", metrics::open_metrics({journal}));
    write_file(dir / "report.html", metrics::html_report(journal));
    bool setup_failed = false;
    for (const auto& repeat : journal["repeats"])
      setup_failed = setup_failed || repeat.contains("setupError");
    if (setup_failed) {
      exit_code = kExitUsage;
    } else if (!journal.value("passed", false) && exit_code == kExitOk) {
      exit_code = 1;
    }
    if (live) live->experiment_done(journal);
    journals.push_back(std::move(journal));
  }
  signals.cancel();
  write_file(fs::path(flags.output) / "junit.xml", metrics::junit_xml(journals));
  if (!flags.pushgateway.empty()) {
    auto pushed = run_blocking(io, push(flags.pushgateway, metrics::open_metrics(journals)));
    if (!pushed) {
      std::fprintf(stderr, "shakeout: error: --pushgateway %s: %s\n", flags.pushgateway.c_str(),
                   pushed.error().message.c_str());
      if (exit_code == kExitOk) exit_code = kExitUsage;
    }
  }
  if (live) run_blocking(io, live->stop());
  std::printf("results in %s\n", flags.output.c_str());
  if (interrupted) return kExitInterrupted;
  return exit_code;
}

}  // namespace

RoleCommand add_run_command(CLI::App& app) {
  auto flags = std::make_shared<RunFlags>();
  RoleCommand role;
  auto* cmd = app.add_subcommand("run", "Run experiment files (or directories of them) and report");
  cmd->add_option("paths", flags->paths, "experiment files or directories")->required();
  cmd->add_option("-o,--output", flags->output,
                  "where report.json, report.html, metrics.prom and junit.xml go")
      ->capture_default_str();
  cmd->add_option("--pushgateway", flags->pushgateway,
                  "push the metrics to this Pushgateway (http://host:port)");
  cmd->add_option("--metrics-address", flags->metrics_address,
                  "serve /metrics on HOST:PORT while running, for Prometheus to scrape");
  cmd->add_flag("-q,--quiet", flags->quiet, "no progress lines");
  role.command = cmd;
  role.run = [flags] { return run_experiments(*flags); };
  return role;
}

}  // namespace shakeout::cli
