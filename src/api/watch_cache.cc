#include "api/watch_cache.h"
