#include "data/dataset.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <system_error>
#include <thread>

#include "core/file_util.h"
#include "io/shards.h"

namespace golfpack::data {
namespace {

namespace fs = std::filesystem;

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void Report(const ProgressFn& progress, const std::string& stage, uint64_t done, uint64_t total,
            const std::string& unit, const std::string& detail = {}) {
  if (!progress) return;
  Progress p;
  p.stage = stage;
  p.done = done;
  p.total = total;
  p.unit = unit;
  p.detail = detail;
  progress(p);
}

Status WriteText(const std::string& path, const std::string& text) {
  return WriteFileAtomic(path, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()),
                                                        text.size()));
}

// Accumulates a token stream and writes it as fixed-size shards.
class ShardWriter {
 public:
  ShardWriter(std::string dir, std::string split, int64_t shard_tokens, std::vector<std::string>* files)
      : dir_(std::move(dir)), split_(std::move(split)),
        shard_tokens_(static_cast<size_t>(shard_tokens)), files_(files) {
    buf_.reserve(std::min<size_t>(shard_tokens_, size_t{1} << 24));
  }

  Status Append(std::span<const uint16_t> tokens) {
    while (!tokens.empty()) {
      const size_t take = std::min(tokens.size(), shard_tokens_ - buf_.size());
      buf_.insert(buf_.end(), tokens.begin(), tokens.begin() + static_cast<ptrdiff_t>(take));
      tokens = tokens.subspan(take);
      if (buf_.size() == shard_tokens_) GP_RETURN_IF_ERROR(Flush());
    }
    return Status::Ok();
  }

  Status Finish() { return buf_.empty() ? Status::Ok() : Flush(); }
  int shards() const { return index_; }

 private:
  Status Flush() {
    const std::string path = io::ShardPath(dir_, split_, index_);
    GP_RETURN_IF_ERROR(io::WriteShard(path, buf_));
    files_->push_back(path);
    ++index_;
    buf_.clear();
    return Status::Ok();
  }

  std::string dir_, split_;
  size_t shard_tokens_;
  std::vector<std::string>* files_;
  std::vector<uint16_t> buf_;
  int index_ = 0;
};

// Index of a Parameter Golf shard file name "fineweb_<split>_<digits>.bin", or -1.
int64_t ShardIndexOf(const std::string& name, const std::string& split) {
  const std::string head = "fineweb_" + split + "_";
  if (!name.starts_with(head) || !name.ends_with(".bin")) return -1;
  const std::string digits = name.substr(head.size(), name.size() - head.size() - 4);
  if (digits.size() < 6 || digits.size() > 9) return -1;
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return -1;
  return std::stoll(digits);
}

Status RemoveStaleShards(const std::string& dir, const std::string& split, int keep) {
  std::error_code ec;
  std::vector<fs::path> stale;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (ShardIndexOf(it->path().filename().string(), split) >= keep) stale.push_back(it->path());
  }
  if (ec) return IoError(dir + ": cannot list directory: " + ec.message());
  for (const fs::path& p : stale) {
    if (!fs::remove(p, ec) && ec) return IoError(p.string() + ": cannot remove stale shard: " + ec.message());
  }
  return Status::Ok();
}

uint64_t TextBytes(const std::vector<const Document*>& docs) {
  uint64_t n = 0;
  for (const Document* d : docs) n += d->text.size();
  return n;
}

}  // namespace

Result<DataSummary> BuildDataset(const DataOptions& options, const ProgressFn& progress) {
  if (options.out_dir.empty()) return InvalidArgument("data: out_dir is empty");
  if (options.vocab_size < 0 || options.vocab_size > 65536) {
    return InvalidArgument("data: vocab_size " + std::to_string(options.vocab_size) +
                           " out of range (token ids are stored as uint16, at most 65536)");
  }
  if (options.tokenizer_model.empty() && options.vocab_size == 0) {
    return InvalidArgument("data: vocab_size must be > 0 to train a tokenizer");
  }
  if (options.val_every < 2) {
    return InvalidArgument("data: val_every " + std::to_string(options.val_every) + " must be >= 2");
  }
  if (options.shard_tokens <= 0) {
    return InvalidArgument("data: shard_tokens " + std::to_string(options.shard_tokens) + " must be > 0");
  }

  // --- corpus and split
  const std::string corpus_path = options.corpus.empty() ? DefaultCorpusDir() : options.corpus;
  Report(progress, "corpus", 0, 0, "docs", corpus_path);
  GP_ASSIGN_OR_RETURN(std::vector<Document> docs, LoadCorpus(corpus_path));
  std::vector<const Document*> val_docs, train_docs;
  for (size_t i = 0; i < docs.size(); ++i) {
    (IsValDocument(i, options.val_every) ? val_docs : train_docs).push_back(&docs[i]);
  }
  if (val_docs.empty() || train_docs.empty()) {
    return InvalidArgument(corpus_path + ": " + std::to_string(docs.size()) +
                           " documents give no " + (val_docs.empty() ? "validation" : "training") +
                           " document with val_every=" + std::to_string(options.val_every) +
                           " (need at least " + std::to_string(options.val_every / 2 + 2) + ")");
  }
  Report(progress, "corpus", docs.size(), docs.size(), "docs");

  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  if (ec) return IoError(options.out_dir + ": cannot create directory: " + ec.message());

  DataSummary summary;
  summary.docs_train = train_docs.size();
  summary.docs_val = val_docs.size();
  summary.bytes_train = TextBytes(train_docs);
  summary.bytes_val = TextBytes(val_docs);
  summary.tokenizer_path = (fs::path(options.out_dir) / "tokenizer.model").string();
  summary.vocab_path = (fs::path(options.out_dir) / "tokenizer.vocab").string();

  // --- tokenizer
  const auto t_tok = std::chrono::steady_clock::now();
  Report(progress, "tokenizer", 0, 1, "models",
         options.tokenizer_model.empty() ? "training bpe vocab " + std::to_string(options.vocab_size)
                                         : "loading " + options.tokenizer_model);
  std::optional<Tokenizer> tok;
  if (options.tokenizer_model.empty()) {
    TokenizerTrainOptions topt;
    topt.vocab_size = options.vocab_size;
    topt.num_threads = options.num_threads;
    GP_RETURN_IF_ERROR(TrainTokenizer(std::span<const Document* const>(train_docs),
                                      summary.tokenizer_path, topt));
    GP_ASSIGN_OR_RETURN(Tokenizer t, Tokenizer::Load(summary.tokenizer_path));
    tok = std::move(t);
  } else {
    GP_ASSIGN_OR_RETURN(Tokenizer t, Tokenizer::Load(options.tokenizer_model));
    if (t.vocab_size() > 65536) {
      return InvalidArgument(options.tokenizer_model + ": vocabulary of " + std::to_string(t.vocab_size()) +
                             " pieces does not fit uint16 shards (max 65536)");
    }
    if (options.vocab_size != 0 && t.vocab_size() != options.vocab_size) {
      return InvalidArgument(options.tokenizer_model + ": tokenizer has " + std::to_string(t.vocab_size()) +
                             " pieces but vocab_size " + std::to_string(options.vocab_size) +
                             " was requested");
    }
    const bool same_file = fs::exists(summary.tokenizer_path, ec) &&
                           fs::equivalent(options.tokenizer_model, summary.tokenizer_path, ec);
    if (!same_file) {
      GP_RETURN_IF_ERROR(WriteText(summary.tokenizer_path, t.serialized_model()));
    }
    tok = std::move(t);
  }
  if (tok->bos_id() < 0) return InvalidArgument(summary.tokenizer_path + ": tokenizer has no BOS piece");
  if (tok->vocab_size() > 65536) {
    return InvalidArgument(summary.tokenizer_path + ": vocabulary of " + std::to_string(tok->vocab_size()) +
                           " pieces does not fit uint16 shards (max 65536)");
  }
  GP_RETURN_IF_ERROR(WriteText(summary.vocab_path, tok->VocabText()));
  summary.vocab_size = tok->vocab_size();
  summary.seconds_tokenizer = SecondsSince(t_tok);
  Report(progress, "tokenizer", 1, 1, "models", std::to_string(summary.vocab_size) + " pieces");

  // --- encode and write shards: val first, then train
  const auto t_enc = std::chrono::steady_clock::now();
  const int vocab = tok->vocab_size();
  const auto bos = static_cast<uint16_t>(tok->bos_id());
  const int threads = std::max(1, options.num_threads);
  const uint64_t total_docs = docs.size();
  uint64_t done_docs = 0;
  const ByteLut lut = tok->MakeByteLut(vocab);
  uint16_t prev_val_token = 0;
  bool have_prev_val = false;

  auto encode_split = [&](const std::vector<const Document*>& split_docs, const std::string& split,
                          uint64_t* tokens_out) -> Status {
    ShardWriter writer(options.out_dir, split, options.shard_tokens, &summary.files);
    const size_t batch = static_cast<size_t>(threads) * 8;
    std::vector<std::vector<uint16_t>> encoded(batch);
    std::vector<Status> errors(static_cast<size_t>(threads));
    for (size_t start = 0; start < split_docs.size(); start += batch) {
      const size_t n = std::min(batch, split_docs.size() - start);
      auto work = [&](size_t t) {
        for (size_t j = t; j < n; j += static_cast<size_t>(threads)) {
          const Document& d = *split_docs[start + j];
          std::vector<int> ids = tok->Encode(d.text);
          std::vector<uint16_t>& out = encoded[j];
          out.clear();
          out.reserve(ids.size() + 1);
          out.push_back(bos);
          for (int id : ids) {
            if (id < 0 || id >= vocab) {
              errors[t] = Internal(d.name + ": token id " + std::to_string(id) + " outside vocabulary of " +
                                   std::to_string(vocab));
              return;
            }
            out.push_back(static_cast<uint16_t>(id));
          }
        }
      };
      if (threads == 1 || n == 1) {
        work(0);
        for (int t = 1; t < threads; ++t) work(static_cast<size_t>(t));
      } else {
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t) pool.emplace_back(work, static_cast<size_t>(t));
        for (auto& th : pool) th.join();
      }
      for (const Status& s : errors) GP_RETURN_IF_ERROR(s);
      for (size_t j = 0; j < n; ++j) {
        const std::vector<uint16_t>& toks = encoded[j];
        GP_RETURN_IF_ERROR(writer.Append(toks));
        *tokens_out += toks.size();
        if (split == "val") {
          if (have_prev_val) {
            summary.scored_bytes_val += CountTargetBytes(lut, std::span(&prev_val_token, 1),
                                                         std::span(toks.data(), 1));
          }
          summary.scored_bytes_val += CountStreamBytes(lut, toks);
          prev_val_token = toks.back();
          have_prev_val = true;
        }
      }
      done_docs += n;
      Report(progress, "shards", done_docs, total_docs, "docs", split);
    }
    GP_RETURN_IF_ERROR(writer.Finish());
    return RemoveStaleShards(options.out_dir, split, writer.shards());
  };
  GP_RETURN_IF_ERROR(encode_split(val_docs, "val", &summary.tokens_val));
  GP_RETURN_IF_ERROR(encode_split(train_docs, "train", &summary.tokens_train));
  summary.seconds_encode = SecondsSince(t_enc);
  return summary;
}

Result<DatasetInfo> InspectDataset(const std::string& dir_or_prefix, const Tokenizer& tokenizer) {
  std::error_code ec;
  std::string prefix = dir_or_prefix;
  if (fs::is_directory(dir_or_prefix, ec)) prefix = (fs::path(dir_or_prefix) / "fineweb_").string();
  DatasetInfo info;
  const int vocab = tokenizer.vocab_size();
  const int bos = tokenizer.bos_id();
  for (const std::string split : {"val", "train"}) {
    const std::string pattern = prefix + split + "_*.bin";
    auto files = io::GlobShards(pattern);
    if (!files.ok()) {
      if (files.status().code() == StatusCode::kNotFound) {
        return NotFound(pattern + ": no " + split + " shards found");
      }
      return files.status();
    }
    const bool is_val = split == "val";
    (is_val ? info.val_files : info.train_files) = *files;
    for (const std::string& f : *files) {
      GP_ASSIGN_OR_RETURN(std::vector<uint16_t> toks, io::ReadShard(f));
      uint16_t max_id = 0;
      uint64_t bos_count = 0;
      for (uint16_t t : toks) {
        max_id = std::max(max_id, t);
        bos_count += (t == bos);
      }
      if (!toks.empty() && static_cast<int>(max_id) >= vocab) {
        return Corrupt(f + ": token id " + std::to_string(max_id) + " >= tokenizer vocabulary " +
                       std::to_string(vocab));
      }
      if (!toks.empty()) info.max_token_id = std::max(info.max_token_id, static_cast<int>(max_id));
      (is_val ? info.tokens_val : info.tokens_train) += toks.size();
      (is_val ? info.docs_val : info.docs_train) += bos_count;
    }
  }
  return info;
}

}  // namespace golfpack::data
