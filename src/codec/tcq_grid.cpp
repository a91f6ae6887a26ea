#include "codec/tcq_grid.h"

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>

#include "codec/ans_grid.h"
#include "codec/bytes.h"
#include "core/byte_reader.h"
#include "core/encodings.h"
#include "core/rans.h"

namespace golfpack::encode {
namespace {

using detail::FormatDouble;
using detail::Quote;

constexpr int kMaxU = 2047;  // |union index| <= 2047: at most 4095 symbols per stream, |j| <= 4095

// The trellis of gpk::kTrellis (FORMAT.md "7: ans_grid", models 2 to 8). State s holds
// state_bits bits; its union is a = s & 1 and
//   next(s, z1) = (s >> 1) ^ (a ? h0 >> 1 : 0) ^ (z1 ? h1 >> 1 : 0).
// Invariant the Viterbi below relies on: the top bit of next(s, z1) is a
// (h0 has its top bit set, h1 does not), so both predecessors of a state s'
// share the union s' >> (state_bits - 1), and they differ in z1: every state
// has exactly one predecessor per subset bit.
struct Trellis {
  int states = 0, top = 0;
  std::vector<std::array<uint16_t, 2>> pred;  // pred[s'][z1]
};
Trellis MakeTrellis(int state_bits) {
  const uint32_t h0 = gpk::kTrellis[state_bits - 2][0] >> 1, h1 = gpk::kTrellis[state_bits - 2][1] >> 1;
  Trellis t;
  t.states = 1 << state_bits;
  t.top = state_bits - 1;
  t.pred.assign(size_t(t.states), {0, 0});
  for (int s = 0; s < t.states; ++s)
    for (uint32_t z1 = 0; z1 < 2; ++z1) t.pred[(uint32_t(s) >> 1) ^ (s & 1 ? h0 : 0) ^ (z1 ? h1 : 0)][z1] = uint16_t(s);
  return t;
}
uint32_t Next(int state_bits, uint32_t s, uint32_t z1) {
  return (s >> 1) ^ (s & 1 ? gpk::kTrellis[state_bits - 2][0] >> 1 : 0) ^
         (z1 ? gpk::kTrellis[state_bits - 2][1] >> 1 : 0);
}

// Code lengths of union index u in union a: bits[a][u + kMaxU].
using Bits = std::array<std::vector<double>, 2>;
Bits FlatBits() { return {std::vector<double>(2 * kMaxU + 1, 0.0), std::vector<double>(2 * kMaxU + 1, 0.0)}; }

// The code lengths the Viterbi prices a sample with: one Bits per column
// class (the classes the writer's column-class streams would use), so that
// the rate term matches the tables that code the column.
struct Rate {
  std::vector<Bits> bits{FlatBits()};
  std::vector<uint8_t> col;  // each column's class; empty = class 0
  const Bits& For(size_t c) const { return bits[col.empty() ? 0 : col[c]]; }
};

// Code lengths from codes: per union (classes = 1), or per union and column
// class, with K = `classes` classes found as PackTcqGrid finds them.
Rate RateFromCodes(std::span<const int16_t> codes, uint64_t rows, uint64_t cols, int state_bits, int classes) {
  Rate rate;
  std::array<std::vector<int>, 2> v;
  std::array<std::vector<uint32_t>, 2> at;
  std::array<int, 2> z = {0, 0};
  for (uint64_t r = 0; r < rows; ++r) {
    uint32_t s = 0;
    for (uint64_t c = 0; c < cols; ++c) {
      const int a = int(s & 1), u = (codes[r * cols + c] - a) / 2;
      v[size_t(a)].push_back(u), at[size_t(a)].push_back(uint32_t(c)), z[size_t(a)] = std::max(z[size_t(a)], std::abs(u));
      s = Next(state_bits, s, uint32_t(u) & 1);
    }
  }
  const int k = classes > 1 && uint64_t(classes) <= cols && z[0] <= 127 && z[1] <= 127 ? classes : 1;
  if (k > 1) {
    std::array<std::vector<SymbolHist>, 2> hist;
    for (size_t a = 0; a < 2; ++a) {
      const size_t alpha = size_t(2 * z[a] + 1);
      std::vector<uint32_t> h(cols * alpha, 0);
      for (size_t i = 0; i < v[a].size(); ++i) ++h[at[a][i] * alpha + size_t(v[a][i] + z[a])];
      hist[a].resize(cols);
      for (uint64_t c = 0; c < cols; ++c)
        for (size_t x = 0; x < alpha; ++x)
          if (h[c * alpha + x]) hist[a][c].push_back({uint16_t(x), h[c * alpha + x]});
    }
    rate.col = ClassifyTrellisColumns(hist, z, k);
    rate.bits.assign(size_t(k), FlatBits());
  }
  for (int j = 0; j < k; ++j)
    for (size_t a = 0; a < 2; ++a) {
      std::vector<uint64_t> n(2 * kMaxU + 1, 0);
      uint64_t tot = 0;
      for (size_t i = 0; i < v[a].size(); ++i)
        if (k == 1 || rate.col[at[a][i]] == j) ++n[size_t(v[a][i] + kMaxU)], ++tot;
      const double l = std::log2(double(std::max<uint64_t>(tot, 1)));
      auto& b = rate.bits[size_t(j)][a];
      for (size_t x = 0; x < b.size(); ++x) b[x] = n[x] ? l - std::log2(double(n[x])) : l + 1.0;
    }
  return rate;
}

// The point of subset (a, z1) (union a, union index of parity z1) nearest x
// under wt * (x - j)^2 + lam * bits_a: writes j, returns the cost. Four
// neighbours of the continuous index cover the rate term's pull.
double BestInSubset(double x, int a, int z1, double wt, double lam, const Bits& bits, int& j) {
  int i0 = int(std::clamp(std::floor((x - a) * 0.5), double(-kMaxU - 2), double(kMaxU + 2)));
  if ((i0 & 1) != z1) --i0;
  double best = std::numeric_limits<double>::infinity();
  for (int i : {i0 - 2, i0, i0 + 2, i0 + 4}) {
    if (i < -kMaxU || i > kMaxU) continue;
    const double d = x - double(2 * i + a);
    const double c = wt * d * d + lam * bits[size_t(a)][size_t(i + kMaxU)];
    if (c < best) best = c, j = 2 * i + a;
  }
  return best;
}

// Viterbi over one row segment x (in units of the scale) with weights wt,
// from state `start`, free end: writes j per sample, returns the end state.
uint32_t Viterbi(const Trellis& tr, std::span<const double> x, std::span<const double> wt, uint32_t start, double lam,
                 const Rate& rate, std::span<int16_t> j_out) {
  const size_t n = x.size(), S = size_t(tr.states);
  constexpr double kInf = std::numeric_limits<double>::infinity();
  std::vector<double> cost(S, kInf), ncost(S);
  cost[start] = 0;
  std::vector<uint8_t> dec(n * S);
  std::vector<std::array<int16_t, 4>> best(n);  // best[t][2a + z1]: j of subset (a, z1)
  for (size_t t = 0; t < n; ++t) {
    double bc[4];
    for (int k = 0; k < 4; ++k) {
      int j = 0;
      bc[k] = BestInSubset(x[t], k / 2, k % 2, wt[t], lam, rate.For(t), j);
      best[t][size_t(k)] = int16_t(j);
    }
    for (size_t s = 0; s < S; ++s) {
      const int a = int(s >> tr.top);
      const double c0 = cost[tr.pred[s][0]] + bc[2 * a], c1 = cost[tr.pred[s][1]] + bc[2 * a + 1];
      dec[t * S + s] = c1 < c0;
      ncost[s] = c1 < c0 ? c1 : c0;
    }
    cost.swap(ncost);
  }
  uint32_t s = uint32_t(std::min_element(cost.begin(), cost.end()) - cost.begin());
  const uint32_t end = s;
  for (size_t t = n; t-- > 0;) {
    const int z1 = dec[t * S + s];
    const uint32_t prev = tr.pred[s][size_t(z1)];
    j_out[t] = best[t][size_t(2 * int(prev & 1) + z1)];
    s = prev;
  }
  return n ? end : start;
}

// Viterbi over one row's block with GPTQ's feedback inside the block, per
// survivor: every state keeps the block's remaining values as its own path's
// errors left them (x[l] -= e_t U[t, l] / U[t, t] for l > t), so the metric
// summed along a path is exactly GPTQ's sum of squared scaled errors for that
// path's codes (plus lambda times their bits). x: the block's values in weight
// units with every earlier block's feedback applied; u: the block's rows of U
// (n x n, upper); wt: f.weight of its columns; sc: the row's scale. Returns
// the end state (the cheapest); writes j per column.
uint32_t ViterbiFeedback(const Trellis& tr, std::span<const double> x, const Eigen::MatrixXd& u, std::span<const double> wt,
                         double sc, uint32_t start, double lam, const Rate& rate, size_t col0,
                         std::span<int16_t> j_out) {
  const size_t n = x.size(), S = size_t(tr.states);
  constexpr double kInf = std::numeric_limits<double>::infinity();
  std::vector<double> cost(S, kInf), ncost(S), res(S * n), nres(S * n);
  cost[start] = 0;
  std::copy(x.begin(), x.end(), res.begin() + std::ptrdiff_t(start * n));
  std::vector<uint8_t> dec(n * S);
  std::vector<int16_t> jsel(n * S);
  for (size_t t = 0; t < n; ++t) {
    for (size_t s = 0; s < S; ++s) {
      const int a = int(s >> tr.top);
      double bc = kInf;
      int bz = 0, bj = 0;
      for (int z1 = 0; z1 < 2; ++z1) {
        const size_t p = tr.pred[s][size_t(z1)];
        if (cost[p] == kInf) continue;
        int j = 0;
        const double c = cost[p] + BestInSubset(res[p * n + t] / sc, a, z1, wt[t], lam, rate.For(col0 + t), j);
        if (c < bc) bc = c, bz = z1, bj = j;
      }
      ncost[s] = bc;
      dec[t * S + s] = uint8_t(bz);
      jsel[t * S + s] = int16_t(bj);
      if (bc == kInf) continue;
      const size_t p = tr.pred[s][size_t(bz)];
      double* r = &nres[s * n];
      std::copy(&res[p * n], &res[p * n] + n, r);
      const double e = (r[t] - double(float(bj) * float(sc))) / u(Eigen::Index(t), Eigen::Index(t));
      for (size_t l = t + 1; l < n; ++l) r[l] -= e * u(Eigen::Index(t), Eigen::Index(l));
    }
    cost.swap(ncost);
    res.swap(nres);
  }
  uint32_t s = uint32_t(std::min_element(cost.begin(), cost.end()) - cost.begin());
  const uint32_t end = s;
  for (size_t t = n; t-- > 0;) {
    j_out[t] = jsel[t * S + s];
    s = tr.pred[s][dec[t * S + s]];
  }
  return n ? end : start;
}

Result<TcqGridQuant> Scales(const std::string& name, std::span<const uint64_t> shape, std::span<const float> w,
                            const TcqGridSpec& spec) {
  GP_RETURN_IF_ERROR(spec.Validate());
  AnsGridSpec g;
  g.step = spec.step;
  g.scale_dtype = spec.scale_dtype;
  g.row_step = spec.row_step;
  GP_ASSIGN_OR_RETURN(AnsGridQuant a, AnsGridScales(name, shape, w, g));
  TcqGridQuant q;
  q.rows = a.rows;
  q.cols = a.cols;
  q.scales = std::move(a.scales);
  q.codes.assign(w.size(), 0);
  return q;
}

// The plain passes on q (scales set): returns the last pass's code lengths.
Rate PlainPasses(std::span<const float> w, const TcqGridSpec& spec, TcqGridQuant& q) {
  const Trellis tr = MakeTrellis(spec.state_bits);
  Rate bits;
  std::vector<double> x(q.cols), wt(q.cols, 1.0);
  for (int it = 0; it < spec.iterations; ++it) {
    for (uint64_t r = 0; r < q.rows; ++r) {
      for (uint64_t c = 0; c < q.cols; ++c) x[c] = double(w[r * q.cols + c]) / double(q.scales[r]);
      Viterbi(tr, x, wt, 0, it ? spec.lambda : 0.0, bits, std::span(q.codes).subspan(r * q.cols, q.cols));
    }
    bits = RateFromCodes(q.codes, q.rows, q.cols, spec.state_bits, spec.rate_classes);
  }
  return bits;
}

}  // namespace

Status TcqGridSpec::Validate() const {
  if (!(std::isfinite(step) && step > 0 && step <= 1e6)) return InvalidArgument("tcq: step must be in (0, 1e6]");
  if (scale_dtype > 2) return InvalidArgument("tcq: scale_dtype must be 0 (f16), 1 (f32) or 2 (bf16)");
  if (state_bits < 2 || state_bits > 8) return InvalidArgument("tcq: state bits must be 2..8");
  if (!(std::isfinite(lambda) && lambda >= 0)) return InvalidArgument("tcq: lambda must be finite and >= 0");
  if (iterations < 1 || iterations > 16) return InvalidArgument("tcq: iterations must be 1..16");
  if (block < 1) return InvalidArgument("tcq: block must be >= 1");
  if (rate_classes < 1 || rate_classes > 16) return InvalidArgument("tcq: rate classes must be 1..16");
  if (!(std::isfinite(debias) && debias >= 0 && debias <= 2)) return InvalidArgument("tcq: debias (ub) must be in [0, 2]");
  return Status::Ok();
}

std::string TcqGridSpec::ToString() const {
  std::string s = "tcq:s" + FormatDouble(step) + ":st" + std::to_string(state_bits);
  const TcqGridSpec d;
  if (lambda != d.lambda) s += ":l" + FormatDouble(lambda);
  if (iterations != d.iterations) s += ":it" + std::to_string(iterations);
  if (block != d.block) s += ":b" + std::to_string(block);
  if (rate_classes != d.rate_classes) s += ":rc" + std::to_string(rate_classes);
  if (debias != d.debias) s += ":ub" + FormatDouble(debias);
  if (scale_dtype == 1) s += ":f32";
  if (scale_dtype == 2) s += ":bf16";
  return s;
}

Result<TcqGridQuant> QuantizeTcqGrid(const std::string& name, std::span<const uint64_t> shape,
                                     std::span<const float> w, const TcqGridSpec& spec) {
  GP_ASSIGN_OR_RETURN(TcqGridQuant q, Scales(name, shape, w, spec));
  PlainPasses(w, spec, q);
  if (spec.debias > 0) {
    const std::vector<double> wd(w.begin(), w.end());
    DebiasTcqRows(w, wd, spec.debias, spec.scale_dtype, q);
  }
  return q;
}

std::vector<double> DebiasTcqRows(std::span<const float> w, std::span<const double> wh, double fraction,
                                  uint8_t scale_dtype, TcqGridQuant& q) {
  std::vector<double> gains(q.rows, 1.0);
  for (uint64_t r = 0; r < q.rows; ++r) {
    double whw = 0, qhw = 0;
    for (uint64_t c = r * q.cols; c < (r + 1) * q.cols; ++c) {
      whw += double(w[c]) * wh[c];
      qhw += double(float(q.codes[c]) * q.scales[r]) * wh[c];
    }
    if (!(whw > 0 && qhw > 0)) continue;
    const double g = std::clamp(1.0 + fraction * (whw / qhw - 1.0), 0.5, 2.0);
    const float stored = detail::StoreScaleNearest(double(q.scales[r]) * g, scale_dtype);
    if (!(stored > 0) || !std::isfinite(stored)) continue;
    gains[r] = double(stored) / double(q.scales[r]);
    q.scales[r] = stored;
  }
  return gains;
}

Result<TcqGridQuant> GptqTcqGridQuant(const std::string& name, std::span<const uint64_t> shape,
                                      std::span<const float> w, const GptqFactor& f, const TcqGridSpec& spec,
                                      GptqRunStats* stats, const Eigen::MatrixXd* hessian,
                                      std::span<const double> row_hw) {
  GP_ASSIGN_OR_RETURN(TcqGridQuant q, Scales(name, shape, w, spec));
  if (!row_hw.empty() && row_hw.size() != q.rows * q.cols)
    return InvalidArgument(Quote(name) + ": row_hw has " + std::to_string(row_hw.size()) + " values, expected " +
                           std::to_string(q.rows * q.cols));
  if (spec.debias > 0 && hessian == nullptr)
    return InvalidArgument(Quote(name) + ": tcq with ub (the output-gain correction) needs the Hessian");
  if (hessian && (hessian->rows() != Eigen::Index(q.cols) || hessian->cols() != Eigen::Index(q.cols)))
    return InvalidArgument(Quote(name) + ": Hessian is " + std::to_string(hessian->rows()) + "x" +
                           std::to_string(hessian->cols()) + ", expected " + std::to_string(q.cols) + "x" +
                           std::to_string(q.cols));
  if (f.act_order) return InvalidArgument(Quote(name) + ": tcq needs a GPTQ factorisation without act-order");
  if (f.cols != q.cols)
    return InvalidArgument(Quote(name) + ": GPTQ factorisation is for " + std::to_string(f.cols) + " columns, expected " +
                           std::to_string(q.cols));
  const Rate bits = PlainPasses(w, spec, q);
  GptqRunStats st;
  st.damp_used = f.damp_used;
  st.dead_columns = f.dead_columns;
  st.row_err_damped.assign(q.rows, 0.0);
  const auto rows = Eigen::Index(q.rows), cols = Eigen::Index(q.cols);
  if (rows && cols) {
    Eigen::MatrixXd W(rows, cols);
    for (Eigen::Index r = 0; r < rows; ++r)
      for (Eigen::Index c = 0; c < cols; ++c) W(r, c) = f.dead[size_t(c)] ? 0.0 : double(w[size_t(r * cols + c)]);
    const Trellis tr = MakeTrellis(spec.state_bits);
    const Eigen::Index bs = spec.block;
    std::vector<uint32_t> state(q.rows, 0);
    std::vector<double> x(static_cast<size_t>(bs)), wt(static_cast<size_t>(bs));
    Eigen::MatrixXd Err(rows, bs);
    for (Eigen::Index i1 = 0; i1 < cols; i1 += bs) {
      const Eigen::Index i2 = std::min(i1 + bs, cols), n = i2 - i1;
      for (Eigen::Index i = 0; i < n; ++i) wt[size_t(i)] = f.weight(i1 + i);
      const Eigen::MatrixXd ub = f.U.block(i1, i1, n, n);
      // One Viterbi per row over the block, with every earlier block's feedback in W.
      for (Eigen::Index r = 0; r < rows; ++r) {
        for (Eigen::Index i = 0; i < n; ++i) x[size_t(i)] = W(r, i1 + i);
        state[size_t(r)] = ViterbiFeedback(tr, std::span(x).first(size_t(n)), ub, std::span(wt).first(size_t(n)),
                                           q.scales[size_t(r)], state[size_t(r)], spec.lambda, bits, size_t(i1),
                                           std::span(q.codes).subspan(size_t(r * cols + i1), size_t(n)));
      }
      // GPTQ's error recurrence with these codes: exact err_damped, and the
      // feedback onto the later columns.
      for (Eigen::Index i = 0; i < n; ++i) {
        const Eigen::Index j = i1 + i;
        for (Eigen::Index r = 0; r < rows; ++r) {
          const float deq = float(q.codes[size_t(r * cols + j)]) * q.scales[size_t(r)];
          Err(r, i) = (W(r, j) - double(deq)) / f.U(j, j);
          st.row_err_damped[size_t(r)] += Err(r, i) * Err(r, i);
        }
        if (i2 - j - 1 > 0) W.block(0, j + 1, rows, i2 - j - 1).noalias() -= Err.col(i) * f.U.block(j, j + 1, 1, i2 - j - 1);
      }
      if (i2 < cols) W.rightCols(cols - i2).noalias() -= Err.leftCols(n) * f.U.block(i1, i2, n, cols - i2);
    }
    if (spec.debias > 0) {
      // W H on the weights GPTQ saw (dead columns zeroed), then each rescaled
      // row's e (H' + damp I) e^T, H' = H with the dead columns' diagonal 1.
      Eigen::MatrixXd W0(rows, cols);
      for (Eigen::Index r = 0; r < rows; ++r)
        for (Eigen::Index c = 0; c < cols; ++c) W0(r, c) = f.dead[size_t(c)] ? 0.0 : double(w[size_t(r * cols + c)]);
      Eigen::MatrixXd Hd = *hessian;
      for (Eigen::Index c = 0; c < cols; ++c) {
        if (f.dead[size_t(c)]) {
          Hd.row(c).setZero();
          Hd.col(c).setZero();
          Hd(c, c) = 1.0;
        }
        Hd(c, c) += f.damp_used;
      }
      std::vector<double> wh(size_t(rows * cols));
      std::vector<float> w0(size_t(rows * cols));
      if (row_hw.empty()) {
        const Eigen::MatrixXd WH = W0 * *hessian;
        for (Eigen::Index r = 0; r < rows; ++r)
          for (Eigen::Index c = 0; c < cols; ++c) wh[size_t(r * cols + c)] = WH(r, c);
      } else {
        std::copy(row_hw.begin(), row_hw.end(), wh.begin());
      }
      for (Eigen::Index r = 0; r < rows; ++r)
        for (Eigen::Index c = 0; c < cols; ++c) w0[size_t(r * cols + c)] = float(W0(r, c));
      DebiasTcqRows(w0, wh, spec.debias, spec.scale_dtype, q);
      Eigen::MatrixXd E(rows, cols);
      for (Eigen::Index r = 0; r < rows; ++r)
        for (Eigen::Index c = 0; c < cols; ++c)
          E(r, c) = W0(r, c) - double(float(q.codes[size_t(r * cols + c)]) * q.scales[size_t(r)]);
      const Eigen::MatrixXd EH = E * Hd;
      for (Eigen::Index r = 0; r < rows; ++r) st.row_err_damped[size_t(r)] = E.row(r).dot(EH.row(r));
    }
    for (double e : st.row_err_damped) st.err_damped += e;
  }
  if (stats) *stats = std::move(st);
  return q;
}

std::vector<float> DequantizeTcqGrid(const TcqGridQuant& q) {
  std::vector<float> out(q.codes.size());
  for (uint64_t r = 0; r < q.rows; ++r)
    for (uint64_t c = 0; c < q.cols; ++c) out[r * q.cols + c] = float(q.codes[r * q.cols + c]) * q.scales[r];
  return out;
}

std::vector<uint8_t> ClassifyTrellisColumns(const std::array<std::vector<SymbolHist>, 2>& hist, const std::array<int, 2>& z,
                                            int k) {
  const size_t cols = hist[0].size();
  std::vector<std::pair<double, size_t>> order(cols);  // (mean |code|, column)
  for (size_t c = 0; c < cols; ++c) {
    double m = 0, n = 0;
    for (int a = 0; a < 2; ++a)
      for (auto [s, h] : hist[size_t(a)][c]) m += double(h) * std::abs(2 * (int(s) - z[size_t(a)]) + a), n += h;
    order[c] = {n ? m / n : 0.0, c};
  }
  std::sort(order.begin(), order.end());
  std::vector<uint8_t> cls(cols);
  for (size_t i = 0; i < cols; ++i) cls[order[i].second] = uint8_t(i * size_t(k) / cols);
  std::array<std::vector<double>, 2> logp;
  for (int pass = 0; pass < 8; ++pass) {
    for (size_t a = 0; a < 2; ++a) {
      const size_t alpha = size_t(2 * z[a] + 1);
      std::vector<double> count(size_t(k) * alpha, 0.02), total(size_t(k), 0.02 * double(alpha));
      for (size_t c = 0; c < cols; ++c)
        for (auto [s, h] : hist[a][c]) count[cls[c] * alpha + s] += h, total[cls[c]] += h;
      logp[a].resize(count.size());
      for (size_t i = 0; i < count.size(); ++i) logp[a][i] = std::log2(count[i] / total[i / alpha]);
    }
    bool moved = false;
    for (size_t c = 0; c < cols; ++c) {
      auto bits = [&](int j) {
        double b = 0;
        for (size_t a = 0; a < 2; ++a)
          for (auto [s, h] : hist[a][c]) b -= double(h) * logp[a][size_t(j) * size_t(2 * z[a] + 1) + s];
        return b;
      };
      int best = cls[c];
      double best_bits = bits(best);
      for (int j = 0; j < k; ++j)
        if (const double b = bits(j); b < best_bits - 1e-9) best = j, best_bits = b;
      if (best != cls[c]) cls[c] = uint8_t(best), moved = true;
    }
    if (!moved) break;
  }
  return cls;
}

double TrellisTablesEstimate(const std::vector<std::vector<uint64_t>>& counts, size_t alphabet, int z, bool segmented,
                             int* scale_bits) {
  double best = std::numeric_limits<double>::infinity();
  for (int m = kRansMinScaleBits; m <= kRansMaxScaleBits; ++m) {
    double est = segmented ? 2.0 + double(VarintSize(alphabet) + VarintSize(uint64_t(z)) +
                                          VarintSize(uint64_t{1} << counts.size()))
                           : 0.0;
    for (const auto& c : counts) {
      if (c.empty()) continue;
      auto t = FrequencyTable::FromCounts(c, m);
      if (!t.ok()) {
        est = std::numeric_limits<double>::infinity();
        break;
      }
      est += double(segmented ? t->BodySize() : t->SerializedSize()) + t->CostBits(c) / 8.0;
    }
    if (est < best) best = est, *scale_bits = m;
  }
  return best;
}

Result<gpk::EncodedTensor> PackTcqGrid(const std::string& name, std::span<const uint64_t> shape,
                                       const TcqGridSpec& spec, const TcqGridQuant& q) {
  GP_RETURN_IF_ERROR(spec.Validate());
  if (q.codes.size() != q.rows * q.cols || q.scales.size() != q.rows)
    return InvalidArgument(Quote(name) + ": tcq codes or scales do not match the shape");
  // The union indices in the decoder's order (column-major: the rows walk in lockstep), per union,
  // with their columns.
  std::array<std::vector<int>, 2> u;
  std::array<std::vector<uint32_t>, 2> ucol;
  std::vector<uint32_t> state(q.rows, 0);
  for (uint64_t c = 0; c < q.cols; ++c)
    for (uint64_t r = 0; r < q.rows; ++r) {
      const int a = int(state[r] & 1), j = q.codes[r * q.cols + c];
      if (((j - a) & 1) || std::abs(j) > 2 * kMaxU + 1)
        return Internal(Quote(name) + ": tcq code " + std::to_string(j) + " is off the trellis path");
      const int v = (j - a) / 2;
      u[size_t(a)].push_back(v);
      ucol[size_t(a)].push_back(uint32_t(c));
      state[r] = Next(spec.state_bits, state[r], uint32_t(v) & 1);
    }
  std::array<int, 2> z = {0, 0};
  std::array<std::vector<uint16_t>, 2> sym;
  for (size_t a = 0; a < 2; ++a) {
    for (int v : u[a]) z[a] = std::max(z[a], std::abs(v));
    sym[a].resize(u[a].size());
    for (size_t k = 0; k < sym[a].size(); ++k) sym[a][k] = uint16_t(u[a][k] + z[a]);
  }
  auto fail = [&](const Status& st) { return Internal(Quote(name) + ": tcq union stream: " + st.message()); };
  // Models 2..8: varint n1, varint size0, one order-0 stream per union.
  std::array<std::vector<uint8_t>, 2> stream;
  for (size_t a = 0; a < 2; ++a) {
    if (u[a].empty()) continue;
    const size_t alphabet = size_t(2 * z[a] + 1);
    int best_m = kRansMinScaleBits;
    size_t best = SIZE_MAX;
    for (int m = kRansMinScaleBits; m <= kRansMaxScaleBits; ++m) {
      auto n = RansCompressedSize(sym[a], alphabet, m);
      if (n.ok() && *n < best) best = *n, best_m = m;
    }
    auto bytes = RansCompress(sym[a], alphabet, best_m);
    if (!bytes.ok()) return fail(bytes.status());
    stream[a] = std::move(*bytes);
  }
  ByteWriter hw;
  hw.Varint(u[1].size());
  hw.Varint(stream[0].size());
  std::vector<uint8_t> head = std::move(hw).Take();
  uint8_t model = uint8_t(spec.state_bits);
  // Models 10..16: the same unions with column classes (FORMAT.md), when K = 2, 4, 8 or 16
  // classes price below the plain streams; then coded exactly and kept only when smaller.
  if (q.rows >= 2 && q.cols >= 2 && z[0] <= 127 && z[1] <= 127) {
    std::array<std::vector<SymbolHist>, 2> hist;
    for (size_t a = 0; a < 2; ++a) {
      const size_t alpha = size_t(2 * z[a] + 1);
      std::vector<uint32_t> h(q.cols * alpha, 0);
      for (size_t i = 0; i < sym[a].size(); ++i) ++h[ucol[a][i] * alpha + sym[a][i]];
      hist[a].resize(q.cols);
      for (uint64_t c = 0; c < q.cols; ++c)
        for (size_t s = 0; s < alpha; ++s)
          if (h[c * alpha + s]) hist[a][c].push_back({uint16_t(s), h[c * alpha + s]});
    }
    auto counts_of = [&](const std::vector<uint8_t>& cls, int k, size_t a) {
      std::vector<std::vector<uint64_t>> kc(static_cast<size_t>(k));
      for (uint64_t c = 0; c < q.cols; ++c)
        for (auto [s, h] : hist[a][c]) {
          if (kc[cls[c]].empty()) kc[cls[c]].assign(size_t(2 * z[a] + 1), 0);
          kc[cls[c]][s] += h;
        }
      return kc;
    };
    int m_plain = 0;
    double best_est = 0;
    for (size_t a = 0; a < 2; ++a)
      if (!u[a].empty()) best_est += TrellisTablesEstimate(counts_of(std::vector<uint8_t>(q.cols, 0), 1, a),
                                                           size_t(2 * z[a] + 1), z[a], false, &m_plain);
    int best_k = 0;
    std::vector<uint8_t> best_cls;
    std::array<int, 2> best_m = {0, 0};
    for (int k : {2, 4, 8, 16}) {
      if (uint64_t(k) > q.cols) break;
      std::vector<uint8_t> cls = ClassifyTrellisColumns(hist, z, k);
      double est = 1.0 + double(ColumnClassBytes(q.cols, k));
      std::array<int, 2> m = {0, 0};
      for (size_t a = 0; a < 2; ++a) {
        if (u[a].empty()) continue;
        const auto kc = counts_of(cls, k, a);
        est += TrellisTablesEstimate(kc, size_t(2 * z[a] + 1), z[a], true, &m[a]);
        if (a == 1)
          for (const auto& c : kc) {
            uint64_t n = 0;
            for (uint64_t x : c) n += x;
            est += double(VarintSize(n));
          }
      }
      if (est < best_est) best_est = est, best_k = k, best_cls = std::move(cls), best_m = m;
    }
    if (best_k) {
      std::array<std::vector<uint8_t>, 2> cs;
      ByteWriter w;
      w.U8(uint8_t(best_k));
      const int bits = std::bit_width(unsigned(best_k)) - 1;
      std::vector<uint8_t> packed(ColumnClassBytes(q.cols, best_k), 0);
      for (uint64_t c = 0; c < q.cols; ++c)
        for (int b = 0; b < bits; ++b)
          if ((best_cls[c] >> b) & 1) packed[(c * bits + b) / 8] |= uint8_t(1u << ((c * bits + b) % 8));
      w.Bytes(packed);
      for (size_t a = 0; a < 2; ++a) {
        // Class-major order: the segments, each in walk order; seg = every symbol's class.
        std::vector<uint16_t> sorted;
        std::vector<uint8_t> seg;
        std::vector<uint64_t> n(static_cast<size_t>(best_k), 0);
        for (int k = 0; k < best_k; ++k)
          for (size_t i = 0; i < sym[a].size(); ++i)
            if (best_cls[ucol[a][i]] == k) sorted.push_back(sym[a][i]), seg.push_back(uint8_t(k)), ++n[size_t(k)];
        if (a == 1)
          for (uint64_t x : n) w.Varint(x);
        if (sorted.empty()) continue;
        auto mdl = ContextRansModel::BuildByColumn(sorted, size_t(2 * z[a] + 1), uint16_t(z[a]), best_k, seg, best_m[a]);
        if (!mdl.ok()) return fail(mdl.status());
        auto payload = ColumnRansEncode(sorted, *mdl, seg);
        if (!payload.ok()) return fail(payload.status());
        ByteWriter sw;
        mdl->Serialize(sw);
        sw.Bytes(*payload);
        cs[a] = std::move(sw).Take();
      }
      w.Varint(cs[0].size());
      if (w.size() + cs[0].size() + cs[1].size() < head.size() + stream[0].size() + stream[1].size()) {
        head = std::move(w).Take();
        stream = std::move(cs);
        model = uint8_t(spec.state_bits + 8);
      }
    }
  }
  gpk::EncodedTensor t = AnsGridTensor(name, shape, spec.scale_dtype, 0, model);
  for (float s : q.scales) detail::PutScale(t.payload, s, spec.scale_dtype);
  t.payload.insert(t.payload.end(), head.begin(), head.end());
  for (const auto& s : stream) t.payload.insert(t.payload.end(), s.begin(), s.end());
  return t;
}

}  // namespace golfpack::encode
