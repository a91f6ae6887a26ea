// Status and Result<T>: library code never prints or exits; it returns one of
// these, and the CLI turns it into one line.
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
  static Status Ok() { return {}; }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // One line: "corrupt: model.gpk: ...".
  std::string ToString() const {
    static const char* const kNames[] = {"ok", "invalid argument", "not found", "i/o error", "corrupt", "unsupported",
                                         "internal error"};
    return ok() ? "ok" : kNames[int(code_)] + (": " + message_);
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Concatenates strings and integers: Str("need ", n, " bytes").
template <typename... T>
std::string Str(const T&... v) {
  std::string s;
  ([&] { if constexpr (std::integral<T>) s += std::to_string(v); else s += std::string_view(v); }(), ...);
  return s;
}

// Errors whose message is Str(m...).
Status InvalidArgument(const auto&... m) { return {StatusCode::kInvalidArgument, Str(m...)}; }
Status Corrupt(const auto&... m) { return {StatusCode::kCorrupt, Str(m...)}; }
Status Unsupported(const auto&... m) { return {StatusCode::kUnsupported, Str(m...)}; }
Status Internal(const auto&... m) { return {StatusCode::kInternal, Str(m...)}; }

// A value, or the Status saying why there is none (std::expected is C++23).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // implicit by design, both
  Result(Status status) : v_(std::move(status)) { assert(!std::get<1>(v_).ok()); }
  bool ok() const { return v_.index() == 0; }
  const Status& status() const { static const Status kOk; return ok() ? kOk : std::get<1>(v_); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
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
  do { if (::golfpack::Status gp_status_ = (expr); !gp_status_.ok()) return gp_status_; } while (0)

#define GP_CAT_(a, b) a##b
#define GP_CAT(a, b) GP_CAT_(a, b)
// `GP_ASSIGN_OR_RETURN(auto x, MakeX());` unwraps a Result or returns its Status.
#define GP_ASSIGN_OR_RETURN(lhs, expr) GP_ASSIGN_OR_RETURN_(GP_CAT(gp_result_, __LINE__), lhs, expr)
#define GP_ASSIGN_OR_RETURN_(tmp, lhs, expr) \
  auto tmp = (expr); \
  if (!tmp.ok()) return tmp.status(); \
  lhs = std::move(tmp).value()
