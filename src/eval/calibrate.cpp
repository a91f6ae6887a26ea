#include "eval/calibrate.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include "io/shards.h"
#include "train/threads.h"

namespace golfpack::eval {

torch::Tensor Calibration::ForWeight(const std::string& weight_name) const {
  auto it = hessians.find(model::HessianSite(weight_name));
  return it == hessians.end() ? torch::Tensor() : it->second;
}

namespace {

// cal->row_fisher[w] += sum over the batches' tokens of (dL/dy)^2 per output
// row of every block matrix w, and cal->row_hw[w] += sum over them of
// ((dL/dy)^2 * y) x^T (rows x cols; row i is H_i w_i^T with H_i the row's
// gradient-weighted Hessian, since y_i = w_i . x). Each sequence predicts its
// own tokens 1..T-1 from 0..T-2; L is the cross-entropy summed over them, so
// dL/dy at a token is that token's output's effect on every later prediction
// of its sequence.
Status AccumulateRowFisher(model::GPT& model, const std::vector<torch::Tensor>& batches, Calibration* cal,
                           const ProgressFn& progress) {
  if (batches.empty() || batches[0].size(1) < 2) return InvalidArgument("calibrate: the row Fisher needs seq_len >= 2");
  struct Out {
    std::string weight;
    torch::Tensor y, x;  // the output (its gradient retained) and the input it was computed from
  };
  std::vector<Out> outs;
  std::map<std::string, torch::Tensor> last_input;  // site -> its latest input (a shared block reports each use)
  model->set_input_capture([&last_input](const std::string& site, const torch::Tensor& x) {
    last_input[site] = x.detach();
  });
  model->set_output_capture([&outs, &last_input](const std::string& w, const torch::Tensor& y) {
    if (!y.requires_grad()) return;
    y.retain_grad();
    auto it = last_input.find(model::HessianSite(w));
    outs.push_back({w, y, it == last_input.end() ? torch::Tensor() : it->second});
  });
  model->eval();
  torch::AutoGradMode grad_on(true);
  uint64_t done = 0, total = 0;
  for (const auto& b : batches) total += static_cast<uint64_t>(b.numel());
  for (const auto& b : batches) {
    const int64_t T = b.size(1);
    auto loss = model->token_losses(b.narrow(1, 0, T - 1), b.narrow(1, 1, T - 1)).sum();
    loss.backward();
    for (auto& [w, y, x] : outs) {
      const torch::Tensor g = y.grad();
      if (!g.defined()) continue;
      const auto g2 = g.detach().reshape({-1, g.size(-1)}).to(torch::kFloat64).square();
      auto s = g2.sum(0);
      auto it = cal->row_fisher.find(w);
      if (it == cal->row_fisher.end()) cal->row_fisher.emplace(w, s);
      else it->second.add_(s);
      if (!x.defined()) continue;
      const auto yd = y.detach().reshape({-1, y.size(-1)}).to(torch::kFloat64);
      auto v = torch::matmul((g2 * yd).t(), x.reshape({-1, x.size(-1)}).to(torch::kFloat64));
      auto jt = cal->row_hw.find(w);
      if (jt == cal->row_hw.end()) cal->row_hw.emplace(w, v);
      else jt->second.add_(v);
    }
    outs.clear();
    last_input.clear();
    for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
    done += static_cast<uint64_t>(b.numel());
    if (progress) progress({"row Fisher", done, total, "tokens", ""});
  }
  model->set_output_capture(nullptr);
  model->set_input_capture(nullptr);
  return Status::Ok();
}

}  // namespace

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
  cal.token_counts.assign(static_cast<size_t>(vocab), 0.0);
  PhaseTime t_read{"calibrate: read tokens"}, t_fwd{"calibrate: forward passes"}, t_hess{"calibrate: H += X^T X"};
  PhaseClock clock;
  clock.Start();
  std::vector<torch::Tensor> batches;  // every batch's ids, read first (8 bytes per token)
  for (int64_t s = 0; s < nseq; s += o.batch_seqs) {
    const int64_t n = std::min<int64_t>(o.batch_seqs, nseq - s);
    GP_ASSIGN_OR_RETURN(std::vector<uint16_t> chunk, stream.Take(static_cast<size_t>(n * o.seq_len)));
    auto x = torch::empty({n, o.seq_len}, torch::kInt64);
    auto* p = x.data_ptr<int64_t>();
    for (int64_t i = 0; i < n * o.seq_len; ++i) {
      if (chunk[i] >= vocab)
        return InvalidArgument("calibrate: token id " + std::to_string(chunk[i]) + " is outside the model's vocab of " +
                               std::to_string(vocab));
      p[i] = chunk[i];
      cal.token_counts[chunk[i]] += 1;
    }
    batches.push_back(std::move(x));
  }
  clock.Stop(t_read);

  // Workers: worker w runs batches w, w + workers, ... through a model of its
  // own and sums its own H; the sums are added in worker order at the end
  // (float64, so the order changes H only in the last bits of float64).
  // With more than one worker every tensor operation is single-threaded.
  const int workers = static_cast<int>(std::clamp<int64_t>(o.threads > 0 ? o.threads : at::get_num_threads(), 1,
                                                           static_cast<int64_t>(batches.size())));
  std::vector<model::GPT> models{model};
  for (int w = 1; w < workers; ++w) models.push_back(CopyModel(model));
  struct Sums {
    std::map<std::string, torch::Tensor> hessians;
    PhaseTime hess;
  };
  std::vector<Sums> sums(static_cast<size_t>(workers));
  const bool thread_clocks = workers > 1;  // one worker: its products may use libtorch's / OpenBLAS's threads
  for (int w = 0; w < workers; ++w) {
    models[w]->set_input_capture([&sums, w, thread_clocks](const std::string& site, const torch::Tensor& x) {
      PhaseClock hclock(thread_clocks);
      hclock.Start();
      auto xd = x.detach().to(torch::kFloat64);
      auto& h = sums[w].hessians;
      auto it = h.find(site);
      if (it == h.end()) h.emplace(site, torch::matmul(xd.t(), xd));
      else it->second.addmm_(xd.t(), xd);  // in place: no [in, in] temporary per batch
      hclock.Stop(sums[w].hess);
    });
  }
  std::optional<train::SingleThreadedOps> single_threaded;
  if (workers > 1) single_threaded.emplace();
  cal.threads = workers;
  std::mutex progress_mu;
  auto work = [&](int w) {
    torch::NoGradGuard no_grad;  // thread-local
    models[w]->eval();
    for (size_t b = static_cast<size_t>(w); b < batches.size(); b += static_cast<size_t>(workers)) {
      models[w]->forward(batches[b]);
      std::lock_guard<std::mutex> lock(progress_mu);
      cal.tokens += batches[b].numel();
      if (progress)
        progress({"calibrate", static_cast<uint64_t>(cal.tokens), static_cast<uint64_t>(nseq * o.seq_len), "tokens", ""});
    }
  };
  std::exception_ptr error;  // a worker's exception, rethrown here after the others finished
  auto guarded = [&](int w) {
    try {
      work(w);
    } catch (...) {
      std::lock_guard<std::mutex> lock(progress_mu);
      if (!error) error = std::current_exception();
    }
  };
  clock.Start();
  {
    std::vector<std::thread> pool;
    for (int w = 1; w < workers; ++w) pool.emplace_back(guarded, w);
    guarded(0);
    for (auto& t : pool) t.join();
  }
  clock.Stop(t_fwd);
  for (auto& m : models) m->set_input_capture(nullptr);
  if (error) std::rethrow_exception(error);
  for (auto& sw : sums) {
    for (auto& [site, h] : sw.hessians) {
      auto it = cal.hessians.find(site);
      if (it == cal.hessians.end()) cal.hessians.emplace(site, h);
      else it->second.add_(h);
    }
    // CPU: each worker's own; wall: the workers ran side by side, so their mean.
    t_hess.cpu_s += sw.hess.cpu_s;
    t_hess.wall_s += sw.hess.wall_s / workers;
  }
  t_fwd.wall_s -= t_hess.wall_s;
  t_fwd.cpu_s -= t_hess.cpu_s;
  cal.timings = {t_read, t_fwd, t_hess};
  if (o.row_fisher_floor >= 0) {
    single_threaded.reset();  // one model, on libtorch's threads
    PhaseTime t_fisher{"calibrate: row Fisher (forward + backward)"};
    clock.Start();
    GP_RETURN_IF_ERROR(AccumulateRowFisher(model, batches, &cal, progress));
    clock.Stop(t_fisher);
    char floor[32];
    std::snprintf(floor, sizeof floor, "%g", o.row_fisher_floor);
    cal.notes[encode::kRowFisherFloorNote] = floor;
    cal.timings.push_back(t_fisher);
  }
  return cal;
}

model::GPT CopyModel(model::GPT& m) {
  auto gen = at::detail::getDefaultCPUGenerator();
  torch::Tensor state;
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    state = gen.get_state();
  }
  model::GPT copy(m->config());
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
  }
  torch::NoGradGuard no_grad;
  auto dst = copy->named_parameters();
  for (const auto& p : m->named_parameters()) dst[p.key()].copy_(p.value());
  copy->eval();
  return copy;
}

encode::Hessians ToHessians(const Calibration& c) {
  using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  std::map<std::string, Eigen::MatrixXd> sites;
  for (const auto& [site, h] : c.hessians) {
    const torch::Tensor d = h.to(torch::kCPU, torch::kFloat64).contiguous();
    const auto rows = static_cast<Eigen::Index>(d.dim() > 0 ? d.size(0) : 0);
    const auto cols = rows > 0 ? static_cast<Eigen::Index>(d.numel() / rows) : 0;
    sites.emplace(site, Eigen::Map<const RowMajor>(d.data_ptr<double>(), rows, cols));
  }
  encode::Hessians h = encode::Hessians::FromSites(std::move(sites), c.tokens, c.sensitivity, c.seq_len, c.notes);
  h.set_token_counts(c.token_counts);
  h.set_tcq_sensitivity(c.tcq_sensitivity);
  std::map<std::string, std::vector<double>> fisher;
  for (const auto& [w, f] : c.row_fisher) {
    const torch::Tensor d = f.to(torch::kCPU, torch::kFloat64).contiguous();
    fisher.emplace(w, std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel()));
  }
  h.set_row_fisher(std::move(fisher));
  std::map<std::string, encode::Hessians::RowMajorMatrix> row_hw;
  for (const auto& [w, v] : c.row_hw) {
    const torch::Tensor d = v.to(torch::kCPU, torch::kFloat64).contiguous();
    row_hw.emplace(w, Eigen::Map<const RowMajor>(d.data_ptr<double>(), d.size(0), d.size(1)));
  }
  h.set_row_hw(std::move(row_hw));
  return h;
}

Calibration FromHessians(const encode::Hessians& h) {
  using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Calibration c;
  c.tokens = h.tokens();
  c.seq_len = h.seq_len();
  c.sensitivity = h.sensitivity();
  c.tcq_sensitivity = h.tcq_sensitivity();
  c.notes = h.notes();
  c.token_counts = h.token_counts();
  for (const auto& [w, f] : h.row_fisher()) {
    auto t = torch::empty({static_cast<int64_t>(f.size())}, torch::kFloat64);
    std::copy(f.begin(), f.end(), t.data_ptr<double>());
    c.row_fisher.emplace(w, std::move(t));
  }
  for (const auto& [w, m] : h.row_hw()) {
    auto t = torch::empty({m.rows(), m.cols()}, torch::kFloat64);
    Eigen::Map<RowMajor>(t.data_ptr<double>(), m.rows(), m.cols()) = m;
    c.row_hw.emplace(w, std::move(t));
  }
  for (const auto& [site, m] : h.sites()) {
    auto t = torch::empty({m.rows(), m.cols()}, torch::kFloat64);
    Eigen::Map<RowMajor>(t.data_ptr<double>(), m.rows(), m.cols()) = m;
    c.hessians.emplace(site, std::move(t));
  }
  return c;
}

Status SaveCalibration(const std::string& path, const Calibration& c) { return ToHessians(c).Save(path); }

Result<Calibration> LoadCalibration(const std::string& path) {
  GP_ASSIGN_OR_RETURN(encode::Hessians h, encode::Hessians::Load(path));
  return FromHessians(h);
}

}  // namespace golfpack::eval
