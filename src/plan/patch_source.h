// Candidate corrections for encoding 10 `patch` (codec/patch.h): which units
// of a grid candidate's error to correct, with what values, and the loss
// proxy after the correction.
//
// With E = W - Q the error of the inner encoding, a correction P (nonzero on
// the patched units) leaves E - P, whose proxy (plan/distortion.h) is
//   tr((E-P) H (E-P)^T) = tr(E H E^T) - 2 sum(P o G) + sum_i P_i H P_i^T,
// G = E H. Each unit's best correction on its own (everything else fixed) is
// P_U = G_U H_UU^-1 within each row, and it saves G_U H_UU^-1 G_U^T: for an
// element G_ij^2 / H_jj, for a row its whole error (P_i = E_i). Units are
// ranked by that saving; then the corrections of the chosen units are solved
// jointly within each row (P_i,S = G_i,S H_SS^-1 over the row's chosen
// entries S), so several exceptions in one row, or several protected
// columns (OWQ's input channels, re-fitted to the error GPTQ left), never
// undo each other.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <vector>

#include "codec/patch.h"

namespace golfpack::encode {

class PatchSource {
 public:
  // e: the error W - Q (rows x cols); h: the input Hessian (cols x cols),
  // which must outlive the source; base_tr: tr(E H E^T) of that error.
  PatchSource(Eigen::MatrixXf e, const Eigen::MatrixXd& h, double base_tr);
  // The same with G = E H given (e.g. updated after a low-rank correction:
  // (E - A B) H = G - A (B H)).
  PatchSource(Eigen::MatrixXf e, Eigen::MatrixXd g, const Eigen::MatrixXd& h, double base_tr);
  const Eigen::MatrixXd& g() const { return g_; }
  const Eigen::MatrixXf& e() const { return e_; }
  // exact: a patch restores the chosen units' original weights (P_U = E_U,
  // ranked by 2 <E_U, G_U> - E_U H_UU E_U^T); otherwise it also compensates
  // the errors elsewhere in its rows (the joint solve below).
  void set_exact(bool exact) { exact_ = exact; }
  // Row weights of the proxy (plan/distortion.h): empty (all 1) or one per
  // row. Savings and traces are then sum_i r_i (...); each row's best
  // correction does not depend on its weight. base_tr must be weighted too.
  void set_row_weights(std::vector<double> r) { r_ = std::move(r); }

  // The `count` units with the largest savings under `s` (count is clipped
  // to the tensor's units), in increasing order, with their corrections
  // (unquantized).
  // The units are ranked once per unit kind and block size and the ranking
  // is kept for the next count (so a source is not thread-safe).
  PatchValues Select(const PatchSpec& s, uint64_t count) const;

  // tr((E-P) H (E-P)^T) for the corrections P = `applied` (as a decoder adds
  // them: QuantizePatchValues), never below 0.
  double Trace(const PatchSpec& s, const PatchValues& applied) const;

 private:
  Eigen::MatrixXf e_;
  const Eigen::MatrixXd* h_;
  Eigen::MatrixXd g_;  // E H
  double base_tr_ = 0;
  double damp_ = 0;    // added to H's diagonal in the solves
  bool exact_ = false;
  std::vector<double> r_;
  double rw(Eigen::Index row) const { return r_.empty() ? 1.0 : r_[size_t(row)]; }
  // The units of `s`'s kind with the largest savings, at least the first
  // `need` (fewer only when the tensor has fewer), by decreasing saving (ties:
  // lower index first).
  const std::vector<uint64_t>& Ranked(const PatchSpec& s, uint64_t need) const;
  // `out.units` (ascending) with their corrections filled in.
  PatchValues Corrections(const PatchSpec& s, PatchValues out) const;
  mutable std::vector<uint64_t> ranked_;
  mutable int64_t ranked_key_ = -1;
};

}  // namespace golfpack::encode
