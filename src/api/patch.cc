#include "api/patch.h"
