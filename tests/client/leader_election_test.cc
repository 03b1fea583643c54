#include <gtest/gtest.h>

#include "client/leader_election.h"
