#include <gtest/gtest.h>

#include "api/service_allocator.h"
