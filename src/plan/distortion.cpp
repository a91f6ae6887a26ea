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

}  // namespace golfpack::encode
