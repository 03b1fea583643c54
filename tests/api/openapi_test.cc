#include <gtest/gtest.h>

#include "api/openapi.h"
