#include "plan/distortion.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace golfpack::encode {

namespace {
double PerToken(double trace, int64_t tokens) { return trace / double(std::max<int64_t>(tokens, 1)); }
}  // namespace

double HessianProxy(std::span<const float> w, std::span<const float> q, uint64_t rows, uint64_t cols,
                    const Eigen::MatrixXd& h, int64_t tokens, std::span<const double> row_weight) {
  const auto r = static_cast<Eigen::Index>(rows), c = static_cast<Eigen::Index>(cols);
  Eigen::MatrixXd e(r, c);
  for (Eigen::Index i = 0; i < r; ++i) {
    const double s = row_weight.empty() ? 1.0 : std::sqrt(row_weight[size_t(i)]);
    for (Eigen::Index j = 0; j < c; ++j) {
      const size_t k = static_cast<size_t>(i * c + j);
      e(i, j) = s * (double(w[k]) - double(q[k]));
    }
  }
  return PerToken((e * h).cwiseProduct(e).sum(), tokens);
}

double DiagHessianProxy(std::span<const float> w, std::span<const float> q, uint64_t rows, uint64_t cols,
                        const Eigen::MatrixXd& h, int64_t tokens, std::span<const double> row_weight) {
  std::vector<double> col(cols, 0.0);  // row-major sweep: sum_i r_i E_ij^2 per column
  for (uint64_t r = 0; r < rows; ++r) {
    const double rw = row_weight.empty() ? 1.0 : row_weight[r];
    for (uint64_t c = 0; c < cols; ++c) {
      const double e = double(w[r * cols + c]) - double(q[r * cols + c]);
      col[c] += rw * e * e;
    }
  }
  double d = 0;
  for (uint64_t c = 0; c < cols; ++c) d += h(static_cast<Eigen::Index>(c), static_cast<Eigen::Index>(c)) * col[c];
  return PerToken(d, tokens);
}

double CorrectedHessianProxy(double base_trace, const Eigen::MatrixXd& e, const Eigen::MatrixXd& a,
                             const Eigen::MatrixXd& b, const Eigen::MatrixXd& h, int64_t tokens) {
  const Eigen::MatrixXd bh = b * h;
  const double cross = ((a * bh).array() * e.array()).sum();
  const double quad = ((a.transpose() * a).array() * (bh * b.transpose()).array()).sum();
  return PerToken(std::max(0.0, base_trace - 2 * cross + quad), tokens);
}

double SparseCorrectedHessianProxy(double base_trace, std::span<const float> e, uint64_t cols,
                                   std::span<const uint64_t> pos, std::span<const float> s, const Eigen::MatrixXd& h,
                                   int64_t tokens, std::span<const double> row_weight) {
  double cross = 0, quad = 0;
  Eigen::VectorXd er;  // the row's error, widened once (the dots below then vectorise)
  for (size_t a = 0; a < pos.size();) {
    const uint64_t row = pos[a] / cols;
    size_t end = a;
    while (end < pos.size() && pos[end] / cols == row) ++end;
    const double rw = row_weight.empty() ? 1.0 : row_weight[row];
    er = Eigen::Map<const Eigen::VectorXf>(e.data() + row * cols, Eigen::Index(cols)).cast<double>();
    double c = 0, q = 0;
    for (size_t i = a; i < end; ++i) {
      const auto ci = Eigen::Index(pos[i] % cols);
      c += double(s[i]) * h.col(ci).dot(er);  // H symmetric: (E_i H)_c = H_c . E_i
      for (size_t j = a; j < end; ++j) q += double(s[i]) * double(s[j]) * h(ci, Eigen::Index(pos[j] % cols));
    }
    cross += rw * c;
    quad += rw * q;
    a = end;
  }
  return PerToken(std::max(0.0, base_trace - 2 * cross + quad), tokens);
}

}  // namespace golfpack::encode
