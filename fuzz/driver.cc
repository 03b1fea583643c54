// A libFuzzer-compatible driver for g++ builds: runs LLVMFuzzerTestOneInput
// over every file given (a corpus) and then over seeded random mutations of
// them (byte flips, inserts, deletes, splices), for a number of iterations.
//
//   fuzz_request [--iterations N] [--seed S] corpus-file...
//
// Exits non-zero only by crashing (the sanitizers report), like libFuzzer.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

std::string mutate(std::string input, const std::vector<std::string>& corpus, std::mt19937_64& random) {
  static const char* kTokens[] = {"{",
                                  "}",
                                  "[",
                                  "]",
                                  "\"",
                                  ":",
                                  ",",
                                  "null",
                                  "$patch",
                                  "$setElementOrder/containers",
                                  "$retainKeys",
                                  "$deleteFromPrimitiveList/finalizers",
                                  "%",
                                  "%zz",
                                  "\\u0000",
                                  "-1",
                                  "1e999",
                                  "\n",
                                  "- ",
                                  "op",
                                  "/metadata/~1",
                                  "in (",
                                  "!=",
                                  "=="};
  const int edits = 1 + static_cast<int>(random() % 4);
  for (int e = 0; e < edits; ++e) {
    const size_t at = input.empty() ? 0 : random() % (input.size() + 1);
    switch (random() % 5) {
      case 0:
        if (!input.empty() && at < input.size()) input[at] = static_cast<char>(random());
        break;
      case 1:
        input.insert(at, 1, static_cast<char>(random()));
        break;
      case 2:
        if (at < input.size()) input.erase(at, 1 + random() % 8);
        break;
      case 3:
        input.insert(at, kTokens[random() % (sizeof kTokens / sizeof *kTokens)]);
        break;
      default: {
        const std::string& other = corpus[random() % corpus.size()];
        const size_t from = other.empty() ? 0 : random() % other.size();
        input.insert(at, other.substr(from, random() % 64));
      }
    }
  }
  return input;
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = 20000;
  uint64_t seed = 1;
  std::vector<std::string> corpus;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
      iterations = std::atol(argv[++i]);
    } else if (std::strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::ifstream in(argv[i], std::ios::binary);
      if (!in) {
        std::fprintf(stderr, "fuzz: cannot read %s\n", argv[i]);
        return 2;
      }
      std::stringstream text;
      text << in.rdbuf();
      corpus.push_back(text.str());
    }
  }
  if (corpus.empty()) corpus.emplace_back("/api/v1/namespaces/default/pods\n\x00{}");
  for (const auto& input : corpus) run(input);
  std::mt19937_64 random(seed);
  for (long i = 0; i < iterations; ++i) run(mutate(corpus[random() % corpus.size()], corpus, random));
  std::printf("fuzz: %zu corpus inputs, %ld mutations, seed %llu: no crash\n", corpus.size(), iterations,
              static_cast<unsigned long long>(seed));
  return 0;
}
