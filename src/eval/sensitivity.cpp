#include "eval/sensitivity.h"

#include <algorithm>
#include <cstdlib>
#include <array>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <numeric>
#include <optional>
#include <thread>

#include "core/encodings.h"
#include "codec/encoder.h"
#include "io/shards.h"
#include "plan/calibration.h"
#include "plan/distortion.h"
#include "train/threads.h"

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
Result<torch::Tensor> Roundtrip(const std::string& spec, const std::string& name, const torch::Tensor& w,
                                const torch::Tensor& hessian) {
  GP_ASSIGN_OR_RETURN(auto encoder, encode::MakeEncoder(spec));
  auto c = w.detach().to(torch::kFloat32).contiguous();
  std::vector<uint64_t> shape(c.sizes().begin(), c.sizes().end());
  std::span<const float> values(c.data_ptr<float>(), static_cast<size_t>(c.numel()));
  // A gptq probe gets the calibration's Hessian of the weight's input, as rd's candidates do.
  Eigen::MatrixXd h;
  if (encoder->needs_hessian()) {
    const torch::Tensor hd = hessian.to(torch::kCPU, torch::kFloat64).contiguous();
    h = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
        hd.data_ptr<double>(), hd.size(0), hd.size(1));
  }
  GP_ASSIGN_OR_RETURN(gpk::EncodedTensor e, encoder->Encode(name, shape, values, h.size() ? &h : nullptr));
  const gpk::EncodingTraits* traits = gpk::FindEncoding(e.encoding);
  if (!traits) return Internal("encoder produced unknown encoding " + std::to_string(e.encoding));
  auto out = torch::empty_like(c);
  gpk::TensorView view{e.shape, static_cast<uint64_t>(c.numel()), e.params, e.payload};
  GP_RETURN_IF_ERROR(traits->decode(view, std::span<float>(out.data_ptr<float>(), static_cast<size_t>(out.numel()))));
  return out;
}

// Where the forward pass of a probe can pick up from the base pass: a probe
// changes one weight, so everything upstream of that weight's layer is the
// base model's and is reused from the cached activations of the batch.
enum class Resume {
  kEmbed,     // from the token embedding (tok_emb, or anything unrecognized)
  kBlock,     // block `block` from its input (attn.c_q / c_k / c_v)
  kAttnProj,  // attention output projection of block `block`
  kMlp,       // MLP of block `block` (mlp.fc)
  kMlpProj,   // MLP output projection of block `block`
  kHead,      // final norm + untied lm_head only
};
struct ResumePoint {
  Resume at = Resume::kEmbed;
  int block = 0;
};

ResumePoint ResumeFor(model::GPT& m, const torch::Tensor& p) {
  const int L = static_cast<int>(m->blocks->size());
  for (int i = 0; i < L; ++i) {
    auto b = m->blocks[i]->as<model::BlockImpl>();
    if (p.is_same(b->attn->c_q->weight) || p.is_same(b->attn->c_k->weight) || p.is_same(b->attn->c_v->weight))
      return {Resume::kBlock, i};
    if (p.is_same(b->attn->proj->weight)) return {Resume::kAttnProj, i};
    if (p.is_same(b->mlp->fc->weight)) return {Resume::kMlp, i};
    if (p.is_same(b->mlp->proj->weight)) return {Resume::kMlpProj, i};
  }
  if (!m->config().tie_embeddings && m->lm_head && p.is_same(m->lm_head->weight)) return {Resume::kHead, L};
  return {Resume::kEmbed, 0};
}

// GPTImpl::token_losses unrolled layer by layer (the same modules and the
// same tensor operations in the same order, so the losses are bit-identical;
// MeasureSensitivity checks that on every batch against the model's own
// token_losses and falls back to full forward passes if they ever differ).
// Base() runs the unquantized model and keeps each block's activations;
// From() recomputes only what lies downstream of a resume point.
class StagedForward {
 public:
  StagedForward(model::GPT& m, int64_t seq_len) : m_(m) {
    // As GPTImpl::RotaryTables.
    const auto& cfg = m->config();
    const int64_t hd = cfg.head_dim();
    auto inv_freq = 1.0 / torch::pow(cfg.rope_base, torch::arange(0, hd, 2, torch::kFloat32) / static_cast<double>(hd));
    auto freqs = torch::outer(torch::arange(seq_len, torch::kFloat32), inv_freq);
    cos_ = freqs.cos().view({1, 1, seq_len, -1});
    sin_ = freqs.sin().view({1, 1, seq_len, -1});
  }

  torch::Tensor Base(const torch::Tensor& x, const torch::Tensor& y) {
    const size_t L = m_->blocks->size();
    c_ = Cache{};
    c_.x = x;
    c_.y = y;
    c_.mix.resize(L);
    c_.attn_y.resize(L);
    c_.mid.resize(L);
    c_.mlp_h.resize(L);
    c_.out.resize(L);
    const int64_t B = x.size(0), T = x.size(1);
    m_->set_input_capture([this, B, T](const std::string& site, const torch::Tensor& v) {
      // site = "blocks.<i>.attn.proj_in" / "blocks.<i>.mlp.proj_in"; others are not needed.
      const bool attn = site.ends_with(".attn.proj_in"), mlp = site.ends_with(".mlp.proj_in");
      if ((!attn && !mlp) || site.rfind("blocks.", 0) != 0) return;
      const size_t i = std::stoul(site.substr(7));
      if (i >= c_.out.size()) return;
      (attn ? c_.attn_y : c_.mlp_h)[i] = v.view({B, T, v.size(-1)});
    });
    auto losses = Run({Resume::kEmbed, 0}, /*record=*/true);
    m_->set_input_capture(nullptr);
    return losses;
  }

  torch::Tensor From(const ResumePoint& r) { return Run(r, /*record=*/false); }

  // Takes the activations of another StagedForward's Base() (over a copy of
  // the same model), so that From() here resumes from them. Read-only: any
  // number of StagedForwards may share them across threads.
  void ShareActivations(const StagedForward& other) { c_ = other.c_; }

 private:
  struct Cache {
    torch::Tensor x, y, x0;
    // Per block: the residual mix (attention's input before the norm), the
    // attention's concatenated heads (input of attn.proj), the residual after
    // attention (the MLP's input before the norm), relu(fc)^2 (input of
    // mlp.proj) and the block output.
    std::vector<torch::Tensor> mix, attn_y, mid, mlp_h, out;
  };

  torch::Tensor Run(ResumePoint r, bool record) {
    namespace F = torch::nn::functional;
    const auto& cfg = m_->config();
    const int L = cfg.num_layers, enc = cfg.num_encoder_layers();
    std::vector<torch::Tensor> outs = c_.out;  // shallow: recomputed blocks replace their entry
    torch::Tensor x0 = c_.x0;
    if (r.at == Resume::kEmbed) {
      x0 = model::RmsNorm(m_->tok_emb(c_.x));
      if (record) c_.x0 = x0;
      r = {Resume::kBlock, 0};
    }
    for (int i = r.block; i < L; ++i) {
      auto b = m_->blocks[i]->as<model::BlockImpl>();
      const Resume stage = i == r.block ? r.at : Resume::kBlock;
      torch::Tensor mix, mid;
      if (stage == Resume::kBlock) {
        torch::Tensor in = i == 0 ? x0 : outs[i - 1];
        // U-Net skips: decoder layer k adds encoder output enc-1-k.
        if (i >= enc && i - enc < enc) in = in + m_->skip_weights[i - enc] * outs[enc - 1 - (i - enc)];
        mix = b->resid_mix[0] * in + b->resid_mix[1] * x0;
        mid = mix + b->attn_scale * b->attn(model::RmsNorm(mix), cos_, sin_);
      } else if (stage == Resume::kAttnProj) {
        mix = c_.mix[i];
        mid = mix + b->attn_scale * b->attn->proj(c_.attn_y[i]);
      } else {
        mid = c_.mid[i];
      }
      torch::Tensor mlp = stage == Resume::kMlpProj ? b->mlp->proj(c_.mlp_h[i]) : b->mlp(model::RmsNorm(mid));
      outs[i] = mid + b->mlp_scale * mlp;
      if (record) {
        c_.mix[i] = mix;
        c_.mid[i] = mid;
        c_.out[i] = outs[i];
      }
    }
    auto h = model::RmsNorm(outs[L - 1]);
    h = h.reshape({-1, h.size(-1)});
    auto logits = cfg.tie_embeddings ? F::linear(h, m_->tok_emb->weight) : m_->lm_head(h);
    const double cap = cfg.logit_softcap;
    logits = cap * torch::tanh(logits / cap);
    return F::cross_entropy(logits, c_.y.reshape({-1}), F::CrossEntropyFuncOptions().reduction(torch::kNone));
  }

  model::GPT& m_;
  torch::Tensor cos_, sin_;
  Cache c_;
};


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

double HessianProxy(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& hessian, int64_t tokens,
                    std::span<const double> row_weight) {
  // The one proxy definition (plan/distortion.h), on these tensors' values.
  auto values = [](const torch::Tensor& t) {
    const torch::Tensor c = t.to(torch::kCPU, torch::kFloat32).contiguous();
    return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  };
  const int64_t rows = a.size(0), cols = a.numel() / std::max<int64_t>(rows, 1);
  const torch::Tensor hc = hessian.to(torch::kCPU, torch::kFloat64).contiguous();
  const Eigen::MatrixXd h = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
      hc.data_ptr<double>(), cols, cols);
  return encode::HessianProxy(values(a), values(b), uint64_t(rows), uint64_t(cols), h, tokens, row_weight);
}

Result<SensitivityResult> MeasureSensitivity(model::GPT& model, const Calibration& cal, const SensitivityOptions& o,
                                             const ProgressFn& progress) {
  if (o.seq_len <= 0 || o.batch_seqs <= 0) return InvalidArgument("sensitivity: seq_len and batch_seqs must be positive");
  const int64_t nseq = o.tokens / o.seq_len;
  if (nseq <= 0) return InvalidArgument("sensitivity: tokens must cover at least one sequence of " + std::to_string(o.seq_len));
  PhaseTime t_read{"sensitivity: read tokens"}, t_quant{"sensitivity: quantize (encode+decode)"},
      t_proxy{"sensitivity: proxy tr(E H E^T)"}, t_base{"sensitivity: base loss + activations"},
      t_probe{"sensitivity: probe + check-grid losses"};
  PhaseClock clock;
  clock.Start();
  GP_ASSIGN_OR_RETURN(io::TokenStream stream, io::TokenStream::Open(o.train_pattern));
  GP_ASSIGN_OR_RETURN(std::vector<uint16_t> chunk, stream.Take(static_cast<size_t>(nseq * o.seq_len + 1)));
  auto ids = torch::empty({nseq * o.seq_len + 1}, torch::kInt64);
  int64_t* idp = ids.data_ptr<int64_t>();
  for (int64_t i = 0; i < ids.numel(); ++i) {
    if (chunk[i] >= model->config().vocab_size)
      return InvalidArgument("sensitivity: token id " + std::to_string(chunk[i]) + " is outside the model's vocab");
    idp[i] = static_cast<int64_t>(chunk[i]);
  }
  clock.Stop(t_read);
  auto x = ids.narrow(0, 0, nseq * o.seq_len).view({nseq, o.seq_len});
  auto y = ids.narrow(0, 1, nseq * o.seq_len).view({nseq, o.seq_len});
  torch::NoGradGuard no_grad;
  model->eval();

  SensitivityResult result;
  result.tokens = nseq * o.seq_len;
  struct Target {
    std::string name;
    torch::Tensor param, original;
    torch::Tensor quantized[3];  // probe grid, check grid, tcq probe
    double proxy[3] = {0, 0, 0};
    double loss_sum[3] = {0, 0, 0};
    ResumePoint resume;
  };
  // The proxy's row weights as rd prices them by default: the calibration's
  // row Fisher at the floor it records, when it has one.
  double fisher_floor = -1;
  if (auto it = cal.notes.find(encode::kRowFisherFloorNote); it != cal.notes.end() && !cal.row_fisher.empty())
    fisher_floor = std::strtod(it->second.c_str(), nullptr);
  std::map<std::string, std::vector<double>> fisher;
  for (const auto& [w, f] : cal.row_fisher) {
    const torch::Tensor d = f.to(torch::kCPU, torch::kFloat64).contiguous();
    fisher.emplace(w, std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel()));
  }
  const int passes = o.tcq_probe_spec.empty() ? 2 : 3;
  std::vector<Target> targets;
  for (auto& p : model->named_parameters()) {
    if (p.value().dim() != 2) continue;
    const torch::Tensor h = cal.ForWeight(p.key());
    if (!h.defined()) continue;
    Target t;
    t.name = p.key();
    t.param = p.value();
    t.original = p.value().detach().clone();
    t.resume = ResumeFor(model, t.param);
    // The proxy's row weights as rd uses them by default (token rows of the
    // tied embedding by frequency), so the fitted sensitivity matches.
    const std::vector<double> rw = encode::RowWeightsFor(t.name, uint64_t(t.original.size(0)), cal.token_counts,
                                                         encode::kTokenRowFloor, fisher, fisher_floor);
    for (int pass = 0; pass < passes; ++pass) {
      clock.Start();
      const std::string& spec = pass == 0 ? o.probe_spec : pass == 1 ? o.check_spec : o.tcq_probe_spec;
      GP_ASSIGN_OR_RETURN(t.quantized[pass], Roundtrip(spec, t.name, t.original, h));
      clock.Stop(t_quant);
      clock.Start();
      t.proxy[pass] = HessianProxy(t.original, t.quantized[pass], h, cal.tokens, rw);
      clock.Stop(t_proxy);
    }
    targets.push_back(std::move(t));
  }

  // Batch-major: each batch of sequences runs through the base model once,
  // then every (tensor, grid) probe re-runs only the layers at and after the
  // quantized weight. The sums over batches are taken in the same order as a
  // tensor-major loop would, so the results do not depend on the loop order.
  //
  // The probes of a batch are independent: `workers` threads take them in
  // turn, each on its own copy of the model (a probe writes its quantized
  // weight into the model), with single-threaded tensor operations. The base
  // pass runs single-threaded too, so that base and probe losses come from
  // the same arithmetic whatever the worker count.
  const int64_t kBatch = o.batch_seqs;
  const int64_t nbatch = (nseq + kBatch - 1) / kBatch;
  const int workers = static_cast<int>(std::clamp<int64_t>(o.threads > 0 ? o.threads : at::get_num_threads(), 1,
                                                           static_cast<int64_t>(std::max<size_t>(targets.size(), 1))));
  // StagedForward unrolls one block per layer: shared depth runs full forwards.
  bool staged = o.reuse_activations && model->config().num_unique_blocks == 0;
  std::vector<model::GPT> models{model};
  models.reserve(workers);
  for (int w = 1; w < workers; ++w) models.push_back(CopyModel(model));
  // params[w][i]: target i's weight in models[w].
  std::vector<std::vector<torch::Tensor>> params(workers);
  for (int w = 0; w < workers; ++w) {
    auto named = models[w]->named_parameters();
    for (const Target& t : targets) params[w].push_back(w == 0 ? t.param : named[t.name]);
  }
  std::vector<StagedForward> forwards;
  forwards.reserve(workers);
  for (int w = 0; w < workers; ++w) forwards.emplace_back(models[w], o.seq_len);
  std::optional<train::SingleThreadedOps> single_threaded;
  if (workers > 1) single_threaded.emplace();
  result.threads = workers;
  std::mutex progress_mu;
  double base_sum = 0;
  for (int64_t bi = 0; bi < nbatch; ++bi) {
    const int64_t s = bi * kBatch, n = std::min<int64_t>(kBatch, nseq - s);
    const auto xb = x.narrow(0, s, n), yb = y.narrow(0, s, n);
    c10::InferenceMode inference;
    clock.Start();
    // The staged forward is checked against the model's own token_losses on
    // the first batch (the same operations on every batch after it); if they
    // ever differ the model changed under us: no shortcuts.
    torch::Tensor base;
    if (staged) {
      base = forwards[0].Base(xb, yb);
      if (bi == 0 && !torch::equal(model->token_losses(xb, yb), base)) staged = false;
    }
    if (!staged) base = model->token_losses(xb, yb);
    base_sum += base.to(torch::kFloat64).sum().item<double>();
    for (int w = 1; w < workers && staged; ++w) forwards[w].ShareActivations(forwards[0]);
    clock.Stop(t_base);

    clock.Start();
    std::vector<std::array<double, 3>> batch_sum(targets.size());
    std::atomic<size_t> next{0}, done{0};
    auto work = [&](int w) {
      c10::InferenceMode worker_inference;  // thread-local
      for (size_t i; (i = next.fetch_add(1)) < targets.size();) {
        const Target& t = targets[i];
        for (int pass = 0; pass < passes; ++pass) {
          params[w][i].copy_(t.quantized[pass]);
          const torch::Tensor losses = staged ? forwards[w].From(t.resume) : models[w]->token_losses(xb, yb);
          batch_sum[i][pass] = losses.to(torch::kFloat64).sum().item<double>();
          params[w][i].copy_(t.original);
        }
        if (progress) {
          std::lock_guard<std::mutex> lock(progress_mu);
          progress({"sensitivity", static_cast<uint64_t>(bi * targets.size() + done.fetch_add(1) + 1),
                    static_cast<uint64_t>(nbatch * targets.size()), "probes", t.name});
        }
      }
    };
    std::exception_ptr error;  // a worker's exception, rethrown here after the others stopped
    auto guarded = [&](int w) {
      try {
        work(w);
      } catch (...) {
        std::lock_guard<std::mutex> lock(progress_mu);
        if (!error) error = std::current_exception();
        next = targets.size();
      }
    };
    std::vector<std::thread> pool;
    for (int w = 1; w < workers; ++w) pool.emplace_back(guarded, w);
    guarded(0);
    for (auto& th : pool) th.join();
    if (error) std::rethrow_exception(error);
    for (size_t i = 0; i < targets.size(); ++i)
      for (int pass = 0; pass < passes; ++pass) targets[i].loss_sum[pass] += batch_sum[i][pass];
    clock.Stop(t_probe);
  }
  result.activations_reused = staged;
  const double ntok = double(nseq * o.seq_len);
  result.base_loss = base_sum / ntok;
  for (const Target& t : targets) {
    TensorSensitivity ts;
    ts.name = t.name;
    ts.proxy_probe = t.proxy[0];
    ts.dloss_probe = t.loss_sum[0] / ntok - result.base_loss;
    ts.imputed = !(ts.dloss_probe > 0 && ts.proxy_probe > 0);
    ts.sensitivity = ts.imputed ? 0.0 : ts.dloss_probe / ts.proxy_probe;
    ts.proxy_check = t.proxy[1];
    ts.dloss_check = t.loss_sum[1] / ntok - result.base_loss;
    if (passes == 3) {
      ts.proxy_tcq = t.proxy[2];
      ts.dloss_tcq = t.loss_sum[2] / ntok - result.base_loss;
      ts.tcq_imputed = !(ts.dloss_tcq > 0 && ts.proxy_tcq > 0);
      ts.tcq_sensitivity = ts.tcq_imputed ? 0.0 : ts.dloss_tcq / ts.proxy_tcq;
    }
    result.tensors.push_back(ts);
  }
  // A probe whose loss change is lost in the batch's noise says "small", not
  // "free": such tensors get the median of the measured sensitivities, so the
  // allocator never treats a tensor as costless.
  // The median of the sensitivities measured (not imputed), 0 when none was.
  auto median_of = [&](auto measured, auto value) {
    std::vector<double> v;
    for (const auto& t : result.tensors)
      if (measured(t)) v.push_back(value(t));
    if (v.empty()) return 0.0;
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  const double median = median_of([](const TensorSensitivity& t) { return !t.imputed; },
                                  [](const TensorSensitivity& t) { return t.sensitivity; });
  for (auto& t : result.tensors) {
    if (t.imputed) t.sensitivity = median;
    t.predicted_check = t.sensitivity * t.proxy_check;
  }
  if (passes == 3) {
    const double tcq_median = median_of([](const TensorSensitivity& t) { return !t.tcq_imputed; },
                                        [](const TensorSensitivity& t) { return t.tcq_sensitivity; });
    for (auto& t : result.tensors)
      if (t.tcq_imputed) t.tcq_sensitivity = tcq_median;
  }
  std::vector<double> raw, fitted, measured;
  for (const auto& t : result.tensors) {
    raw.push_back(t.proxy_check);
    fitted.push_back(t.predicted_check);
    measured.push_back(t.dloss_check);
  }
  result.spearman_raw_proxy = Spearman(raw, measured);
  result.spearman_fitted = Spearman(fitted, measured);
  result.timings = {t_read, t_quant, t_proxy, t_base, t_probe};
  return result;
}

}  // namespace golfpack::eval
