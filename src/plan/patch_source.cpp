// Candidate corrections for encoding 10 (plan/patch_source.h).
#include "plan/patch_source.h"

#include <algorithm>
#include <numeric>
#include <utility>
#include <vector>

namespace golfpack::encode {

PatchSource::PatchSource(Eigen::MatrixXf e, const Eigen::MatrixXd& h, double base_tr)
    : e_(std::move(e)), h_(&h), base_tr_(base_tr) {
  g_ = e_.cast<double>() * h;
  const double mean = h.cols() > 0 ? h.diagonal().mean() : 0.0;
  // As GPTQ damps: corrections of nearly dead inputs stay small. The trace is
  // exact whatever the damping; it only makes the choices conservative.
  damp_ = mean > 0 ? 0.01 * mean : 1e-12;
}

PatchSource::PatchSource(Eigen::MatrixXf e, Eigen::MatrixXd g, const Eigen::MatrixXd& h, double base_tr)
    : e_(std::move(e)), h_(&h), g_(std::move(g)), base_tr_(base_tr) {
  const double mean = h.cols() > 0 ? h.diagonal().mean() : 0.0;
  damp_ = mean > 0 ? 0.01 * mean : 1e-12;
}

PatchValues PatchSource::Select(const PatchSpec& s, uint64_t count) const {
  const Eigen::Index rows = e_.rows(), cols = e_.cols();
  count = std::min(count, PatchUnitCount(s, uint64_t(rows), uint64_t(cols)));
  PatchValues out;
  if (count == 0) return out;
  const std::vector<uint64_t>& order = Ranked(s, count);
  out.units.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(count));
  std::sort(out.units.begin(), out.units.end());
  return Corrections(s, std::move(out));
}

const std::vector<uint64_t>& PatchSource::Ranked(const PatchSpec& s, uint64_t need) const {
  const int64_t key = int64_t(s.unit) + 8 * int64_t(exact_) + 16 * int64_t(s.block);
  if (key == ranked_key_ && need <= ranked_.size()) return ranked_;
  const Eigen::Index rows = e_.rows(), cols = e_.cols();
  const uint64_t nu = PatchUnitCount(s, uint64_t(rows), uint64_t(cols));
  // rd asks for at most 1/64 of the single weights or blocks (64 columns or
  // rows), in increasing counts: rank that many at once.
  need = std::min(nu, std::max({need, nu / 64, uint64_t{64}}));
  const Eigen::MatrixXd& h = *h_;
  std::vector<double> gain(nu, 0.0);
  const Eigen::Index L = s.block, per_row = s.unit == gpk::kPatchBlock ? cols / L : 0;
  if (exact_) {
    // Restoring a unit's weights saves 2 <E_U, G_U> - E_U H_UU E_U^T (per row).
    auto fix = [&](Eigen::Index i, Eigen::Index j0, Eigen::Index n) {  // no temporaries: called per unit
      double cross = 0, quad = 0;
      for (Eigen::Index a = j0; a < j0 + n; ++a) {
        const double ea = e_(i, a);
        cross += ea * g_(i, a);
        double acc = 0;
        for (Eigen::Index b = j0; b < j0 + n; ++b) acc += h(a, b) * double(e_(i, b));
        quad += ea * acc;
      }
      return 2.0 * cross - quad;
    };
    for (uint64_t u = 0; u < nu; ++u)
      switch (s.unit) {
        case gpk::kPatchElement: {
          const auto i = Eigen::Index(u / uint64_t(cols));
          gain[u] = rw(i) * fix(i, Eigen::Index(u % uint64_t(cols)), 1);
          break;
        }
        case gpk::kPatchBlock: gain[u] = rw(Eigen::Index(u) / per_row) * fix(Eigen::Index(u) / per_row, Eigen::Index(u) % per_row * L, L); break;
        case gpk::kPatchRow: {  // 2 E_i G_i^T - E_i H E_i^T = E_i G_i^T
          const auto i = Eigen::Index(u);
          gain[u] = rw(i) * e_.row(i).cast<double>().dot(g_.row(i));
          break;
        }
        default: {
          const auto j = Eigen::Index(u);
          for (Eigen::Index i = 0; i < rows; ++i) {
            const double e = e_(i, j);
            gain[u] += rw(i) * (2.0 * e * g_(i, j) - h(j, j) * e * e);
          }
        }
      }
  } else {
  switch (s.unit) {
      case gpk::kPatchElement:
        for (Eigen::Index i = 0; i < rows; ++i)
          for (Eigen::Index j = 0; j < cols; ++j) gain[size_t(i * cols + j)] = rw(i) * g_(i, j) * g_(i, j) / (h(j, j) + damp_);
        break;
      case gpk::kPatchColumn:
        for (Eigen::Index j = 0; j < cols; ++j) {
          double sum = 0;
          for (Eigen::Index i = 0; i < rows; ++i) sum += rw(i) * g_(i, j) * g_(i, j);
          gain[size_t(j)] = sum / (h(j, j) + damp_);
        }
        break;
      case gpk::kPatchRow:
        for (Eigen::Index i = 0; i < rows; ++i) gain[size_t(i)] = rw(i) * e_.row(i).cast<double>().dot(g_.row(i));
        break;
      case gpk::kPatchBlock: {
        for (Eigen::Index b = 0; b < per_row; ++b) {
          Eigen::MatrixXd hb = h.block(b * L, b * L, L, L);
          hb.diagonal().array() += damp_;
          const Eigen::LDLT<Eigen::MatrixXd> ldlt(hb);
          const Eigen::MatrixXd gt = g_.middleCols(b * L, L).transpose();  // L x rows
          const Eigen::MatrixXd x = ldlt.solve(gt);
          for (Eigen::Index i = 0; i < rows; ++i) gain[size_t(i * per_row + b)] = rw(i) * gt.col(i).dot(x.col(i));
        }
        break;
      }
    }
  }
  // The first `need` units of the full ranking (the order is total, so they
  // are the same whatever `need`): selection, then a sort of those only.
  std::vector<uint64_t> all(nu);
  std::iota(all.begin(), all.end(), uint64_t{0});
  const auto better = [&](uint64_t a, uint64_t b) { return gain[a] > gain[b] || (gain[a] == gain[b] && a < b); };
  if (need < nu) std::nth_element(all.begin(), all.begin() + std::ptrdiff_t(need), all.end(), better);
  all.resize(need);
  std::sort(all.begin(), all.end(), better);
  ranked_ = std::move(all);
  ranked_key_ = key;
  return ranked_;
}

PatchValues PatchSource::Corrections(const PatchSpec& s, PatchValues out) const {
  const Eigen::Index rows = e_.rows(), cols = e_.cols();
  const uint64_t len = PatchUnitLen(s, uint64_t(rows), uint64_t(cols)), count = out.units.size();
  const Eigen::MatrixXd& h = *h_;
  out.values.resize(count * len);
  if (exact_ || s.unit == gpk::kPatchRow) {  // the original weights (a row's best correction is exact anyway)
    for (size_t i = 0; i < count; ++i)
      for (uint64_t t = 0; t < len; ++t) {
        const uint64_t pos = PatchPosition(s, uint64_t(cols), len, out.units[i], t);
        out.values[i * len + t] = e_(Eigen::Index(pos / uint64_t(cols)), Eigen::Index(pos % uint64_t(cols)));
      }
    return out;
  }
  // Joint corrections within each row over the row's chosen entries S:
  // (H_SS + damp I) p = G_i,S. Columns share S across rows (one factorisation).
  std::vector<std::vector<std::pair<Eigen::Index, size_t>>> by_row(static_cast<size_t>(rows));  // (col, value index)
  for (size_t i = 0; i < count; ++i)
    for (uint64_t t = 0; t < len; ++t) {
      const uint64_t pos = PatchPosition(s, uint64_t(cols), len, out.units[i], t);
      by_row[size_t(pos / uint64_t(cols))].push_back({Eigen::Index(pos % uint64_t(cols)), i * len + t});
    }
  std::vector<Eigen::Index> last_cols;
  Eigen::LDLT<Eigen::MatrixXd> ldlt;
  for (Eigen::Index r = 0; r < rows; ++r) {
    const auto& entries = by_row[size_t(r)];
    if (entries.empty()) continue;
    const auto k = Eigen::Index(entries.size());
    std::vector<Eigen::Index> cs(entries.size());
    for (size_t a = 0; a < entries.size(); ++a) cs[a] = entries[a].first;
    if (cs != last_cols) {
      Eigen::MatrixXd hs(k, k);
      for (Eigen::Index a = 0; a < k; ++a)
        for (Eigen::Index b = 0; b < k; ++b) hs(a, b) = h(cs[size_t(a)], cs[size_t(b)]);
      hs.diagonal().array() += damp_;
      ldlt.compute(hs);
      last_cols = cs;
    }
    Eigen::VectorXd gs(k);
    for (Eigen::Index a = 0; a < k; ++a) gs(a) = g_(r, cs[size_t(a)]);
    const Eigen::VectorXd p = ldlt.solve(gs);
    for (Eigen::Index a = 0; a < k; ++a) out.values[entries[size_t(a)].second] = float(p(a));
  }
  return out;
}

double PatchSource::Trace(const PatchSpec& s, const PatchValues& applied) const {
  const Eigen::Index rows = e_.rows(), cols = e_.cols();
  const uint64_t len = PatchUnitLen(s, uint64_t(rows), uint64_t(cols));
  struct Entry {
    Eigen::Index row, col;
    double p;
    bool operator<(const Entry& o) const { return row < o.row || (row == o.row && col < o.col); }
  };
  std::vector<Entry> at;  // the nonzero corrections, sorted by row below
  at.reserve(applied.values.size());
  double tr = base_tr_;
  for (size_t i = 0; i < applied.units.size(); ++i)
    for (uint64_t t = 0; t < len; ++t) {
      const uint64_t pos = PatchPosition(s, uint64_t(cols), len, applied.units[i], t);
      const auto r = Eigen::Index(pos / uint64_t(cols)), c = Eigen::Index(pos % uint64_t(cols));
      const double p = applied.values[i * len + t];
      if (p == 0.0) continue;
      tr -= 2.0 * rw(r) * p * g_(r, c);
      at.push_back({r, c, p});
    }
  const Eigen::MatrixXd& h = *h_;
  if (!std::is_sorted(at.begin(), at.end())) std::sort(at.begin(), at.end());  // single weights and blocks come sorted
  // Dense rows (a quarter of the columns or more, as the rows unit gives: its
  // zero corrections are skipped above) go into one matrix and one product
  // with H; the other rows' few entries are summed directly.
  std::vector<std::pair<Eigen::Index, size_t>> whole;  // (row, its first entry)
  for (size_t a = 0; a < at.size();) {
    size_t end = a;
    while (end < at.size() && at[end].row == at[a].row) ++end;
    if (4 * Eigen::Index(end - a) >= cols) {
      whole.push_back({at[a].row, a});
    } else {
      double quad = 0.0;
      for (size_t i = a; i < end; ++i) {
        double acc = 0.0;
        for (size_t j = a; j < end; ++j) acc += at[j].p * h(at[i].col, at[j].col);
        quad += at[i].p * acc;
      }
      tr += rw(at[a].row) * quad;
    }
    a = end;
  }
  if (!whole.empty()) {
    Eigen::MatrixXd pm = Eigen::MatrixXd::Zero(Eigen::Index(whole.size()), cols);
    for (size_t i = 0; i < whole.size(); ++i)
      for (size_t e = whole[i].second; e < at.size() && at[e].row == whole[i].first; ++e)
        pm(Eigen::Index(i), at[e].col) = at[e].p;
    const Eigen::MatrixXd ph = pm * h;
    for (size_t i = 0; i < whole.size(); ++i)
      tr += rw(whole[i].first) * pm.row(Eigen::Index(i)).dot(ph.row(Eigen::Index(i)));
  }
  return std::max(tr, 0.0);
}

}  // namespace golfpack::encode
