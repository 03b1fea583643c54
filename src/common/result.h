#pragma once
// Result<T>: a value or an Error. Errors the environment or the user can
// cause (refused connections, dead processes, bad input) travel as values;
// exceptions are kept for our own broken invariants.

#include <utility>

#include <cassert>
#include <string>
#include <variant>

namespace shakeout {

enum class ErrorCode {
  kInvalidArgument,  // bad input from the user; the CLI exits 2
  kNotFound,
  kAlreadyExists,
  kConflict,     // optimistic concurrency lost (etcd compare failed)
  kCompacted,    // requested revision is older than the compaction point
  kTimeout,      // deadline exceeded
  kUnavailable,  // no endpoint answered (refused, reset, closed)
  kCancelled,
  kIo,        // filesystem or OS call failed
  kProtocol,  // the peer answered something we cannot parse
  kInternal,
};

const char* to_string(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  std::string describe() const { return std::string(to_string(code)) + ": " + message; }
};

// BasicResult<T, E>: a value or an error E. Result<T> carries an Error; other
// layers (api::ApiResult) pick their own error type.
template <typename T, typename E>
class [[nodiscard]] BasicResult {
 public:
  BasicResult(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  BasicResult(E error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

  const E& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, E> v_;
};

// BasicResult<void, E>: success or an error E.
template <typename E>
class [[nodiscard]] BasicResult<void, E> {
 public:
  BasicResult() = default;
  BasicResult(E error) : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const E& error() const {
    assert(!ok_);
    return error_;
  }

 private:
  E error_{};
  bool ok_ = true;
};

template <typename T>
using Result = BasicResult<T, Error>;

using Status = Result<void>;

inline Error make_error(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

}  // namespace shakeout
