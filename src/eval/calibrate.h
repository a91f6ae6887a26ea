// Calibration: stream training tokens through the model and accumulate, for
// every linear layer's input site, the second-moment matrix H = X^T X (the
// Hessian of the layer's squared output error, used by GPTQ and as the
// distortion weight of the rate-distortion allocator). Stored in a
// safetensors file of its own, like llama.cpp keeps its imatrix apart.
#pragma once

#include <ctime>
#include <map>
#include <string>
#include <vector>

#include "core/progress.h"
#include "core/status.h"
#include "model/gpt.h"

namespace golfpack::eval {

// Wall and CPU (user+sys, all threads of the process) seconds spent in one
// phase of calibration or sensitivity measurement, for profiles. Not saved.
struct PhaseTime {
  std::string phase;
  double wall_s = 0, cpu_s = 0;
};

// Accumulates wall and process CPU time into a PhaseTime between Start and Stop.
class PhaseClock {
 public:
  void Start() {
    wall0_ = Now(CLOCK_MONOTONIC);
    cpu0_ = Now(CLOCK_PROCESS_CPUTIME_ID);
  }
  void Stop(PhaseTime& into) const {
    into.wall_s += Now(CLOCK_MONOTONIC) - wall0_;
    into.cpu_s += Now(CLOCK_PROCESS_CPUTIME_ID) - cpu0_;
  }

 private:
  static double Now(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  }
  double wall0_ = 0, cpu0_ = 0;
};

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
  std::vector<PhaseTime> timings;             // where Calibrate spent its time (not saved)
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
