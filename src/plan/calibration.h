// The calibration file of `golfpack calibrate`: H = X^T X per linear input
// site, plus the fitted loss sensitivities. One reader and one writer, shared
// by pack / rd (Eigen) and by eval (which converts to and from torch tensors,
// eval/calibrate.h).
//
// File (safetensors): one F32 [n, n] tensor per site, named by the site as
// io::HessianSite names it, in site-name order. Metadata:
//   golfpack.calibration           = "hessian-v1" (anything else is not a calibration file)
//   golfpack.tokens                = the tokens H sums over (integer)
//   golfpack.seq_len               = the sequence length they were streamed in (integer)
//   golfpack.sensitivity.<weight>  = fitted dL/D of that weight ("%.9g")
//   golfpack.tcq_sensitivity.<weight> = the same fitted with a trellis probe
//                                    (`calibrate --tcq-probe`), for rd's tcq path
//   any other key                  = a note, kept as it is (e.g. golfpack.sensitivity_spearman_raw)
// and, optionally, one F32 [vocab] tensor named "token_counts": how often each
// token id occurred among the calibration inputs (the frequency that weights
// the rows of the tied embedding, TokenRowWeights below). Older files have none.
// Optionally (`golfpack calibrate --row-fisher`), one F32 [rows] tensor per
// block matrix named "row_fisher.<weight>": the sum over the calibration
// tokens of (dL/dy_i)^2 for each output row i (FisherRowWeights below),
// and one F32 [rows, cols] tensor per block matrix named "row_hw.<weight>":
// row i is H_i w_i^T, H_i = sum over the tokens of (dL/dy_i)^2 x x^T, the
// row's own gradient-weighted Hessian applied to its weights (the metric the
// trellis's output-gain correction measures a row's gain in; x the matrix's
// input, y = W x).
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace golfpack::encode {

class Hessians {
 public:
  // Reads a calibration file. Errors name the file: Corrupt for a file that
  // is not a calibration file (metadata golfpack.calibration != hessian-v1),
  // whose tokens / seq_len / sensitivity metadata are not numbers, or with a
  // tensor that is not square.
  static Result<Hessians> Load(const std::string& path);
  // In memory, from H per site (named as io::HessianSite names them), the
  // tokens they sum over and optional fitted sensitivities per weight.
  static Hessians FromSites(std::map<std::string, Eigen::MatrixXd> sites, int64_t tokens,
                            std::map<std::string, double> sensitivity = {}, int seq_len = 0,
                            std::map<std::string, std::string> notes = {});

  // Writes the file Load reads (H stored as float32, rounded to nearest), via
  // a temporary file renamed over `path`. A non-square H or a note that uses
  // a reserved key is InvalidArgument.
  Status Save(const std::string& path) const;

  // H for a weight (via io::HessianSite), or nullptr.
  const Eigen::MatrixXd* ForWeight(const std::string& weight_name) const;
  // H of a site ("blocks.0.attn_in", ...), or nullptr.
  const Eigen::MatrixXd* ForSite(const std::string& site) const;
  const std::map<std::string, Eigen::MatrixXd>& sites() const { return sites_; }
  int64_t tokens() const { return tokens_; }
  int seq_len() const { return seq_len_; }
  size_t size() const { return sites_.size(); }

  // Fitted loss sensitivity of a weight (`golfpack calibrate`), or nullopt.
  std::optional<double> Sensitivity(const std::string& weight_name) const {
    auto it = sensitivity_.find(weight_name);
    return it == sensitivity_.end() ? std::nullopt : std::optional<double>(it->second);
  }
  bool has_sensitivity() const { return !sensitivity_.empty(); }
  // Fitted with a trellis probe (`golfpack calibrate --tcq-probe`): what rd
  // prices its trellis candidates with (RdOptions::tcq_sensitivity); nullopt
  // when the file has none for the weight.
  std::optional<double> TcqSensitivity(const std::string& weight_name) const {
    auto it = tcq_sensitivity_.find(weight_name);
    return it == tcq_sensitivity_.end() ? std::nullopt : std::optional<double>(it->second);
  }
  const std::map<std::string, double>& tcq_sensitivity() const { return tcq_sensitivity_; }
  void set_tcq_sensitivity(std::map<std::string, double> s) { tcq_sensitivity_ = std::move(s); }
  const std::map<std::string, double>& sensitivity() const { return sensitivity_; }
  void set_sensitivity(std::map<std::string, double> s) { sensitivity_ = std::move(s); }

  // How often each token id occurred among the calibration inputs (empty
  // when the file has no counts).
  const std::vector<double>& token_counts() const { return token_counts_; }
  void set_token_counts(std::vector<double> c) { token_counts_ = std::move(c); }
  // Row weights of a weight's rows in the distortion proxy (plan/distortion.h):
  // for the tied embedding / LM head (tok_emb.weight, lm_head.weight) with
  // token counts of its row count, TokenRowWeights(counts, floor); else empty
  // (every row weighs 1). floor < 0 turns them off.
  // With fisher_floor >= 0, any other matrix with a row Fisher of its row
  // count gets FisherRowWeights(fisher, fisher_floor).
  std::vector<double> RowWeights(const std::string& weight_name, uint64_t rows, double floor,
                                 double fisher_floor = -1) const;

  // weight -> per output row, the sum over tokens of (dL/dy_row)^2; empty when
  // the file has none.
  const std::map<std::string, std::vector<double>>& row_fisher() const { return row_fisher_; }
  void set_row_fisher(std::map<std::string, std::vector<double>> f) { row_fisher_ = std::move(f); }
  // The floor the sensitivities were fitted with (the note kRowFisherFloorNote,
  // which `golfpack calibrate --row-fisher F` writes) when the file has a row
  // Fisher; else nullopt. rd prices with it unless told otherwise.
  std::optional<double> RowFisherFloor() const;

  // weight -> [rows x cols], row i = H_i w_i^T (see the file layout above);
  // empty when the file has none.
  using RowMajorMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const std::map<std::string, RowMajorMatrix>& row_hw() const { return row_hw_; }
  void set_row_hw(std::map<std::string, RowMajorMatrix> v) { row_hw_ = std::move(v); }
  // The weight's row_hw, or nullptr.
  const RowMajorMatrix* RowHw(const std::string& weight_name) const {
    auto it = row_hw_.find(weight_name);
    return it == row_hw_.end() ? nullptr : &it->second;
  }

  // Extra metadata kept with the file (key -> value), e.g. the fit's Spearman rho.
  const std::map<std::string, std::string>& notes() const { return notes_; }
  void set_note(const std::string& key, const std::string& value) { notes_[key] = value; }

 private:
  std::map<std::string, Eigen::MatrixXd> sites_;
  std::map<std::string, double> sensitivity_;
  std::map<std::string, double> tcq_sensitivity_;
  std::map<std::string, std::string> notes_;
  std::vector<double> token_counts_;
  std::map<std::string, std::vector<double>> row_fisher_;
  std::map<std::string, RowMajorMatrix> row_hw_;
  int64_t tokens_ = 0;
  int seq_len_ = 0;
};

// Row weights of the tied embedding from token counts. A token row enters the
// loss in proportion to its token's frequency twice over: as an input (its
// embedding is read only where the token occurs) and as an output (the
// curvature of the cross-entropy in logit i is p_i (1 - p_i), whose mean is
// at most the token's frequency for a calibrated model). So
//   r_i = max(floor, (c_i + 1/2) / mean(c + 1/2)),  then scaled to mean 1,
// so that the weighted proxy of an error spread evenly over the rows equals
// the unweighted one (the fitted sensitivities keep their meaning). The floor
// (default 0.3, RdOptions::token_row_floor) keeps rare tokens' rows from
// being zeroed: a large error on a rare row moves its logit at every
// position, which the quadratic proxy does not see. 0.3 rather than 0.1:
// with a step per row (rd's rowstep path) it gave the smaller gap on both
// models measured (docs/results/rowstep_*.tsv).
std::vector<double> TokenRowWeights(const std::vector<double>& counts, double floor);

// TokenRowWeights(counts, floor) for the tied embedding / LM head
// (tok_emb.weight, lm_head.weight) when counts has one entry per row and
// floor >= 0; else empty (every row weighs 1).
std::vector<double> RowWeightsFor(const std::string& weight_name, uint64_t rows, const std::vector<double>& counts,
                                  double floor);

// Row weights from a row Fisher f (f_i = sum over tokens of (dL/dy_i)^2):
// with the layer's input second moment H, a Kronecker-factored Hessian of
// the loss is diag(f) (x) H, so row i's error E_i H E_i^T counts f_i times.
//   r_i = max(floor, f_i / mean(f)),  then scaled to mean 1
// (as TokenRowWeights, so the fitted sensitivities keep their meaning; the
// floor keeps rows that the calibration tokens barely used from being zeroed).
// Empty when f is empty or sums to 0.
std::vector<double> FisherRowWeights(const std::vector<double>& f, double floor);

// RowWeightsFor, and for any other weight with an entry of `rows` rows in
// `fisher`, FisherRowWeights(entry, fisher_floor) when fisher_floor >= 0.
std::vector<double> RowWeightsFor(const std::string& weight_name, uint64_t rows, const std::vector<double>& counts,
                                  double floor, const std::map<std::string, std::vector<double>>& fisher,
                                  double fisher_floor);

// The note that records the row Fisher floor of the fitted sensitivities.
inline constexpr const char* kRowFisherFloorNote = "golfpack.sensitivity_row_fisher_floor";
// The default floor of FisherRowWeights (calibrate's --row-fisher).
inline constexpr double kRowFisherFloor = 0.1;

// The default floor of TokenRowWeights (rd and the sensitivity fit use it).
inline constexpr double kTokenRowFloor = 0.3;

}  // namespace golfpack::encode
