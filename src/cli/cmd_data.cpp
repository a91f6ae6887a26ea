#include <cstdio>

#include "cli/commands.h"
#include "cli/progress_bar.h"
#include "data/corpus.h"
#include "data/dataset.h"

namespace golfpack::cli {

Runner AddDataCommand(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("data", "corpus -> sentencepiece tokenizer (PG settings) -> Parameter Golf token shards");
  auto o = std::make_shared<data::DataOptions>();
  o->corpus = data::DefaultCorpusDir();
  cmd->add_option("--corpus", o->corpus, "directory of .txt documents or a .jsonl file with {\"text\": ...} lines")
      ->capture_default_str();
  cmd->add_option("-o,--out", o->out_dir, "output directory for tokenizer.model and fineweb_{val,train}_*.bin")->required();
  cmd->add_option("--tokenizer", o->tokenizer_model, "reuse an existing sentencepiece .model instead of training one");
  cmd->add_option("--vocab", o->vocab_size, "vocabulary size of the trained tokenizer")->capture_default_str();
  cmd->add_option("--val-every", o->val_every, "every N-th document (sorted by name) goes to validation")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--shard-tokens", o->shard_tokens, "tokens per shard file")->check(CLI::PositiveNumber)->capture_default_str();
  return [o, &g]() -> Status {
    ProgressBar bar(g.quiet);
    GP_ASSIGN_OR_RETURN(data::DataSummary s, data::BuildDataset(*o, bar.Callback()));
    bar.Finish();
    char line[256];
    std::snprintf(line, sizeof line, "docs      train %zu  val %zu", s.docs_train, s.docs_val);
    Say(g, line);
    std::snprintf(line, sizeof line, "tokens    train %llu  val %llu", (unsigned long long)s.tokens_train,
                  (unsigned long long)s.tokens_val);
    Say(g, line);
    std::snprintf(line, sizeof line, "bytes     train %llu  val %llu  (%.3f bytes/token on val)",
                  (unsigned long long)s.bytes_train, (unsigned long long)s.bytes_val,
                  s.tokens_val ? double(s.bytes_val) / double(s.tokens_val) : 0.0);
    Say(g, line);
    Say(g, "tokenizer " + s.tokenizer_path);
    Say(g, "shards    " + std::to_string(s.files.size()) + " files in " + o->out_dir);
    return Status::Ok();
  };
}

}  // namespace golfpack::cli
