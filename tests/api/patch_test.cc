#include <gtest/gtest.h>

#include "api/patch.h"
