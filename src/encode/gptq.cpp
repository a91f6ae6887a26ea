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

Result<GptqResult> GptqQuantize(const std::string& name, std::span<const uint64_t> shape, std::span<const float> w,
                                const Eigen::MatrixXd& hessian, const UniformSpec& spec,
                                const GptqOptions& options) {
  const std::string who = "tensor '" + name + "'";
  // Scales first: validates spec, shape and finiteness of w.
  GP_ASSIGN_OR_RETURN(UniformQuant quant, UniformScales(name, shape, w, spec));
  const auto rows = static_cast<Eigen::Index>(quant.rows);
  const auto cols = static_cast<Eigen::Index>(quant.cols);
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
  const double max_code = spec.max_code();

  GptqResult res;
  quant.codes.assign(w.size(), 0);
  if (rows == 0 || cols == 0) {
    GP_ASSIGN_OR_RETURN(res.encoded, EncodeUniform(name, shape, w, spec, &quant.codes));
    res.quant = std::move(quant);
    return res;
  }

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

  // Scale of (row r, permuted column j).
  auto scale_of = [&](Eigen::Index r, Eigen::Index j) {
    return static_cast<double>(quant.scales[quant.ScaleIndex(static_cast<uint64_t>(r),
                                                             static_cast<uint64_t>(perm[static_cast<size_t>(j)]))]);
  };

  std::vector<int8_t> codes_perm(static_cast<size_t>(rows * cols));  // column-major, permuted
  const Eigen::Index bs = options.block_size;
  Eigen::MatrixXd Err(rows, bs);
  for (Eigen::Index i1 = 0; i1 < cols; i1 += bs) {
    const Eigen::Index i2 = std::min(i1 + bs, cols), count = i2 - i1;
    for (Eigen::Index i = 0; i < count; ++i) {
      const Eigen::Index j = i1 + i;
      const double d = U(j, j);
      for (Eigen::Index r = 0; r < rows; ++r) {
        const double s = scale_of(r, j);
        const double code = std::clamp(std::nearbyint(W(r, j) / s), -max_code, max_code);
        codes_perm[static_cast<size_t>(j * rows + r)] = static_cast<int8_t>(code);
        const double qv = static_cast<double>(static_cast<float>(code) * static_cast<float>(s));
        Err(r, i) = (W(r, j) - qv) / d;
      }
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

  // Un-permute codes into row-major original order.
  for (Eigen::Index j = 0; j < cols; ++j) {
    const auto oc = static_cast<uint64_t>(perm[static_cast<size_t>(j)]);
    for (Eigen::Index r = 0; r < rows; ++r) {
      quant.codes[static_cast<uint64_t>(r) * quant.cols + oc] = codes_perm[static_cast<size_t>(j * rows + r)];
    }
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
