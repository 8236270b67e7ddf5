// bench/micro/hot_path: the hot path of one call inside the engine, without a transport:
// decode → route → validate → handler → encode of `tools/call echo`, in both eras, plus the
// JSON codec alone. Google Benchmark measures time; `--count N` runs N calls outside the
// framework so that `valgrind --tool=callgrind` (bench/micro/callgrind.sh) counts the
// instructions of a call without timing noise.
//
//   plexus_micro_bench [--benchmark_filter=...]     timings
//   plexus_micro_bench --count 20000 [modern|legacy] N calls, for callgrind
#include "plexus/json/json.hpp"
#include "plexus/jsonrpc/message.hpp"
#include "plexus/server/connection.hpp"
#include "plexus/servers/everything.hpp"

#include <benchmark/benchmark.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

using namespace plexus;

namespace {

// Counts the answers the engine sends; the caller waits for the one it expects.
class counting_outbound : public server::outbound {
 public:
  void send(std::string text) override {
    {
      std::lock_guard lk(mu_);
      ++answers_;
      bytes_ += text.size();
    }
    cv_.notify_one();
  }
  void wait_for(std::uint64_t n) {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return answers_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t answers_ = 0;
  std::uint64_t bytes_ = 0;
};

const char* modern_call =
    R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"},)"
    R"("_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",)"
    R"("io.modelcontextprotocol/clientCapabilities":{},)"
    R"("io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"}}}})";
const char* legacy_call =
    R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}})";

// An engine with a connection, initialized for the legacy era when asked.
struct engine {
  std::unique_ptr<server::server> srv;
  std::shared_ptr<counting_outbound> out = std::make_shared<counting_outbound>();
  std::unique_ptr<server::connection> conn;
  std::uint64_t sent = 0;

  explicit engine(bool legacy) {
    server::server_options o;
    o.worker_threads = 1;
    srv = servers::make_everything_server(o);
    conn = std::make_unique<server::connection>(*srv, out);
    if (legacy) {
      conn->receive(
          R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25",)"
          R"("capabilities":{},"clientInfo":{"name":"bench","version":"1"}}})");
      out->wait_for(++sent);
      conn->receive(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
    }
  }
  void call(const char* text) {
    conn->receive(text);
    out->wait_for(++sent);
  }
};

void BM_ToolsCallModern(benchmark::State& state) {
  engine e(false);
  for (auto _ : state) e.call(modern_call);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ToolsCallModern)->UseRealTime();

void BM_ToolsCallLegacy(benchmark::State& state) {
  engine e(true);
  for (auto _ : state) e.call(legacy_call);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ToolsCallLegacy)->UseRealTime();

void BM_DecodeCall(benchmark::State& state) {
  for (auto _ : state) {
    auto d = jsonrpc::decode(modern_call);
    benchmark::DoNotOptimize(d);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(std::strlen(modern_call)));
}
BENCHMARK(BM_DecodeCall);

void BM_EncodeResult(benchmark::State& state) {
  json::object r{
      {"jsonrpc", "2.0"},
      {"id", 1},
      {"result",
       json::object{{"content", json::array{json::object{{"type", "text"}, {"text", "hello"}}}}}}};
  json::value v = r;
  for (auto _ : state) {
    auto s = json::dump(v);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_EncodeResult);

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::strcmp(argv[1], "--count") == 0) {
    long n = std::atol(argv[2]);
    bool legacy = argc >= 4 && std::strcmp(argv[3], "legacy") == 0;
    engine e(legacy);
    for (long i = 0; i < n; ++i) e.call(legacy ? legacy_call : modern_call);
    std::printf("calls=%ld era=%s\n", n, legacy ? "legacy" : "modern");
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
