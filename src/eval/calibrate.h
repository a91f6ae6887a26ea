// Calibration: stream training tokens through the model and accumulate, for
// every linear layer's input site, the second-moment matrix H = X^T X (the
// Hessian of the layer's squared output error, used by GPTQ and as the
// distortion weight of the rate-distortion allocator). Stored in a
// safetensors file of its own, like llama.cpp keeps its imatrix apart.
#pragma once

#include <map>
#include <string>

#include "core/progress.h"
#include "core/status.h"
#include "model/gpt.h"

namespace golfpack::eval {

struct CalibrationOptions {
  std::string train_pattern;  // shards to read (from the start, in order)
  int64_t tokens = 65536;     // tokens to stream (rounded down to whole sequences)
  int seq_len = 1024;
  int batch_seqs = 4;
};

struct Calibration {
  std::map<std::string, torch::Tensor> hessians;  // site -> [in, in] float64, sum over tokens of x x^T
  int64_t tokens = 0;
  int seq_len = 0;
  // Fitted loss sensitivity per weight (eval/sensitivity.h); empty if not measured.
  std::map<std::string, double> sensitivity;
  std::map<std::string, std::string> notes;  // extra metadata kept with the file
  // H for a weight (via model::HessianSite), or an undefined tensor.
  torch::Tensor ForWeight(const std::string& weight_name) const;
};

Result<Calibration> Calibrate(model::GPT& model, const CalibrationOptions& options, const ProgressFn& progress);

// File: one F32 tensor per site (named by the site), metadata
// golfpack.calibration = "hessian-v1", golfpack.tokens, golfpack.seq_len, and
// golfpack.sensitivity.<weight name> = s for each measured weight.
Status SaveCalibration(const std::string& path, const Calibration& c);
Result<Calibration> LoadCalibration(const std::string& path);

}  // namespace golfpack::eval
