#include "api/service_allocator.h"
