// pack --bits-back: two rd passes and the row-order carry (bits_back.h).
#include "plan/bits_back.h"

#include <map>
#include <optional>

#include "codec/row_carry.h"
#include "plan/symmetry.h"

namespace golfpack::encode {
namespace {

// The fc weights of the model's MLPs, in layer order.
std::vector<std::string> MlpFcNames(const io::TensorFile& model) {
  std::map<std::string, bool> has;
  for (const auto& t : model.tensors) has[t.name] = t.shape.size() == 2;
  std::vector<std::string> out;
  for (int l = 0; has.count("blocks." + std::to_string(l) + ".mlp.fc.weight"); ++l) {
    const std::string b = "blocks." + std::to_string(l) + ".mlp.";
    if (has[b + "fc.weight"] && has.count(b + "proj.weight")) out.push_back(b + "fc.weight");
  }
  return out;
}

const gpk::EncodedTensor* FindEncoded(const std::vector<gpk::EncodedTensor>& ts, const std::string& name) {
  for (const auto& t : ts)
    if (t.name == name) return &t;
  return nullptr;
}

// Pass 1 -> the unit orders: new unit r = old unit perm[r], for every layer
// that can carry; the others get a note.
Result<std::map<std::string, std::vector<uint64_t>>> PlanOrders(const std::vector<gpk::EncodedTensor>& ts,
                                                                 std::vector<BitsBackLayer>& layers, uint64_t* can) {
  std::map<std::string, std::vector<uint64_t>> perms;
  for (BitsBackLayer& L : layers) {
    const gpk::EncodedTensor* t = FindEncoded(ts, L.tensor);
    if (!t) return Internal("bits-back: rd's artifact has no tensor '" + L.tensor + "'");
    GP_ASSIGN_OR_RETURN(std::optional<SortedScales> s, SortRowsForCarry(*t, &L.note));
    if (!s || s->carry <= 2) continue;
    *can += s->carry - 2;  // the params grow by 2 bytes
    const uint64_t rows = s->rank.size();
    std::vector<uint64_t> row_at(rows);  // sorted position -> row
    for (uint64_t r = 0; r < rows; ++r) row_at[s->rank[r]] = r;
    GP_ASSIGN_OR_RETURN(std::vector<uint64_t> position,
                        OrderOfRank(std::span<const uint8_t>(s->scales.data(), s->carry), rows));
    std::vector<uint64_t>& perm = perms[L.tensor];
    perm.resize(rows);
    for (uint64_t r = 0; r < rows; ++r) perm[r] = row_at[position[r]];
  }
  return perms;
}

struct Passes {
  RdResult result;
  std::vector<BitsBackLayer> layers;
  uint64_t carried = 0;
  std::optional<uint64_t> replan;  // pass 1 found fewer bytes to carry than budgeted: run again for these
};

// Both passes at options.budget + extra; the artifact with the carries applied.
Result<Passes> RunPasses(const io::TensorFile& model, const Hessians& hessians, const RdOptions& options, uint64_t extra,
                         const std::vector<std::string>& fcs, int* rd_passes) {
  RdOptions o = options;
  o.budget = options.budget + extra;
  Passes p;
  for (const auto& name : fcs) p.layers.push_back({name, 0, 0, ""});
  GP_ASSIGN_OR_RETURN(RdResult first, PackRd(model, hessians, o));
  ++*rd_passes;
  GP_ASSIGN_OR_RETURN(gpk::Artifact a1, gpk::Artifact::Parse(first.pack.bytes, "rd pass 1"));
  GP_ASSIGN_OR_RETURN(std::vector<gpk::EncodedTensor> t1, ArtifactTensors(a1));
  uint64_t can = 0;
  GP_ASSIGN_OR_RETURN(auto perms, PlanOrders(t1, p.layers, &can));
  if (can < extra) {  // pass 2 at this budget would end over it
    p.replan = can;
    return p;
  }
  io::TensorFile reordered = model;
  GP_ASSIGN_OR_RETURN(SymmetryReport sym, PermuteMlpUnits(reordered, perms));
  GP_ASSIGN_OR_RETURN(Hessians h2, PermuteHessians(hessians, sym));
  GP_ASSIGN_OR_RETURN(p.result, PackRd(reordered, h2, o));
  ++*rd_passes;
  GP_ASSIGN_OR_RETURN(gpk::Artifact a2, gpk::Artifact::Parse(p.result.pack.bytes, "rd pass 2"));
  GP_ASSIGN_OR_RETURN(std::vector<gpk::EncodedTensor> t2, ArtifactTensors(a2));
  for (BitsBackLayer& L : p.layers) {
    for (auto& t : t2) {
      if (t.name != L.tensor) continue;
      L.rows = t.shape.empty() ? 0 : t.shape[0];
      if (!perms.count(L.tensor)) break;
      GP_ASSIGN_OR_RETURN(std::optional<gpk::EncodedTensor> with, WithRowCarry(t, &L.note));
      if (!with) {
        L.note = "pass 2 changed it: " + L.note;
        break;
      }
      L.bytes = t.payload.size() - with->payload.size();
      t = std::move(*with);
    }
  }
  gpk::WriteOptions w;
  w.metadata = a2.metadata();
  GP_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, gpk::BuildArtifact(t2, w));
  RdResult& r = p.result;
  p.carried = r.pack.file_bytes - bytes.size();  // net of the 2 more params bytes per carry
  r.pack.counted_bytes = r.pack.counted_bytes - r.pack.file_bytes + bytes.size();
  r.pack.file_bytes = bytes.size();
  r.pack.bytes = std::move(bytes);
  return p;
}

}  // namespace

Result<std::vector<gpk::EncodedTensor>> ArtifactTensors(const gpk::Artifact& a) {
  if (!a.objects().empty()) return Unsupported("bits-back: the artifact has shared objects");
  std::vector<gpk::EncodedTensor> out;
  std::map<uint32_t, std::vector<uint8_t>> raw;
  for (const gpk::TensorInfo& t : a.tensors()) {
    if (!raw.count(t.section)) {
      GP_ASSIGN_OR_RETURN(raw[t.section], a.SectionBytes(t.section));
    }
    const std::vector<uint8_t>& s = raw[t.section];
    gpk::EncodedTensor e;
    e.name = t.name;
    e.shape = t.shape;
    e.dtype = t.dtype;
    e.encoding = t.encoding;
    e.params = t.params;
    e.payload.assign(s.begin() + static_cast<std::ptrdiff_t>(t.offset),
                     s.begin() + static_cast<std::ptrdiff_t>(t.offset + t.length));
    out.push_back(std::move(e));
  }
  return out;
}

Result<RdResult> PackRdBitsBack(const io::TensorFile& model, const Hessians& hessians, const RdOptions& options,
                                BitsBackReport* report) {
  BitsBackReport rep;
  const std::vector<std::string> fcs = MlpFcNames(model);
  uint64_t planned = 0;
  for (const auto& t : model.tensors)
    for (const auto& name : fcs)
      if (t.name == name && RowCarryBytes(uint64_t(t.shape[0]), 4 * uint64_t(t.shape[0])) > 2)
        planned += RowCarryBytes(uint64_t(t.shape[0]), 4 * uint64_t(t.shape[0])) - 2;  // params grow by 2
  Result<RdResult> out = InvalidArgument("bits-back: not packed");
  for (int attempt = 0; attempt < 3 && planned > 0; ++attempt) {
    GP_ASSIGN_OR_RETURN(Passes p, RunPasses(model, hessians, options, planned, fcs, &rep.rd_passes));
    rep.layers = p.layers;
    if (p.replan) {
      planned = *p.replan;
      continue;
    }
    rep.planned = planned;
    rep.carried = p.carried;
    if (p.result.pack.counted_bytes <= options.budget) {
      if (report) *report = rep;
      return std::move(p.result);
    }
    planned = p.carried;  // count only what carried this time
  }
  GP_ASSIGN_OR_RETURN(RdResult plain, PackRd(model, hessians, options));
  ++rep.rd_passes;
  rep.fell_back = true;
  rep.carried = 0;
  for (auto& L : rep.layers) {
    if (L.bytes) L.note = "carried " + std::to_string(L.bytes) + " bytes in the last try, over the budget";
    L.bytes = 0;
  }
  if (report) *report = rep;
  return plain;
}

}  // namespace golfpack::encode
