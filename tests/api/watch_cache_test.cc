#include <gtest/gtest.h>

#include "api/watch_cache.h"
