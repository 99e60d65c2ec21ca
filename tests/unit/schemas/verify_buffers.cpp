// Runs the official FlatBuffers C++ Verifier over message files (test_cpp_verifier.py builds it).
// Usage: verify_buffers KIND FILE...   KIND: result | batch | dead
// Prints "FAIL <file>" for each buffer that does not verify; exit status 1 if any failed.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "deadletter_generated.h"
#include "score_batch_generated.h"
#include "scores_generated.h"

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const std::string kind = argv[1];
  int bad = 0;
  for (int i = 2; i < argc; ++i) {
    std::ifstream file(argv[i], std::ios::binary);
    std::vector<char> raw((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    // 8-aligned storage, as a consumer's receive buffer would be; the verifier checks alignment.
    std::vector<uint64_t> storage(raw.size() / 8 + 1);
    std::memcpy(storage.data(), raw.data(), raw.size());
    flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(storage.data()), raw.size());
    const bool ok = kind == "result"  ? streamscore::VerifyScoreResultBuffer(verifier)
                    : kind == "batch" ? streamscore::VerifyScoreBatchBuffer(verifier)
                    : kind == "dead"  ? streamscore::VerifyDeadLetterBuffer(verifier)
                                      : false;
    if (!ok) {
      std::printf("FAIL %s\n", argv[i]);
      ++bad;
    }
  }
  std::printf("%d/%d verified\n", argc - 2 - bad, argc - 2);
  return bad ? 1 : 0;
}
