#include <gtest/gtest.h>

#include "client/client.h"
