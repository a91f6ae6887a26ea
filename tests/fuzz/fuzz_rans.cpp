// libFuzzer harness for the rANS decoders and table parsers.
//   clang++ -std=c++20 -fsanitize=fuzzer,address -Isrc tests/fuzz/fuzz_rans.cpp src/core/*.cpp
// Input: mode byte, then
//   mode 0: FrequencyTable, varint n, order-0 payload
//   mode 1: ContextRansModel, varint n, context payload
//   mode 2: raw bytes used as symbols for compress/decompress round trips
//   mode 3: varint cols, varint n, column-class stream (model, classes, payload)
// Checks: no crash / out-of-bounds read, fast decoder == reference decoder
// (output and exact error), and an accepted payload re-encodes to exactly the
// same bytes (decoding is the inverse of encoding on valid streams).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "core/byte_reader.h"
#include "core/rans.h"

namespace {

using golfpack::ByteReader;

void Check(bool cond) {
  if (!cond) std::abort();
}

constexpr uint64_t kMaxSymbols = 1 << 16;

void FuzzOrder0(ByteReader& r, std::span<const uint8_t> data) {
  auto table = golfpack::FrequencyTable::Parse(r);
  if (!table.ok()) return;
  Check(table->SerializedSize() == r.position() - 1);
  Check(table->Serialize() == std::vector<uint8_t>(data.begin() + 1, data.begin() + static_cast<long>(r.position())));
  auto n = r.Varint("n");
  if (!n.ok()) return;
  const size_t count = static_cast<size_t>(*n % kMaxSymbols);
  auto stream = data.subspan(r.position());
  std::vector<uint16_t> fast(count), ref(count);
  golfpack::Status a = golfpack::RansDecode(stream, *table, count, fast);
  golfpack::Status b = golfpack::RansDecodeRef(stream, *table, count, ref);
  Check(a.code() == b.code() && a.message() == b.message());
  if (!a.ok()) return;
  Check(fast == ref);
  auto again = golfpack::RansEncode(fast, *table);
  Check(again.ok() && std::equal(again->begin(), again->end(), stream.begin(), stream.end()));
  Check(*golfpack::RansEncodedSize(fast, *table) == stream.size());
}

void FuzzContext(ByteReader& r, std::span<const uint8_t> data) {
  auto model = golfpack::ContextRansModel::Parse(r);
  if (!model.ok()) return;
  Check(model->SerializedSize() == r.position() - 1);
  auto n = r.Varint("n");
  if (!n.ok()) return;
  const size_t count = static_cast<size_t>(*n % kMaxSymbols);
  auto stream = data.subspan(r.position());
  std::vector<uint16_t> fast(count), ref(count);
  golfpack::Status a = golfpack::ContextRansDecode(stream, *model, count, fast);
  golfpack::Status b = golfpack::ContextRansDecodeRef(stream, *model, count, ref);
  Check(a.code() == b.code() && a.message() == b.message());
  if (!a.ok()) return;
  Check(fast == ref);
  auto again = golfpack::ContextRansEncode(fast, *model);
  Check(again.ok() && std::equal(again->begin(), again->end(), stream.begin(), stream.end()));
}

void FuzzColumns(ByteReader& r, std::span<const uint8_t> data) {
  auto cols = r.Varint("cols");
  auto n = r.Varint("n");
  if (!cols.ok() || !n.ok() || *cols == 0 || *cols > kMaxSymbols) return;
  const size_t count = static_cast<size_t>(*n % kMaxSymbols) / *cols * *cols;
  auto stream = data.subspan(r.position());
  std::vector<uint16_t> fast(count), ref(count);
  golfpack::Status a = golfpack::ColumnRansDecompress(stream, *cols, count, fast);
  golfpack::Status b = golfpack::ColumnRansDecompress(stream, *cols, count, ref, /*reference=*/true);
  Check(a.code() == b.code() && a.message() == b.message());
  if (a.ok()) Check(fast == ref);
}

void FuzzRoundTrip(std::span<const uint8_t> data) {
  if (data.size() < 3) return;
  const size_t alphabet = 1 + (size_t{data[0]} | size_t{data[1]} << 8) % golfpack::kRansMaxAlphabet;
  const int scale_bits = golfpack::kRansMinScaleBits + data[2] % 6;
  auto body = data.subspan(3);
  std::vector<uint16_t> symbols(body.size() / 2);
  for (size_t i = 0; i < symbols.size(); ++i)
    symbols[i] = static_cast<uint16_t>((body[2 * i] | body[2 * i + 1] << 8) % alphabet);
  std::vector<uint16_t> out(symbols.size());

  auto c = golfpack::RansCompress(symbols, alphabet, scale_bits);
  if (c.ok()) {  // fails only if more distinct symbols than 2^scale_bits
    Check(c->size() == *golfpack::RansCompressedSize(symbols, alphabet, scale_bits));
    Check(golfpack::RansDecompress(*c, symbols.size(), out).ok() && out == symbols);
  }
  const auto zero_point = static_cast<uint16_t>(data[0] % alphabet);
  const int contexts = 1 + data[1] % 8;
  auto cc = golfpack::ContextRansCompress(symbols, alphabet, zero_point, contexts, scale_bits);
  if (cc.ok()) {
    Check(cc->size() == *golfpack::ContextRansCompressedSize(symbols, alphabet, zero_point, contexts, scale_bits));
    Check(golfpack::ContextRansDecompress(*cc, symbols.size(), out).ok() && out == symbols);
  }
  const size_t cols = 1 + data[2] % 8;  // column classes, 2 of them, over whole rows
  std::vector<uint16_t> whole(symbols.begin(), symbols.begin() + static_cast<long>(symbols.size() / cols * cols));
  std::vector<uint8_t> cls(cols);
  for (size_t c = 0; c < cols; ++c) cls[c] = static_cast<uint8_t>(c % 2);
  auto col = golfpack::ColumnRansCompress(whole, alphabet, zero_point, 2, cls, scale_bits);
  if (col.ok()) {
    Check(col->size() == *golfpack::ColumnRansCompressedSize(whole, alphabet, zero_point, 2, cls, scale_bits));
    std::vector<uint16_t> back(whole.size());
    Check(golfpack::ColumnRansDecompress(*col, cols, whole.size(), back).ok() && back == whole);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::span<const uint8_t> in(data, size);
  ByteReader r(in);
  const uint8_t mode = *r.U8("mode") % 4;
  if (mode == 0) FuzzOrder0(r, in);
  if (mode == 1) FuzzContext(r, in);
  if (mode == 2) FuzzRoundTrip(in.subspan(1));
  if (mode == 3) FuzzColumns(r, in);
  return 0;
}
