#include <gtest/gtest.h>

#include "client/informer.h"
