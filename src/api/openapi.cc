#include "api/openapi.h"
