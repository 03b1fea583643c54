// make_runtime_client(): RuntimeService over HTTP/JSON (codec.h), for the
// kubelet and kube-proxy.

#include <fmt/format.h>

#include <boost/asio/any_io_executor.hpp>
#include <nlohmann/json.hpp>

#include "net/http_client.h"
#include "runtime/codec.h"
#include "runtime/runtime_service.h"

namespace shakeout::runtime {

namespace {

using nlohmann::json;

// Added to a call's own timeout (stop, exec) for the HTTP exchange around it.
constexpr Millis kSlack{10000};
const std::string kSandboxes = "/v1/sandboxes";
const std::string kContainers = "/v1/containers";
const std::string kDataplane = "/v1/dataplane";
const std::string kNoBody;

class RuntimeClient final : public RuntimeService {
 public:
  RuntimeClient(asio::any_io_executor executor, std::string endpoint, Millis request_timeout)
      : http_(std::move(executor)), url_(std::move(endpoint)), request_timeout_(request_timeout) {
    auto parsed = net::parse_endpoint(url_);
    if (parsed)
      endpoint_ = std::move(*parsed);
    else
      parse_error_ = parsed.error();
  }

  // Call sites pass named locals only: g++ 12 mishandles temporaries passed
  // to a coroutine inside a co_await expression.
  asio::awaitable<Result<PodSandbox>> run_sandbox(PodSandboxConfig config) override {
    const json encoded = config;
    const std::string body = encoded.dump();
    const auto answer = co_await call("POST", kSandboxes, body, request_timeout_);
    co_return decode<PodSandbox>(answer);
  }
  asio::awaitable<Result<std::vector<PodSandbox>>> list_sandboxes() override {
    const auto answer = co_await call("GET", kSandboxes, kNoBody, request_timeout_);
    co_return decode_items<PodSandbox>(answer);
  }
  asio::awaitable<Status> remove_sandbox(std::string uid) override {
    const std::string target = kSandboxes + ("/" + uid);
    const auto answer = co_await call("DELETE", target, kNoBody, request_timeout_);
    co_return to_status(answer);
  }
  asio::awaitable<Result<ContainerStatus>> start_container(ContainerConfig config) override {
    const json encoded = config;
    const std::string body = encoded.dump();
    const auto answer = co_await call("POST", kContainers, body, request_timeout_);
    co_return decode<ContainerStatus>(answer);
  }
  asio::awaitable<Result<std::vector<ContainerStatus>>> list_containers(std::string pod_uid) override {
    std::string target = kContainers;
    if (!pod_uid.empty()) target += "?podUid=" + pod_uid;
    const auto answer = co_await call("GET", target, kNoBody, request_timeout_);
    co_return decode_items<ContainerStatus>(answer);
  }
  asio::awaitable<Result<ContainerStatus>> container_status(std::string id) override {
    const std::string target = kContainers + ("/" + id);
    const auto answer = co_await call("GET", target, kNoBody, request_timeout_);
    co_return decode<ContainerStatus>(answer);
  }
  asio::awaitable<Status> stop_container(std::string id, int64_t timeout_ms) override {
    const json encoded = {{"timeoutMs", timeout_ms}};
    const std::string body = encoded.dump();
    const std::string target = kContainers + ("/" + id + "/stop");
    const Millis timeout = Millis(std::max<int64_t>(0, timeout_ms)) + kSlack;
    const auto answer = co_await call("POST", target, body, timeout);
    co_return to_status(answer);
  }
  asio::awaitable<Status> remove_container(std::string id) override {
    const std::string target = kContainers + ("/" + id);
    const auto answer = co_await call("DELETE", target, kNoBody, request_timeout_);
    co_return to_status(answer);
  }
  asio::awaitable<Result<ExecResult>> exec_sync(std::string id, std::vector<std::string> command,
                                                int64_t timeout_ms) override {
    const json encoded = {{"command", command}, {"timeoutMs", timeout_ms}};
    const std::string body = encoded.dump();
    const std::string target = kContainers + ("/" + id + "/exec");
    const Millis timeout = Millis(std::max<int64_t>(0, timeout_ms)) + kSlack;
    const auto answer = co_await call("POST", target, body, timeout);
    co_return decode<ExecResult>(answer);
  }
  asio::awaitable<Status> set_dataplane(DataplaneRules rules) override {
    rules.status.clear();
    const json encoded = rules;
    const std::string body = encoded.dump();
    const auto answer = co_await call("PUT", kDataplane, body, request_timeout_);
    co_return to_status(answer);
  }
  asio::awaitable<Result<DataplaneRules>> dataplane() override {
    const auto answer = co_await call("GET", kDataplane, kNoBody, request_timeout_);
    co_return decode<DataplaneRules>(answer);
  }

 private:
  // The body of a 2xx answer; any other answer or failure as an Error naming the runtime.
  asio::awaitable<Result<std::string>> call(const char* method, std::string target, std::string body,
                                            Millis timeout) {
    if (parse_error_)
      co_return make_error(parse_error_->code, "runtime " + url_ + ": " + parse_error_->message);
    net::HttpRequest request;
    request.method = method;
    request.target = std::move(target);
    if (!body.empty()) {
      request.content_type = "application/json";
      request.body = std::move(body);
    }
    const std::string what = request.method + " " + request.target;
    auto response = co_await http_.request(endpoint_, std::move(request), timeout);
    if (!response) {
      co_return make_error(response.error().code,
                           fmt::format("runtime {}: {}: {}", url_, what, response.error().message));
    }
    if (response->status < 200 || response->status >= 300) {
      Error error = error_from_response(response->status, response->body);
      // kInvalidArgument keeps "<reason>: <text>" as sent, for the kubelet's waiting reason.
      if (error.code != ErrorCode::kInvalidArgument)
        error.message = fmt::format("runtime {}: {}", url_, error.message);
      co_return error;
    }
    co_return std::move(response->body);
  }

  template <typename T>
  Result<T> decode(const Result<std::string>& body) {
    if (!body) return body.error();
    auto parsed = parse_body<T>(body.value(), "runtime " + url_ + " answer");
    if (!parsed) return make_error(ErrorCode::kProtocol, parsed.error().message);
    return parsed;
  }

  template <typename T>
  Result<std::vector<T>> decode_items(const Result<std::string>& body) {
    if (!body) return body.error();
    try {
      const json parsed = json::parse(body.value());
      const json& items = parsed.at("items");
      return items.get<std::vector<T>>();
    } catch (const std::exception& e) {
      return make_error(ErrorCode::kProtocol, fmt::format("runtime {} answer: {}", url_, e.what()));
    }
  }

  static Status to_status(const Result<std::string>& body) {
    if (!body) return body.error();
    return {};
  }

  net::HttpClient http_;
  std::string url_;
  Millis request_timeout_;
  net::Endpoint endpoint_;
  std::optional<Error> parse_error_;
};

}  // namespace

std::unique_ptr<RuntimeService> make_runtime_client(asio::any_io_executor executor, std::string endpoint,
                                                    Millis request_timeout) {
  return std::make_unique<RuntimeClient>(std::move(executor), std::move(endpoint), request_timeout);
}

}  // namespace shakeout::runtime
