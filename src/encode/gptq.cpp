#include "encode/gptq.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace golfpack::encode {

using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

double HessianWeightedError(std::span<const float> w, std::span<const float> q, uint64_t rows, uint64_t cols,
                            const Eigen::MatrixXd& hessian) {
  if (rows == 0 || cols == 0) return 0.0;
  Eigen::Map<const RowMajorF> W(w.data(), static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
  Eigen::Map<const RowMajorF> Q(q.data(), static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
  const Eigen::MatrixXd E = (W.cast<double>() - Q.cast<double>());
  return (E * hessian).cwiseProduct(E).sum();
}

Result<GptqResult> GptqQuantize(const std::string& name, std::span<const uint64_t> shape, std::span<const float> w,
                                const Eigen::MatrixXf& hessian, const UniformSpec& spec,
                                const GptqOptions& options) {
  return GptqQuantize(name, shape, w, Eigen::MatrixXd(hessian.cast<double>()), spec, options);
}

Result<GptqRunStats> GptqRun(const std::string& name, uint64_t rows_u, uint64_t cols_u, std::span<const float> w,
                             const Eigen::MatrixXd& hessian, const GptqOptions& options,
                             const GptqColumnQuantizer& quantize) {
  const std::string who = "tensor '" + name + "'";
  const auto rows = static_cast<Eigen::Index>(rows_u);
  const auto cols = static_cast<Eigen::Index>(cols_u);
  if (hessian.rows() != cols || hessian.cols() != cols) {
    return InvalidArgument(who + ": GPTQ Hessian is " + std::to_string(hessian.rows()) + " x " +
                           std::to_string(hessian.cols()) + ", expected " + std::to_string(cols) + " x " +
                           std::to_string(cols) + " (in_features x in_features)");
  }
  if (!hessian.allFinite()) return InvalidArgument(who + ": GPTQ Hessian has non-finite entries");
  for (Eigen::Index i = 0; i < hessian.rows(); ++i) {
    if (hessian(i, i) < 0.0) {
      return InvalidArgument(who + ": GPTQ Hessian has a negative diagonal entry H[" + std::to_string(i) + "," +
                             std::to_string(i) + "] (it must be X^T X)");
    }
  }
  if (options.block_size < 1) return InvalidArgument("GPTQ block size must be >= 1");
  if (!(options.percdamp >= 0.0)) return InvalidArgument("GPTQ damping must be >= 0");
  if (w.size() != rows_u * cols_u) return InvalidArgument(who + ": GPTQ weights do not match rows x cols");

  GptqRunStats res;
  if (rows == 0 || cols == 0) return res;

  // Column-major working copy (columns contiguous) in double.
  Eigen::Map<const RowMajorF> Wmap(w.data(), rows, cols);
  Eigen::MatrixXd W = Wmap.cast<double>();
  Eigen::MatrixXd H = hessian;

  for (Eigen::Index i = 0; i < cols; ++i) {
    if (H(i, i) == 0.0) {
      H(i, i) = 1.0;
      W.col(i).setZero();
      ++res.dead_columns;
    }
  }

  std::vector<Eigen::Index> perm(static_cast<size_t>(cols));
  std::iota(perm.begin(), perm.end(), Eigen::Index{0});
  if (options.act_order) {
    const Eigen::VectorXd d = H.diagonal();
    std::stable_sort(perm.begin(), perm.end(), [&](Eigen::Index a, Eigen::Index b) { return d(a) > d(b); });
    Eigen::MatrixXd Wp(rows, cols), Hp(cols, cols);
    for (Eigen::Index j = 0; j < cols; ++j) Wp.col(j) = W.col(perm[static_cast<size_t>(j)]);
    for (Eigen::Index j = 0; j < cols; ++j) {
      for (Eigen::Index i = 0; i < cols; ++i) Hp(i, j) = H(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
    }
    W.swap(Wp);
    H.swap(Hp);
  }

  // U: upper Cholesky factor of (H + damp I)^-1.
  const double mean_diag = H.diagonal().mean();
  double damp = options.percdamp * mean_diag;
  Eigen::MatrixXd U;
  bool ok = false;
  for (int attempt = 0; attempt <= options.max_damp_retries && !ok; ++attempt) {
    Eigen::MatrixXd Hd = H;
    Hd.diagonal().array() += damp;
    Eigen::LLT<Eigen::MatrixXd> llt(Hd);
    if (llt.info() == Eigen::Success) {
      const Eigen::MatrixXd Hinv = llt.solve(Eigen::MatrixXd::Identity(cols, cols));
      Eigen::LLT<Eigen::MatrixXd> llt2(Hinv);
      if (llt2.info() == Eigen::Success) {
        U = llt2.matrixU();
        ok = U.allFinite() && (U.diagonal().array() > 0.0).all();
      }
    }
    if (!ok) damp = damp > 0.0 ? damp * 10.0 : 0.01 * mean_diag;  // mean_diag > 0: dead columns became 1
  }
  if (!ok) {
    return InvalidArgument(who + ": GPTQ Hessian is not positive definite even with damping " +
                           std::to_string(damp / 10.0));
  }
  res.damp_used = damp;

  // Relative error weight of each (permuted) column: 1 / U_jj^2, normalised to mean 1.
  const Eigen::VectorXd inv_d2 = U.diagonal().array().square().inverse();
  const double mean_inv_d2 = inv_d2.mean();

  const Eigen::Index bs = options.block_size;
  Eigen::MatrixXd Err(rows, bs);
  std::vector<double> values(static_cast<size_t>(rows)), deq(static_cast<size_t>(rows));
  for (Eigen::Index i1 = 0; i1 < cols; i1 += bs) {
    const Eigen::Index i2 = std::min(i1 + bs, cols), count = i2 - i1;
    for (Eigen::Index i = 0; i < count; ++i) {
      const Eigen::Index j = i1 + i;
      const double d = U(j, j);
      for (Eigen::Index r = 0; r < rows; ++r) values[static_cast<size_t>(r)] = W(r, j);
      quantize(static_cast<uint64_t>(perm[static_cast<size_t>(j)]), inv_d2(j) / mean_inv_d2, values, deq);
      for (Eigen::Index r = 0; r < rows; ++r) Err(r, i) = (W(r, j) - deq[static_cast<size_t>(r)]) / d;
      // Spread this column's error over the rest of the block.
      const Eigen::Index rest = i2 - j - 1;
      if (rest > 0) {
        W.block(0, j + 1, rows, rest).noalias() -= Err.col(i) * U.block(j, j + 1, 1, rest);
      }
    }
    // Lazy batch update of every later column.
    if (i2 < cols) {
      W.rightCols(cols - i2).noalias() -= Err.leftCols(count) * U.block(i1, i2, count, cols - i2);
    }
  }
  return res;
}

Result<GptqResult> GptqQuantize(const std::string& name, std::span<const uint64_t> shape, std::span<const float> w,
                                const Eigen::MatrixXd& hessian, const UniformSpec& spec,
                                const GptqOptions& options) {
  // Scales first: validates spec, shape and finiteness of w.
  GP_ASSIGN_OR_RETURN(UniformQuant quant, UniformScales(name, shape, w, spec));
  const double max_code = spec.max_code();
  quant.codes.assign(w.size(), 0);
  auto round_to_grid = [&](uint64_t col, double, std::span<const double> values, std::span<double> out) {
    for (size_t r = 0; r < values.size(); ++r) {
      const double s = static_cast<double>(quant.scales[quant.ScaleIndex(r, col)]);
      const double code = std::clamp(std::nearbyint(values[r] / s), -max_code, max_code);
      quant.codes[r * quant.cols + col] = static_cast<int8_t>(code);
      out[r] = static_cast<double>(static_cast<float>(code) * static_cast<float>(s));
    }
  };
  GP_ASSIGN_OR_RETURN(GptqRunStats stats, GptqRun(name, quant.rows, quant.cols, w, hessian, options, round_to_grid));

  GptqResult res;
  res.damp_used = stats.damp_used;
  res.dead_columns = stats.dead_columns;
  if (quant.rows == 0 || quant.cols == 0) {
    GP_ASSIGN_OR_RETURN(res.encoded, EncodeUniform(name, shape, w, spec, &quant.codes));
    res.quant = std::move(quant);
    return res;
  }

  // Errors against the caller's (undamped) Hessian.
  const std::vector<float> q_gptq = DequantizeUniform(quant);
  GP_ASSIGN_OR_RETURN(UniformQuant rtn, QuantizeUniform(name, shape, w, spec));
  const std::vector<float> q_rtn = DequantizeUniform(rtn);
  res.err_gptq = HessianWeightedError(w, q_gptq, quant.rows, quant.cols, hessian);
  res.err_rtn = HessianWeightedError(w, q_rtn, quant.rows, quant.cols, hessian);

  GP_ASSIGN_OR_RETURN(res.encoded, EncodeUniform(name, shape, w, spec, &quant.codes));
  res.quant = std::move(quant);
  return res;
}

}  // namespace golfpack::encode
