// crc32: the CRC-32 zlib computes (the spool's record check), with no Node-API: 16 bytes a step
// by carry-less multiplication where the CPU has it, else 8 bytes a step from tables.
#pragma once

#include <cstddef>
#include <cstdint>

namespace nlmon {

// The CRC-32 of data[0, len) continued from crc (0 to start), as zlib's crc32(crc, data, len).
uint32_t Crc32(uint32_t crc, const uint8_t* data, size_t len);

// Seals the records laid one after another in data[0, len), each [u32 LE payload length][u32 LE
// CRC-32 of the payload][payload] (src/outputs/spool/record.ts): writes each one's CRC. Stops at
// the first record that does not fit; returns how many it sealed.
size_t SealRecords(uint8_t* data, size_t len);

}  // namespace nlmon
