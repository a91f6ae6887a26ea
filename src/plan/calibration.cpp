#include "plan/calibration.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "io/pg_names.h"
#include "io/safetensors.h"

namespace golfpack::encode {

namespace {

constexpr const char* kKind = "golfpack.calibration";
constexpr const char* kKindValue = "hessian-v1";
constexpr const char* kTokens = "golfpack.tokens";
constexpr const char* kSeqLen = "golfpack.seq_len";
constexpr const char* kCounts = "token_counts";  // the tensor of token counts
const std::string kFisherPrefix = "row_fisher.";   // + weight name: a row Fisher
const std::string kRowHwPrefix = "row_hw.";         // + weight name: H_i w_i^T per row
const std::string kSensPrefix = "golfpack.sensitivity.";
const std::string kTcqSensPrefix = "golfpack.tcq_sensitivity.";

bool IsReserved(const std::string& key) {
  return key == kKind || key == kTokens || key == kSeqLen || key.rfind(kSensPrefix, 0) == 0 ||
         key.rfind(kTcqSensPrefix, 0) == 0;
}

// The whole string as a non-negative integer.
template <typename Int>
bool ParseCount(const std::string& s, Int* out) {
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, *out);
  return ec == std::errc() && p == end && *out >= 0;
}

}  // namespace

Result<Hessians> Hessians::Load(const std::string& path) {
  GP_ASSIGN_OR_RETURN(io::TensorFile f, io::ReadSafetensors(path));
  auto kind = f.metadata.find(kKind);
  if (kind == f.metadata.end() || kind->second != kKindValue)
    return Corrupt(path + ": not a golfpack calibration file (metadata golfpack.calibration != hessian-v1)");
  Hessians h;
  for (const auto& [key, value] : f.metadata) {
    if (key == kKind) continue;
    if (key == kTokens || key == kSeqLen) {
      const bool ok = key == kTokens ? ParseCount(value, &h.tokens_) : ParseCount(value, &h.seq_len_);
      if (!ok) return Corrupt(path + ": calibration metadata " + key + " = '" + value + "' is not a count");
    } else if (key.rfind(kSensPrefix, 0) == 0 || key.rfind(kTcqSensPrefix, 0) == 0) {
      char* end = nullptr;
      const double s = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !std::isfinite(s))
        return Corrupt(path + ": calibration metadata " + key + " = '" + value + "' is not a number");
      if (key.rfind(kSensPrefix, 0) == 0) {
        h.sensitivity_[key.substr(kSensPrefix.size())] = s;
      } else {
        h.tcq_sensitivity_[key.substr(kTcqSensPrefix.size())] = s;
      }
    } else {
      h.notes_[key] = value;
    }
  }
  if (!f.metadata.contains(kTokens) || !f.metadata.contains(kSeqLen))
    return Corrupt(path + ": calibration metadata golfpack.tokens / golfpack.seq_len missing");
  for (const auto& t : f.tensors) {
    if (t.name == kCounts) {
      auto v = t.ToFloat32();
      if (t.shape.size() != 1 || !v.ok()) return Corrupt(path + ": calibration tensor 'token_counts' is not a vector");
      for (float c : *v)
        if (!(c >= 0) || !std::isfinite(c)) return Corrupt(path + ": calibration tensor 'token_counts' holds a negative or non-finite count");
      h.token_counts_.assign(v->begin(), v->end());
      continue;
    }
    if (t.name.rfind(kFisherPrefix, 0) == 0) {
      auto v = t.ToFloat32();
      if (t.shape.size() != 1 || !v.ok())
        return Corrupt(path + ": calibration tensor '" + t.name + "' is not a vector");
      for (float f : *v)
        if (!(f >= 0) || !std::isfinite(f))
          return Corrupt(path + ": calibration tensor '" + t.name + "' holds a negative or non-finite value");
      h.row_fisher_[t.name.substr(kFisherPrefix.size())].assign(v->begin(), v->end());
      continue;
    }
    if (t.name.rfind(kRowHwPrefix, 0) == 0) {
      auto v = t.ToFloat32();
      if (t.shape.size() != 2 || !v.ok())
        return Corrupt(path + ": calibration tensor '" + t.name + "' is not a matrix");
      RowMajorMatrix m(Eigen::Index(t.shape[0]), Eigen::Index(t.shape[1]));
      for (size_t i = 0; i < v->size(); ++i) {
        if (!std::isfinite((*v)[i])) return Corrupt(path + ": calibration tensor '" + t.name + "' holds a non-finite value");
        m.data()[i] = (*v)[i];
      }
      h.row_hw_.emplace(t.name.substr(kRowHwPrefix.size()), std::move(m));
      continue;
    }
    if (t.shape.size() != 2 || t.shape[0] != t.shape[1])
      return Corrupt(path + ": calibration tensor '" + t.name + "' is not square");
    auto v = t.ToFloat32();
    if (!v.ok()) return Corrupt(path + ": calibration tensor '" + t.name + "': " + v.status().message());
    const auto n = static_cast<Eigen::Index>(t.shape[0]);
    Eigen::MatrixXd m(n, n);
    for (Eigen::Index r = 0; r < n; ++r)
      for (Eigen::Index c = 0; c < n; ++c) m(r, c) = (*v)[static_cast<size_t>(r * n + c)];
    h.sites_.emplace(t.name, std::move(m));
  }
  return h;
}

Hessians Hessians::FromSites(std::map<std::string, Eigen::MatrixXd> sites, int64_t tokens,
                             std::map<std::string, double> sensitivity, int seq_len,
                             std::map<std::string, std::string> notes) {
  Hessians h;
  h.sites_ = std::move(sites);
  h.tokens_ = tokens;
  h.seq_len_ = seq_len;
  h.sensitivity_ = std::move(sensitivity);
  h.notes_ = std::move(notes);
  return h;
}

Status Hessians::Save(const std::string& path) const {
  io::TensorFile f;
  for (const auto& [site, m] : sites_) {
    if (m.rows() != m.cols())
      return InvalidArgument(path + ": calibration site '" + site + "' is " + std::to_string(m.rows()) + " x " +
                             std::to_string(m.cols()) + ", not square");
    const Eigen::Index n = m.rows();
    std::vector<float> v(static_cast<size_t>(n * n));
    for (Eigen::Index r = 0; r < n; ++r)
      for (Eigen::Index c = 0; c < n; ++c) v[static_cast<size_t>(r * n + c)] = static_cast<float>(m(r, c));
    f.tensors.push_back(io::Tensor::FromFloat32(site, {n, n}, v));
  }
  if (!token_counts_.empty()) {
    std::vector<float> c(token_counts_.begin(), token_counts_.end());
    f.tensors.push_back(io::Tensor::FromFloat32(kCounts, {int64_t(c.size())}, c));
  }
  for (const auto& [w, fv] : row_fisher_) {
    std::vector<float> v(fv.begin(), fv.end());
    f.tensors.push_back(io::Tensor::FromFloat32(kFisherPrefix + w, {int64_t(v.size())}, v));
  }
  for (const auto& [w, m] : row_hw_) {
    std::vector<float> v(m.data(), m.data() + m.size());
    f.tensors.push_back(io::Tensor::FromFloat32(kRowHwPrefix + w, {int64_t(m.rows()), int64_t(m.cols())}, v));
  }
  f.metadata = {{kKind, kKindValue}, {kTokens, std::to_string(tokens_)}, {kSeqLen, std::to_string(seq_len_)}};
  char buf[64];
  for (const auto& [name, s] : sensitivity_) {
    std::snprintf(buf, sizeof buf, "%.9g", s);
    f.metadata[kSensPrefix + name] = buf;
  }
  for (const auto& [name, s] : tcq_sensitivity_) {
    std::snprintf(buf, sizeof buf, "%.9g", s);
    f.metadata[kTcqSensPrefix + name] = buf;
  }
  for (const auto& [key, value] : notes_) {
    if (IsReserved(key)) return InvalidArgument(path + ": calibration note '" + key + "' uses a reserved metadata key");
    f.metadata[key] = value;
  }
  return io::WriteSafetensors(path, f);
}

const Eigen::MatrixXd* Hessians::ForSite(const std::string& site) const {
  auto it = sites_.find(site);
  return it == sites_.end() ? nullptr : &it->second;
}

const Eigen::MatrixXd* Hessians::ForWeight(const std::string& weight_name) const {
  return ForSite(io::HessianSite(weight_name));
}

std::optional<double> Hessians::RowFisherFloor() const {
  auto it = notes_.find(kRowFisherFloorNote);
  if (row_fisher_.empty() || it == notes_.end()) return std::nullopt;
  char* end = nullptr;
  const double f = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != '\0' || !(f >= 0)) return std::nullopt;
  return f;
}

std::vector<double> Hessians::RowWeights(const std::string& weight_name, uint64_t rows, double floor,
                                         double fisher_floor) const {
  return RowWeightsFor(weight_name, rows, token_counts_, floor, row_fisher_, fisher_floor);
}

std::vector<double> RowWeightsFor(const std::string& weight_name, uint64_t rows, const std::vector<double>& counts,
                                  double floor, const std::map<std::string, std::vector<double>>& fisher,
                                  double fisher_floor) {
  if (weight_name == "tok_emb.weight" || weight_name == "lm_head.weight")
    return RowWeightsFor(weight_name, rows, counts, floor);
  if (fisher_floor < 0) return {};
  auto it = fisher.find(weight_name);
  if (it == fisher.end() || it->second.size() != rows) return {};
  return FisherRowWeights(it->second, fisher_floor);
}

std::vector<double> FisherRowWeights(const std::vector<double>& f, double floor) {
  double mean = 0;
  for (double x : f) mean += x;
  if (f.empty() || !(mean > 0)) return {};
  mean /= double(f.size());
  std::vector<double> r(f.size());
  double sum = 0;
  for (size_t i = 0; i < f.size(); ++i) sum += r[i] = std::max(floor, f[i] / mean);
  for (double& x : r) x *= double(f.size()) / sum;
  return r;
}

std::vector<double> RowWeightsFor(const std::string& weight_name, uint64_t rows, const std::vector<double>& counts,
                                  double floor) {
  if (floor < 0 || counts.size() != rows || rows == 0) return {};
  if (weight_name != "tok_emb.weight" && weight_name != "lm_head.weight") return {};
  return TokenRowWeights(counts, floor);
}

std::vector<double> TokenRowWeights(const std::vector<double>& counts, double floor) {
  std::vector<double> r(counts.size());
  if (counts.empty()) return r;
  double mean = 0;
  for (double c : counts) mean += c + 0.5;
  mean /= double(counts.size());
  double sum = 0;
  for (size_t i = 0; i < counts.size(); ++i) sum += r[i] = std::max(floor, (counts[i] + 0.5) / mean);
  for (double& x : r) x *= double(counts.size()) / sum;
  return r;
}

}  // namespace golfpack::encode
