#include "eval/calibrate.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "io/safetensors.h"
#include "io/shards.h"
#include "model/weights.h"

namespace golfpack::eval {

torch::Tensor Calibration::ForWeight(const std::string& weight_name) const {
  auto it = hessians.find(model::HessianSite(weight_name));
  return it == hessians.end() ? torch::Tensor() : it->second;
}

Result<Calibration> Calibrate(model::GPT& model, const CalibrationOptions& o, const ProgressFn& progress) {
  if (o.seq_len <= 0 || o.batch_seqs <= 0) return InvalidArgument("calibrate: seq_len and batch_seqs must be positive");
  const int64_t nseq = o.tokens / o.seq_len;
  if (nseq <= 0)
    return InvalidArgument("calibrate: --tokens " + std::to_string(o.tokens) + " is less than one sequence of " +
                           std::to_string(o.seq_len));
  GP_ASSIGN_OR_RETURN(io::TokenStream stream, io::TokenStream::Open(o.train_pattern));
  const int vocab = model->config().vocab_size;

  Calibration cal;
  cal.seq_len = o.seq_len;
  PhaseTime t_read{"calibrate: read tokens"}, t_fwd{"calibrate: forward passes"}, t_hess{"calibrate: H += X^T X"};
  model->set_input_capture([&cal, &t_hess](const std::string& site, const torch::Tensor& x) {
    PhaseClock clock;
    clock.Start();
    auto xd = x.detach().to(torch::kFloat64);
    auto h = torch::matmul(xd.t(), xd);
    auto it = cal.hessians.find(site);
    if (it == cal.hessians.end()) cal.hessians.emplace(site, h);
    else it->second.add_(h);
    clock.Stop(t_hess);
  });
  torch::NoGradGuard no_grad;
  model->eval();
  Status failure;
  for (int64_t s = 0; s < nseq && failure.ok(); s += o.batch_seqs) {
    const int64_t n = std::min<int64_t>(o.batch_seqs, nseq - s);
    PhaseClock clock;
    clock.Start();
    auto chunk = stream.Take(static_cast<size_t>(n * o.seq_len));
    if (!chunk.ok()) {
      failure = chunk.status();
      break;
    }
    auto x = torch::empty({n, o.seq_len}, torch::kInt64);
    auto* p = x.data_ptr<int64_t>();
    for (int64_t i = 0; i < n * o.seq_len; ++i) {
      if ((*chunk)[i] >= vocab) {
        failure = InvalidArgument("calibrate: token id " + std::to_string((*chunk)[i]) + " is outside the model's vocab of " +
                                  std::to_string(vocab));
        break;
      }
      p[i] = (*chunk)[i];
    }
    clock.Stop(t_read);
    if (!failure.ok()) break;
    const PhaseTime hess_before = t_hess;
    clock.Start();
    model->forward(x);
    clock.Stop(t_fwd);
    t_fwd.wall_s -= t_hess.wall_s - hess_before.wall_s;
    t_fwd.cpu_s -= t_hess.cpu_s - hess_before.cpu_s;
    cal.tokens += n * o.seq_len;
    if (progress) progress({"calibrate", static_cast<uint64_t>(cal.tokens), static_cast<uint64_t>(nseq * o.seq_len), "tokens", ""});
  }
  model->set_input_capture(nullptr);
  if (!failure.ok()) return failure;
  cal.timings = {t_read, t_fwd, t_hess};
  return cal;
}

Status SaveCalibration(const std::string& path, const Calibration& c) {
  io::TensorFile f;
  for (const auto& [site, h] : c.hessians) f.tensors.push_back(model::FromTorch(site, h.to(torch::kFloat32)));
  f.metadata = {{"golfpack.calibration", "hessian-v1"},
                {"golfpack.tokens", std::to_string(c.tokens)},
                {"golfpack.seq_len", std::to_string(c.seq_len)}};
  char buf[64];
  for (const auto& [name, v] : c.sensitivity) {
    std::snprintf(buf, sizeof buf, "%.9g", v);
    f.metadata["golfpack.sensitivity." + name] = buf;
  }
  for (const auto& [k, v] : c.notes) f.metadata[k] = v;
  return io::WriteSafetensors(path, f);
}

Result<Calibration> LoadCalibration(const std::string& path) {
  GP_ASSIGN_OR_RETURN(io::TensorFile f, io::ReadSafetensors(path));
  auto kind = f.metadata.find("golfpack.calibration");
  if (kind == f.metadata.end() || kind->second != "hessian-v1")
    return Corrupt(path + ": not a golfpack calibration file (metadata golfpack.calibration != hessian-v1)");
  Calibration c;
  try {
    c.tokens = std::stoll(f.metadata.at("golfpack.tokens"));
    c.seq_len = std::stoi(f.metadata.at("golfpack.seq_len"));
  } catch (const std::exception&) {
    return Corrupt(path + ": calibration metadata golfpack.tokens / golfpack.seq_len missing or not a number");
  }
  const std::string kSens = "golfpack.sensitivity.";
  for (const auto& [k, v] : f.metadata) {
    if (k.rfind(kSens, 0) != 0) continue;
    char* end = nullptr;
    const double s = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || *end != '\0' || !std::isfinite(s))
      return Corrupt(path + ": metadata " + k + " = '" + v + "' is not a number");
    c.sensitivity[k.substr(kSens.size())] = s;
  }
  for (const auto& t : f.tensors) {
    if (t.shape.size() != 2 || t.shape[0] != t.shape[1])
      return Corrupt(path + ": calibration tensor '" + t.name + "' is not square");
    Status s;
    auto h = model::ToTorch(t, path, &s);
    GP_RETURN_IF_ERROR(s);
    c.hessians.emplace(t.name, h.to(torch::kFloat64));
  }
  return c;
}

}  // namespace golfpack::eval
