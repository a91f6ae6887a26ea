// Writes a small seed corpus for each fuzz harness:
//   fuzz_seeds <dir>  ->  <dir>/artifact/*, <dir>/rans/*, <dir>/safetensors/*
// Plain executable (no libFuzzer main); scripts/fuzz runs it before fuzzing.
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/artifact.h"
#include "core/byte_reader.h"
#include "core/encodings.h"
#include "core/file_util.h"
#include "core/half.h"
#include "core/rans.h"
#include "fuzz_common.h"
#include "io/safetensors.h"

namespace {

using namespace golfpack;
using Bytes = std::vector<uint8_t>;

int failures = 0;
int written = 0;

void Write(const std::string& path, const Bytes& b) {
  Status s = WriteFileAtomic(path, b);
  if (!s.ok()) {
    std::fprintf(stderr, "fuzz_seeds: %s\n", s.ToString().c_str());
    ++failures;
  } else {
    ++written;
  }
}

template <typename T>
T Must(Result<T> r, const char* what) {
  if (!r.ok()) {
    std::fprintf(stderr, "fuzz_seeds: %s: %s\n", what, r.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

gpk::EncodedTensor T(std::string name, std::vector<uint64_t> shape, uint32_t enc, Bytes payload, Bytes params = {}) {
  gpk::EncodedTensor t;
  t.name = std::move(name);
  t.shape = std::move(shape);
  t.encoding = enc;
  t.payload = std::move(payload);
  t.params = std::move(params);
  return t;
}

std::vector<gpk::EncodedTensor> SampleTensors() {
  std::mt19937 rng(5);
  std::vector<gpk::EncodedTensor> ts;
  ByteWriter f32, f16, bf16, row, tens;
  for (int i = 0; i < 6; ++i) f32.F32(static_cast<float>(i) * 0.5f - 1.0f);
  for (int i = 0; i < 8; ++i) f16.U16(FloatToHalfBits(static_cast<float>(i) - 3.5f));
  for (int i = 0; i < 4; ++i) bf16.U16(FloatToBF16Bits(static_cast<float>(i) * 1.25f));
  ts.push_back(T("raw32", {2, 3}, gpk::kRawF32, f32.bytes()));
  ts.push_back(T("raw16", {8}, gpk::kRawF16, f16.bytes()));
  ts.push_back(T("rawbf", {2, 2}, gpk::kRawBF16, bf16.bytes()));
  for (int r = 0; r < 2; ++r) row.U16(FloatToHalfBits(0.01f * (r + 1)));
  for (int i = 0; i < 8; ++i) row.U8(static_cast<uint8_t>(rng()));
  ts.push_back(T("blocks.0.attn.c_q.weight", {2, 4}, gpk::kPgInt8Row, row.bytes()));
  tens.F32(0.03f);
  for (int i = 0; i < 5; ++i) tens.U8(static_cast<uint8_t>(rng()));
  ts.push_back(T("pg_vec", {5}, gpk::kPgInt8Tensor, tens.bytes()));
  for (uint8_t packing : {0, 1}) {
    gpk::UniformParams p{static_cast<uint8_t>(packing ? 3 : 7), packing, packing, packing ? 2u : 0u};
    const uint64_t rows = 2, cols = 4, ns = rows * (p.group_size ? cols / p.group_size : 1);
    ByteWriter u;
    for (uint64_t s = 0; s < ns; ++s) {
      if (p.scale_dtype == 1) u.F32(0.25f); else u.U16(FloatToHalfBits(0.25f));
    }
    if (packing == 0) {
      for (int i = 0; i < 8; ++i) u.U8(static_cast<uint8_t>(static_cast<int8_t>(i * 9 - 31)));
    } else {
      u.Bytes(Bytes{0x4d, 0x1a, 0x05});  // 8 codes x 3 bits = 3 bytes, stored values <= 6
    }
    ts.push_back(T("uniform" + std::to_string(packing), {rows, cols}, gpk::kUniform, u.bytes(), p.Serialize()));
  }
  ByteWriter c;
  c.F32(1.0f);
  ts.push_back(T("ln.weight", {16}, gpk::kConst, {}, c.bytes()));
  return ts;
}

void ArtifactSeeds(const std::string& dir) {
  fuzz::RegisterFuzzCodecs();
  auto ts = SampleTensors();
  gpk::WriteOptions own;
  own.metadata = {{"arch", "gpt"}, {"golfpack.version", "0.1.0"}};
  Write(dir + "/own_sections.gpk", Must(gpk::BuildArtifact(ts, own), "own sections"));
  gpk::WriteOptions shared;
  shared.sections = {{gpk::Codec::kNone, -1, {0, 1, 2, 3}}, {gpk::Codec::kZlib, -1, {4, 5, 6, 7}}};
  Write(dir + "/shared_sections.gpk", Must(gpk::BuildArtifact(ts, shared), "shared sections"));
  Write(dir + "/one_tensor.gpk", Must(gpk::BuildArtifact({ts[3]}, {}), "one tensor"));
  Write(dir + "/empty.gpk", Must(gpk::BuildArtifact({}, {}), "empty"));
  // Version 2: two codebook tensors sharing one object, in one zlib section.
  gpk::WriteOptions v2;
  ByteWriter levels, cb;
  for (int i = 0; i < 4; ++i) levels.F32(static_cast<float>(i) - 1.5f);
  v2.objects = {{"levels", gpk::kObjF32Values, levels.bytes()}};
  for (int r = 0; r < 2; ++r) cb.U16(FloatToHalfBits(0.5f));
  cb.Bytes(Bytes{0xe4, 0x1b});  // 8 indices x 2 bits
  auto book = T("codebook", {2, 4}, gpk::kCodebook, cb.bytes(), gpk::CodebookParams{2, 0, 0}.Serialize());
  book.refs = {0};
  auto book2 = book;
  book2.name = "codebook2";
  v2.sections = {{gpk::Codec::kZlib, -1, {0, 1, 2}, {0}}};
  Write(dir + "/objects_v2.gpk", Must(gpk::BuildArtifact({ts[0], book, book2}, v2), "objects v2"));
  // Encoding 9 (lowrank): 4-bit factors over the packed uniform tensor, f16
  // factors over the raw f32 one, sharing a zlib section with a plain tensor.
  auto lowrank = [](const gpk::EncodedTensor& in, uint8_t rank, uint8_t bits, uint64_t group, const Bytes& factors) {
    gpk::LowRankParams p;
    p.inner = in.encoding;
    p.inner_params = in.params;
    p.inner_payload = in.payload.size();
    p.rank = rank;
    p.bits = bits;
    p.group = group;
    Bytes payload = in.payload;
    payload.insert(payload.end(), factors.begin(), factors.end());
    return T("lowrank_" + in.name, in.shape, gpk::kLowRank, payload, p.Serialize());
  };
  ByteWriter f4, f16;
  f4.U16(FloatToHalfBits(0.01f));  // A stored as A^T [1 x 2], group 2: one scale, codes 12, 9
  f4.U8(0x9c);
  for (float s : {0.5f, 0.25f}) f4.U16(FloatToHalfBits(s));   // B [1 x 4], group 2: two scales, codes 10, 3, 14, 7
  f4.Bytes(Bytes{0x3a, 0x7e});
  for (int i = 0; i < 10; ++i) f16.U16(FloatToHalfBits(0.125f * static_cast<float>(i - 5)));  // A [2 x 2], B [2 x 3]
  gpk::WriteOptions lr;
  lr.sections = {{gpk::Codec::kNone, -1, {0}}, {gpk::Codec::kZlib, -1, {1, 2}}};
  Write(dir + "/lowrank.gpk",
        Must(gpk::BuildArtifact({lowrank(ts[6], 1, 4, 2, f4.bytes()), lowrank(ts[0], 2, 16, 0, f16.bytes()), ts[3]}, lr),
             "lowrank"));
  // Encoding 10 (patch): FORMAT.md's worked example (two columns of the raw
  // f32 tensor, 4-bit values, rice_k 1), and one f16 exception on element 4
  // of the lowrank tensor (patch over lowrank over raw f32).
  auto patch = [](const gpk::EncodedTensor& in, uint8_t unit, uint8_t bits, uint8_t rice_k, uint64_t count,
                  const Bytes& tail) {
    gpk::PatchParams p;
    p.inner = in.encoding;
    p.inner_params = in.params;
    p.inner_payload = in.payload.size();
    p.unit = unit;
    p.bits = bits;
    p.rice_k = rice_k;
    p.count = count;
    Bytes payload = in.payload;
    payload.insert(payload.end(), tail.begin(), tail.end());
    return T("patch_" + in.name, in.shape, gpk::kPatch, payload, p.Serialize());
  };
  const auto lr16 = lowrank(ts[0], 2, 16, 0, f16.bytes());
  gpk::WriteOptions pw;
  pw.sections = {{gpk::Codec::kNone, -1, {0}}, {gpk::Codec::kZlib, -1, {1, 2}}};
  Write(dir + "/patch.gpk",
        Must(gpk::BuildArtifact({patch(ts[0], gpk::kPatchColumn, 4, 1, 2, Bytes{0x00, 0x38, 0x00, 0x3c, 0x59, 0x87, 0x08}),
                                 patch(lr16, gpk::kPatchElement, 16, 0, 1, Bytes{0x00, 0x38, 0x0f}), ts[3]},
                                pw),
             "patch"));
  // Version 3: byte-shuffled sections. Stride 2 over an odd-sized (33-byte)
  // uncompressed section, stride 3 over a zlib section with the shared object,
  // stride 15 over an 8-byte section (chunks 8 to 14 empty), and a zlib section
  // without a shuffle.
  gpk::WriteOptions v3;
  v3.objects = v2.objects;
  v3.sections = {{gpk::Codec::kNone, -1, {0, 4}, {}, 2},
                 {gpk::Codec::kZlib, -1, {1, 2, 5}, {0}, 3},
                 {gpk::Codec::kNone, -1, {7}, {}, 15},
                 {gpk::Codec::kZlib, -1, {3, 6}}};
  Write(dir + "/shuffled_v3.gpk",
        Must(gpk::BuildArtifact({ts[0], book, book2, ts[1], ts[4], ts[6], ts[7], ts[2]}, v3), "shuffled v3"));
  // ans_grid with the row-order carry: FORMAT.md's worked example (6 x 1,
  // carry 1), and the same codes without the carry (12 scale bytes stored).
  {
    std::vector<uint16_t> sym;
    for (int code : {0, 2, -1, 1, 3, 5}) sym.push_back(static_cast<uint16_t>(code + 5));
    const Bytes stream = Must(RansCompress(sym, 11), "carry stream");
    Bytes carried = {0x3c, 0x00, 0x40, 0x00, 0x42, 0x00, 0x44, 0x00, 0x45, 0x00, 0x46};
    Bytes plain = {0x00, 0x40, 0x00, 0x44, 0xa8, 0x3c, 0x00, 0x42, 0x00, 0x45, 0x00, 0x46};
    carried.insert(carried.end(), stream.begin(), stream.end());
    plain.insert(plain.end(), stream.begin(), stream.end());
    Write(dir + "/carry.gpk",
          Must(gpk::BuildArtifact({T("carry", {6, 1}, gpk::kAnsGrid, carried, Bytes{0, 0, 0, 0, 0, 0x80, 1, 0}),
                                   T("plain", {6, 1}, gpk::kAnsGrid, plain, Bytes{0, 0, 0, 0, 0, 0})},
                                  {}),
               "carry"));
  }
  // ans_grid model 10: a 4-state trellis grid with column classes (K = 2,
  // column 0 in class 0, column 1 in class 1) decoding to rows (2, 3), (0, -2):
  // union 0 holds v = 1, 0 (class 0) then -1 (class 1), union 1 holds v = 1
  // (class 1); each union's symbols are v + 1.
  {
    auto segmented = [](const std::vector<uint16_t>& sym, const std::vector<uint8_t>& seg) {
      auto model = Must(ContextRansModel::BuildByColumn(sym, 3, 1, 2, seg), "segmented model");
      ByteWriter w;
      model.Serialize(w);
      w.Bytes(Must(ColumnRansEncode(sym, model, seg), "segmented stream"));
      return std::move(w).Take();
    };
    const Bytes u0 = segmented({2, 1, 0}, {0, 0, 1}), u1 = segmented({2}, {1});
    Bytes pl = {0x00, 0x3c, 0x00, 0x3c, 2, 0x02, 0, 1, uint8_t(u0.size())};
    pl.insert(pl.end(), u0.begin(), u0.end());
    pl.insert(pl.end(), u1.begin(), u1.end());
    Write(dir + "/trellis_classes.gpk",
          Must(gpk::BuildArtifact({T("tcc", {2, 2}, gpk::kAnsGrid, pl, Bytes{0, 0, 0, 0, 0, 10})}, {}),
               "trellis classes"));
    const Bytes file = Must(ReadFileBytes(dir + "/trellis_classes.gpk"), "read");  // the artifact views it
    auto a = Must(gpk::Artifact::Parse(file, "tcc"), "parse");
    const auto v = Must(a.DecodeTensor(0), "decode trellis classes");
    const auto r = Must(DecodeTensorRef(a, 0), "reference-decode trellis classes");
    if (v != std::vector<float>{2, 3, 0, -2} || r != v) {
      std::fprintf(stderr, "fuzz_seeds: trellis_classes.gpk decodes to %g %g %g %g\n", v[0], v[1], v[2], v[3]);
      ++failures;
    }
  }
  // Every seed must decode: a seed the reader rejects teaches the fuzzer little.
  for (const char* name : {"/own_sections.gpk", "/shared_sections.gpk", "/one_tensor.gpk", "/empty.gpk", "/objects_v2.gpk",
                           "/lowrank.gpk", "/patch.gpk", "/shuffled_v3.gpk", "/carry.gpk", "/trellis_classes.gpk"}) {
    Bytes b = Must(ReadFileBytes(dir + name), "read seed");
    auto a = Must(gpk::Artifact::Parse(b, dir + name), "parse seed");
    Must(a.DecodeAll(), "decode seed");
    if (std::string(name) == "/shuffled_v3.gpk" && (a.version() != 3 || a.sections()[2].shuffle != 15)) {
      std::fprintf(stderr, "fuzz_seeds: shuffled_v3.gpk is version %d, not a shuffled version 3\n", int(a.version()));
      ++failures;
    }
  }
}

void RansSeeds(const std::string& dir) {
  std::mt19937 rng(11);
  std::vector<uint16_t> symbols(300);
  for (auto& s : symbols) s = static_cast<uint16_t>(std::min<uint32_t>(rng() % 40, rng() % 40));
  // mode 0: table, varint n, payload.
  std::vector<uint64_t> counts(40, 0);
  for (uint16_t s : symbols) ++counts[s];
  auto table = Must(FrequencyTable::FromCounts(counts, 12), "table");
  ByteWriter m0;
  m0.U8(0);
  table.Serialize(m0);
  m0.Varint(symbols.size());
  m0.Bytes(Must(RansEncode(symbols, table), "rans encode"));
  Write(dir + "/order0", m0.bytes());
  // mode 1: context model, varint n, payload.
  auto model = Must(ContextRansModel::Build(symbols, 40, 0, 4, 12), "context model");
  ByteWriter m1;
  m1.U8(1);
  model.Serialize(m1);
  m1.Varint(symbols.size());
  m1.Bytes(Must(ContextRansEncode(symbols, model), "context encode"));
  Write(dir + "/context", m1.bytes());
  // mode 3: varint cols, varint n, column-class stream (4 columns, classes 0 1 0 1).
  ByteWriter m3;
  m3.U8(3);
  const std::vector<uint16_t> rows4(symbols.begin(), symbols.begin() + static_cast<long>(symbols.size() / 4 * 4));
  m3.Varint(4);
  m3.Varint(rows4.size());
  m3.Bytes(Must(ColumnRansCompress(rows4, 40, 0, 2, std::vector<uint8_t>{0, 1, 0, 1}, 12), "column encode"));
  Write(dir + "/columns", m3.bytes());
  // mode 2: raw round-trip input.
  Bytes m2{2, 0x20, 0x00, 0x03};
  for (int i = 0; i < 200; ++i) m2.push_back(static_cast<uint8_t>(rng() % 7));
  Write(dir + "/roundtrip", m2);
}

void SafetensorsSeeds(const std::string& dir) {
  io::TensorFile f;
  std::vector<float> v{1.0f, -2.0f, 0.5f, 3.25f, 0.0f, -0.125f};
  f.tensors.push_back(io::Tensor::FromFloat32("w", {2, 3}, v, io::DType::kF32));
  f.tensors.push_back(io::Tensor::FromFloat32("h", {6}, v, io::DType::kF16));
  f.tensors.push_back(io::Tensor::FromFloat32("b", {3, 2}, v, io::DType::kBF16));
  f.metadata["format"] = "pt";
  Write(dir + "/three_tensors.safetensors", Must(io::SerializeSafetensors(f), "safetensors"));
  io::TensorFile one;
  one.tensors.push_back(io::Tensor::FromFloat32("x", {}, std::vector<float>{7.0f}, io::DType::kF64));
  Write(dir + "/scalar.safetensors", Must(io::SerializeSafetensors(one), "safetensors"));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_seeds <dir>\n");
    return 2;
  }
  const std::string root = argv[1];
  for (const char* sub : {"/artifact", "/rans", "/safetensors"}) std::filesystem::create_directories(root + sub);
  ArtifactSeeds(root + "/artifact");
  RansSeeds(root + "/rans");
  SafetensorsSeeds(root + "/safetensors");
  std::printf("fuzz_seeds: wrote %d seed files under %s\n", written, root.c_str());
  return failures == 0 ? 0 : 1;
}
