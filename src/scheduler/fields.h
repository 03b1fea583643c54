#pragma once
// The scheduler reads API objects through api/fields.h.

#include "api/fields.h"

namespace shakeout::scheduler {

using api::field;
using api::string_field;

}  // namespace shakeout::scheduler
