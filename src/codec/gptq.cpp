#include "codec/gptq.h"

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

namespace {

Status CheckHessianValues(const std::string& who, const Eigen::MatrixXd& hessian) {
  if (!hessian.allFinite()) return InvalidArgument(who + ": GPTQ Hessian has non-finite entries");
  for (Eigen::Index i = 0; i < hessian.rows(); ++i) {
    if (hessian(i, i) < 0.0) {
      return InvalidArgument(who + ": GPTQ Hessian has a negative diagonal entry H[" + std::to_string(i) + "," +
                             std::to_string(i) + "] (it must be X^T X)");
    }
  }
  return Status::Ok();
}

// Steps 1-4 on a validated, square, non-empty Hessian.
Result<GptqFactor> Factorize(const std::string& who, const Eigen::MatrixXd& hessian, const GptqOptions& options) {
  GptqFactor f;
  const Eigen::Index cols = hessian.cols();
  f.cols = static_cast<uint64_t>(cols);
  f.percdamp = options.percdamp;
  f.act_order = options.act_order;
  f.max_damp_retries = options.max_damp_retries;
  Eigen::MatrixXd H = hessian;
  f.dead.assign(static_cast<size_t>(cols), 0);
  for (Eigen::Index i = 0; i < cols; ++i) {
    if (H(i, i) == 0.0) {
      H(i, i) = 1.0;
      f.dead[static_cast<size_t>(i)] = 1;
      ++f.dead_columns;
    }
  }
  f.perm.resize(static_cast<size_t>(cols));
  std::iota(f.perm.begin(), f.perm.end(), Eigen::Index{0});
  if (options.act_order) {
    const Eigen::VectorXd d = H.diagonal();
    std::stable_sort(f.perm.begin(), f.perm.end(), [&](Eigen::Index a, Eigen::Index b) { return d(a) > d(b); });
    Eigen::MatrixXd Hp(cols, cols);
    for (Eigen::Index j = 0; j < cols; ++j) {
      for (Eigen::Index i = 0; i < cols; ++i)
        Hp(i, j) = H(f.perm[static_cast<size_t>(i)], f.perm[static_cast<size_t>(j)]);
    }
    H.swap(Hp);
  }

  // U: upper Cholesky factor of (H + damp I)^-1. With J the reversal
  // permutation and J (H + damp I) J = L L^T, U = J L^-1 J: then
  // U^T U = J L^-T L^-1 J = (H + damp I)^-1, U is upper triangular with a
  // positive diagonal, so it is that (unique) factor. One Cholesky and one
  // triangular inverse instead of an inverse and a second Cholesky.
  const double mean_diag = H.diagonal().mean();
  double damp = options.percdamp * mean_diag;
  bool ok = false;
  const Eigen::MatrixXd Hr = H.reverse();  // J H J
  for (int attempt = 0; attempt <= options.max_damp_retries && !ok; ++attempt) {
    Eigen::MatrixXd Hd = Hr;
    Hd.diagonal().array() += damp;
    Eigen::LLT<Eigen::MatrixXd> llt(Hd);
    if (llt.info() == Eigen::Success) {
      Eigen::MatrixXd Linv = Eigen::MatrixXd::Identity(cols, cols);
      llt.matrixL().solveInPlace(Linv);
      f.U = Linv.reverse();
      f.U.triangularView<Eigen::StrictlyLower>().setZero();
      ok = f.U.allFinite() && (f.U.diagonal().array() > 0.0).all();
    }
    if (!ok) damp = damp > 0.0 ? damp * 10.0 : 0.01 * mean_diag;  // mean_diag > 0: dead columns became 1
  }
  if (!ok) {
    return InvalidArgument(who + ": GPTQ Hessian is not positive definite even with damping " +
                           std::to_string(damp / 10.0));
  }
  f.damp_used = damp;
  // Relative error weight of each (permuted) column: 1 / U_jj^2, normalised to mean 1.
  const Eigen::VectorXd inv_d2 = f.U.diagonal().array().square().inverse();
  f.weight = inv_d2 / inv_d2.mean();
  return f;
}

// Steps 5-6 (and the dead-column zeroing of step 1) on validated inputs, rows, cols > 0.
GptqRunStats RunFactored(uint64_t rows_u, uint64_t cols_u, std::span<const float> w, const GptqFactor& f,
                         int block_size, const GptqColumnQuantizer& quantize) {
  const auto rows = static_cast<Eigen::Index>(rows_u);
  const auto cols = static_cast<Eigen::Index>(cols_u);
  GptqRunStats res;
  res.damp_used = f.damp_used;
  res.dead_columns = f.dead_columns;
  res.row_err_damped.assign(rows_u, 0.0);

  // Column-major working copy (columns contiguous) in double, in processing order.
  Eigen::Map<const RowMajorF> Wmap(w.data(), rows, cols);
  Eigen::MatrixXd W(rows, cols);
  for (Eigen::Index j = 0; j < cols; ++j) {
    const Eigen::Index src = f.perm[static_cast<size_t>(j)];
    if (f.dead[static_cast<size_t>(src)]) {
      W.col(j).setZero();
    } else {
      W.col(j) = Wmap.col(src).cast<double>();
    }
  }
  const Eigen::MatrixXd& U = f.U;

  const Eigen::Index bs = block_size;
  Eigen::MatrixXd Err(rows, bs);
  std::vector<double> values(static_cast<size_t>(rows)), deq(static_cast<size_t>(rows));
  for (Eigen::Index i1 = 0; i1 < cols; i1 += bs) {
    const Eigen::Index i2 = std::min(i1 + bs, cols), count = i2 - i1;
    for (Eigen::Index i = 0; i < count; ++i) {
      const Eigen::Index j = i1 + i;
      const double d = U(j, j);
      for (Eigen::Index r = 0; r < rows; ++r) values[static_cast<size_t>(r)] = W(r, j);
      quantize(static_cast<uint64_t>(f.perm[static_cast<size_t>(j)]), f.weight(j), values, deq);
      for (Eigen::Index r = 0; r < rows; ++r) Err(r, i) = (W(r, j) - deq[static_cast<size_t>(r)]) / d;
      for (Eigen::Index r = 0; r < rows; ++r) res.row_err_damped[static_cast<size_t>(r)] += Err(r, i) * Err(r, i);
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
  for (double e : res.row_err_damped) res.err_damped += e;
  return res;
}

}  // namespace

Result<GptqFactor> GptqFactorize(const std::string& name, const Eigen::MatrixXd& hessian, const GptqOptions& options) {
  const std::string who = "tensor '" + name + "'";
  if (hessian.rows() != hessian.cols()) {
    return InvalidArgument(who + ": GPTQ Hessian is " + std::to_string(hessian.rows()) + " x " +
                           std::to_string(hessian.cols()) + ", not square");
  }
  GP_RETURN_IF_ERROR(CheckHessianValues(who, hessian));
  if (!(options.percdamp >= 0.0)) return InvalidArgument("GPTQ damping must be >= 0");
  if (hessian.cols() == 0) {
    GptqFactor f;
    f.percdamp = options.percdamp;
    f.act_order = options.act_order;
    f.max_damp_retries = options.max_damp_retries;
    return f;
  }
  return Factorize(who, hessian, options);
}

Result<GptqRunStats> GptqRun(const std::string& name, uint64_t rows_u, uint64_t cols_u, std::span<const float> w,
                             const Eigen::MatrixXd& hessian, const GptqOptions& options,
                             const GptqColumnQuantizer& quantize) {
  const std::string who = "tensor '" + name + "'";
  const auto cols = static_cast<Eigen::Index>(cols_u);
  if (hessian.rows() != cols || hessian.cols() != cols) {
    return InvalidArgument(who + ": GPTQ Hessian is " + std::to_string(hessian.rows()) + " x " +
                           std::to_string(hessian.cols()) + ", expected " + std::to_string(cols) + " x " +
                           std::to_string(cols) + " (in_features x in_features)");
  }
  GP_RETURN_IF_ERROR(CheckHessianValues(who, hessian));
  if (options.block_size < 1) return InvalidArgument("GPTQ block size must be >= 1");
  if (!(options.percdamp >= 0.0)) return InvalidArgument("GPTQ damping must be >= 0");
  if (w.size() != rows_u * cols_u) return InvalidArgument(who + ": GPTQ weights do not match rows x cols");
  if (rows_u == 0 || cols_u == 0) return GptqRunStats{};
  GP_ASSIGN_OR_RETURN(GptqFactor f, Factorize(who, hessian, options));
  return RunFactored(rows_u, cols_u, w, f, options.block_size, quantize);
}

Result<GptqRunStats> GptqRun(const std::string& name, uint64_t rows_u, uint64_t cols_u, std::span<const float> w,
                             const GptqFactor& factor, const GptqOptions& options,
                             const GptqColumnQuantizer& quantize) {
  const std::string who = "tensor '" + name + "'";
  if (factor.cols != cols_u) {
    return InvalidArgument(who + ": GPTQ factorisation is for " + std::to_string(factor.cols) + " columns, expected " +
                           std::to_string(cols_u) + " (in_features)");
  }
  if (factor.percdamp != options.percdamp || factor.act_order != options.act_order ||
      factor.max_damp_retries != options.max_damp_retries)
    return InvalidArgument(who + ": GPTQ factorisation was computed with other damping / act-order options");
  if (options.block_size < 1) return InvalidArgument("GPTQ block size must be >= 1");
  if (w.size() != rows_u * cols_u) return InvalidArgument(who + ": GPTQ weights do not match rows x cols");
  if (rows_u == 0 || cols_u == 0) return GptqRunStats{};
  return RunFactored(rows_u, cols_u, w, factor, options.block_size, quantize);
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
