// pack --bits-back (issue 9, item 4): the order of every MLP's hidden units
// is a free choice (plan/symmetry.h), so rd stores the units in the order
// whose rank carries the first bytes of that MLP's fc scales: ans_grid's
// row-order carry (docs/FORMAT.md, "ans_grid row-order carry (bits back)";
// codec/row_carry.h). floor(log2(hidden!) / 8) bytes per MLP come back: 484
// for 512 units, 1,096 for 1,024.
//
// The order depends on the fc scales, and those on rd's allocation, so rd
// runs twice, both times at the budget plus the bytes the carries will free:
//   1. rd on the model as given; from each fc tensor (a plain ans_grid with
//      one scale per row and distinct rows) the sorted order of its rows and
//      its scales in that order, hence the order X spells;
//   2. the units (fc rows, proj columns, the calibration's proj inputs and
//      fc row Fisher) reordered to it, and rd again. rd's fc codes and scales
//      do not depend on the order of the units, so each fc now spells its
//      own order, and WithRowCarry drops the carried bytes.
// A layer whose fc is wrapped (lowrank, patch), has two equal rows, or came
// out differently in pass 2 keeps its bytes (BitsBackLayer::note says why).
// When pass 1 shows that some layer cannot carry, pass 1 runs again at the
// budget plus what the others can carry. If the result is over the budget
// (some planned carry did not happen in pass 2), the two passes run again
// counting only the carries that did (three tries at most); if that is still
// over, plain rd packs at the budget and the report says it fell back.
#pragma once

#include <string>
#include <vector>

#include "io/safetensors.h"
#include "plan/calibration.h"
#include "plan/rd.h"

namespace golfpack::encode {

struct BitsBackLayer {
  std::string tensor;  // blocks.<l>.mlp.fc.weight
  uint64_t rows = 0;
  uint64_t bytes = 0;  // carried by the unit order (0: not carried)
  std::string note;    // why not, when bytes == 0
};

struct BitsBackReport {
  std::vector<BitsBackLayer> layers;
  uint64_t carried = 0;    // file bytes saved, all layers (net of the 2 more params bytes each)
  uint64_t planned = 0;    // bytes the passes were budgeted for
  int rd_passes = 0;
  bool fell_back = false;  // packed without the carry (it did not fit)
};

// rd with the MLP unit orders carrying their fc scales; the result is
// exactly what PackRd returns for the reordered model, with the carried
// bytes removed (RdResult::pack updated), never over options.budget.
Result<RdResult> PackRdBitsBack(const io::TensorFile& model, const Hessians& hessians, const RdOptions& options,
                                BitsBackReport* report);

// The tensors of an artifact as encoded tensors (payloads from their
// sections), for rebuilding it with one uncompressed section per tensor.
Result<std::vector<gpk::EncodedTensor>> ArtifactTensors(const gpk::Artifact& a);

}  // namespace golfpack::encode
