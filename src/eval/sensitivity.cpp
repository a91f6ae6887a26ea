#include "eval/sensitivity.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/encodings.h"
#include "encode/encoder.h"
#include "io/shards.h"

namespace golfpack::eval {

namespace {

std::vector<double> Ranks(const std::vector<double>& v) {
  std::vector<size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    const double avg = 0.5 * double(i + j) + 1.0;  // ties share the average rank
    for (size_t k = i; k <= j; ++k) r[idx[k]] = avg;
    i = j + 1;
  }
  return r;
}

// Encodes with a spec string and decodes through the registry: the weights
// the artifact would hold.
Result<torch::Tensor> Roundtrip(const std::string& spec, const std::string& name, const torch::Tensor& w) {
  GP_ASSIGN_OR_RETURN(auto encoder, encode::MakeEncoder(spec));
  auto c = w.detach().to(torch::kFloat32).contiguous();
  std::vector<uint64_t> shape(c.sizes().begin(), c.sizes().end());
  std::span<const float> values(c.data_ptr<float>(), static_cast<size_t>(c.numel()));
  GP_ASSIGN_OR_RETURN(gpk::EncodedTensor e, encoder->Encode(name, shape, values, nullptr));
  const gpk::EncodingTraits* traits = gpk::FindEncoding(e.encoding);
  if (!traits) return Internal("encoder produced unknown encoding " + std::to_string(e.encoding));
  auto out = torch::empty_like(c);
  gpk::TensorView view{e.shape, static_cast<uint64_t>(c.numel()), e.params, e.payload};
  GP_RETURN_IF_ERROR(traits->decode(view, std::span<float>(out.data_ptr<float>(), static_cast<size_t>(out.numel()))));
  return out;
}

}  // namespace

double Spearman(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = x.size();
  if (n < 2 || y.size() != n) return 0;
  auto rx = Ranks(x), ry = Ranks(y);
  const double mx = std::accumulate(rx.begin(), rx.end(), 0.0) / n, my = std::accumulate(ry.begin(), ry.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < n; ++i) {
    sxy += (rx[i] - mx) * (ry[i] - my);
    sxx += (rx[i] - mx) * (rx[i] - mx);
    syy += (ry[i] - my) * (ry[i] - my);
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : 0;
}

double HessianProxy(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& hessian, int64_t tokens) {
  auto e = (a.to(torch::kFloat64) - b.to(torch::kFloat64));
  return (torch::matmul(e, hessian) * e).sum().item<double>() / static_cast<double>(std::max<int64_t>(tokens, 1));
}

Result<SensitivityResult> MeasureSensitivity(model::GPT& model, const Calibration& cal, const SensitivityOptions& o,
                                             const ProgressFn& progress) {
  const int64_t nseq = o.tokens / o.seq_len;
  if (nseq <= 0) return InvalidArgument("sensitivity: tokens must cover at least one sequence of " + std::to_string(o.seq_len));
  GP_ASSIGN_OR_RETURN(io::TokenStream stream, io::TokenStream::Open(o.train_pattern));
  GP_ASSIGN_OR_RETURN(std::vector<uint16_t> chunk, stream.Take(static_cast<size_t>(nseq * o.seq_len + 1)));
  auto ids = torch::empty({nseq * o.seq_len + 1}, torch::kInt64);
  for (int64_t i = 0; i < ids.numel(); ++i) {
    if (chunk[i] >= model->config().vocab_size)
      return InvalidArgument("sensitivity: token id " + std::to_string(chunk[i]) + " is outside the model's vocab");
    ids[i] = static_cast<int64_t>(chunk[i]);
  }
  auto x = ids.narrow(0, 0, nseq * o.seq_len).view({nseq, o.seq_len});
  auto y = ids.narrow(0, 1, nseq * o.seq_len).view({nseq, o.seq_len});
  torch::NoGradGuard no_grad;
  model->eval();
  auto loss = [&]() {
    double sum = 0;
    for (int64_t s = 0; s < nseq; s += 4) {
      const int64_t n = std::min<int64_t>(4, nseq - s);
      sum += model->token_losses(x.narrow(0, s, n), y.narrow(0, s, n)).to(torch::kFloat64).sum().item<double>();
    }
    return sum / double(nseq * o.seq_len);
  };

  SensitivityResult result;
  result.tokens = nseq * o.seq_len;
  result.base_loss = loss();
  std::vector<std::pair<std::string, torch::Tensor>> targets;
  for (auto& p : model->named_parameters())
    if (p.value().dim() == 2 && cal.ForWeight(p.key()).defined()) targets.emplace_back(p.key(), p.value());
  for (size_t i = 0; i < targets.size(); ++i) {
    auto& [name, param] = targets[i];
    const torch::Tensor h = cal.ForWeight(name);
    const torch::Tensor original = param.detach().clone();
    TensorSensitivity ts;
    ts.name = name;
    for (int pass = 0; pass < 2; ++pass) {
      GP_ASSIGN_OR_RETURN(torch::Tensor q, Roundtrip(pass == 0 ? o.probe_spec : o.check_spec, name, original));
      param.copy_(q);
      const double dl = loss() - result.base_loss;
      param.copy_(original);
      const double d = HessianProxy(original, q, h, cal.tokens);
      if (pass == 0) {
        ts.proxy_probe = d;
        ts.dloss_probe = dl;
        ts.imputed = !(dl > 0 && d > 0);
        ts.sensitivity = ts.imputed ? 0.0 : dl / d;
      } else {
        ts.proxy_check = d;
        ts.dloss_check = dl;
      }
    }
    result.tensors.push_back(ts);
    if (progress) progress({"sensitivity", i + 1, targets.size(), "tensors", name});
  }
  // A probe whose loss change is lost in the batch's noise says "small", not
  // "free": such tensors get the median of the measured sensitivities, so the
  // allocator never treats a tensor as costless.
  std::vector<double> measured_s;
  for (const auto& t : result.tensors)
    if (!t.imputed) measured_s.push_back(t.sensitivity);
  double median = 0;
  if (!measured_s.empty()) {
    std::nth_element(measured_s.begin(), measured_s.begin() + measured_s.size() / 2, measured_s.end());
    median = measured_s[measured_s.size() / 2];
  }
  for (auto& t : result.tensors) {
    if (t.imputed) t.sensitivity = median;
    t.predicted_check = t.sensitivity * t.proxy_check;
  }
  std::vector<double> raw, fitted, measured;
  for (const auto& t : result.tensors) {
    raw.push_back(t.proxy_check);
    fitted.push_back(t.predicted_check);
    measured.push_back(t.dloss_check);
  }
  result.spearman_raw_proxy = Spearman(raw, measured);
  result.spearman_fitted = Spearman(fitted, measured);
  return result;
}

}  // namespace golfpack::eval
