#include "plan/symmetry.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "io/pg_names.h"

namespace golfpack::encode {

double Log2Factorial(uint64_t n) { return std::lgamma(double(n) + 1.0) / std::log(2.0); }

namespace {

io::Tensor* Find(io::TensorFile& f, const std::string& name) {
  for (auto& t : f.tensors)
    if (t.name == name) return &t;
  return nullptr;
}

// Row-major 2-D view of a tensor's raw bytes (any dtype: values are moved, not converted).
struct Rows {
  io::Tensor* t;
  uint64_t rows, cols, esz;
  uint8_t* row(uint64_t r) { return t->data.data() + r * cols * esz; }
};

Result<Rows> RowsOf(io::Tensor* t, uint64_t want_rows, uint64_t want_cols) {
  if (t->shape.size() != 2 || uint64_t(t->shape[0]) != want_rows || uint64_t(t->shape[1]) != want_cols)
    return InvalidArgument("symmetry: tensor '" + t->name + "' should be [" + std::to_string(want_rows) + ", " +
                           std::to_string(want_cols) + "]");
  return Rows{t, want_rows, want_cols, io::DTypeSize(t->dtype)};
}

// Row blocks of `block` rows, reordered: new block i = old block perm[i].
void PermuteRowBlocks(Rows& m, const std::vector<uint64_t>& perm, uint64_t block) {
  const uint64_t bytes = block * m.cols * m.esz;
  std::vector<uint8_t> out(m.t->data.size());
  for (uint64_t i = 0; i < perm.size(); ++i) std::memcpy(out.data() + i * bytes, m.row(perm[i] * block), bytes);
  m.t->data = std::move(out);
}

// Column blocks of `block` columns, reordered the same way.
void PermuteColBlocks(Rows& m, const std::vector<uint64_t>& perm, uint64_t block) {
  const uint64_t bytes = block * m.esz;
  std::vector<uint8_t> out(m.t->data.size());
  for (uint64_t r = 0; r < m.rows; ++r)
    for (uint64_t i = 0; i < perm.size(); ++i)
      std::memcpy(out.data() + (r * m.cols + i * block) * m.esz, m.row(r) + perm[i] * bytes, bytes);
  m.t->data = std::move(out);
}

// Squared L2 norm of each block of `block` rows.
Result<std::vector<double>> BlockNorms(const io::Tensor& t, uint64_t block) {
  GP_ASSIGN_OR_RETURN(std::vector<float> v, t.ToFloat32());
  const uint64_t cols = uint64_t(t.shape[1]), n = uint64_t(t.shape[0]) / block;
  std::vector<double> out(n, 0.0);
  for (uint64_t i = 0; i < v.size(); ++i) out[i / (cols * block)] += double(v[i]) * double(v[i]);
  (void)n;
  return out;
}

// Indices of `keys` (a range of them) in descending key order, ties by index.
std::vector<uint64_t> Order(const std::vector<double>& keys, uint64_t begin, uint64_t n) {
  std::vector<uint64_t> p(n);
  std::iota(p.begin(), p.end(), begin);
  std::stable_sort(p.begin(), p.end(), [&](uint64_t a, uint64_t b) { return keys[a] > keys[b]; });
  return p;
}

bool Moved(const std::vector<uint64_t>& p, uint64_t begin) {
  for (uint64_t i = 0; i < p.size(); ++i)
    if (p[i] != begin + i) return true;
  return false;
}

}  // namespace

// 4.: V rows orthonormal per KV group, L into the projection (see symmetry.h).
Status OrthonormaliseVo(io::Tensor& cv, io::Tensor& proj, uint64_t hd, uint64_t group, std::vector<Eigen::MatrixXd>& blocks) {
  GP_ASSIGN_OR_RETURN(std::vector<float> v, cv.ToFloat32());
  GP_ASSIGN_OR_RETURN(std::vector<float> o, proj.ToFloat32());
  const uint64_t dim = uint64_t(cv.shape[1]), kv = uint64_t(cv.shape[0]) / hd;
  const uint64_t out = uint64_t(proj.shape[0]), in = uint64_t(proj.shape[1]);
  blocks.assign(in / hd, Eigen::MatrixXd());
  for (uint64_t g = 0; g < kv; ++g) {
    Eigen::MatrixXd wt(dim, hd);  // W_v,g^T
    for (uint64_t r = 0; r < hd; ++r)
      for (uint64_t c = 0; c < dim; ++c) wt(Eigen::Index(c), Eigen::Index(r)) = v[(g * hd + r) * dim + c];
    Eigen::HouseholderQR<Eigen::MatrixXd> qr(wt);
    Eigen::MatrixXd q = qr.householderQ() * Eigen::MatrixXd::Identity(Eigen::Index(dim), Eigen::Index(hd));
    Eigen::MatrixXd r = qr.matrixQR().topRows(Eigen::Index(hd)).triangularView<Eigen::Upper>();
    for (Eigen::Index i = 0; i < Eigen::Index(hd); ++i)
      if (r(i, i) < 0) r.row(i) *= -1, q.col(i) *= -1;
    if ((r.diagonal().array() <= 1e-12 * std::max(1.0, r.diagonal().cwiseAbs().maxCoeff())).any())
      return InvalidArgument("symmetry: tensor '" + cv.name + "': KV group " + std::to_string(g) +
                             " has linearly dependent V rows (no invertible transform to make them orthonormal)");
    const Eigen::MatrixXd L = r.transpose();  // W_v,g = L Q^T
    for (uint64_t rr = 0; rr < hd; ++rr)
      for (uint64_t c = 0; c < dim; ++c) v[(g * hd + rr) * dim + c] = float(q(Eigen::Index(c), Eigen::Index(rr)));
    const Eigen::MatrixXd T = L.inverse();
    for (uint64_t h = g * group; h < (g + 1) * group; ++h) {  // W_o,h <- W_o,h L
      Eigen::MatrixXd wo(out, hd);
      for (uint64_t a = 0; a < out; ++a)
        for (uint64_t b = 0; b < hd; ++b) wo(Eigen::Index(a), Eigen::Index(b)) = o[a * in + h * hd + b];
      const Eigen::MatrixXd nw = wo * L;
      for (uint64_t a = 0; a < out; ++a)
        for (uint64_t b = 0; b < hd; ++b) o[a * in + h * hd + b] = float(nw(Eigen::Index(a), Eigen::Index(b)));
      blocks[h] = T;
    }
  }
  cv = io::Tensor::FromFloat32(cv.name, cv.shape, v, cv.dtype);
  proj = io::Tensor::FromFloat32(proj.name, proj.shape, o, proj.dtype);
  return Status::Ok();
}

Result<SymmetryReport> Canonicalize(io::TensorFile& model, const SymmetryOptions& options) {
  SymmetryReport rep;
  auto en = model.metadata.find(io::kMetaExtraNorm);
  const bool vo = options.vo && (en == model.metadata.end() || en->second == "0");
  for (int l = 0;; ++l) {
    const std::string b = "blocks." + std::to_string(l) + ".";
    io::Tensor *fc = Find(model, b + "mlp.fc.weight"), *mproj = Find(model, b + "mlp.proj.weight");
    io::Tensor *cq = Find(model, b + "attn.c_q.weight"), *ck = Find(model, b + "attn.c_k.weight"),
               *cv = Find(model, b + "attn.c_v.weight"), *aproj = Find(model, b + "attn.proj.weight"),
               *gain = Find(model, b + "attn.q_gain");
    if (!fc && !cq) break;
    if (fc) {  // 1. MLP hidden units
      if (!mproj) return InvalidArgument("symmetry: " + b + "mlp.fc.weight has no " + b + "mlp.proj.weight");
      if (fc->shape.size() != 2) return InvalidArgument("symmetry: tensor '" + fc->name + "' is not 2-D");
      const uint64_t hidden = uint64_t(fc->shape[0]), dim = uint64_t(fc->shape[1]);
      GP_ASSIGN_OR_RETURN(Rows f, RowsOf(fc, hidden, dim));
      GP_ASSIGN_OR_RETURN(Rows p, RowsOf(mproj, dim, hidden));
      GP_ASSIGN_OR_RETURN(std::vector<double> norms, BlockNorms(*fc, 1));
      const std::vector<uint64_t> perm = Order(norms, 0, hidden);
      rep.groups.push_back({fc->name, "mlp units", hidden, Log2Factorial(hidden), Moved(perm, 0)});
      PermuteRowBlocks(f, perm, 1);
      PermuteColBlocks(p, perm, 1);
      rep.site_perm[b + "mlp.proj_in"] = perm;
      rep.row_perm[fc->name] = perm;
    }
    if (cq) {  // 2./3. heads within KV groups, KV groups
      if (!ck || !cv || !aproj || !gain)
        return InvalidArgument("symmetry: " + b + "attn.c_q.weight without c_k, c_v, proj and q_gain");
      if (cq->shape.size() != 2 || gain->shape.size() != 1 || gain->shape[0] <= 0 || ck->shape.size() != 2)
        return InvalidArgument("symmetry: " + b + "attn tensors have unexpected ranks");
      const uint64_t dim = uint64_t(cq->shape[1]), qrows = uint64_t(cq->shape[0]), heads = uint64_t(gain->shape[0]);
      if (qrows % heads) return InvalidArgument("symmetry: tensor '" + cq->name + "' rows do not split into q_gain's heads");
      const uint64_t hd = qrows / heads, kvrows = uint64_t(ck->shape[0]);
      if (kvrows % hd || heads % (kvrows / hd))
        return InvalidArgument("symmetry: tensor '" + ck->name + "' rows do not split into KV heads of " + std::to_string(hd));
      const uint64_t kv = kvrows / hd, g = heads / kv;
      GP_ASSIGN_OR_RETURN(Rows q, RowsOf(cq, qrows, dim));
      GP_ASSIGN_OR_RETURN(Rows k, RowsOf(ck, kvrows, dim));
      GP_ASSIGN_OR_RETURN(Rows v, RowsOf(cv, kvrows, dim));
      GP_ASSIGN_OR_RETURN(Rows o, RowsOf(aproj, uint64_t(aproj->shape.size() == 2 ? aproj->shape[0] : 0), qrows));
      GP_ASSIGN_OR_RETURN(std::vector<double> qn, BlockNorms(*cq, hd));
      GP_ASSIGN_OR_RETURN(std::vector<double> kn, BlockNorms(*ck, hd));
      // KV groups first, then heads within each (new) group: one permutation of the heads.
      const std::vector<uint64_t> groups = Order(kn, 0, kv);
      rep.groups.push_back({ck->name, "KV groups", kv, Log2Factorial(kv), Moved(groups, 0)});
      std::vector<uint64_t> head_perm;
      for (uint64_t gi = 0; gi < kv; ++gi) {
        const std::vector<uint64_t> within = Order(qn, groups[gi] * g, g);
        rep.groups.push_back({cq->name, "heads in KV group " + std::to_string(gi), g, Log2Factorial(g),
                              Moved(within, groups[gi] * g)});
        head_perm.insert(head_perm.end(), within.begin(), within.end());
      }
      PermuteRowBlocks(k, groups, hd);
      PermuteRowBlocks(v, groups, hd);
      PermuteRowBlocks(q, head_perm, hd);
      PermuteColBlocks(o, head_perm, hd);
      std::vector<uint64_t>& in = rep.site_perm[b + "attn.proj_in"];
      for (uint64_t h : head_perm)
        for (uint64_t r = 0; r < hd; ++r) in.push_back(h * hd + r);
      rep.row_perm[cq->name] = in;
      for (const io::Tensor* kv_t : {ck, cv}) {
        std::vector<uint64_t>& rows = rep.row_perm[kv_t->name];
        for (uint64_t gi : groups)
          for (uint64_t r = 0; r < hd; ++r) rows.push_back(gi * hd + r);
      }
      Rows gr{gain, heads, 1, io::DTypeSize(gain->dtype)};
      PermuteRowBlocks(gr, head_perm, 1);
      if (vo) {
        GP_RETURN_IF_ERROR(OrthonormaliseVo(*cv, *aproj, hd, g, rep.site_block_transform[b + "attn.proj_in"]));
        rep.vo_applied = true;
      }
    }
  }
  for (const auto& g : rep.groups) rep.bits += g.bits;
  return rep;
}

Result<SymmetryReport> PermuteMlpUnits(io::TensorFile& model, const std::map<std::string, std::vector<uint64_t>>& perms) {
  SymmetryReport rep;
  for (const auto& [name, perm] : perms) {
    const std::string suffix = "mlp.fc.weight";
    io::Tensor* fc = Find(model, name);
    if (!fc || name.size() < suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      return InvalidArgument("symmetry: no MLP fc tensor '" + name + "' to reorder");
    const std::string b = name.substr(0, name.size() - suffix.size());
    io::Tensor* proj = Find(model, b + "mlp.proj.weight");
    if (!proj) return InvalidArgument("symmetry: " + name + " has no " + b + "mlp.proj.weight");
    if (fc->shape.size() != 2) return InvalidArgument("symmetry: tensor '" + name + "' is not 2-D");
    const uint64_t hidden = uint64_t(fc->shape[0]), dim = uint64_t(fc->shape[1]);
    std::vector<uint64_t> seen(hidden, 0);
    for (uint64_t v : perm)
      if (v >= hidden || seen[v]++) return InvalidArgument("symmetry: the order for '" + name + "' is not a permutation");
    if (perm.size() != hidden)
      return InvalidArgument("symmetry: the order for '" + name + "' has " + std::to_string(perm.size()) + " of " +
                             std::to_string(hidden) + " units");
    GP_ASSIGN_OR_RETURN(Rows f, RowsOf(fc, hidden, dim));
    GP_ASSIGN_OR_RETURN(Rows p, RowsOf(proj, dim, hidden));
    PermuteRowBlocks(f, perm, 1);
    PermuteColBlocks(p, perm, 1);
    rep.groups.push_back({name, "mlp units", hidden, Log2Factorial(hidden), Moved(perm, 0)});
    rep.site_perm[b + "mlp.proj_in"] = perm;
    rep.row_perm[name] = perm;
  }
  for (const auto& g : rep.groups) rep.bits += g.bits;
  return rep;
}

Result<Hessians> PermuteHessians(const Hessians& h, const SymmetryReport& report) {
  std::map<std::string, Eigen::MatrixXd> sites = h.sites();
  for (const auto& [site, perm] : report.site_perm) {
    auto it = sites.find(site);
    if (it == sites.end()) continue;  // a site the calibration lacks stays lacking
    const Eigen::MatrixXd& H = it->second;
    if (uint64_t(H.rows()) != perm.size())
      return InvalidArgument("symmetry: calibration site '" + site + "' is " + std::to_string(H.rows()) + "x" +
                             std::to_string(H.cols()) + ", the model's reordering has " + std::to_string(perm.size()) +
                             " inputs");
    Eigen::MatrixXd out(H.rows(), H.cols());
    for (Eigen::Index i = 0; i < H.rows(); ++i)
      for (Eigen::Index j = 0; j < H.cols(); ++j) out(i, j) = H(Eigen::Index(perm[size_t(i)]), Eigen::Index(perm[size_t(j)]));
    it->second = std::move(out);
  }
  for (const auto& [site, t] : report.site_block_transform) {
    auto it = sites.find(site);
    if (it == sites.end() || t.empty()) continue;
    Eigen::MatrixXd& H = it->second;
    const Eigen::Index hd = t[0].rows();
    if (H.rows() != hd * Eigen::Index(t.size()))
      return InvalidArgument("symmetry: calibration site '" + site + "' is " + std::to_string(H.rows()) +
                             " wide, the V/O transform covers " + std::to_string(hd * Eigen::Index(t.size())));
    Eigen::MatrixXd out(H.rows(), H.cols());
    for (size_t a = 0; a < t.size(); ++a)
      for (size_t b = 0; b < t.size(); ++b)
        out.block(Eigen::Index(a) * hd, Eigen::Index(b) * hd, hd, hd) =
            t[a] * H.block(Eigen::Index(a) * hd, Eigen::Index(b) * hd, hd, hd) * t[b].transpose();
    H = std::move(out);
  }
  Hessians r = Hessians::FromSites(std::move(sites), h.tokens(), h.sensitivity(), h.seq_len(), h.notes());
  r.set_token_counts(h.token_counts());
  std::map<std::string, std::vector<double>> fisher = h.row_fisher();
  for (const auto& [name, perm] : report.row_perm) {
    auto it = fisher.find(name);
    if (it == fisher.end()) continue;
    if (it->second.size() != perm.size())
      return InvalidArgument("symmetry: the calibration's row Fisher of '" + name + "' has " +
                             std::to_string(it->second.size()) + " rows, the reordering " + std::to_string(perm.size()));
    std::vector<double> out(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) out[i] = it->second[perm[i]];
    it->second = std::move(out);
  }
  if (report.vo_applied)
    std::erase_if(fisher, [](const auto& kv) { return kv.first.find(".attn.c_v.") != std::string::npos; });
  r.set_row_fisher(std::move(fisher));
  return r;
}

}  // namespace golfpack::encode
