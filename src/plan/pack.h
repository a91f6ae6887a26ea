// Packing a whole model into a .gpk artifact with a named recipe: which
// encoder each tensor gets, and which lossless back-end the sections get.
// A recipe is data: ordered rules (first match wins) plus a section layout.
#pragma once

#include <Eigen/Dense>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/artifact.h"
#include "core/progress.h"
#include "core/status.h"
#include "io/safetensors.h"
#include "plan/calibration.h"

namespace golfpack::encode {

// Bytes of the counted decoder's sources (src/gpk, the files its CMake target
// lists), measured at build time: what a submission carrying a .gpk must also
// ship. DecoderFiles() names them.
uint64_t DecoderCodeBytes();
std::vector<std::string> DecoderFiles();

// Which tensors a rule applies to.
enum class Match {
  kControl,    // PG control tensors (q_gain, attn_scale, mlp_scale, resid_mix, skip_weights)
  kSmall,      // numel <= 65,536 (PG's passthrough threshold)
  kEmbedding,  // tok_emb.weight / lm_head.weight
  kAttention,  // a 2-D tensor of an attention block (name contains ".attn.")
  kMlp,        // a 2-D tensor of an MLP block (name contains ".mlp.")
  kMatrix,     // any other 2-D tensor
  kAny,
};

struct RecipeRule {
  Match match;
  std::string encoder;  // a MakeEncoder spec string
};

struct Recipe {
  std::string name;
  std::string description;
  std::vector<RecipeRule> rules;
  gpk::Codec codec = gpk::Codec::kNone;
  int level = -1;            // -1: the codec's default (zlib 9, brotli 11, ...)
  bool one_section = true;   // all tensors in one compressed section (as PG's single blob)
  uint8_t shuffle = 0;       // byte-shuffle stride of the sections before the codec (0: none; 2..15)
  // Low-rank error correction (LQER) as the records apply it: after every
  // tensor is encoded, the `lqer_top_k` matrices (not the embedding) with the
  // largest ||W - Q||_F get rank-r factors of W - Q (plain SVD), stored per
  // `lqer` (a LowRankSpec, e.g. "r4:b4:g64") in encoding 9. 0 = none.
  int lqer_top_k = 0;
  std::string lqer;
  // rd (not rule-based, plan/rd.h): the paths it prices. "rd" gives
  // RdDefaultPaths() (rd_paths_named false: --paths may replace them);
  // "rd:grid,lqer" those paths, "rd:all" every path and "rd:protect" every
  // path but tcq (named: true).
  std::vector<std::string> rd_paths;
  bool rd_paths_named = false;
};

// The paths plain `-r rd` prices: scalar grids and a step per row
// (rowalloc). On the 17M Parameter Golf shape they buy almost all that every
// path buys (post-roundtrip gap 0.008523 against 0.008338 at 2.5 bits/param)
// in about 20 s instead of minutes; on small models the protection paths
// buy much more (m3: 0.0213 against 0.0139) and cost seconds: use
// rd:protect. The trellis (tcq) buys most at the 17M shape (rd:grid,
// rowalloc,tcq: 0.00594 against 0.00851); on small models it does worse than
// the protection paths, and added to them it hurts (docs/results/structure.md).
std::vector<std::string> RdDefaultPaths();
// "rd:protect": grids and every correction path, without the trellis grids.
std::vector<std::string> RdProtectPaths();

// "pg-int8-zlib", "gptq-int6-brotli", ...; NotFound lists the known names.
// Factory strings take parameters after a colon: "record-lqer:int5" is the
// record-lqer recipe with int5 matrices (int4..int8; default int6), and
// "rd:grid,lqer,rowalloc" is rd restricted to those paths (RdOptions::paths;
// the names are checked when rd starts), "rd:all" rd with every path.
//
// Any rule-based recipe can be written as data, faiss-style:
//   rules:KEY=VALUE,KEY=VALUE,...
// where a KEY naming tensors adds a rule (first match wins, in the order
// given) with an encoder spec string (codec/encoder.h) as VALUE:
//   control | small | embedding | attn | mlp | matrix | any   (the Match values)
// and the other KEYs set the layout:
//   codec=none|zlib|zstd|xz|brotli   level=N (-1: the codec's default)
//   shuffle=0|2..15   sections=one|each   lqer=K@LOWRANK (e.g. 3@r4:b4:g64)
// Without an `any` rule, tensors are passed through as Parameter Golf does:
// control tensors get f32 ahead of the rules given (unless a control rule is
// given), and every other unmatched tensor f16. Encoders fitted on their family (codebooks with :shared) fit one
// object per rule on every tensor that rule gets. Examples:
//   rules:matrix=cb4:row:shared,codec=brotli
//   rules:attn=gptq:cb3:row:shared,mlp=gptq:cb3:row:shared,embedding=u8:row:sd20:nocap,codec=brotli,shuffle=2
// RecipeFactoryString(FindRecipe(n)) of every named recipe gives a string
// that FindRecipe parses into the same recipe (name and description aside).
Result<Recipe> FindRecipe(const std::string& name);
std::vector<std::string> RecipeNames();
// The rules:... string of a rule-based recipe (rd:PATHS for rd).
std::string RecipeFactoryString(const Recipe& r);

// Hessians (H = X^T X per weight input site, `golfpack calibrate`): plan/calibration.h.

struct PackOptions {
  uint64_t budget = 0;      // > 0: refuse when counted bytes exceed it
  uint64_t code_bytes = 0;  // counted with the file; default DecoderCodeBytes()
  bool code_bytes_set = false;
  ProgressFn progress;
};

struct PackedTensor {
  std::string name;
  std::vector<uint64_t> shape;
  uint64_t numel = 0;
  std::string encoder;      // the spec string that encoded it
  uint32_t encoding = 0;
  uint64_t payload_bytes = 0;  // before the section's lossless back-end
};

struct PackResult {
  std::vector<uint8_t> bytes;  // the whole .gpk file
  std::vector<PackedTensor> tensors;
  uint64_t params = 0;
  uint64_t file_bytes = 0, code_bytes = 0, counted_bytes = 0;
  double seconds = 0;
};

// Encodes every tensor of `model` per the recipe and builds the artifact in
// memory (nothing is written). A rule needing a Hessian without one is an error.
Result<PackResult> Pack(const io::TensorFile& model, const Hessians* hessians, const Recipe& recipe,
                        const PackOptions& options);

// Empirical order-0 entropy (bits/symbol) of a tensor's integer codes
// (pg_int8_row, pg_int8_tensor, uniform): what an ideal entropy coder would
// spend per parameter on them. nullopt for raw and const encodings.
std::optional<double> CodeEntropyBits(const gpk::TensorInfo& t, std::span<const uint8_t> payload);

// Decodes every tensor of an artifact to float32 safetensors tensors, each
// marked with its original dtype (F32/F16/BF16) for writing back; the
// metadata is the artifact's architecture keys (io::ArchitectureMetadata),
// which Pack carries over from the model's.
Result<io::TensorFile> UnpackToTensors(const gpk::Artifact& artifact, bool keep_original_dtype);

}  // namespace golfpack::encode
