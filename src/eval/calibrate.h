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
#include "plan/calibration.h"

namespace golfpack::eval {

// Wall and CPU (user+sys, all threads of the process) seconds spent in one
// phase of calibration or sensitivity measurement, for profiles. Not saved.
struct PhaseTime {
  std::string phase;
  double wall_s = 0, cpu_s = 0;
};

// Accumulates wall and CPU time into a PhaseTime between Start and Stop: the
// process's CPU time, or only the calling thread's (for phases that run on
// several worker threads at once, each timing its own share).
class PhaseClock {
 public:
  explicit PhaseClock(bool this_thread_only = false)
      : cpu_clock_(this_thread_only ? CLOCK_THREAD_CPUTIME_ID : CLOCK_PROCESS_CPUTIME_ID) {}
  void Start() {
    wall0_ = Now(CLOCK_MONOTONIC);
    cpu0_ = Now(cpu_clock_);
  }
  void Stop(PhaseTime& into) const {
    into.wall_s += Now(CLOCK_MONOTONIC) - wall0_;
    into.cpu_s += Now(cpu_clock_) - cpu0_;
  }

 private:
  static double Now(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  }
  clockid_t cpu_clock_;
  double wall0_ = 0, cpu0_ = 0;
};

struct CalibrationOptions {
  std::string train_pattern;  // shards to read (from the start, in order)
  int64_t tokens = 65536;     // tokens to stream (rounded down to whole sequences)
  int seq_len = 1024;
  int batch_seqs = 4;
  // Worker threads, each running whole batches through its own copy of the
  // model with single-threaded tensor operations (0 = libtorch's intra-op
  // thread count, what --threads set). 1 = the model itself on libtorch's threads.
  int threads = 0;
  // Also accumulate the row Fisher: per output row of every block matrix, the
  // sum over tokens of (dL/dy_i)^2, L the next-token cross-entropy summed
  // over the batch (one forward and backward pass per batch, after the H
  // pass). The output-side half of a Kronecker-factored Hessian: rows whose
  // outputs the loss is more sensitive to weigh more in the proxy, with this
  // floor (plan/calibration.h, FisherRowWeights), which the file records
  // (kRowFisherFloorNote) for the sensitivity fit and rd. < 0: none.
  double row_fisher_floor = encode::kRowFisherFloor;
};

struct Calibration {
  std::map<std::string, torch::Tensor> hessians;  // site -> [in, in] float64, sum over tokens of x x^T
  int64_t tokens = 0;
  int seq_len = 0;
  // How often each token id occurred among the inputs (vocab entries; empty
  // in files written before counts were kept): the tied embedding's row weights.
  std::vector<double> token_counts;
  // Fitted loss sensitivity per weight (eval/sensitivity.h); empty if not measured.
  std::map<std::string, double> sensitivity;
  // The same fitted with the trellis probe (SensitivityOptions::tcq_probe_spec); empty if not measured.
  std::map<std::string, double> tcq_sensitivity;
  // weight -> [rows] float64, sum over tokens of (dL/dy_row)^2 (row_fisher_floor above); empty if not measured.
  std::map<std::string, torch::Tensor> row_fisher;
  // weight -> [rows, cols] float64, sum over tokens of ((dL/dy)^2 * y) x^T: row i is
  // H_i w_i^T, the row's gradient-weighted Hessian applied to its weights
  // (measured with the row Fisher); empty if not measured.
  std::map<std::string, torch::Tensor> row_hw;
  std::map<std::string, std::string> notes;  // extra metadata kept with the file
  std::vector<PhaseTime> timings;             // where Calibrate spent its time (not saved)
  int threads = 1;                            // workers Calibrate used (not saved)
  // H for a weight (via model::HessianSite), or an undefined tensor.
  torch::Tensor ForWeight(const std::string& weight_name) const;
};

Result<Calibration> Calibrate(model::GPT& model, const CalibrationOptions& options, const ProgressFn& progress);

// A model of the same config holding a copy of `m`'s weights, in eval mode,
// for a worker thread (Calibrate, MeasureSensitivity). Leaves the default
// random generator's state as it was.
model::GPT CopyModel(model::GPT& m);

// The file is encode::Hessians's (plan/calibration.h, the one reader and
// writer): one F32 tensor per site (named by the site), metadata
// golfpack.calibration = "hessian-v1", golfpack.tokens, golfpack.seq_len,
// golfpack.sensitivity.<weight name> = s for each measured weight, and the
// notes. These convert between its float64 Eigen matrices and the float64
// torch tensors here (exactly, value for value) and save / load through it.
encode::Hessians ToHessians(const Calibration& c);
Calibration FromHessians(const encode::Hessians& h);
Status SaveCalibration(const std::string& path, const Calibration& c);
Result<Calibration> LoadCalibration(const std::string& path);

}  // namespace golfpack::eval
