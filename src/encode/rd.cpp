#include "encode/rd.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/encodings.h"
#include "encode/allocator.h"
#include "encode/codecs.h"
#include "encode/encoder.h"
#include "io/pg_names.h"

namespace golfpack::encode {

namespace {

std::string Substitute(const std::string& family, double step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", step);
  std::string out = family;
  const auto at = out.find("{s}");
  if (at != std::string::npos) out.replace(at, 3, buf);
  return out;
}

// Decoded weights of an encoded tensor, through the registry (what the artifact holds).
Result<std::vector<float>> Decode(const gpk::EncodedTensor& e, uint64_t numel) {
  const gpk::EncodingTraits* t = gpk::FindEncoding(e.encoding);
  if (!t) return Internal("unknown encoding " + std::to_string(e.encoding));
  std::vector<float> out(numel);
  GP_RETURN_IF_ERROR(t->decode({e.shape, numel, e.params, e.payload}, out));
  return out;
}

// D = sum_j H_jj * sum_i (w_ij - q_ij)^2 / tokens: the diagonal of tr(E H E^T)/tokens.
double DiagProxy(std::span<const float> w, std::span<const float> q, uint64_t rows, uint64_t cols,
                 const Eigen::MatrixXd& h, int64_t tokens) {
  double d = 0;
  for (uint64_t c = 0; c < cols; ++c) {
    double col = 0;
    for (uint64_t r = 0; r < rows; ++r) {
      const double e = double(w[r * cols + c]) - double(q[r * cols + c]);
      col += e * e;
    }
    d += h(static_cast<Eigen::Index>(c), static_cast<Eigen::Index>(c)) * col;
  }
  return d / double(std::max<int64_t>(tokens, 1));
}

// The full proxy tr(E H E^T) / tokens. GPTQ moves error into directions H
// forgives, which the diagonal cannot see, so GPTQ candidates are priced with
// this (the sensitivities were fitted against it too).
double FullProxy(std::span<const float> w, std::span<const float> q, uint64_t rows, uint64_t cols,
                 const Eigen::MatrixXd& h, int64_t tokens) {
  Eigen::MatrixXd e(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
  for (uint64_t r = 0; r < rows; ++r)
    for (uint64_t c = 0; c < cols; ++c)
      e(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) = double(w[r * cols + c]) - double(q[r * cols + c]);
  return (e * h).cwiseProduct(e).sum() / double(std::max<int64_t>(tokens, 1));
}

struct Work {
  const io::Tensor* tensor = nullptr;
  const Eigen::MatrixXd* h = nullptr;
  double sensitivity = 1.0;
  std::vector<RdCandidate> candidates;
  std::vector<gpk::EncodedTensor> encoded;
  Status status;
};

}  // namespace

Result<RdResult> PackRd(const io::TensorFile& model, const Hessians& hessians, const RdOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.budget == 0) return InvalidArgument("recipe rd needs --budget BYTES");
  RegisterAllCodecs();
  RdResult result;
  result.family = o.family;
  std::vector<double> steps = o.steps;
  if (result.family.empty()) {
    // GPTQ error feedback onto the entropy-coded grid: at equal bytes it
    // roughly halves the measured loss of plain rounding on the demo model.
    if (MakeEncoder("gptq:ans:s0.5:row").ok()) {
      result.family = "gptq:ans:s{s}:row";
    } else {
      result.family = "u{s}:row:none";  // fixed-bit grids when no entropy-coded grid is built in
    }
  }
  if (steps.empty()) {
    if (result.family.rfind("u{s}", 0) == 0) {
      steps = {2, 3, 4, 5, 6, 7, 8};
    } else {
      // Step = s * row std, half-octave apart: from ~10 bits/param (s = 1/256)
      // down to ~0.5 (s = 2.8).
      for (int k = 0; k < 20; ++k) steps.push_back(std::ldexp(std::pow(2.0, 0.5 * k), -8));
    }
  }

  // Split: quantizable tensors get a candidate ladder; the rest is fixed.
  std::vector<Work> work;
  std::vector<gpk::EncodedTensor> fixed(model.tensors.size());
  std::vector<int> work_of(model.tensors.size(), -1);
  for (size_t i = 0; i < model.tensors.size(); ++i) {
    const io::Tensor& t = model.tensors[i];
    const Eigen::MatrixXd* h = t.shape.size() == 2 ? hessians.ForWeight(t.name) : nullptr;
    if (h) {
      work_of[i] = static_cast<int>(work.size());
      Work w;
      w.tensor = &t;
      w.h = h;
      w.sensitivity = hessians.Sensitivity(t.name).value_or(1.0);
      work.push_back(std::move(w));
      continue;
    }
    GP_ASSIGN_OR_RETURN(auto enc, MakeEncoder(io::IsControlTensorName(t.name) ? "f32" : "f16"));
    GP_ASSIGN_OR_RETURN(std::vector<float> v, t.ToFloat32());
    std::vector<uint64_t> shape(t.shape.begin(), t.shape.end());
    GP_ASSIGN_OR_RETURN(fixed[i], enc->Encode(t.name, shape, v, nullptr));
  }
  if (work.empty()) return InvalidArgument("recipe rd: no tensor has a Hessian in the calibration file");

  // GPTQ families are priced in two phases (see RdOptions::gptq_neighbors).
  const bool two_phase = result.family.rfind("gptq:", 0) == 0 && o.gptq_neighbors >= 0;
  const std::string plain_family = two_phase ? result.family.substr(5) : result.family;

  // Candidates for every tensor at the steps `which(k)` picks, spread over threads.
  auto evaluate = [&](const std::string& family, const std::function<std::vector<size_t>(size_t)>& which,
                      const char* stage) {
  std::atomic<size_t> next{0}, done{0};
  auto worker = [&]() {
    for (size_t k; (k = next++) < work.size();) {
      Work& w = work[k];
      auto values = w.tensor->ToFloat32();
      if (!values.ok()) {
        w.status = values.status();
        continue;
      }
      std::vector<uint64_t> shape(w.tensor->shape.begin(), w.tensor->shape.end());
      const uint64_t rows = shape[0], cols = shape[1];
      for (size_t si : which(k)) {
        const double s = steps[si];
        const std::string spec = Substitute(family, s);
        auto enc = MakeEncoder(spec);
        if (!enc.ok()) {
          w.status = enc.status();
          break;
        }
        auto e = (*enc)->Encode(w.tensor->name, shape, *values, w.h);
        if (!e.ok()) {
          w.status = e.status();
          break;
        }
        auto q = Decode(*e, rows * cols);
        if (!q.ok()) {
          w.status = q.status();
          break;
        }
        RdCandidate c;
        c.spec = spec;
        c.step = s;
        c.gptq = family.rfind("gptq:", 0) == 0;
        c.bytes = e->payload.size() + e->params.size();
        c.proxy = c.gptq ? FullProxy(*values, *q, rows, cols, *w.h, hessians.tokens())
                         : DiagProxy(*values, *q, rows, cols, *w.h, hessians.tokens());
        c.predicted = w.sensitivity * c.proxy;
        w.candidates.push_back(c);
        w.encoded.push_back(std::move(*e));
      }
      const size_t d = ++done;
      if (o.progress) o.progress({stage, d, work.size(), "tensors", w.tensor->name});
    }
  };
  const unsigned nthreads = o.threads > 0 ? static_cast<unsigned>(o.threads) : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < nthreads; ++i) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  Status st;
  for (const auto& w : work)
    if (!w.status.ok() && st.ok()) st = w.status;
  return st;
  };
  auto all_steps = [&](size_t) {
    std::vector<size_t> v(steps.size());
    for (size_t i = 0; i < v.size(); ++i) v[i] = i;
    return v;
  };
  GP_RETURN_IF_ERROR(evaluate(plain_family, all_steps, "candidates"));

  // Allocation units; `gptq_only` keeps a tensor's GPTQ candidates (when it
  // has any) so that all its points are priced by the same proxy. Point tags
  // are candidate indices.
  std::vector<AllocUnit> units;
  auto make_units = [&](bool gptq_only) {
    units.clear();
    for (const auto& w : work) {
      AllocUnit u;
      u.name = w.tensor->name;
      const bool has_gptq = std::any_of(w.candidates.begin(), w.candidates.end(), [](const RdCandidate& c) { return c.gptq; });
      for (size_t c = 0; c < w.candidates.size(); ++c)
        if (!gptq_only || !has_gptq || w.candidates[c].gptq)
          u.points.push_back({w.candidates[c].bytes, w.candidates[c].predicted, static_cast<int>(c)});
      units.push_back(std::move(u));
    }
  };
  auto to_candidates = [&](Allocation& a) {
    for (size_t k = 0; k < a.choice.size(); ++k) a.choice[k] = static_cast<size_t>(units[k].points[a.choice[k]].tag);
  };
  make_units(false);

  const uint64_t code = o.code_bytes_set ? o.code_bytes : DecoderCodeBytes();
  gpk::WriteOptions wopt;
  wopt.metadata = {{"golfpack.recipe", "rd"}, {"golfpack.format", "gpk-1"}};
  auto build = [&](const std::vector<size_t>& choice) {
    std::vector<gpk::EncodedTensor> tensors;
    for (size_t i = 0; i < model.tensors.size(); ++i)
      tensors.push_back(work_of[i] < 0 ? fixed[i] : work[work_of[i]].encoded[choice[work_of[i]]]);
    return gpk::BuildArtifact(tensors, wopt);  // one uncompressed section per tensor: exact prices
  };
  // Everything but the candidates' variable bytes, measured on the cheapest choice.
  std::vector<size_t> cheapest(work.size());
  uint64_t cheapest_var = 0;
  for (size_t k = 0; k < work.size(); ++k) {
    size_t best = 0;
    for (size_t c = 1; c < work[k].candidates.size(); ++c)
      if (work[k].candidates[c].bytes < work[k].candidates[best].bytes) best = c;
    cheapest[k] = best;
    cheapest_var += work[k].candidates[best].bytes;
  }
  GP_ASSIGN_OR_RETURN(std::vector<uint8_t> base, build(cheapest));
  const uint64_t overhead = base.size() - cheapest_var + code;
  if (overhead + cheapest_var > o.budget)
    return InvalidArgument("recipe rd: --budget " + std::to_string(o.budget) + " is below the smallest possible artifact (" +
                           std::to_string(overhead + cheapest_var) + " bytes counted, code " + std::to_string(code) +
                           " included)");

  int64_t alloc_budget = static_cast<int64_t>(o.budget - overhead);
  if (two_phase) {
    // Phase 2: GPTQ around the steps plain rounding would get.
    GP_ASSIGN_OR_RETURN(Allocation first, Allocate(units, static_cast<uint64_t>(alloc_budget)));
    to_candidates(first);
    std::vector<size_t> center(work.size());
    for (size_t k = 0; k < work.size(); ++k) center[k] = first.choice[k];  // plain candidate c is steps[c]
    GP_RETURN_IF_ERROR(evaluate(
        result.family,
        [&](size_t k) {
          std::vector<size_t> v;
          const int lo = std::max(0, static_cast<int>(center[k]) - o.gptq_neighbors);
          const int hi = std::min(static_cast<int>(steps.size()) - 1, static_cast<int>(center[k]) + o.gptq_neighbors);
          for (int i = lo; i <= hi; ++i) v.push_back(static_cast<size_t>(i));
          return v;
        },
        "gptq"));
    make_units(/*gptq_only=*/true);
  }

  // Allocate; the manifest's varints move by a few bytes with the choice, so
  // correct the allocator's budget by the measured miss until it lands.
  Allocation alloc;
  std::vector<uint8_t> bytes;
  for (int round = 1; round <= 8; ++round) {
    result.allocation_rounds = round;
    GP_ASSIGN_OR_RETURN(alloc, Allocate(units, static_cast<uint64_t>(std::max<int64_t>(alloc_budget, 0))));
    to_candidates(alloc);
    GP_ASSIGN_OR_RETURN(bytes, build(alloc.choice));
    const int64_t total = static_cast<int64_t>(bytes.size() + code);
    if (total > static_cast<int64_t>(o.budget)) {
      alloc_budget -= total - static_cast<int64_t>(o.budget);
      continue;
    }
    const int64_t slack = static_cast<int64_t>(o.budget) - total;
    if (slack > static_cast<int64_t>(o.budget / 1000) && !alloc.underfilled && round < 8) {
      alloc_budget += slack;
      continue;
    }
    break;
  }
  if (bytes.size() + code > o.budget) return Internal("recipe rd: allocation did not converge under the budget");

  // Fine fill: the ladder is half an octave apart, so a few hundred bytes can
  // be left over. Move the tensors with the best return per byte to a step
  // between their rung and the next finer one (bisection on the step) while
  // the slack allows, until it is within 0.1% of the budget.
  std::vector<size_t> order(work.size());
  for (size_t k = 0; k < work.size(); ++k) order[k] = k;
  auto slope = [&](size_t k) {  // predicted loss saved per byte by the next finer candidate
    const auto& cs = work[k].candidates;
    const auto& c = cs[alloc.choice[k]];
    double best = 0;
    for (const auto& other : cs)
      if (other.gptq == c.gptq && other.bytes > c.bytes && other.predicted < c.predicted)
        best = std::max(best, (c.predicted - other.predicted) / double(other.bytes - c.bytes));
    return best;
  };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return slope(a) > slope(b); });
  const bool ladder = result.family.find("{s}") != std::string::npos && result.family.rfind("u{s}", 0) != 0;
  for (size_t k : order) {
    int64_t slack = static_cast<int64_t>(o.budget) - static_cast<int64_t>(bytes.size() + code);
    if (!ladder || slack <= static_cast<int64_t>(o.budget / 1000)) break;
    Work& w = work[k];
    const size_t cur = alloc.choice[k];
    // Search between the chosen step and the next finer rung (smaller step,
    // more bytes), in the chosen candidate's family.
    const RdCandidate chosen = w.candidates[cur];
    const std::string& family = chosen.gptq ? result.family : plain_family;
    double lo = -1, hi = chosen.step;
    for (double s : steps)
      if (s < chosen.step) lo = std::max(lo, s);
    if (lo <= 0) continue;  // already at the finest rung
    auto values = w.tensor->ToFloat32();
    if (!values.ok()) return values.status();
    std::vector<uint64_t> shape(w.tensor->shape.begin(), w.tensor->shape.end());
    std::optional<gpk::EncodedTensor> best;
    RdCandidate best_c;
    for (int it = 0; it < (chosen.gptq ? 6 : 10); ++it) {
      const double mid = std::sqrt(lo * hi);
      const std::string spec = Substitute(family, mid);
      GP_ASSIGN_OR_RETURN(auto enc, MakeEncoder(spec));
      GP_ASSIGN_OR_RETURN(gpk::EncodedTensor e, enc->Encode(w.tensor->name, shape, *values, w.h));
      const int64_t extra = static_cast<int64_t>(e.payload.size() + e.params.size()) -
                            static_cast<int64_t>(w.candidates[cur].bytes);
      if (extra <= slack - 4) {  // 4: room for the manifest's varints to grow (else undone below)
        GP_ASSIGN_OR_RETURN(std::vector<float> q, Decode(e, shape[0] * shape[1]));
        RdCandidate c;
        c.spec = spec;
        c.step = mid;
        c.gptq = chosen.gptq;
        c.bytes = e.payload.size() + e.params.size();
        c.proxy = c.gptq ? FullProxy(*values, q, shape[0], shape[1], *w.h, hessians.tokens())
                         : DiagProxy(*values, q, shape[0], shape[1], *w.h, hessians.tokens());
        c.predicted = w.sensitivity * c.proxy;
        if (c.predicted < (best ? best_c.predicted : w.candidates[cur].predicted)) {
          best = std::move(e);
          best_c = c;
        }
        hi = mid;  // fits: try a finer step
      } else {
        lo = mid;
      }
    }
    if (!best) continue;
    w.candidates.push_back(best_c);
    w.encoded.push_back(std::move(*best));
    alloc.choice[k] = w.candidates.size() - 1;
    auto rebuilt = build(alloc.choice);
    if (!rebuilt.ok()) return rebuilt.status();
    if (rebuilt->size() + code > o.budget) {  // the varints grew more than allowed for: undo
      alloc.choice[k] = cur;
      w.candidates.pop_back();
      w.encoded.pop_back();
      continue;
    }
    bytes = std::move(*rebuilt);
    ++result.fine_steps;
  }
  result.underfilled = o.budget - (bytes.size() + code) > o.budget / 1000;

  // Report.
  auto art = gpk::Artifact::Parse(bytes, "rd");
  if (!art.ok()) return Internal("recipe rd built an unreadable artifact: " + art.status().ToString());
  std::map<std::string, uint64_t> accounted;
  for (const auto& t : art->tensors()) accounted[t.name] = t.accounted_bytes;
  for (size_t k = 0; k < work.size(); ++k) {
    RdTensorReport r;
    r.name = work[k].tensor->name;
    r.numel = static_cast<uint64_t>(work[k].tensor->numel());
    r.sensitivity = work[k].sensitivity;
    r.candidates = work[k].candidates;
    r.chosen = alloc.choice[k];
    r.bytes = accounted[r.name];
    const RdCandidate& c = r.candidates[r.chosen];
    r.predicted_loss = c.predicted;
    r.loss_bought = r.candidates[cheapest[k]].predicted - c.predicted;
    // Marginal return at the chosen point: the best further improvement per KB.
    for (const auto& other : r.candidates)
      if (other.gptq == c.gptq && other.bytes > c.bytes && other.predicted < c.predicted)
        r.marginal_loss_per_kb =
            std::max(r.marginal_loss_per_kb, (c.predicted - other.predicted) / double(other.bytes - c.bytes) * 1024.0);
    result.predicted_loss += r.predicted_loss;
    result.tensors.push_back(std::move(r));
  }
  result.lambda = alloc.lambda;
  PackResult& p = result.pack;
  p.bytes = std::move(bytes);
  p.file_bytes = p.bytes.size();
  p.code_bytes = code;
  p.counted_bytes = p.file_bytes + code;
  for (const auto& t : model.tensors) {
    p.params += static_cast<uint64_t>(t.numel());
    p.tensors.push_back({t.name, std::vector<uint64_t>(t.shape.begin(), t.shape.end()), static_cast<uint64_t>(t.numel()),
                         "", 0, 0});
  }
  p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

std::string RdReportJson(const RdResult& r) {
  nlohmann::json j;
  j["recipe"] = "rd";
  j["family"] = r.family;
  j["file_bytes"] = r.pack.file_bytes;
  j["code_bytes"] = r.pack.code_bytes;
  j["counted_bytes"] = r.pack.counted_bytes;
  j["params"] = r.pack.params;
  j["predicted_loss_increase"] = r.predicted_loss;
  j["lambda_loss_per_byte"] = r.lambda;
  j["seconds"] = r.pack.seconds;
  for (const auto& t : r.tensors) {
    nlohmann::json row = {{"name", t.name},
                          {"params", t.numel},
                          {"sensitivity", t.sensitivity},
                          {"chosen", t.candidates[t.chosen].spec},
                          {"bytes", t.bytes},
                          {"bits_per_param", 8.0 * double(t.bytes) / double(std::max<uint64_t>(t.numel, 1))},
                          {"predicted_loss", t.predicted_loss},
                          {"loss_bought", t.loss_bought},
                          {"marginal_loss_per_kb", t.marginal_loss_per_kb}};
    for (const auto& c : t.candidates)
      row["candidates"].push_back({{"spec", c.spec}, {"bytes", c.bytes}, {"proxy", c.proxy}, {"predicted", c.predicted}});
    j["tensors"].push_back(row);
  }
  return j.dump(2);
}

}  // namespace golfpack::encode
