#pragma once
// The kubelet reads API objects through api/fields.h.

#include "api/fields.h"

namespace shakeout::kubelet {

using api::field;
using api::int_field;
using api::string_field;

}  // namespace shakeout::kubelet
