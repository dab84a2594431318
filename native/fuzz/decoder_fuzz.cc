// libFuzzer target for the pure decoder: any bytes in, no crash, no read outside the input,
// and every record it returns is well formed.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "../link_decoder.hh"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<nlmon::LinkRecord> out;
  nlmon::DecodeStats stats;
  const size_t n = nlmon::DecodeDatagram(data, size, &out, &stats);
  if (n != out.size() || stats.messages < n) abort();
  for (const nlmon::LinkRecord& r : out) {
    if (r.kind == nlmon::RecordKind::kLink && (r.ifname.empty() || r.ifindex <= 0)) abort();
    if (r.address.size() > 32 * 3) abort();
  }
  return 0;
}
