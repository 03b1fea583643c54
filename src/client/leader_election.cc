#include "client/leader_election.h"
