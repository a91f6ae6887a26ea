// Builds Parameter Golf token shards from a text corpus, and checks existing ones.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/progress.h"
#include "core/status.h"
#include "data/corpus.h"
#include "data/tokenizer.h"

namespace golfpack::data {

struct DataOptions {
  std::string corpus;           // directory of .txt or a .jsonl; empty = DefaultCorpusDir()
  std::string out_dir;          // created if missing
  std::string tokenizer_model;  // existing .model to reuse; empty = train one on the train docs
  int vocab_size = 1024;        // for training; when reusing, the model must have exactly this
                                // many pieces (0 = accept the model's vocabulary as is)
  int val_every = kDefaultValEvery;  // see IsValDocument; must be >= 2
  int64_t shard_tokens = 100000000;  // tokens per shard file (the last one may be shorter)
  int num_threads = 2;               // tokenizer training and encoding
};

struct DataSummary {
  size_t docs_train = 0, docs_val = 0;
  uint64_t tokens_train = 0, tokens_val = 0;  // including one BOS per document
  uint64_t bytes_train = 0, bytes_val = 0;    // UTF-8 bytes of the cleaned document texts
  uint64_t scored_bytes_val = 0;  // val_bpb byte count (ByteLut) of the whole val stream
  int vocab_size = 0;             // pieces in the tokenizer actually used
  std::string tokenizer_path;     // <out_dir>/tokenizer.model
  std::string vocab_path;         // <out_dir>/tokenizer.vocab
  std::vector<std::string> files;  // shard files written: val first, then train
  double seconds_tokenizer = 0, seconds_encode = 0;
};

// Loads the corpus, splits it (IsValDocument), trains the tokenizer on the train
// documents only (or loads options.tokenizer_model), writes
// <out>/tokenizer.model and <out>/tokenizer.vocab, then encodes every document
// as [BOS, ids...] (no EOS) and writes <out>/fineweb_val_%06d.bin followed by
// <out>/fineweb_train_%06d.bin, starting a new shard every shard_tokens tokens
// (documents may straddle shards, as in Parameter Golf). Shards with those
// names left in <out> by an earlier, larger build are removed. Errors for a
// vocabulary above 65536, a token id outside the vocabulary, or a corpus that
// yields no train or no val document. Progress stages: "corpus", "tokenizer",
// "shards" (unit "docs").
Result<DataSummary> BuildDataset(const DataOptions& options, const ProgressFn& progress = {});

struct DatasetInfo {
  std::vector<std::string> val_files, train_files;
  uint64_t tokens_val = 0, tokens_train = 0;
  uint64_t docs_val = 0, docs_train = 0;  // BOS tokens seen
  int max_token_id = -1;
};

// Validates Parameter Golf shards: `dir_or_prefix` is a directory holding
// fineweb_{val,train}_*.bin, or a path prefix P with shards P"val_*.bin" and
// P"train_*.bin" (e.g. ".../fineweb_"). Every shard must be readable and
// well-formed, every id < tokenizer.vocab_size(), and at least one val and one
// train shard must exist.
Result<DatasetInfo> InspectDataset(const std::string& dir_or_prefix, const Tokenizer& tokenizer);

}  // namespace golfpack::data
