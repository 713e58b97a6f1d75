#pragma once
// Container-level facts about every ggml tensor type id a GGUF file may name: the name, the
// number of elements per block and the bytes per block. The reader needs these for every id
// (not only the ones we can compute with) to validate row sizes and tensor extents; the block
// layouts and kernels themselves live in engine/quant/.
#include <cstdint>

namespace abi::gguf {

struct ggml_type_info {
    const char *name;      // ggml's type name, e.g. "q4_K"
    uint32_t block_elems;  // elements per block; 0 = retired id or layout unknown to this reader
    uint32_t block_bytes;  // bytes per block
};

inline constexpr uint32_t ggml_type_count = 43;

// Values from ggml's type_traits (ggml.c) and block structs (ggml-common.h).
inline constexpr ggml_type_info ggml_type_table[ggml_type_count] = {
    {"f32", 1, 4},
    {"f16", 1, 2},
    {"q4_0", 32, 18},
    {"q4_1", 32, 20},
    {"q4_2 (retired)", 0, 0},
    {"q4_3 (retired)", 0, 0},
    {"q5_0", 32, 22},
    {"q5_1", 32, 24},
    {"q8_0", 32, 34},
    {"q8_1", 32, 36},
    {"q2_K", 256, 84},
    {"q3_K", 256, 110},
    {"q4_K", 256, 144},
    {"q5_K", 256, 176},
    {"q6_K", 256, 210},
    {"q8_K", 256, 292},
    {"iq2_xxs", 256, 66},
    {"iq2_xs", 256, 74},
    {"iq3_xxs", 256, 98},
    {"iq1_s", 256, 50},
    {"iq4_nl", 32, 18},
    {"iq3_s", 256, 110},
    {"iq2_s", 256, 82},
    {"iq4_xs", 256, 136},
    {"i8", 1, 1},
    {"i16", 1, 2},
    {"i32", 1, 4},
    {"i64", 1, 8},
    {"f64", 1, 8},
    {"iq1_m", 256, 56},
    {"bf16", 1, 2},
    {"q4_0_4_4 (retired)", 0, 0},
    {"q4_0_4_8 (retired)", 0, 0},
    {"q4_0_8_8 (retired)", 0, 0},
    {"tq1_0", 256, 54},
    {"tq2_0", 256, 66},
    {"iq4_nl_4_4 (retired)", 0, 0},
    {"iq4_nl_4_8 (retired)", 0, 0},
    {"iq4_nl_8_8 (retired)", 0, 0},
    {"mxfp4", 32, 17},
    {"nvfp4", 0, 0},
    {"q1_0", 0, 0},
    {"q2_0", 0, 0},
};

}  // namespace abi::gguf
