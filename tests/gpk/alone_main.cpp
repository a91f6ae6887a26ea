// Built by build_alone.cmake from the counted decoder's files alone (copied
// into an empty folder; no other include path): proves the decoder is
// self-contained. Decodes a .gpk and prints every tensor, one per line:
//   name v0 v1 ...
// A damaged copy (one bit flipped) must be rejected.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

#include "gpk/artifact.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  std::ifstream f(argv[1], std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto a = golfpack::gpk::Artifact::Parse(bytes, argv[1]);
  if (!a.ok()) return std::fprintf(stderr, "%s\n", a.status().ToString().c_str()), 1;
  auto all = a->DecodeAll();
  if (!all.ok()) return std::fprintf(stderr, "%s\n", all.status().ToString().c_str()), 1;
  for (size_t i = 0; i < all->size(); ++i) {
    std::printf("%s", a->tensors()[i].name.c_str());
    for (float v : (*all)[i]) std::printf(" %g", v);
    std::printf("\n");
  }
  bytes[bytes.size() / 2] ^= 4;
  if (golfpack::gpk::Artifact::Parse(bytes, "damaged").ok()) return std::fprintf(stderr, "damaged copy accepted\n"), 1;
  return 0;
}
