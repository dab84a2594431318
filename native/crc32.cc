// crc32: the CRC-32 of zlib (ISO-HDLC: the reflected polynomial 0xEDB88320, the value inverted
// before and after), and the sealing of a batch of spool records with it in one pass.
#include "crc32.hh"

#include <endian.h>

#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace nlmon {
namespace {

struct Tables {
  uint32_t t[8][256];
};

// t[0] steps one byte; t[k] steps a byte followed by k zero bytes, so eight bytes are stepped at
// once by eight lookups ("slicing by 8").
constexpr Tables MakeTables() {
  Tables s{};
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    s.t[0][i] = c;
  }
  for (int k = 1; k < 8; k++) {
    for (uint32_t i = 0; i < 256; i++) s.t[k][i] = (s.t[k - 1][i] >> 8) ^ s.t[0][s.t[k - 1][i] & 0xff];
  }
  return s;
}

constexpr Tables kTables = MakeTables();

// c is the running value (inverted, as zlib keeps it inside).
uint32_t StepTables(uint32_t c, const uint8_t* p, size_t n) {
  const auto& t = kTables.t;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  for (; n >= 8; p += 8, n -= 8) {
    uint32_t a, b;
    memcpy(&a, p, 4);
    memcpy(&b, p + 4, 4);
    a ^= c;
    c = t[7][a & 0xff] ^ t[6][(a >> 8) & 0xff] ^ t[5][(a >> 16) & 0xff] ^ t[4][a >> 24] ^
        t[3][b & 0xff] ^ t[2][(b >> 8) & 0xff] ^ t[1][(b >> 16) & 0xff] ^ t[0][b >> 24];
  }
#endif
  for (; n > 0; p++, n--) c = t[0][(c ^ *p) & 0xff] ^ (c >> 8);
  return c;
}

#if defined(__x86_64__)
// Folding by carry-less multiplication ("Fast CRC Computation for Generic Polynomials Using
// PCLMULQDQ Instruction", Gopal, Ozturk et al., Intel, 2009): four 128-bit lanes folded forward
// 64 bytes a step, folded into one, then reduced to 32 bits (Barrett). The constants are powers
// of x modulo the polynomial, bit-reflected: x^(4*128+32) and x^(4*128-32) (k1, k2), x^(128+32)
// and x^(128-32) (k3, k4), x^64 (k5); the polynomial P' and floor(x^64 / P)' (mu).
#define NLMON_FOLDING __attribute__((target("pclmul,sse4.1")))

NLMON_FOLDING inline __m128i Load(const uint8_t* q) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(q)); }

// A lane times x^k (its low half by k's low constant, its high half by the high one), plus next.
NLMON_FOLDING inline __m128i Fold(__m128i lane, __m128i k, __m128i next) {
  return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(lane, k, 0x00), _mm_clmulepi64_si128(lane, k, 0x11)), next);
}

// n is at least 64 and a multiple of 16; c is the running value.
NLMON_FOLDING uint32_t StepFolding(uint32_t c, const uint8_t* p, size_t n) {
  const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);
  const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
  const __m128i k5 = _mm_set_epi64x(0, 0x0163cd6124);
  const __m128i poly_mu = _mm_set_epi64x(0x01f7011641, 0x01db710641);
  const __m128i low32 = _mm_setr_epi32(~0, 0, ~0, 0);

  __m128i x1 = _mm_xor_si128(Load(p), _mm_cvtsi32_si128(static_cast<int>(c)));
  __m128i x2 = Load(p + 16), x3 = Load(p + 32), x4 = Load(p + 48);
  p += 64;
  n -= 64;
  for (; n >= 64; p += 64, n -= 64) {
    x1 = Fold(x1, k1k2, Load(p));
    x2 = Fold(x2, k1k2, Load(p + 16));
    x3 = Fold(x3, k1k2, Load(p + 32));
    x4 = Fold(x4, k1k2, Load(p + 48));
  }
  x1 = Fold(x1, k3k4, x2);
  x1 = Fold(x1, k3k4, x3);
  x1 = Fold(x1, k3k4, x4);
  for (; n >= 16; p += 16, n -= 16) x1 = Fold(x1, k3k4, Load(p));

  // 128 bits to 64.
  __m128i x = _mm_xor_si128(_mm_srli_si128(x1, 8), _mm_clmulepi64_si128(x1, k3k4, 0x10));
  x = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x, low32), k5, 0x00), _mm_srli_si128(x, 4));
  // 64 bits to 32.
  __m128i t = _mm_clmulepi64_si128(_mm_and_si128(x, low32), poly_mu, 0x10);
  t = _mm_clmulepi64_si128(_mm_and_si128(t, low32), poly_mu, 0x00);
  return static_cast<uint32_t>(_mm_extract_epi32(_mm_xor_si128(x, t), 1));
}

bool CpuFolds() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  return (c & bit_PCLMUL) != 0 && (c & bit_SSE4_1) != 0;
}

const bool kFolds = CpuFolds();
#endif

}  // namespace

uint32_t Crc32(uint32_t crc, const uint8_t* data, size_t len) {
  uint32_t c = ~crc;
#if defined(__x86_64__)
  if (len >= 64 && kFolds) {
    const size_t folded = len & ~static_cast<size_t>(15);
    c = StepFolding(c, data, folded);
    data += folded;
    len -= folded;
  }
#endif
  return ~StepTables(c, data, len);
}

size_t SealRecords(uint8_t* data, size_t len) {
  size_t sealed = 0;
  for (size_t o = 0; len - o >= 8; sealed++) {
    uint32_t n;
    memcpy(&n, data + o, 4);
    n = le32toh(n);
    if (n > len - o - 8) break;
    const uint32_t crc = htole32(Crc32(0, data + o + 8, n));
    memcpy(data + o + 4, &crc, 4);
    o += 8 + n;
  }
  return sealed;
}

}  // namespace nlmon
