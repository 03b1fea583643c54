// main() for every test binary: clusters started by tests live under their own
// runtime root, apart from a user's clusters but shared by all tests so that
// subnet locks coordinate them, whether the tests run through ctest or by hand.

#include <gtest/gtest.h>

#include <cstdlib>

int main(int argc, char** argv) {
  ::setenv("SHAKEOUT_RUNTIME_DIR", "/dev/shm/shakeout-ctest", /*overwrite=*/0);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
