// Decode throughput of a .gpk artifact: MB/s of float32 output through the
// fast decoders and through the scalar reference decoders.
//   decode_bench FILE.gpk [repeats]
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "core/artifact.h"
#include "core/file_util.h"
#include "codec/codecs.h"

using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: decode_bench FILE.gpk [repeats]\n");
    return 2;
  }
  const int reps = argc > 2 ? std::max(1, std::atoi(argv[2])) : 3;
  golfpack::encode::RegisterAllCodecs();
  auto bytes = golfpack::ReadFileBytes(argv[1]);
  if (!bytes.ok()) {
    std::fprintf(stderr, "decode_bench: %s\n", bytes.status().ToString().c_str());
    return 1;
  }
  auto t0 = Clock::now();
  auto art = golfpack::gpk::Artifact::Parse(*bytes, argv[1]);
  const double parse_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (!art.ok()) {
    std::fprintf(stderr, "decode_bench: %s\n", art.status().ToString().c_str());
    return 1;
  }
  uint64_t numel = 0;
  for (const auto& t : art->tensors()) numel += t.numel;
  // Fast: DecodeAll, each section decompressed once (what unpack and eval
  // use). Ref: the scalar reference decoders, tensor by tensor.
  auto time_decode = [&](bool ref) {
    double best = 1e300;
    for (int r = 0; r < reps; ++r) {
      auto s = Clock::now();
      if (!ref) {
        auto all = art->DecodeAll();
        if (!all.ok()) {
          std::fprintf(stderr, "decode_bench: %s\n", all.status().ToString().c_str());
          std::exit(1);
        }
      }
      for (size_t i = 0; ref && i < art->tensors().size(); ++i) {
        auto v = golfpack::gpk::DecodeTensorRef(*art, i);
        if (!v.ok()) {
          std::fprintf(stderr, "decode_bench: %s\n", v.status().ToString().c_str());
          std::exit(1);
        }
      }
      best = std::min(best, std::chrono::duration<double>(Clock::now() - s).count());
    }
    return best;
  };
  const double fast = time_decode(false), ref = time_decode(true);
  const double mb = 4.0 * double(numel) / 1e6;
  std::printf("%-12s %10s %12s %10s %14s %14s\n", "file_bytes", "tensors", "params", "parse_ms", "decode_MB/s", "ref_MB/s");
  std::printf("%-12zu %10zu %12llu %10.2f %14.1f %14.1f\n", bytes->size(), art->tensors().size(),
              (unsigned long long)numel, parse_ms, mb / fast, mb / ref);
  return 0;
}
