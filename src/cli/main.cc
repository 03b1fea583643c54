#include "cli/commands.h"

int main(int argc, char** argv) {
  return shakeout::cli::run(argc, argv);
}
