#include "runner/runner.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <csignal>
#include <map>
#include <memory>
#include <set>

#include "api/resource_registry.h"
#include "cluster/cluster.h"
#include "common/log.h"
#include "faults/link.h"
#include "metrics/control_loop.h"
#include "metrics/measure.h"
#include "metrics/timeline.h"
#include "probes/pod_tracker.h"
#include "probes/probe.h"
#include "runner/injector.h"

namespace shakeout::runner {
namespace {

using experiment::Experiment;
using json = nlohmann::json;

double ms(Millis d) {
  return static_cast<double>(d.count());
}

double ms_from(SteadyTime origin, SteadyTime t) {
  return std::chrono::duration<double, std::milli>(t - origin).count();
}

std::string where(const experiment::SourceLocation& location) {
  return fmt::format("{}:{}:{}", location.file, location.line, location.column);
}

asio::awaitable<void> sleep_for(Millis duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(duration);
  boost::system::error_code ignored;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
}

// The resource of a manifest, by apiVersion and kind.
const api::ResourceInfo* resource_of(const json& object) {
  const std::string api_version = object.value("apiVersion", "");
  const auto slash = api_version.find('/');
  const std::string group = slash == std::string::npos ? "" : api_version.substr(0, slash);
  return api::ResourceRegistry::builtin().by_kind(group, object.value("kind", ""));
}

json new_journal(const Experiment& experiment) {
  json journal;
  journal["experiment"] = experiment.name;
  journal["file"] = experiment.file.string();
  journal["description"] = experiment.description;
  journal["seed"] = experiment.seed;
  journal["repeats"] = json::array();
  return journal;
}

json steady_result(const json& failures) {
  json out;
  out["passed"] = failures.empty();
  out["failures"] = failures;
  return out;
}

// Repeats give median / p95 / min / max of each probe's measurements (every
// probe a repeat measured, a replicas probe's runtime view included).
json summarize_repeats(const json& repeats) {
  json summary = json::object();
  std::set<std::string> names;
  for (const auto& one : repeats)
    if (one.contains("probes"))
      for (const auto& [name, unused] : one["probes"].items()) names.insert(name);
  for (const auto& name : names) {
    std::vector<double> recover, downtime, impact, availability;
    for (const auto& one : repeats) {
      if (!one.contains("probes") || !one["probes"].contains(name)) continue;
      const json& measured = one["probes"][name];
      availability.push_back(measured.value("availability", 1.0));
      downtime.push_back(measured.value("downtimeMs", 0.0));
      if (measured["timeToRecoverMs"].is_number())
        recover.push_back(measured["timeToRecoverMs"].get<double>());
      if (measured["timeToImpactMs"].is_number()) impact.push_back(measured["timeToImpactMs"].get<double>());
    }
    auto stats = [](std::vector<double> values) {
      const auto s = metrics::summarize(std::move(values));
      return json{{"count", s.count}, {"min", s.min}, {"median", s.median}, {"p95", s.p95}, {"max", s.max}};
    };
    summary[name] = {{"timeToRecoverMs", stats(recover)},
                     {"timeToImpactMs", stats(impact)},
                     {"downtimeMs", stats(downtime)},
                     {"availability", stats(availability)}};
  }
  return summary;
}

// The first fault's control loop, step by step over the repeats.
json summarize_control_loops(const json& repeats) {
  json loops = json::object();
  for (const char* step : metrics::kControlLoopSteps) {
    const std::string key = std::string(step) + "Ms";
    std::vector<double> values;
    for (const auto& one : repeats) {
      const json& faults = one.contains("faults") ? one["faults"] : json::array();
      if (!faults.empty() && faults[0].contains("controlLoop") && faults[0]["controlLoop"].contains(key))
        values.push_back(faults[0]["controlLoop"][key].get<double>());
    }
    const auto s = metrics::summarize(std::move(values));
    if (s.count > 0)
      loops[key] = {{"count", s.count}, {"min", s.min}, {"median", s.median}, {"p95", s.p95}, {"max", s.max}};
  }
  return loops;
}

// A service probe's requests to node k go through the link
// "client->service/<service>/node-<k>" (listening on node k's IP, any port)
// to node k's NodePort; probes of one Service share its links.
Status route_through_links(cluster::Cluster& cluster, const std::string& service, probes::Probe& probe) {
  std::vector<net::Endpoint> routes;
  const auto destinations = probe.destinations();
  for (size_t k = 0; k < destinations.size(); ++k) {
    const std::string name = fmt::format("client->service/{}/node-{}", service, k + 1);
    faults::Link* link = cluster.link(name);
    if (link == nullptr) {
      net::Endpoint listen;
      listen.host = destinations[k].host;
      auto added = cluster.add_link(name, listen, destinations[k]);
      if (!added) return added.error();
      link = *added;
    }
    routes.push_back(link->listen_endpoint());
  }
  probe.send_through(std::move(routes));
  return {};
}

// How long the steady window waits for every probe's first answer.
constexpr Millis kFirstAnswersTimeout{30000};

// What record_measurements needs to know about a repeat besides its probes.
struct RepeatOutcome {
  SteadyTime t0{};
  SteadyTime end{};
  bool recovered = false;
  bool steady = false;
  bool fault_errors = false;
  bool aborted = false;
  std::string unseen;  // pod faults the API never showed, when recovery timed out waiting for them
};

// Whether every probe has had an answer (a sample not pending).
bool every_probe_answered(const std::vector<std::unique_ptr<probes::Probe>>& probes_run) {
  return std::all_of(probes_run.begin(), probes_run.end(), [](const auto& probe) {
    return std::any_of(probe->samples().begin(), probe->samples().end(),
                       [](const metrics::Sample& sample) { return !sample.pending; });
  });
}

// A pod kill or delete is done, for recovery, only once the API has shown
// it: a loaded kubelet may report a restart after the probes look well
// again, and the Ready flap it reports would come after the "recovery".
bool waits_for_api(const Injection& injection) {
  return injection.fault.target.component == experiment::Component::kPod &&
         (injection.fault.action == experiment::FaultAction::kKill ||
          injection.fault.action == experiment::FaultAction::kDelete);
}

// When the API had shown a loss on every pod `injection` hit (from the pod
// tracker's timelines); none while one has not.
std::optional<SteadyTime> shown_by_api(const std::map<std::string, metrics::PodTimeline>& pods,
                                       const Injection& injection) {
  std::vector<std::string> hit;
  for (const auto& pod : injection.pods) hit.push_back(pod.ns + "/" + pod.name);
  return metrics::losses_seen(pods, hit, injection.started);
}

// When the API had shown every pod kill and delete: `from` with none of
// them; none while one has not.
std::optional<SteadyTime> pod_faults_seen(const std::map<std::string, metrics::PodTimeline>& pods,
                                          const std::vector<std::shared_ptr<Injection>>& injected,
                                          SteadyTime from) {
  SteadyTime seen = from;
  for (const auto& injection : injected) {
    if (!waits_for_api(*injection)) continue;
    const auto shown = shown_by_api(pods, *injection);
    if (!shown) return std::nullopt;
    seen = std::max(seen, *shown);
  }
  return seen;
}

// "kill of pods web-x": the pod faults whose loss the API has not shown.
std::string unseen_pod_faults(const std::map<std::string, metrics::PodTimeline>& pods,
                              const std::vector<std::shared_ptr<Injection>>& injected) {
  std::vector<std::string> unseen;
  for (const auto& injection : injected)
    if (waits_for_api(*injection) && !shown_by_api(pods, *injection))
      unseen.push_back(fmt::format("{} of {}", to_string(injection->fault.action), injection->resolved));
  return fmt::format("{}", fmt::join(unseen, ", "));
}

// Fills result's "faults", "probes", "expectations" and "passed". Not a
// coroutine: g++ 12 mishandles braced initializer lists inside coroutines.
void record_measurements(json& result, const Experiment& experiment,
                         const std::vector<std::unique_ptr<probes::Probe>>& probes_run,
                         const std::vector<std::shared_ptr<Injection>>& injected,
                         const RepeatOutcome& outcome) {
  const SteadyTime t0 = outcome.t0;
  const SteadyTime end = outcome.end;
  const bool recovered = outcome.recovered;
  json injections = json::array();
  for (const auto& injection : injected) {
    json one = {{"action", to_string(injection->fault.action)},
                {"target", injection->fault.target.text},
                {"resolved", injection->resolved},
                {"atMs", ms_from(t0, injection->started)},
                {"endMs", ms_from(t0, injection->ended.value_or(injection->started))},
                {"probes", json::object()}};
    for (const auto& probe : probes_run) {
      const auto impact =
          metrics::measure_impact(probe->samples(), injection->started, end, experiment.recovery.stable_for);
      json measured = {{"downtimeMs", ms(impact.downtime)}, {"failed", impact.failed}};
      measured["timeToImpactMs"] = impact.time_to_impact ? json(ms(*impact.time_to_impact)) : json(nullptr);
      measured["timeToRecoverMs"] =
          impact.time_to_recover ? json(ms(*impact.time_to_recover)) : json(nullptr);
      one["probes"][probe->spec().name] = std::move(measured);
    }
    injections.push_back(std::move(one));
  }
  result["faults"] = std::move(injections);
  result["untilMs"] = ms_from(t0, end);
  json measured_probes = json::object();
  for (const auto& probe : probes_run) {
    const auto& samples = probe->samples();
    const auto availability = metrics::measure_availability(samples, t0, end);
    // The probe's view of the whole fault phase: impact of the first
    // fault, recovery after the last one to end.
    std::optional<Millis> impact, recover;
    Millis downtime{0};
    if (!injected.empty()) {
      const auto first = metrics::measure_impact(samples, t0, end, experiment.recovery.stable_for);
      impact = first.time_to_impact;
      recover = first.time_to_recover;
      downtime = first.downtime;
    }
    json entry = {{"kind", to_string(probe->spec().kind)},
                  {"samples", availability.total},
                  {"ok", availability.ok},
                  {"availability", availability.ratio},
                  {"downtimeMs", ms(downtime)},
                  {"latencyP50Ms", availability.latency_p50_ms},
                  {"latencyP99Ms", availability.latency_p99_ms},
                  {"periodMs", ms(probe->period())},
                  {"errors", availability.errors}};
    entry["timeToImpactMs"] = impact ? json(ms(*impact)) : json(nullptr);
    entry["timeToRecoverMs"] = recover ? json(ms(*recover)) : json(nullptr);
    if (json details = probe->details(t0); !details.is_null()) entry["details"] = std::move(details);
    // For the HTML report's chart.
    const auto line = metrics::timeline(samples, t0, end);
    entry["timeline"] = line.failing;
    entry["buckets"] = {{"widthMs", line.bucket_ms}, {"ok", line.ok}, {"failed", line.failed}};
    measured_probes[probe->spec().name] = std::move(entry);
  }
  result["probes"] = measured_probes;

  // Expectations.
  json expectations = json::array();
  bool all_met = true;
  for (const auto& expect : experiment.expect) {
    const json& measured = measured_probes[expect.probe];
    std::vector<std::string> unmet;
    if (expect.recovered_within) {
      if (!measured["timeToRecoverMs"].is_number() || !recovered)
        unmet.push_back(
            fmt::format("not recovered (wanted within {}){}", format_duration(*expect.recovered_within),
                        outcome.unseen.empty() ? "" : "; the API never showed the " + outcome.unseen));
      else if (measured["timeToRecoverMs"].get<double>() > ms(*expect.recovered_within))
        unmet.push_back(fmt::format("recovered after {} ms (wanted within {})",
                                    measured["timeToRecoverMs"].get<double>(),
                                    format_duration(*expect.recovered_within)));
    }
    if (expect.max_downtime && measured.value("downtimeMs", 0.0) > ms(*expect.max_downtime))
      unmet.push_back(fmt::format("downtime {} ms (wanted at most {})", measured.value("downtimeMs", 0.0),
                                  format_duration(*expect.max_downtime)));
    if (expect.min_availability && measured.value("availability", 1.0) < *expect.min_availability)
      unmet.push_back(fmt::format("availability {:.4f} (wanted at least {})",
                                  measured.value("availability", 1.0), *expect.min_availability));
    if (expect.max_time_to_impact && measured["timeToImpactMs"].is_number() &&
        measured["timeToImpactMs"].get<double>() > ms(*expect.max_time_to_impact))
      unmet.push_back(fmt::format("impact after {} ms (wanted within {})",
                                  measured["timeToImpactMs"].get<double>(),
                                  format_duration(*expect.max_time_to_impact)));
    all_met = all_met && unmet.empty();
    json judged = {{"probe", expect.probe}, {"where", where(expect.where)}, {"passed", unmet.empty()}};
    judged["unmet"] = unmet;
    expectations.push_back(std::move(judged));
  }
  result["expectations"] = std::move(expectations);
  result["passed"] = all_met && outcome.steady && !outcome.fault_errors && !outcome.aborted;
  if (outcome.aborted) result["aborted"] = true;
}

// Adds each fault's "controlLoop" (metrics/control_loop.h) when the
// workload's pods showed a loss or a new pod after it (a scale-up): the
// recovering pod and each step's milliseconds from the fault's start.
void record_control_loops(json& result, const std::vector<std::unique_ptr<probes::Probe>>& probes_run,
                          const std::map<std::string, metrics::PodTimeline>& pods,
                          const std::vector<std::shared_ptr<Injection>>& injected) {
  std::map<std::string, std::vector<SteadyTime>> answers;
  for (const auto& probe : probes_run)
    if (const auto* by_pod = probe->answers_by_pod())
      for (const auto& [pod, times] : *by_pod) {
        auto& merged = answers[pod];
        merged.insert(merged.end(), times.begin(), times.end());
        std::sort(merged.begin(), merged.end());
      }
  for (size_t i = 0; i < injected.size() && i < result["faults"].size(); ++i) {
    const auto loop = metrics::control_loop(pods, answers, injected[i]->started);
    if (!loop.detected && loop.pod.empty()) continue;
    json entry = json::object();
    entry["pod"] = loop.pod;
    const auto steps = loop.steps();
    for (size_t k = 0; k < steps.size(); ++k)
      if (*steps[k]) entry[std::string(metrics::kControlLoopSteps[k]) + "Ms"] = ms(**steps[k]);
    result["faults"][i]["controlLoop"] = std::move(entry);
  }
}

}  // namespace

std::string unsupported(const Experiment& experiment) {
  // A Service's links carry the service probes' requests: one must send them.
  for (const auto& fault : experiment.faults)
    for (const auto& service : service_links(fault))
      if (std::none_of(experiment.probes.begin(), experiment.probes.end(), [&](const auto& probe) {
            return probe.kind == experiment::ProbeKind::kService && probe.service == service;
          }))
        return fmt::format(
            "{}: fault {} on {}: no service probe sends to Service {}, so its link client->service/{} "
            "would carry nothing (add a probe {{name: ..., service: {}}})",
            where(fault.where), to_string(fault.action), fault.target.text, service, service, service);
  for (const auto& manifest : experiment.workload)
    if (resource_of(manifest.object) == nullptr)
      return fmt::format("{}: workload: kind {} of {} is not served by shakeout's API server",
                         where(manifest.where), manifest.object.value("kind", ""),
                         manifest.object.value("apiVersion", ""));
  return "";
}

namespace {

// What an exec probe's command finds in its environment: kubectl and
// etcdctl pointed at this cluster.
std::map<std::string, std::string> command_environment(const cluster::Cluster& cluster) {
  std::map<std::string, std::string> env;
  env["KUBECONFIG"] = cluster.kubeconfig_path().string();
  env["ETCDCTL_API"] = "3";
  env["ETCDCTL_ENDPOINTS"] = fmt::format("{}", fmt::join(cluster.etcd().client_urls(), ","));
  std::vector<std::string> ips;
  for (int k = 1; k <= cluster.options().nodes; ++k) ips.push_back(cluster.addresses().node_ip(k));
  env["SHAKEOUT_NODE_IPS"] = fmt::format("{}", fmt::join(ips, " "));
  return env;
}

}  // namespace

// What one repeat owns; abort() reaches it through current_.
struct Runner::Repeat {
  std::string experiment;
  int number = 0;
  std::unique_ptr<cluster::Cluster> cluster;
  std::unique_ptr<Injector> injector;
  std::unique_ptr<cluster::Supervisor> commands;  // exec probes' commands
  std::vector<std::unique_ptr<probes::Probe>> probes;
  std::unique_ptr<probes::PodTracker> pods;  // the control-loop breakdown's events
};

Runner::Runner(asio::io_context& io, RunOptions options) : io_(io), options_(std::move(options)) {}
Runner::~Runner() = default;

asio::awaitable<void> Runner::pause(Millis duration) {
  co_await waits_.wait(duration);
}

void Runner::abort() {
  aborted_ = true;
  waits_.cancel_all();
  if (current_ == nullptr) return;
  if (current_->injector) {
    current_->injector->resume_paused_now();
    current_->injector->cancel();
  }
  for (auto& probe : current_->probes) probe->stop();
  if (current_->pods) current_->pods->stop();
  if (current_->commands)
    for (const auto& command : current_->commands->list())
      (void)current_->commands->kill(command.name, SIGKILL);
  if (current_->cluster) current_->cluster->abort();
}

LiveView Runner::live() const {
  LiveView view;
  if (current_ == nullptr) return view;
  view.experiment = current_->experiment;
  view.repeat = current_->number;
  for (const auto& probe : current_->probes) view.probes.push_back(probe.get());
  if (current_->injector) view.injections = current_->injector->injections();
  return view;
}

asio::awaitable<json> Runner::run(const Experiment& experiment) {
  json journal = new_journal(experiment);
  bool passed = true;
  for (int repeat = 1; repeat <= experiment.repeat && !aborted_; ++repeat) {
    json one = co_await run_once(experiment, repeat);
    passed = passed && one.value("passed", false);
    const bool setup_failed = one.contains("setupError");
    journal["repeats"].push_back(std::move(one));
    if (setup_failed) repeat = experiment.repeat;  // the next boot would fail the same way
  }
  journal["summary"] = summarize_repeats(journal["repeats"]);
  if (json loops = summarize_control_loops(journal["repeats"]); !loops.empty())
    journal["controlLoop"] = std::move(loops);
  journal["aborted"] = aborted_;
  journal["passed"] = passed && !aborted_;
  co_return journal;
}

asio::awaitable<json> Runner::run_once(const Experiment& experiment, int repeat) {
  auto progress = [&](const std::string& phase) {
    if (options_.progress) options_.progress(fmt::format("{} #{}: {}", experiment.name, repeat, phase));
  };
  const Clock& clock = system_clock();
  json result;
  result["repeat"] = repeat;
  result["passed"] = false;
  Repeat state;
  state.experiment = experiment.name;
  state.number = repeat;
  current_ = &state;
  struct Clear {
    Runner* runner;
    ~Clear() { runner->current_ = nullptr; }
  } clear{this};

  // Boot.
  cluster::ClusterOptions options;
  options.name = fmt::format("{}-{}-{}", experiment.name, ::getpid(), repeat);
  options.nodes = experiment.cluster.nodes;
  options.etcd_members = experiment.cluster.etcd_members;
  options.apiservers = experiment.cluster.apiservers;
  options.controller_managers = experiment.cluster.controller_managers;
  options.schedulers = experiment.cluster.schedulers;
  options.runtime_root = options_.runtime_root;
  options.seed = experiment.seed + static_cast<uint64_t>(repeat);  // the links' toxicity rolls and jitter
  options.etcd_links = true;
  if (!options_.shakeout_binary.empty()) options.shakeout_binary = options_.shakeout_binary;
  cluster::ProfileOptions profile;
  profile.name = experiment.cluster.profile;
  profile.time_scale = experiment.cluster.time_scale;
  profile.overrides = experiment.cluster.overrides;
  auto made = cluster::Profile::make(profile);
  if (!made.ok()) {
    result["setupError"] = "profile: " + made.error().message;
    co_return result;
  }
  options.profile = *made;
  result["profile"]["name"] = made->name();
  result["profile"]["timeScale"] = made->time_scale();
  for (const auto& [name, value] : made->effective_values()) result["profile"]["parameters"][name] = value;

  progress("booting");
  const SteadyTime boot_start = clock.now();
  auto created = cluster::Cluster::create(io_, options);
  if (!created.ok()) {
    result["setupError"] = "cluster: " + created.error().message;
    co_return result;
  }
  state.cluster = std::move(*created);
  auto& cluster = *state.cluster;
  if (auto started = co_await cluster.start(); !started) {
    result["setupError"] = aborted_ ? "aborted" : "cluster start: " + started.error().message;
    co_return result;
  }
  result["bootMs"] = ms_from(boot_start, clock.now());

  client::Config api;
  for (const auto& url : cluster.apiserver_urls()) {
    auto endpoint = net::parse_endpoint(url);
    if (endpoint.ok()) api.servers.push_back(*endpoint);
  }
  api.bearer_token = cluster.token("shakeout");
  api.request_timeout = Millis(2000);
  client::Client client(io_.get_executor(), api);

  // Workload.
  progress("applying the workload");
  std::vector<std::pair<std::string, std::string>> deployments;  // namespace, name
  Status apply_error;
  for (const auto& manifest : experiment.workload) {
    const api::ResourceInfo* resource = resource_of(manifest.object);
    json object = manifest.object;
    std::string ns;
    if (resource->namespaced) {
      ns = object["metadata"].value("namespace", "default");
      object["metadata"]["namespace"] = ns;
    }
    auto applied = co_await client.create(*resource, ns, std::move(object));
    if (!applied.ok() && apply_error)
      apply_error =
          make_error(ErrorCode::kInvalidArgument,
                     fmt::format("{}: {} {}: {}", where(manifest.where), manifest.object.value("kind", ""),
                                 manifest.object["metadata"].value("name", ""),
                                 applied.error().status.value("message", "rejected")));
    if (manifest.object.value("kind", "") == "Deployment")
      deployments.emplace_back(ns, manifest.object["metadata"].value("name", ""));
  }
  if (!apply_error) {
    result["setupError"] = "workload: " + apply_error.error().message;
    co_await cluster.stop();
    co_return result;
  }
  // Ready: every Deployment has all its replicas ready.
  const SteadyTime ready_by = clock.now() + experiment.recovery.timeout;
  bool all_ready = false;
  while (!all_ready && !aborted_ && clock.now() < ready_by) {
    all_ready = true;
    for (const auto& [ns, name] : deployments) {
      auto got =
          co_await client.get(*api::ResourceRegistry::builtin().by_plural("apps", "deployments"), ns, name);
      const bool ready = got.ok() && (*got)["status"].value("readyReplicas", int64_t{0}) >=
                                         (*got)["spec"].value("replicas", int64_t{1});
      all_ready = all_ready && ready;
    }
    if (!all_ready) co_await pause(Millis(50));
  }
  if (!all_ready) {
    result["setupError"] = aborted_ ? "aborted" : "workload: the Deployments did not become ready";
    co_await cluster.stop();
    co_return result;
  }

  // Probes.
  probes::ProbeContext context;
  context.executor = io_.get_executor();
  for (int k = 1; k <= options.nodes; ++k) context.node_ips.push_back(cluster.addresses().node_ip(k));
  context.api = api;
  context.etcd_urls = cluster.etcd().client_urls();
  context.state_period = std::max(Millis(20), options.profile.duration("node-status-update-frequency") / 10);
  state.commands = std::make_unique<cluster::Supervisor>(io_, clock);
  context.commands = state.commands.get();
  context.log_dir = options_.output_dir.empty()
                        ? cluster.run_dir().path() / "logs"
                        : options_.output_dir / experiment.name / fmt::format("repeat-{}", repeat);
  context.command_env = command_environment(cluster);
  Status probe_error;
  std::set<std::string> linked_services;
  for (const auto& fault : experiment.faults) {
    const std::vector<std::string> services = service_links(fault);
    linked_services.insert(services.begin(), services.end());
  }
  for (const auto& spec : experiment.probes) {
    auto probe = probes::make_probe(spec, context);
    auto prepared = co_await probe->prepare();
    if (!prepared && probe_error) probe_error = prepared;
    auto ground_truth = prepared ? probe->ground_truth() : nullptr;
    if (prepared && spec.kind == experiment::ProbeKind::kService && linked_services.contains(spec.service)) {
      if (auto routed = route_through_links(cluster, spec.service, *probe); !routed && probe_error)
        probe_error = routed;
    }
    state.probes.push_back(std::move(probe));
    if (ground_truth) state.probes.push_back(std::move(ground_truth));
  }
  if (!probe_error) {
    result["setupError"] = probe_error.error().message;
    co_await cluster.stop();
    co_return result;
  }
  int probes_running = 0;
  for (auto& probe : state.probes) {
    ++probes_running;
    asio::co_spawn(io_, probe->run(), [&probes_running](const std::exception_ptr&) { --probes_running; });
  }
  state.pods = std::make_unique<probes::PodTracker>(io_.get_executor(), api, clock);
  ++probes_running;
  asio::co_spawn(io_, state.pods->run(), [&probes_running](const std::exception_ptr&) { --probes_running; });

  // Steady window, then the checks over it. It starts once every probe has
  // answered and the pod tracker has its first lists (bounded): on a loaded
  // machine a first watch can take a while, and an empty window proves
  // nothing (the tracker would take every pod for one created later).
  progress("steady state");
  const SteadyTime probes_on = clock.now();
  while (!aborted_ && clock.now() < probes_on + kFirstAnswersTimeout &&
         !(state.pods->synced() && every_probe_answered(state.probes)))
    co_await pause(Millis(20));
  result["probesReadyMs"] = ms_from(probes_on, clock.now());
  co_await pause(experiment.steady_window);
  auto probe_named = [&](const std::string& name) -> probes::Probe& {
    for (auto& probe : state.probes)
      if (probe->spec().name == name) return *probe;
    return *state.probes.front();  // validated: every name exists
  };
  auto check_steady = [&](SteadyTime to, Millis window, json& failures) {
    for (const auto& check : experiment.steady_state) {
      const auto& probe = probe_named(check.probe);
      bool holds = true;
      std::string how;
      if (check.success_ratio) {
        const auto measured = metrics::measure_availability(probe.samples(), to - window, to);
        holds = measured.ratio >= *check.success_ratio;
        how = fmt::format("successRatio {:.4f} (wanted >= {})", measured.ratio, *check.success_ratio);
      } else {
        holds = metrics::holds_over(probe.samples(), to, window);
        how = holds ? "ready == desired" : "not all replicas ready";
      }
      if (!holds)
        failures.push_back(
            fmt::format("{}: steady state of probe {}: {}", where(check.where), check.probe, how));
    }
  };
  json before_failures = json::array();
  check_steady(clock.now(), experiment.steady_window, before_failures);
  result["steadyBefore"] = steady_result(before_failures);

  // Faults on the timeline.
  const SteadyTime t0 = clock.now();
  state.injector = std::make_unique<Injector>(io_.get_executor(), cluster, api, experiment.seed + repeat);
  json injections = json::array();
  int schedules_running = 0;
  json fault_errors = json::array();
  if (before_failures.empty()) {
    progress("injecting faults");
    for (const auto& fault : experiment.faults) {
      const auto wait = std::chrono::duration_cast<Millis>(t0 + fault.at - clock.now());
      if (wait > Millis(0)) co_await pause(wait);
      Result<std::shared_ptr<Injection>> injected = make_error(ErrorCode::kCancelled, "aborted");
      if (!aborted_) injected = co_await state.injector->inject(fault);
      if (!injected.ok()) {
        fault_errors.push_back(fmt::format("{}: fault {} on {}: {}", where(fault.where),
                                           to_string(fault.action), fault.target.text,
                                           injected.error().message));
      } else {
        progress(fmt::format("{} {}", to_string(fault.action), (*injected)->resolved));
        ++schedules_running;
        asio::co_spawn(io_, state.injector->follow_schedule(*injected),
                       [&schedules_running](const std::exception_ptr&) { --schedules_running; });
      }
    }
  }
  // Every fault's own schedule ends (pauses resumed, restarts done; at once
  // after abort(), which cancels them). None may outlive this frame.
  while (schedules_running > 0) co_await sleep_for(Millis(10));
  SteadyTime faults_end = t0;
  for (const auto& injection : state.injector->injections())
    faults_end = std::max(faults_end, injection->ended.value_or(injection->started));

  // Recovery: every probe holds for stableFor, or the timeout. After a pod
  // kill or delete, stableFor counts from when the API showed it.
  progress("waiting for recovery");
  const SteadyTime recovery_deadline = faults_end + experiment.recovery.timeout;
  // Judged only up to where every probe's samples are answered: a request
  // still hanging from the fault may yet fail inside the window.
  bool recovered = false;
  SteadyTime end = clock.now();
  while (!recovered && !aborted_ && clock.now() < recovery_deadline && before_failures.empty()) {
    co_await pause(Millis(20));
    end = clock.now();
    for (const auto& probe : state.probes)
      end = metrics::answered_until(probe->samples(), probe->in_flight(), end);
    const auto seen = pod_faults_seen(state.pods->timelines(), state.injector->injections(), faults_end);
    recovered = seen && end - *seen >= experiment.recovery.stable_for;
    for (const auto& probe : state.probes)
      recovered = recovered && metrics::holds_over(probe->samples(), end, experiment.recovery.stable_for);
  }
  if (!recovered) end = clock.now();
  json after_failures = json::array();
  if (before_failures.empty()) check_steady(end, experiment.recovery.stable_for, after_failures);
  result["steadyAfter"] = steady_result(after_failures);
  result["faultErrors"] = fault_errors;
  result["recovered"] = recovered;

  // Probes off, faults undone, cluster down.
  progress("tearing down");
  for (auto& probe : state.probes) probe->stop();
  state.pods->stop();
  while (probes_running > 0) co_await sleep_for(Millis(5));
  co_await state.commands->stop_all();
  co_await state.injector->revert_all();

  // Measurements, per injection and per probe, and the expectations judged.
  RepeatOutcome outcome;
  outcome.t0 = t0;
  outcome.end = end;
  outcome.recovered = recovered;
  outcome.steady = before_failures.empty() && after_failures.empty();
  outcome.fault_errors = !fault_errors.empty();
  outcome.aborted = aborted_;
  if (!recovered) outcome.unseen = unseen_pod_faults(state.pods->timelines(), state.injector->injections());
  record_measurements(result, experiment, state.probes, state.injector->injections(), outcome);
  record_control_loops(result, state.probes, state.pods->timelines(), state.injector->injections());
  if (options_.repeat_ending) options_.repeat_ending();

  co_await cluster.stop();
  progress(result["passed"].get<bool>() ? "passed" : "failed");
  co_return result;
}

}  // namespace shakeout::runner
