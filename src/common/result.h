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

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

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

  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return error_;
  }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

inline Error make_error(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

}  // namespace shakeout
