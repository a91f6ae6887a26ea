#include "codec/encoder.h"

#include <gtest/gtest.h>

#include "codec/codecs.h"
#include "codec/half.h"
#include "test_helpers.h"

namespace golfpack::encode {
namespace {

using testing::BitEqual;
using testing::DecodeWithCore;
using testing::Gaussian;

TEST(Factory, EveryDocumentedSpecParsesAndRoundTripsItsName) {
  const char* specs[] = {"f32",
                         "f16",
                         "bf16",
                         "const",
                         "pg_int8",
                         "pg_int8_row",
                         "pg_int8_tensor",
                         "u6:row:sd12.85",
                         "u8:g64:q0.9999",
                         "u4:row:none",
                         "u2:g8:none:packed",
                         "u7:row:q1:sf32",
                         "u5:g16:sd3:packed:sbf16",
                         "u6:row:sd12.85:nocap",
                         "gptq:u6:row:sd12.85",
                         "gptq:u4:g128:none:noact:damp0.05:block64",
                         "gptq:u8:row:q0.999:packed:sf32",
                         "tcq:s0.5:st3",
                         "tcq:s0.25:st8:l0:it1:b32:rc4:bf16",
                         "gptq:tcq:s0.35:st2:l0.2:f32",
                         "gptq:tcq:s1:st3:damp0.05",
                         "gptq:tcq:s0.7:st3:ub0.5"};
  for (const char* s : specs) {
    auto e = MakeEncoder(s);
    ASSERT_TRUE(e.ok()) << s << ": " << e.status().ToString();
    EXPECT_EQ((*e)->spec(), s);
    auto again = MakeEncoder((*e)->spec());
    ASSERT_TRUE(again.ok());
    EXPECT_EQ((*again)->spec(), (*e)->spec());
  }
  // Non-canonical but valid forms normalize.
  auto b = MakeEncoder("u8:row:none:bytes:sf16");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)->spec(), "u8:row:none");
  auto g = MakeEncoder("gptq:u6:row:sd12.85:act:damp0.01:block128");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ((*g)->spec(), "gptq:u6:row:sd12.85");
  EXPECT_TRUE((*g)->needs_hessian());
  // rd's trellis candidates name their scope; the canonical form drops it.
  auto t = MakeEncoder("gptq:tcq:s0.1767765:st3:row");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ((*t)->spec(), "gptq:tcq:s0.1767765:st3");
  EXPECT_TRUE((*t)->needs_hessian());
  auto plain = MakeEncoder("tcq:s0.5:st3:f16:l0.3");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ((*plain)->spec(), "tcq:s0.5:st3");
  EXPECT_FALSE((*plain)->needs_hessian());
}

TEST(Factory, BadSpecsNameTheSpecAndTheBadPart) {
  const std::pair<const char*, const char*> bad[] = {
      {"", "empty"},
      {"f64", "'f64'"},
      {"u9:row:none", "bits '9'"},
      {"u1:row:none", "bits '1'"},
      {"ux:row:none", "bits 'x'"},
      {"u6", "missing scope"},
      {"u6:col:none", "scope 'col'"},
      {"u6:g0:none", "group size '0'"},
      {"u6:gx:none", "group size 'x'"},
      {"u6:row", "missing clip"},
      {"u6:row:clip", "clip 'clip'"},
      {"u6:row:q1.5", "quantile clip 'q1.5'"},
      {"u6:row:q", "quantile clip 'q'"},
      {"u6:row:sd-1", "std clip 'sd-1'"},
      {"u6:row:sdabc", "std clip 'sdabc'"},
      {"u6:row:none:fast", "unknown option 'fast'"},
      {"u6:row:none:noact", "only applies to gptq"},
      {"gptq", "unknown encoder ''"},
      {"gptq:f16", "unknown encoder 'f16'"},
      {"gptq:u6:row:none:dampx", "damping 'dampx'"},
      {"gptq:u6:row:none:block0", "block size 'block0'"},
      {"pg_int8:row", "unknown encoder 'pg_int8'"},
      {"tcq", "missing step"},
      {"tcq:st3", "missing step"},
      {"tcq:s0", "step 's0'"},
      {"tcq:s0.5:st9", "state bits 'st9'"},
      {"tcq:s0.5:it0", "Viterbi passes 'it0'"},
      {"tcq:s0.5:rc17", "rate classes 'rc17'"},
      {"tcq:s0.5:b0", "block 'b0'"},
      {"tcq:s0.5:l-1", "lambda 'l-1'"},
      {"tcq:s0.5:ub3", "output-gain correction 'ub3'"},
      {"tcq:s0.5:g64", "unknown tcq option 'g64'"},
      {"tcq:s0.5:damp0.1", "only applies to gptq"},
  };
  for (const auto& [spec, part] : bad) {
    auto e = MakeEncoder(spec);
    ASSERT_FALSE(e.ok()) << "accepted '" << spec << "'";
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
    const std::string& m = e.status().message();
    std::string quoted = "'";
    quoted += spec;
    quoted += "'";
    EXPECT_NE(m.find(quoted), std::string::npos) << m;
    EXPECT_NE(m.find(part), std::string::npos) << spec << " -> " << m;
  }
}

// decode(encode(w)) through core's registry matches each encoder's own definition.
TEST(Factory, DecodeOfEncodeMatchesExpectation) {
  const std::vector<uint64_t> shape = {64, 128};
  const std::vector<float> w = Gaussian(64 * 128, 0.05f, 21);
  auto check = [&](const std::string& spec, auto expected_fn, const Eigen::MatrixXd* h = nullptr) {
    SCOPED_TRACE(spec);
    auto e = MakeEncoder(spec);
    ASSERT_TRUE(e.ok());
    auto t = (*e)->Encode("blocks.0.mlp.fc.weight", shape, w, h);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_EQ(t->name, "blocks.0.mlp.fc.weight");
    EXPECT_EQ(t->shape, shape);
    const std::vector<float> dec = DecodeWithCore(*t);
    ASSERT_EQ(dec.size(), w.size());
    for (size_t i = 0; i < w.size(); ++i) ASSERT_TRUE(BitEqual(dec[i], expected_fn(i))) << i;
  };
  check("f32", [&](size_t i) { return w[i]; });
  check("f16", [&](size_t i) { return F16ToF32(F32ToF16(w[i])); });
  check("bf16", [&](size_t i) { return BF16ToF32(F32ToBF16(w[i])); });
  check("pg_int8", [&](size_t i) { return F16ToF32(F32ToF16(w[i])); });  // 8192 elements: kept as f16
  for (const char* s : {"u6:row:sd12.85", "u8:g64:q0.9999", "u4:row:none", "u3:g32:sd2.5:packed:sbf16"}) {
    auto spec_enc = MakeEncoder(s);
    ASSERT_TRUE(spec_enc.ok());
    // Expected: codes and scales from QuantizeUniform with the same grid.
    UniformSpec grid;
    // Re-derive the grid through a gptq wrapper to get at the parsed UniformSpec.
    auto g = MakeEncoder(std::string("gptq:") + s);
    ASSERT_TRUE(g.ok());
    grid = static_cast<const GptqEncoder&>(**g).grid();
    auto q = QuantizeUniform("x", shape, w, grid);
    ASSERT_TRUE(q.ok());
    const std::vector<float> want = DequantizeUniform(*q);
    check(s, [&](size_t i) { return want[i]; });
  }
  // pg_int8_row: code * f16(scale).
  {
    auto t = EncodePgInt8Row("x", shape, w);
    ASSERT_TRUE(t.ok());
    std::vector<float> want(w.size());
    for (size_t i = 0; i < w.size(); ++i) {
      const size_t r = i / 128;
      const uint16_t h = static_cast<uint16_t>(t->payload[2 * r] | (t->payload[2 * r + 1] << 8));
      want[i] = static_cast<float>(static_cast<int8_t>(t->payload[128 + i])) * F16ToF32(h);
    }
    check("pg_int8_row", [&](size_t i) { return want[i]; });
  }
  // gptq with a Hessian: matches the GptqQuantize result it reports.
  Eigen::MatrixXd H = Eigen::MatrixXd::Identity(128, 128);
  for (int i = 0; i < 127; ++i) H(i, i + 1) = H(i + 1, i) = 0.4;
  auto g = MakeEncoder("gptq:u4:row:none");
  ASSERT_TRUE(g.ok());
  auto stats = static_cast<const GptqEncoder&>(**g).EncodeWithStats("x", shape, w, H);
  ASSERT_TRUE(stats.ok());
  const std::vector<float> want = DequantizeUniform(stats->quant);
  check("gptq:u4:row:none", [&](size_t i) { return want[i]; }, &H);
  // tcq: the trellis grid of tcq_grid.h, plain Viterbi or block LDLQ with H
  // (variable-size payloads: both core decoders instead of the size rule).
  {
    auto tcq_check = [&](const std::string& spec, const std::vector<float>& want, const Eigen::MatrixXd* h) {
      SCOPED_TRACE(spec);
      auto e = MakeEncoder(spec);
      ASSERT_TRUE(e.ok());
      auto t = (*e)->Encode("blocks.0.mlp.fc.weight", shape, w, h);
      ASSERT_TRUE(t.ok()) << t.status().ToString();
      EXPECT_EQ(t->encoding, gpk::kAnsGrid);
      auto dec = (*e)->Decode(*t);
      ASSERT_TRUE(dec.ok()) << dec.status().ToString();
      std::vector<float> ref(w.size());
      ASSERT_TRUE(gpk::DecodeRef(t->encoding, gpk::TensorView{t->shape, w.size(), t->params, t->payload}, ref).ok());
      for (size_t i = 0; i < w.size(); ++i) {
        ASSERT_TRUE(BitEqual((*dec)[i], want[i])) << i;
        ASSERT_TRUE(BitEqual(ref[i], want[i])) << i;
      }
    };
    TcqGridSpec spec;
    spec.step = 0.5;
    auto q = QuantizeTcqGrid("x", shape, w, spec);
    ASSERT_TRUE(q.ok());
    const std::vector<float> want_tcq = DequantizeTcqGrid(*q);
    tcq_check("tcq:s0.5:st3", want_tcq, nullptr);
    GptqOptions o;
    o.act_order = false;
    auto f = GptqFactorize("x", H, o);
    ASSERT_TRUE(f.ok());
    auto gq = GptqTcqGridQuant("x", shape, w, *f, spec);
    ASSERT_TRUE(gq.ok());
    const std::vector<float> want_gptq = DequantizeTcqGrid(*gq);
    tcq_check("gptq:tcq:s0.5:st3", want_gptq, &H);
    size_t differ = 0;
    for (size_t i = 0; i < w.size(); ++i) differ += want_gptq[i] != want_tcq[i];
    EXPECT_GT(differ, w.size() / 20);  // the error feedback moved codes
    // ub: the output-gain correction, identity-weighted without H, H-weighted with it.
    spec.debias = 0.5;
    auto qu = QuantizeTcqGrid("x", shape, w, spec);
    ASSERT_TRUE(qu.ok());
    tcq_check("tcq:s0.5:st3:ub0.5", DequantizeTcqGrid(*qu), nullptr);
    EXPECT_NE(qu->scales, q->scales);
    auto gu = GptqTcqGridQuant("x", shape, w, *f, spec, nullptr, &H);
    ASSERT_TRUE(gu.ok());
    tcq_check("gptq:tcq:s0.5:st3:ub0.5", DequantizeTcqGrid(*gu), &H);
    EXPECT_EQ(gu->codes, gq->codes);
  }
}

TEST(Factory, GptqWithoutHessianIsAClearError) {
  auto e = MakeEncoder("gptq:u6:row:sd12.85");
  ASSERT_TRUE(e.ok());
  const std::vector<uint64_t> shape = {4, 4};
  const std::vector<float> w(16, 0.1f);
  auto t = (*e)->Encode("blocks.1.attn.c_q.weight", shape, w, nullptr);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find("blocks.1.attn.c_q.weight"), std::string::npos);
  EXPECT_NE(t.status().message().find("needs a Hessian"), std::string::npos);
  EXPECT_NE(t.status().message().find("'u6:row:sd12.85'"), std::string::npos);
  auto tq = MakeEncoder("gptq:tcq:s0.5:st3");
  ASSERT_TRUE(tq.ok());
  auto tt = (*tq)->Encode("blocks.1.mlp.fc.weight", shape, w, nullptr);
  ASSERT_FALSE(tt.ok());
  EXPECT_NE(tt.status().message().find("blocks.1.mlp.fc.weight"), std::string::npos);
  EXPECT_NE(tt.status().message().find("'tcq:s0.5:st3'"), std::string::npos);
  // Plain encoders ignore a Hessian.
  auto u = MakeEncoder("u6:row:sd12.85");
  ASSERT_TRUE(u.ok());
  EXPECT_FALSE((*u)->needs_hessian());
  Eigen::MatrixXd H = Eigen::MatrixXd::Identity(4, 4);
  EXPECT_TRUE((*u)->Encode("x", shape, w, &H).ok());
}

TEST(Factory, ConstEncoderAndArtifactRoundTrip) {
  // A whole file through core's writer and reader with compressed sections.
  RegisterAllCodecs();
  const std::vector<uint64_t> s2 = {32, 64};
  const std::vector<float> w = Gaussian(32 * 64, 0.02f, 5);
  std::vector<gpk::EncodedTensor> tensors;
  for (const char* spec : {"u6:row:sd12.85", "u5:g16:none:packed", "pg_int8_row", "f16"}) {
    auto e = MakeEncoder(spec);
    ASSERT_TRUE(e.ok());
    auto t = (*e)->Encode(std::string("t.") + spec, s2, w, nullptr);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    tensors.push_back(std::move(*t));
  }
  auto c = MakeEncoder("const");
  ASSERT_TRUE(c.ok());
  const std::vector<float> ones(64, 1.0f);
  const std::vector<uint64_t> s1 = {64};
  auto ct = (*c)->Encode("t.ones", s1, ones, nullptr);
  ASSERT_TRUE(ct.ok());
  tensors.push_back(std::move(*ct));

  for (gpk::Codec codec : {gpk::Codec::kZlib, gpk::Codec::kZstd, gpk::Codec::kXz, gpk::Codec::kBrotli}) {
    gpk::WriteOptions opt;
    gpk::SectionPlan all;
    all.codec = codec;
    for (size_t i = 0; i < tensors.size(); ++i) all.tensors.push_back(i);
    opt.sections.push_back(all);
    auto bytes = gpk::BuildArtifact(tensors, opt);
    ASSERT_TRUE(bytes.ok()) << gpk::CodecName(codec) << ": " << bytes.status().ToString();
    auto art = gpk::Artifact::Parse(*bytes, "mem");
    ASSERT_TRUE(art.ok()) << art.status().ToString();
    ASSERT_EQ(art->tensors().size(), tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
      auto dec = art->DecodeTensor(i);
      ASSERT_TRUE(dec.ok()) << dec.status().ToString();
      EXPECT_EQ(*dec, DecodeWithCore(tensors[i])) << tensors[i].name;
    }
  }
}

}  // namespace
}  // namespace golfpack::encode
