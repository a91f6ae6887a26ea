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
//   any other key                  = a note, kept as it is (e.g. golfpack.sensitivity_spearman_raw)
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

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
  const std::map<std::string, double>& sensitivity() const { return sensitivity_; }
  void set_sensitivity(std::map<std::string, double> s) { sensitivity_ = std::move(s); }

  // Extra metadata kept with the file (key -> value), e.g. the fit's Spearman rho.
  const std::map<std::string, std::string>& notes() const { return notes_; }
  void set_note(const std::string& key, const std::string& value) { notes_[key] = value; }

 private:
  std::map<std::string, Eigen::MatrixXd> sites_;
  std::map<std::string, double> sensitivity_;
  std::map<std::string, std::string> notes_;
  int64_t tokens_ = 0;
  int seq_len_ = 0;
};

}  // namespace golfpack::encode
