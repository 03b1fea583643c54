#include "client/informer.h"
