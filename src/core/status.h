// Status and Result live in the counted decoder (gpk/status.h); the error
// kinds only the other layers raise are added here.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "gpk/status.h"

namespace golfpack {

inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }

}  // namespace golfpack
