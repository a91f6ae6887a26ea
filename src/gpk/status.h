// Error values for every golfpack library. Library code never prints or exits;
// it returns a Status (or a Result<T>) and the CLI turns it into one line.
#pragma once

#include <cassert>
#include <concepts>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace golfpack {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // unusable input from the caller
  kNotFound,
  kIoError,
  kCorrupt,      // bytes violate their format
  kUnsupported,  // well-formed, but not handled by this build
  kInternal,     // a bug
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // One line: "corrupt: model.gpk: ...".
  std::string ToString() const {
    static const char* const kNames[] = {"ok",      "invalid argument", "not found",     "i/o error",
                                         "corrupt", "unsupported",      "internal error"};
    return ok() ? "ok" : kNames[int(code_)] + (": " + message_);
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status Corrupt(std::string m) { return {StatusCode::kCorrupt, std::move(m)}; }
inline Status Unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// Concatenates strings and integers: Str("need ", n, " bytes").
inline std::string_view StrPiece(std::string_view s) { return s; }
std::string StrPiece(std::integral auto n) { return std::to_string(n); }
template <typename... T>
std::string Str(const T&... v) {
  std::string s;
  ((s += StrPiece(v)), ...);
  return s;
}

// A value or the Status that explains why there is none (std::expected is C++23).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // implicit by design, both
  Result(Status status) : v_(std::move(status)) {
    assert(!std::get<Status>(v_).ok() && "Result needs a value or an error");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace golfpack

// Early return of a non-ok Status from an expression yielding Status.
#define GP_RETURN_IF_ERROR(expr) \
  do { \
    ::golfpack::Status gp_status_ = (expr); \
    if (!gp_status_.ok()) return gp_status_; \
  } while (0)

#define GP_CONCAT_INNER(a, b) a##b
#define GP_CONCAT(a, b) GP_CONCAT_INNER(a, b)
// `GP_ASSIGN_OR_RETURN(auto x, MakeX());` unwraps a Result or returns its Status.
#define GP_ASSIGN_OR_RETURN(lhs, expr) GP_ASSIGN_OR_RETURN_IMPL(GP_CONCAT(gp_result_, __LINE__), lhs, expr)
#define GP_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr); \
  if (!tmp.ok()) return tmp.status(); \
  lhs = std::move(tmp).value()
