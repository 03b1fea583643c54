#include "api/admission.h"
