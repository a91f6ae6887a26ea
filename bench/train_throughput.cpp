// Training throughput of golfpack's libtorch GPT: forward + backward + Adam
// step on random token batches, float32 on CPU. Same flags and JSON line as
// bench/train_throughput_py.py so the two can be compared in one run
// (bench/train_throughput.sh prints the table). "cores_used" is the process's
// (user + sys) CPU seconds over the timed steps divided by their wall seconds.
#include <sys/resource.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "model/gpt.h"
#include "train/threads.h"

namespace {
double CpuSeconds() {  // user + sys of every thread of this process
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto sec = [](const timeval& t) { return double(t.tv_sec) + 1e-6 * double(t.tv_usec); };
  return sec(u.ru_utime) + sec(u.ru_stime);
}
}  // namespace

int main(int argc, char** argv) {
  golfpack::model::GPTConfig cfg = golfpack::model::GPTConfig::Demo();
  int seq_len = 256, batch = 8, steps = 10, warmup = 2, threads = 0, blas_threads = 0;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> int {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "train_throughput: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return std::atoi(argv[++i]);
    };
    if (a == "--layers") cfg.num_layers = next();
    else if (a == "--dim") cfg.model_dim = next();
    else if (a == "--heads") cfg.num_heads = next();
    else if (a == "--kv-heads") cfg.num_kv_heads = next();
    else if (a == "--mlp-mult") cfg.mlp_mult = next();
    else if (a == "--vocab") cfg.vocab_size = next();
    else if (a == "--seq-len") seq_len = next();
    else if (a == "--batch") batch = next();
    else if (a == "--steps") steps = next();
    else if (a == "--warmup-steps") warmup = next();
    else if (a == "--threads") threads = next();
    else if (a == "--blas-threads") blas_threads = next();  // default: --threads; -1: leave OpenBLAS as the env says
    else if (a == "--json") json = true;
    else {
      std::fprintf(stderr, "train_throughput: unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  if (auto s = cfg.Validate(); !s.ok()) {
    std::fprintf(stderr, "train_throughput: %s\n", s.ToString().c_str());
    return 2;
  }
  const golfpack::train::CpuThreads th = golfpack::train::SetCpuThreads(threads, blas_threads);
  torch::manual_seed(1337);
  golfpack::model::GPT model(cfg);
  model->train();
  // Adam on every parameter, as the Python script, so both do the same work.
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-3));
  auto step = [&]() {
    auto ids = torch::randint(0, cfg.vocab_size, {batch, seq_len + 1}, torch::kInt64);
    auto x = ids.narrow(1, 0, seq_len), y = ids.narrow(1, 1, seq_len);
    opt.zero_grad();
    auto loss = model->loss(x, y);
    loss.backward();
    opt.step();
    return loss.item<double>();
  };
  for (int i = 0; i < warmup; ++i) step();
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = CpuSeconds();
  double loss = 0;
  for (int i = 0; i < steps; ++i) loss = step();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = CpuSeconds() - cpu0;
  const double tps = double(steps) * batch * seq_len / secs;
  std::printf("{\"impl\":\"golfpack-libtorch\",\"params\":%lld,\"tokens_per_s\":%.1f,\"ms_per_step\":%.1f,\"seq_len\":%d,"
              "\"batch\":%d,\"threads\":%d,\"blas_threads\":%d,\"gemm\":\"%s\",\"cpu_s\":%.3f,\"cores_used\":%.2f,"
              "\"final_loss\":%.4f}\n",
              (long long)cfg.NumParams(), tps, 1000 * secs / steps, seq_len, batch, th.torch_threads, th.blas_threads,
              th.gemm_library.c_str(), cpu, secs > 0 ? cpu / secs : 0.0, loss);
  if (!json) std::fprintf(stderr, "%s: %.0f tokens/s, %.2f cores busy\n", cfg.ToString().c_str(), tps, secs > 0 ? cpu / secs : 0.0);
  return 0;
}
