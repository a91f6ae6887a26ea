#include "codec/encoder.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <vector>

#include "codec/bytes.h"

namespace golfpack::encode {

TensorEncoder::~TensorEncoder() = default;

Status TensorEncoder::Fit(std::span<const FitTensor>) { return Status::Ok(); }

Result<std::vector<float>> TensorEncoder::Decode(const gpk::EncodedTensor& e) const {
  const gpk::EncodingTraits* enc = gpk::FindEncoding(e.encoding);
  if (enc == nullptr) return InvalidArgument("tensor '" + e.name + "': unknown encoding " + std::to_string(e.encoding));
  const std::vector<gpk::EncodedObject> objs = objects();
  std::vector<gpk::ObjectView> views;
  for (uint32_t r : e.refs) {
    if (r >= objs.size())
      return InvalidArgument("tensor '" + e.name + "': ref " + std::to_string(r) + " but encoder '" + spec() +
                             "' has " + std::to_string(objs.size()) + " objects (not fitted?)");
    views.push_back({objs[r].kind, {}, objs[r].payload});
  }
  uint64_t numel = 1;
  for (uint64_t d : e.shape) numel *= d;
  std::vector<float> out(numel);
  GP_RETURN_IF_ERROR(enc->decode(gpk::TensorView{e.shape, numel, e.params, e.payload, views}, out));
  return out;
}

namespace {

class RawEncoder final : public TensorEncoder {
 public:
  explicit RawEncoder(gpk::TargetDType d) : dtype_(d) {}
  std::string spec() const override {
    return dtype_ == gpk::TargetDType::kF32 ? "f32" : dtype_ == gpk::TargetDType::kF16 ? "f16" : "bf16";
  }
  Result<gpk::EncodedTensor> Encode(const std::string& name, std::span<const uint64_t> shape,
                                    std::span<const float> w, const Eigen::MatrixXd*) const override {
    return EncodeRaw(name, shape, w, dtype_);
  }

 private:
  gpk::TargetDType dtype_;
};

class ConstEncoder final : public TensorEncoder {
 public:
  std::string spec() const override { return "const"; }
  Result<gpk::EncodedTensor> Encode(const std::string& name, std::span<const uint64_t> shape,
                                    std::span<const float> w, const Eigen::MatrixXd*) const override {
    return EncodeConst(name, shape, w);
  }
};

class PgEncoder final : public TensorEncoder {
 public:
  enum Mode { kBaseline, kRow, kTensor };
  explicit PgEncoder(Mode m) : mode_(m) {}
  std::string spec() const override {
    return mode_ == kBaseline ? "pg_int8" : mode_ == kRow ? "pg_int8_row" : "pg_int8_tensor";
  }
  Result<gpk::EncodedTensor> Encode(const std::string& name, std::span<const uint64_t> shape,
                                    std::span<const float> w, const Eigen::MatrixXd*) const override {
    switch (mode_) {
      case kRow: return EncodePgInt8Row(name, shape, w);
      case kTensor: return EncodePgInt8Tensor(name, shape, w);
      default: return EncodePgBaseline(name, shape, w);
    }
  }

 private:
  Mode mode_;
};

class UniformEncoder final : public TensorEncoder {
 public:
  explicit UniformEncoder(UniformSpec s) : spec_(s) {}
  std::string spec() const override { return spec_.ToString(); }
  Result<gpk::EncodedTensor> Encode(const std::string& name, std::span<const uint64_t> shape,
                                    std::span<const float> w, const Eigen::MatrixXd*) const override {
    return EncodeUniform(name, shape, w, spec_);
  }

 private:
  UniformSpec spec_;
};

std::vector<std::string_view> Split(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t p = s.find(':', start);
    out.push_back(s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  return out;
}

bool ParseDouble(std::string_view s, double* v) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && std::isfinite(*v);
}

bool ParseUint(std::string_view s, uint64_t* v) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

}  // namespace

namespace {
std::string GptqSuffix(const GptqOptions& o) {
  std::string s;
  if (!o.act_order) s += ":noact";
  if (o.percdamp != GptqOptions().percdamp) s += ":damp" + detail::FormatDouble(o.percdamp);
  if (o.block_size != GptqOptions().block_size) s += ":block" + std::to_string(o.block_size);
  return s;
}

// Parses one gptq-only option into *o; false when `tok` is not one.
// *error is set for a malformed value.
bool ParseGptqOption(std::string_view tok, GptqOptions* o, std::string* error) {
  const std::string os(tok);
  if (tok == "noact") {
    o->act_order = false;
  } else if (tok == "act") {
    o->act_order = true;
  } else if (StartsWith(tok, "damp")) {
    if (!ParseDouble(tok.substr(4), &o->percdamp) || o->percdamp < 0.0)
      *error = "damping '" + os + "' needs a number >= 0, like damp0.01";
  } else if (StartsWith(tok, "block")) {
    uint64_t b = 0;
    if (!ParseUint(tok.substr(5), &b) || b == 0 || b > 65536) {
      *error = "block size '" + os + "' needs an integer 1..65536, like block128";
    } else {
      o->block_size = static_cast<int>(b);
    }
  } else {
    return false;
  }
  return true;
}

// tok[at..] after "ans": "s<step>" ":" scope { ":" option }.
// Scope token: "row" (0) or "g<N>" (N > 0 columns per scale).
Status ParseScope(std::string_view tok, uint32_t* group, const std::function<Status(const std::string&)>& bad) {
  if (tok == "row") {
    *group = 0;
    return Status::Ok();
  }
  uint64_t g = 0;
  if (!StartsWith(tok, "g")) return bad("scope '" + std::string(tok) + "' must be 'row' or 'g<N>'");
  if (!ParseUint(tok.substr(1), &g) || g == 0 || g > UINT32_MAX)
    return bad("group size '" + std::string(tok.substr(1)) + "' must be a positive integer");
  *group = static_cast<uint32_t>(g);
  return Status::Ok();
}

Result<std::unique_ptr<TensorEncoder>> ParseAns(const std::vector<std::string_view>& tok, size_t at, bool gptq,
                                                const std::function<Status(const std::string&)>& bad) {
  AnsGridSpec grid;
  if (at >= tok.size() || !StartsWith(tok[at], "s") || StartsWith(tok[at], "sf") || StartsWith(tok[at], "sb"))
    return bad("missing step after 'ans' (expected s<step>, like ans:s0.3:row)");
  if (!ParseDouble(tok[at].substr(1), &grid.step) || !(grid.step > 0.0))
    return bad("step '" + std::string(tok[at]) + "' needs a number > 0, like s0.3");
  ++at;
  if (at >= tok.size()) return bad("missing scope after '" + std::string(tok[at - 1]) + "' (expected row or g<N>)");
  GP_RETURN_IF_ERROR(ParseScope(tok[at], &grid.group_size, bad));
  ++at;
  GptqOptions gopt;
  for (; at < tok.size(); ++at) {
    const std::string_view o = tok[at];
    const std::string os(o);
    std::string error;
    if (o == "o0") {
      grid.model = 0;
    } else if (o == "cc") {
      grid.model = 9;
    } else if (StartsWith(o, "ctx")) {
      uint64_t k = 0;
      if (!ParseUint(o.substr(3), &k) || k < 1 || k > 64) return bad("contexts '" + os + "' need 1..64, like ctx4");
      grid.model = 1;
      grid.contexts = static_cast<int>(k);
    } else if (StartsWith(o, "dz")) {
      if (!ParseDouble(o.substr(2), &grid.dead_zone) || grid.dead_zone < 0.0)
        return bad("dead zone '" + os + "' needs a number >= 0, like dz0.1");
    } else if (StartsWith(o, "rdo")) {
      if (!ParseDouble(o.substr(3), &grid.rdo_lambda) || grid.rdo_lambda < 0.0)
        return bad("RDO lambda '" + os + "' needs a number >= 0, like rdo0.05");
    } else if (o == "sf16") {
      grid.scale_dtype = 0;
    } else if (o == "sf32") {
      grid.scale_dtype = 1;
    } else if (o == "sbf16") {
      grid.scale_dtype = 2;
    } else if (StartsWith(o, "amax")) {
      uint64_t a = 0;
      if (!ParseUint(o.substr(4), &a) || a < 1 || a > 4095 || a % 2 == 0)
        return bad("max alphabet '" + os + "' needs an odd integer 1..4095, like amax255");
      grid.max_alphabet = static_cast<int>(a);
    } else if (ParseGptqOption(o, &gopt, &error)) {
      if (!gptq) return bad("option '" + os + "' only applies to gptq:... specs");
      if (!error.empty()) return bad(error);
    } else {
      return bad("unknown option '" + os + "'");
    }
  }
  GP_RETURN_IF_ERROR(grid.Validate());
  if (gptq) return std::unique_ptr<TensorEncoder>(new GptqAnsGridEncoder(grid, gopt));
  return std::unique_ptr<TensorEncoder>(new AnsGridEncoder(grid));
}
// tok[at..] after "tcq": "s<step>" { ":" tcq_opt }.
Result<std::unique_ptr<TensorEncoder>> ParseTcq(const std::vector<std::string_view>& tok, size_t at, bool gptq,
                                                const std::function<Status(const std::string&)>& bad) {
  TcqGridSpec grid;
  if (at >= tok.size() || !StartsWith(tok[at], "s") || StartsWith(tok[at], "st"))
    return bad("missing step after 'tcq' (expected s<step>, like tcq:s0.5:st3)");
  if (!ParseDouble(tok[at].substr(1), &grid.step) || !(grid.step > 0.0))
    return bad("step '" + std::string(tok[at]) + "' needs a number > 0, like s0.5");
  GptqOptions gopt;
  gopt.act_order = false;
  auto integer = [&](std::string_view o, size_t skip, uint64_t lo, uint64_t hi, const char* what, int* out) -> Status {
    uint64_t v = 0;
    if (!ParseUint(o.substr(skip), &v) || v < lo || v > hi)
      return bad(std::string(what) + " '" + std::string(o) + "' needs an integer " + std::to_string(lo) + ".." +
                 std::to_string(hi));
    *out = static_cast<int>(v);
    return Status::Ok();
  };
  for (++at; at < tok.size(); ++at) {
    const std::string_view o = tok[at];
    const std::string os(o);
    if (o == "row") {
      continue;
    } else if (o == "f16" || o == "f32" || o == "bf16") {
      grid.scale_dtype = o == "f16" ? 0 : o == "f32" ? 1 : 2;
    } else if (StartsWith(o, "st")) {
      GP_RETURN_IF_ERROR(integer(o, 2, 2, 8, "state bits", &grid.state_bits));
    } else if (StartsWith(o, "it")) {
      GP_RETURN_IF_ERROR(integer(o, 2, 1, 16, "Viterbi passes", &grid.iterations));
    } else if (StartsWith(o, "rc")) {
      GP_RETURN_IF_ERROR(integer(o, 2, 1, 16, "rate classes", &grid.rate_classes));
    } else if (StartsWith(o, "damp")) {
      if (!gptq) return bad("option '" + os + "' only applies to gptq:... specs");
      if (!ParseDouble(o.substr(4), &gopt.percdamp) || gopt.percdamp < 0.0)
        return bad("damping '" + os + "' needs a number >= 0, like damp0.01");
    } else if (StartsWith(o, "b")) {
      GP_RETURN_IF_ERROR(integer(o, 1, 1, 65536, "block", &grid.block));
    } else if (StartsWith(o, "l")) {
      if (!ParseDouble(o.substr(1), &grid.lambda) || grid.lambda < 0.0)
        return bad("lambda '" + os + "' needs a number >= 0, like l0.3");
    } else if (StartsWith(o, "ub")) {
      if (!ParseDouble(o.substr(2), &grid.debias) || !(grid.debias >= 0.0 && grid.debias <= 2.0))
        return bad("output-gain correction '" + os + "' needs a number in [0, 2], like ub0.5");
    } else {
      return bad("unknown tcq option '" + os + "' (expected st<N>, l<X>, it<N>, b<N>, rc<K>, ub<X>, row, f16, f32, bf16" +
                 (gptq ? ", damp<X>)" : ")"));
    }
  }
  GP_RETURN_IF_ERROR(grid.Validate());
  return std::unique_ptr<TensorEncoder>(new TcqGridEncoder(grid, gptq, gopt));
}

// "cb" BITS ":" scope { ":" cb_opt } (tok[at] is "cb<bits>").
Result<std::unique_ptr<TensorEncoder>> ParseCodebook(const std::vector<std::string_view>& tok, size_t at, bool gptq,
                                                     const std::function<Status(const std::string&)>& bad) {
  CodebookSpec cb;
  uint64_t bits = 0;
  if (!ParseUint(tok[at].substr(2), &bits) || bits < 1 || bits > 8)
    return bad("codebook bits '" + std::string(tok[at].substr(2)) + "' must be 1..8, like cb4");
  cb.bits = int(bits);
  ++at;
  if (at >= tok.size()) return bad("missing scope after '" + std::string(tok[at - 1]) + "' (expected row or g<N>)");
  GP_RETURN_IF_ERROR(ParseScope(tok[at], &cb.group_size, bad));
  GptqOptions gopt;
  for (++at; at < tok.size(); ++at) {
    const std::string_view o = tok[at];
    const std::string os(o);
    std::string error;
    uint64_t n = 0;
    if (o == "shared") {
      cb.shared = true;
    } else if (o == "sf16" || o == "sf32" || o == "sbf16") {
      cb.scale_dtype = o == "sf32" ? 1 : o == "sbf16" ? 2 : 0;
    } else if (StartsWith(o, "it")) {
      if (!ParseUint(o.substr(2), &n) || n < 1 || n > 100000) return bad("Lloyd passes '" + os + "' need 1..100000, like it50");
      cb.iters = int(n);
    } else if (ParseGptqOption(o, &gopt, &error)) {
      if (!gptq) return bad("option '" + os + "' only applies to gptq:... specs");
      if (!error.empty()) return bad(error);
    } else {
      return bad("unknown option '" + os + "'");
    }
  }
  GP_RETURN_IF_ERROR(cb.Validate());
  return std::unique_ptr<TensorEncoder>(new CodebookEncoder(cb, gptq, gopt));
}
}  // namespace

std::string CodebookEncoder::spec() const { return (gptq_ ? "gptq:" : "") + spec_.ToString() + (gptq_ ? GptqSuffix(options_) : ""); }

Status CodebookEncoder::Fit(std::span<const FitTensor> family) {
  std::vector<CodebookSamples> samples;
  for (const FitTensor& t : family) {
    GP_ASSIGN_OR_RETURN(CodebookSamples s, CodebookSamplesOf(t.name, t.shape, t.w, spec_, t.hessian));
    samples.push_back(std::move(s));
  }
  GP_ASSIGN_OR_RETURN(levels_, FitCodebook(samples, spec_));
  return Status::Ok();
}

std::vector<gpk::EncodedObject> CodebookEncoder::objects() const {
  if (levels_.empty()) return {};
  return {CodebookObject(spec_.ToString(), levels_)};
}

Result<gpk::EncodedTensor> CodebookEncoder::Encode(const std::string& name, std::span<const uint64_t> shape,
                                                   std::span<const float> w, const Eigen::MatrixXd* hessian) const {
  if (levels_.empty())
    return InvalidArgument("tensor '" + name + "': encoder '" + spec() + "' is not fitted (call Fit first)");
  if (gptq_ && hessian == nullptr)
    return InvalidArgument("tensor '" + name + "': encoder '" + spec() +
                           "' needs a Hessian (X^T X of the layer input); none was given. For plain rounding use '" +
                           spec_.ToString() + "'");
  return EncodeCodebook(name, shape, w, spec_, levels_, gptq_ ? hessian : nullptr, options_);
}

TcqGridEncoder::TcqGridEncoder(TcqGridSpec grid, bool gptq, GptqOptions options)
    : grid_(std::move(grid)), gptq_(gptq), options_(options) {
  options_.act_order = false;
}

std::string TcqGridEncoder::spec() const {
  std::string s = (gptq_ ? "gptq:" : "") + grid_.ToString();
  if (gptq_ && options_.percdamp != GptqOptions().percdamp) s += ":damp" + detail::FormatDouble(options_.percdamp);
  return s;
}

Result<gpk::EncodedTensor> TcqGridEncoder::Encode(const std::string& name, std::span<const uint64_t> shape,
                                                  std::span<const float> w, const Eigen::MatrixXd* hessian) const {
  if (!gptq_) {
    GP_ASSIGN_OR_RETURN(TcqGridQuant q, QuantizeTcqGrid(name, shape, w, grid_));
    return PackTcqGrid(name, shape, grid_, q);
  }
  if (hessian == nullptr)
    return InvalidArgument("tensor '" + name + "': encoder '" + spec() +
                           "' needs a Hessian (X^T X of the layer input); none was given. For plain Viterbi use '" +
                           grid_.ToString() + "'");
  GP_ASSIGN_OR_RETURN(GptqFactor f, GptqFactorize(name, *hessian, options_));
  GP_ASSIGN_OR_RETURN(TcqGridQuant q, GptqTcqGridQuant(name, shape, w, f, grid_, nullptr, hessian));
  return PackTcqGrid(name, shape, grid_, q);
}

std::string GptqEncoder::spec() const { return "gptq:" + grid_.ToString() + GptqSuffix(options_); }

Result<gpk::EncodedTensor> AnsGridEncoder::Encode(const std::string& name, std::span<const uint64_t> shape,
                                                  std::span<const float> w, const Eigen::MatrixXd* hessian) const {
  GP_ASSIGN_OR_RETURN(AnsGridResult r, EncodeAnsGrid(name, shape, w, grid_, hessian));
  return std::move(r.encoded);
}

Result<AnsGridResult> AnsGridEncoder::EncodeWithStats(const std::string& name, std::span<const uint64_t> shape,
                                                      std::span<const float> w,
                                                      const Eigen::MatrixXd* hessian) const {
  return EncodeAnsGrid(name, shape, w, grid_, hessian);
}

std::string GptqAnsGridEncoder::spec() const { return "gptq:" + grid_.ToString() + GptqSuffix(options_); }

Result<AnsGridResult> GptqAnsGridEncoder::EncodeWithStats(const std::string& name, std::span<const uint64_t> shape,
                                                          std::span<const float> w,
                                                          const Eigen::MatrixXd& hessian) const {
  return GptqAnsGrid(name, shape, w, hessian, grid_, options_);
}

Result<gpk::EncodedTensor> GptqAnsGridEncoder::Encode(const std::string& name, std::span<const uint64_t> shape,
                                                      std::span<const float> w,
                                                      const Eigen::MatrixXd* hessian) const {
  if (hessian == nullptr) {
    return InvalidArgument("tensor '" + name + "': encoder '" + spec() +
                           "' needs a Hessian (X^T X of the layer input); none was given. For plain rounding use '" +
                           grid_.ToString() + "'");
  }
  GP_ASSIGN_OR_RETURN(AnsGridResult r, GptqAnsGrid(name, shape, w, *hessian, grid_, options_));
  return std::move(r.encoded);
}

Result<GptqResult> GptqEncoder::EncodeWithStats(const std::string& name, std::span<const uint64_t> shape,
                                                std::span<const float> w, const Eigen::MatrixXd& hessian) const {
  return GptqQuantize(name, shape, w, hessian, grid_, options_);
}

Result<gpk::EncodedTensor> GptqEncoder::Encode(const std::string& name, std::span<const uint64_t> shape,
                                               std::span<const float> w, const Eigen::MatrixXd* hessian) const {
  if (hessian == nullptr) {
    return InvalidArgument("tensor '" + name + "': encoder '" + spec() +
                           "' needs a Hessian (X^T X of the layer input); none was given. For plain rounding use '" +
                           grid_.ToString() + "'");
  }
  GP_ASSIGN_OR_RETURN(GptqResult r, GptqQuantize(name, shape, w, *hessian, grid_, options_));
  return std::move(r.encoded);
}

Result<gpk::EncodedTensor> LowRankEncoder::Encode(const std::string& name, std::span<const uint64_t> shape,
                                                  std::span<const float> w, const Eigen::MatrixXd* hessian) const {
  const std::string who = "tensor '" + name + "': encoder '" + spec() + "'";
  if (shape.size() != 2) return InvalidArgument(who + " needs a 2-D tensor, got ndim " + std::to_string(shape.size()));
  GP_ASSIGN_OR_RETURN(gpk::EncodedTensor in, inner_->Encode(name, shape, w, hessian));
  const uint64_t rows = shape[0], cols = shape[1];
  const gpk::EncodingTraits* enc = gpk::FindEncoding(in.encoding);
  if (enc == nullptr || enc->refs != 0 || !in.refs.empty())
    return InvalidArgument(who + ": the inner encoding " + std::to_string(in.encoding) + " takes shared objects");
  std::vector<float> decoded(rows * cols);
  Status st = enc->decode(gpk::TensorView{shape, rows * cols, in.params, in.payload}, decoded);
  if (!st.ok()) return Internal(who + ": decoding the inner encoding: " + st.message());
  Eigen::MatrixXf err(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
  for (uint64_t i = 0; i < rows; ++i)
    for (uint64_t j = 0; j < cols; ++j)
      err(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = w[i * cols + j] - decoded[i * cols + j];
  std::vector<double> col_weight;
  if (hessian != nullptr) {
    if (hessian->rows() != static_cast<Eigen::Index>(cols) || hessian->cols() != static_cast<Eigen::Index>(cols))
      return InvalidArgument(who + ": Hessian is " + std::to_string(hessian->rows()) + "x" +
                             std::to_string(hessian->cols()) + ", expected " + std::to_string(cols) + "x" +
                             std::to_string(cols));
    col_weight.resize(cols);
    for (uint64_t j = 0; j < cols; ++j) col_weight[j] = std::max(0.0, (*hessian)(static_cast<Eigen::Index>(j), static_cast<Eigen::Index>(j)));
  }
  auto f = FitLowRank(err, col_weight, lowrank_.rank);
  if (!f.ok()) return InvalidArgument(who + ": " + f.status().message());
  return EncodeLowRank(in, *f, lowrank_);
}

Result<std::unique_ptr<TensorEncoder>> MakeEncoder(std::string_view spec) {
  const std::string quoted = "bad encoder spec '" + std::string(spec) + "': ";
  auto bad = [&](const std::string& what) -> Status { return InvalidArgument(quoted + what); };

  if (const size_t plus = spec.find('+'); plus != std::string_view::npos) {
    const std::string_view inner = spec.substr(0, plus), rest = spec.substr(plus + 1);
    if (inner.empty()) return bad("missing inner spec before '+' (like u6:row:sd12.85+lr4)");
    if (rest.find('+') != std::string_view::npos) return bad("only one '+lr...' suffix is allowed");
    if (!StartsWith(rest, "lr")) return bad("expected lr<rank> after '+', like +lr4");
    auto lr = ParseLowRankSuffix(rest);
    if (!lr.ok()) return bad(lr.status().message());
    GP_ASSIGN_OR_RETURN(auto in, MakeEncoder(inner));
    return std::unique_ptr<TensorEncoder>(new LowRankEncoder(std::move(in), *lr));
  }

  if (spec == "f32") return std::unique_ptr<TensorEncoder>(new RawEncoder(gpk::TargetDType::kF32));
  if (spec == "f16") return std::unique_ptr<TensorEncoder>(new RawEncoder(gpk::TargetDType::kF16));
  if (spec == "bf16") return std::unique_ptr<TensorEncoder>(new RawEncoder(gpk::TargetDType::kBF16));
  if (spec == "const") return std::unique_ptr<TensorEncoder>(new ConstEncoder());
  if (spec == "pg_int8") return std::unique_ptr<TensorEncoder>(new PgEncoder(PgEncoder::kBaseline));
  if (spec == "pg_int8_row") return std::unique_ptr<TensorEncoder>(new PgEncoder(PgEncoder::kRow));
  if (spec == "pg_int8_tensor") return std::unique_ptr<TensorEncoder>(new PgEncoder(PgEncoder::kTensor));
  if (spec.empty()) return bad("empty spec");

  std::vector<std::string_view> tok = Split(spec);
  size_t at = 0;
  const bool gptq = tok[0] == "gptq";
  if (gptq) ++at;
  if (at < tok.size() && tok[at] == "ans") return ParseAns(tok, at + 1, gptq, bad);
  if (at < tok.size() && StartsWith(tok[at], "cb")) return ParseCodebook(tok, at, gptq, bad);
  if (at < tok.size() && tok[at] == "tcq") return ParseTcq(tok, at + 1, gptq, bad);
  if (at >= tok.size() || tok[at].empty() || tok[at][0] != 'u') {
    const std::string got = at < tok.size() ? std::string(tok[at]) : std::string();
    return bad("unknown encoder '" + got +
               "' (expected f32, f16, bf16, const, pg_int8, pg_int8_row, pg_int8_tensor, u<bits>:..., ans:s<step>:..., "
               "cb<bits>:..., tcq:s<step>:..., or gptq:u<bits>:... / gptq:ans:... / gptq:cb<bits>:... / gptq:tcq:...)");
  }
  UniformSpec grid;
  uint64_t bits = 0;
  if (!ParseUint(tok[at].substr(1), &bits) || bits < 2 || bits > 8) {
    return bad("bits '" + std::string(tok[at].substr(1)) + "' must be 2..8");
  }
  grid.bits = static_cast<int>(bits);
  ++at;
  if (at >= tok.size()) return bad("missing scope after '" + std::string(tok[at - 1]) + "' (expected row or g<N>)");
  GP_RETURN_IF_ERROR(ParseScope(tok[at], &grid.group_size, bad));
  ++at;
  if (at >= tok.size()) return bad("missing clip (expected none, q<quantile> or sd<k>)");
  const std::string_view clip = tok[at];
  if (clip == "none") {
    grid.clip = UniformSpec::kNone;
  } else if (StartsWith(clip, "sd")) {
    grid.clip = UniformSpec::kStd;
    if (!ParseDouble(clip.substr(2), &grid.clip_value) || !(grid.clip_value > 0.0)) {
      return bad("std clip '" + std::string(clip) + "' needs a factor > 0, like sd12.85");
    }
  } else if (StartsWith(clip, "q")) {
    grid.clip = UniformSpec::kQuantile;
    if (!ParseDouble(clip.substr(1), &grid.clip_value) || !(grid.clip_value > 0.0 && grid.clip_value <= 1.0)) {
      return bad("quantile clip '" + std::string(clip) + "' needs 0 < q <= 1, like q0.9999");
    }
  } else {
    return bad("clip '" + std::string(clip) + "' must be none, q<quantile> or sd<k>");
  }
  ++at;
  GptqOptions gopt;
  for (; at < tok.size(); ++at) {
    const std::string_view o = tok[at];
    const std::string os(o);
    if (o == "packed") {
      grid.packing = 1;
    } else if (o == "bytes") {
      grid.packing = 0;
    } else if (o == "sf16") {
      grid.scale_dtype = 0;
    } else if (o == "sf32") {
      grid.scale_dtype = 1;
    } else if (o == "sbf16") {
      grid.scale_dtype = 2;
    } else if (o == "nocap") {
      grid.cap_at_absmax = false;
    } else if (o == "noact" || o == "act" || StartsWith(o, "damp") || StartsWith(o, "block")) {
      if (!gptq) return bad("option '" + os + "' only applies to gptq:... specs");
      if (o == "noact") {
        gopt.act_order = false;
      } else if (o == "act") {
        gopt.act_order = true;
      } else if (StartsWith(o, "damp")) {
        if (!ParseDouble(o.substr(4), &gopt.percdamp) || gopt.percdamp < 0.0) {
          return bad("damping '" + os + "' needs a number >= 0, like damp0.01");
        }
      } else {
        uint64_t b = 0;
        if (!ParseUint(o.substr(5), &b) || b == 0 || b > 65536) {
          return bad("block size '" + os + "' needs an integer 1..65536, like block128");
        }
        gopt.block_size = static_cast<int>(b);
      }
    } else {
      return bad("unknown option '" + os + "'");
    }
  }
  if (!grid.cap_at_absmax && grid.clip == UniformSpec::kNone) grid.cap_at_absmax = true;  // no-op for none
  GP_RETURN_IF_ERROR(grid.Validate());
  if (gptq) return std::unique_ptr<TensorEncoder>(new GptqEncoder(grid, gopt));
  return std::unique_ptr<TensorEncoder>(new UniformEncoder(grid));
}

}  // namespace golfpack::encode
