#include "api/table.h"
