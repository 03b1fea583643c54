#include <gtest/gtest.h>

#include "api/admission.h"
