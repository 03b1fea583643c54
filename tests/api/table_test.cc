#include <gtest/gtest.h>

#include "api/table.h"
