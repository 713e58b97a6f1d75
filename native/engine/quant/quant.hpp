#pragma once
// Tensor formats of the local engine: ggml's type ids and block layouts, fp16/bf16 conversion,
// scalar reference quantizers, dequantizers and dot products, and the dispatching CPU entry points.
//
// How the engine uses it (mirrors llama.cpp's CPU backend, so our logits track llama.cpp's):
//   1. A weight matrix W of type T is `rows` rows of `cols` elements, each row `row_size(T, cols)`
//      bytes, exactly as stored in the GGUF file (blocks packed back to back, no padding).
//   2. Once per activation vector x (cols floats): quantize it to T's vec_dot type with
//      `quantize_activation(T, x, buf, cols)`, where `buf` holds `activation_size(T, cols)` bytes
//      (Q4_0/Q8_0 → Q8_0, Q4_K/Q5_K/Q6_K → Q8_K, F16 → F16, BF16 → BF16, F32 → F32 copy).
//   3. `matvec(T, W, row_bytes, rows, cols, buf, y, r0, r1)` writes y[r] = dot(row r, x) for
//      r in [r0, r1); worker threads each take a disjoint row range. `matmul` does the same for
//      several activation vectors at once (prompt prefill), in L1-sized row tiles so each weight
//      row is read once per batch. A row's result never depends on the range or batch it is in.
//   4. Token embeddings: `dequantize_row(T, row, dst, cols)`.
//
// Every dispatching entry point (vec_dot, matvec, matmul, quantize_activation) picks the AVX2/FMA
// kernels from native/engine/cpu/ when the CPU has AVX2, FMA and F16C, unless ABI_FORCE_SCALAR=1 is set
// in the environment (read once, at first use); otherwise it runs the scalar reference here.
// Pass an explicit `cpu_impl` to compare the two (tests, benches).
//
// Where things live: this directory holds the formats and the scalar reference (the ground truth
// every faster kernel is tested against); native/engine/cpu/ is the CPU backend: run-time dispatch
// (cpu_dispatch.cpp) and the AVX2 kernels (*_avx2.cpp, compiled with -mavx2 -mfma -mf16c). Each
// further compute backend gets its own directory beside cpu/.
//
// Adding a kernel:
//   - a new weight type: block struct with a static_assert on its size, its traits entry
//     (supported = true, vec_dot_type), dequantize_row_*, quantize_row_*_ref and vec_dot_*_ref
//     here, wired into dequantize_row / quantize_row_ref and scalar_vec_dot in cpu_dispatch.cpp;
//   - a SIMD version: the function in a native/engine/cpu/*_avx2.cpp file, declared in
//     cpu/kernels_avx2.hpp and returned by avx2_vec_dot; optionally tile kernels (R rows × V
//     vectors sharing loads and unpacking) returned by avx2_tiles, which must give every
//     (row, vector) a result bit-identical to the single kernel;
//   - another instruction set: its own file suffix and CMake flags, a cpu_impl value and a
//     CPUID check in cpu_has_*;
//   - tests: add the type to WEIGHT_TYPES in test/kernels/support/kernels.ts; the property test
//     in test/kernels/simd.test.ts then holds the new kernel to the scalar reference within
//     1e-6·Σ|w·x|, and roundtrip.test.ts / layout.test.ts need its error limit and block size.
//
// Preconditions (the callers — GGUF reader and forward pass — validate before calling): n and cols
// are multiples of the type's block size; buffers hold row_size(...) bytes. Block pointers need
// only 2-byte alignment (all block sizes are even and GGUF tensor data is 32-byte aligned);
// Q8_K activation buffers need 4-byte alignment. Nothing here allocates or throws.
#include <cstddef>
#include <cstdint>

namespace abi::quant {

// ggml's type ids, exactly as stored in GGUF tensor infos (ggml.h). Only the types for which
// type_traits(t).supported is true can be dequantized or multiplied; the others are named so
// the GGUF reader can report them and still compute their byte sizes where known.
enum class ggml_type : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
    NVFP4 = 40,
    Q1_0 = 41,
    Q2_0 = 42,
};
inline constexpr uint32_t ggml_type_count = 43;  // ids >= this are invalid (GGML_TYPE_COUNT)

inline constexpr int64_t qk4_0 = 32;     // elements per Q4_0 block
inline constexpr int64_t qk8_0 = 32;     // elements per Q8_0 block
inline constexpr int64_t qk_k = 256;     // elements per K-quant super-block
inline constexpr int k_scale_size = 12;  // bytes of packed 6-bit scales/mins in Q4_K/Q5_K

// Block layouts: byte-for-byte ggml's (ggml-common.h). f16 fields are raw binary16 bits.
struct block_q4_0 {
    uint16_t d;             // block scale, fp16 (2 B)
    uint8_t qs[qk4_0 / 2];  // 4-bit quants: low nibbles = elements 0..15, high = 16..31 (16 B)
};
static_assert(sizeof(block_q4_0) == 18, "block_q4_0 must match ggml's layout");

// Eight Q4_0 rows' block i side by side (llama.cpp repacks such matrices too): the 8 scales, then
// the 8 rows' 16 quant bytes in row order, nibbles as in block_q4_0. A matrix of rows % 8 == 0 rows
// packs into rows / 8 groups of cols / 32 of these, the same byte count; one 8-row tile then reads
// one linear stream instead of eight row streams (≈ +40 % single-thread read rate from DRAM here).
struct block_q4_0x8 {
    uint16_t d[8];
    uint8_t qs[8 * qk4_0 / 2];
};
static_assert(sizeof(block_q4_0x8) == 8 * sizeof(block_q4_0), "a packed group holds exactly eight Q4_0 blocks");

struct block_q8_0 {
    uint16_t d;        // block scale, fp16 (2 B)
    int8_t qs[qk8_0];  // signed 8-bit quants (32 B)
};
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 must match ggml's layout");

struct block_q4_K {
    uint16_t d;                    // super-block scale of the 6-bit scales, fp16 (2 B)
    uint16_t dmin;                 // super-block scale of the 6-bit mins, fp16 (2 B)
    uint8_t scales[k_scale_size];  // 8 scales + 8 mins, 6 bits each, packed (12 B)
    uint8_t qs[qk_k / 2];          // 4-bit quants, two 32-element sub-blocks per 32 bytes (128 B)
};
static_assert(sizeof(block_q4_K) == 144, "block_q4_K must match ggml's layout");

struct block_q5_K {
    uint16_t d;                    // super-block scale of the 6-bit scales, fp16 (2 B)
    uint16_t dmin;                 // super-block scale of the 6-bit mins, fp16 (2 B)
    uint8_t scales[k_scale_size];  // 8 scales + 8 mins, 6 bits each, packed (12 B)
    uint8_t qh[qk_k / 8];          // 5th bit of each quant: bit 2c/2c+1 of qh[l] (32 B)
    uint8_t qs[qk_k / 2];          // low 4 bits of each quant, as in Q4_K (128 B)
};
static_assert(sizeof(block_q5_K) == 176, "block_q5_K must match ggml's layout");

struct block_q6_K {
    uint8_t ql[qk_k / 2];      // low 4 bits of each quant (128 B)
    uint8_t qh[qk_k / 4];      // high 2 bits of each quant (64 B)
    int8_t scales[qk_k / 16];  // 16 signed 8-bit sub-block scales (16 B)
    uint16_t d;                // super-block scale, fp16 — stored LAST (2 B)
};
static_assert(sizeof(block_q6_K) == 210, "block_q6_K must match ggml's layout");

struct block_q8_K {
    float d;                   // block scale, f32 (4 B)
    int8_t qs[qk_k];           // signed 8-bit quants (256 B)
    int16_t bsums[qk_k / 16];  // sum of each group of 16 quants, for the K-quant mins (32 B)
};
static_assert(sizeof(block_q8_K) == 292, "block_q8_K must match ggml's layout");

// ---- fp16 / bf16 ------------------------------------------------------------------------------

// IEEE binary16 ↔ f32. fp32_to_fp16 rounds to nearest even, keeps subnormals, overflows to inf
// and keeps NaN a (quiet) NaN — bit-identical to F16C's vcvtps2ph with round-to-nearest.
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
// bfloat16 ↔ f32 as ggml does it: widening is `bits << 16`; narrowing rounds to nearest even
// and forces NaN quiet (`| 64`).
inline float bf16_to_fp32(uint16_t h) {
    uint32_t bits = static_cast<uint32_t>(h) << 16;
    float f;
    __builtin_memcpy(&f, &bits, sizeof f);
    return f;
}
uint16_t fp32_to_bf16(float f);

// ---- type traits --------------------------------------------------------------------------------

struct type_traits_t {
    const char *name;        // ggml's name, e.g. "q4_K"; "unknown" for an unassigned id
    int64_t block_size;      // elements per block; 0 when the layout is unknown here
    size_t type_size;        // bytes per block; 0 when the layout is unknown here
    bool supported;          // dequantize_row / vec_dot / matvec work for it as a weight type
    ggml_type vec_dot_type;  // activation format its dot products use (meaningful if supported)
};

// Traits of any id; ids that are retired, unassigned or >= ggml_type_count give name "unknown"
// and block_size 0.
const type_traits_t &type_traits(ggml_type type);
bool is_valid_type_id(uint32_t id);  // assigned, not retired, < ggml_type_count
inline const char *type_name(ggml_type type) {
    return type_traits(type).name;
}
inline ggml_type vec_dot_type(ggml_type type) {
    return type_traits(type).vec_dot_type;
}

// Bytes of n elements of `type`; 0 if the layout is unknown or n is not a multiple of the
// block size (callers treat 0 for n > 0 as "invalid").
size_t row_size(ggml_type type, int64_t n);

// ---- scalar reference: dequantization -----------------------------------------------------------

void dequantize_row_f16(const uint16_t *x, float *y, int64_t n);
void dequantize_row_bf16(const uint16_t *x, float *y, int64_t n);
void dequantize_row_q4_0(const block_q4_0 *x, float *y, int64_t n);
void dequantize_row_q8_0(const block_q8_0 *x, float *y, int64_t n);
void dequantize_row_q4_K(const block_q4_K *x, float *y, int64_t n);
void dequantize_row_q5_K(const block_q5_K *x, float *y, int64_t n);
void dequantize_row_q6_K(const block_q6_K *x, float *y, int64_t n);
void dequantize_row_q8_K(const block_q8_K *x, float *y, int64_t n);
// Any supported type (and Q8_K); returns false (writing nothing) for an unsupported one.
bool dequantize_row(ggml_type type, const void *src, float *dst, int64_t n);

// ---- scalar reference: quantization -------------------------------------------------------------
// Same formats and search strategies as ggml's *_ref quantizers (weighted least-squares scale/min
// search for Q4_K/Q5_K, ±9 scale sweep for Q6_K); results are close to, not bit-exact with, ggml's.

void quantize_row_f16_ref(const float *x, uint16_t *y, int64_t n);
void quantize_row_bf16_ref(const float *x, uint16_t *y, int64_t n);
void quantize_row_q4_0_ref(const float *x, block_q4_0 *y, int64_t n);
void quantize_row_q8_0_ref(const float *x, block_q8_0 *y, int64_t n);
void quantize_row_q4_K_ref(const float *x, block_q4_K *y, int64_t n);
void quantize_row_q5_K_ref(const float *x, block_q5_K *y, int64_t n);
void quantize_row_q6_K_ref(const float *x, block_q6_K *y, int64_t n);
void quantize_row_q8_K_ref(const float *x, block_q8_K *y, int64_t n);
// Any supported type (and Q8_K; F32 copies); returns bytes written, 0 if unsupported.
size_t quantize_row_ref(ggml_type type, const float *src, void *dst, int64_t n);

// Unpacks the 6-bit (scale, min) pair of sub-block j (0..7) from a Q4_K/Q5_K `scales` array.
inline void get_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// ---- scalar reference: dot products (weight row · activation in its vec_dot type) -------------

// F32 in the order of the llama.cpp x86 build with `lanes` f32 lanes (16 or 8, ggml_vector_lanes):
// ggml_vec_dot_f32 (steps of 4·lanes into four accumulators, pairwise and lane reduction, then the
// leftovers: products rounded and added in order in groups of lanes/2 as the compiler vectorized its
// tail, the last n % (lanes/2) by fused multiply-add), and, for batches of two or more activations
// with n % lanes == 0, llamafile's sgemm (one lanes-wide accumulator, then the lane reduction).
float vec_dot_f32_ref(int64_t n, const float *x, const float *y, int lanes);
float vec_dot_f32_sgemm_ref(int64_t n, const float *x, const float *y, int lanes);
float vec_dot_f16_ref(int64_t n, const uint16_t *x, const uint16_t *y);
float vec_dot_bf16_ref(int64_t n, const uint16_t *x, const uint16_t *y);
float vec_dot_q4_0_q8_0_ref(int64_t n, const block_q4_0 *x, const block_q8_0 *y);
float vec_dot_q8_0_q8_0_ref(int64_t n, const block_q8_0 *x, const block_q8_0 *y);
float vec_dot_q4_K_q8_K_ref(int64_t n, const block_q4_K *x, const block_q8_K *y);
float vec_dot_q5_K_q8_K_ref(int64_t n, const block_q5_K *x, const block_q8_K *y);
float vec_dot_q6_K_q8_K_ref(int64_t n, const block_q6_K *x, const block_q8_K *y);

// llama.cpp's x86 CPU backend repacks Q4_0 and Q4_K matrices whose row count is a multiple of 8
// into 8-row interleaved blocks (ggml-cpu/repack.cpp) and multiplies them with kernels whose f32
// steps differ from its plain dot products: each row's exact integer block sum is converted to f32
// and added, times (weight scale · activation scale), into one f32 accumulator, block after block
// (for Q4_K, the mins term likewise into a second accumulator, subtracted at the end). These are
// the dot products in that order; matvec/matmul use them wherever ggml_interleaves(type, rows).
float vec_dot_q4_0_q8_0_interleaved_ref(int64_t n, const block_q4_0 *x, const block_q8_0 *y);
float vec_dot_q4_K_q8_K_interleaved_ref(int64_t n, const block_q4_K *x, const block_q8_K *y);
// The same for the 8 rows of one packed group (block_q4_0x8, n elements per row): out[r] for r < 8.
void vec_dot_q4_0_x8_ref(int64_t n, const block_q4_0x8 *x, const block_q8_0 *y, float *out);
// ggml's repacked Q4_K kernel for activation rows in groups of four (its gemm; the first
// n_vec − n_vec % 4 vectors of a batch): the same, per 64-element chunk instead of per block.
// (Q4_0's gemm takes the same steps as its gemv.)
float vec_dot_q4_K_q8_K_interleaved_gemm_ref(int64_t n, const block_q4_K *x, const block_q8_K *y);

// ---- dispatching CPU entry points (implemented in native/engine/cpu/) ---------------------------

enum class cpu_impl : uint8_t {
    best,    // AVX2 when available and ABI_FORCE_SCALAR is not 1, else scalar
    scalar,  // the reference above
    avx2,    // native/engine/cpu/*_avx2.cpp; callers must check cpu_has_avx2() first
};

bool cpu_has_avx2();  // CPUID says AVX2 + FMA (+ F16C), regardless of the env var
// The f32 vector width of the llama.cpp CPU build that node-llama-cpp (ggml's dynamic backend
// choice) loads on this CPU: 16 when it has the AVX-512 set of ggml's skylakex/zen4-class builds
// (F, CD, VL, DQ, BW), else 8 (its AVX2 "haswell" build). Where llama.cpp's f32 steps depend on it
// (attention K·Q dot, SwiGLU's vector expf, the tiled-attention condition) the engine follows it.
// ABI_GGML_LANES=8 or 16 overrides (read once; tests).
int ggml_vector_lanes();
cpu_impl cpu_active_impl();  // what `best` resolves to: scalar or avx2
const char *cpu_impl_name(cpu_impl impl);

// Dot product of one weight row (type `type`, n elements) with an activation already quantized
// to vec_dot_type(type). `type` must be supported.
using vec_dot_fn = float (*)(int64_t n, const void *w_row, const void *x_act);
vec_dot_fn get_vec_dot(ggml_type type, cpu_impl impl = cpu_impl::best);
float vec_dot(ggml_type type, int64_t n, const void *w_row, const void *x_act, cpu_impl impl = cpu_impl::best);

// True when llama.cpp's x86 backend would repack a `type` matrix of `rows` rows (see above).
inline bool ggml_interleaves(ggml_type type, int64_t rows) {
    return (type == ggml_type::Q4_0 || type == ggml_type::Q4_K) && rows % 8 == 0;
}
// The F32 dot product in llamafile's sgemm order, which matmul uses for batches of two or more
// activations when cols % ggml_vector_lanes() == 0 (see vec_dot_f32_sgemm_ref).
vec_dot_fn get_vec_dot_f32_sgemm(cpu_impl impl = cpu_impl::best);
// The interleaved-order dot product of `type` (nullptr unless Q4_0 or Q4_K), for a vector in a
// group of four (gemm) or not.
vec_dot_fn get_vec_dot_interleaved(ggml_type type, bool gemm, cpu_impl impl = cpu_impl::best);

// Bytes needed for one activation vector of n elements for weights of `type`.
inline size_t activation_size(ggml_type type, int64_t n) {
    return row_size(vec_dot_type(type), n);
}
// Quantizes an f32 activation vector to vec_dot_type(type) (dst: activation_size bytes).
void quantize_activation(ggml_type type, const float *x, void *dst, int64_t n, cpu_impl impl = cpu_impl::best);

// y[r] = dot(row r of w, x) for r in [r0, r1), 0 <= r0 <= r1 <= rows, in the interleaved order
// where ggml_interleaves(type, rows). w points at row 0; rows are
// row_bytes apart (row_size(type, cols) for a GGUF tensor). x_act is quantize_activation's output.
void matvec(ggml_type type, const void *w, size_t row_bytes, int64_t rows, int64_t cols, const void *x_act, float *y,
            int64_t r0, int64_t r1, cpu_impl impl = cpu_impl::best);

// Packs a Q4_0 matrix of `rows` (a multiple of 8) rows into block_q4_0x8 groups (dst: the same
// rows × row_size(Q4_0, cols) bytes).
void pack_q4_0_x8(const void *w, size_t row_bytes, int64_t rows, int64_t cols, void *dst);
// matvec / matmul on a packed Q4_0 matrix, rows [r0, r1) with r0 a multiple of 8 and r1 a multiple
// of 8 or `rows`: the interleaved order, bit-identical to matvec / matmul on the unpacked matrix.
void matvec_q4_0_x8(const void *packed, int64_t rows, int64_t cols, const void *x_act, float *y, int64_t r0, int64_t r1,
                    cpu_impl impl = cpu_impl::best);
void matmul_q4_0_x8(const void *packed, int64_t rows, int64_t cols, const void *x_act, size_t x_stride, int64_t n_vec,
                    float *y, int64_t y_stride, int64_t r0, int64_t r1, cpu_impl impl = cpu_impl::best);

// Batched matvec for prefill: n_vec activations, the v-th at x_act + v * x_stride bytes, and
// y[v * y_stride + r] for r in [r0, r1). Each weight row is loaded once for all vectors. Where
// llama.cpp's batch kernels round differently from its single-vector ones, so does this: for an
// interleaved Q4_K matrix the first n_vec − n_vec % 4 vectors take the gemm order, and F32 batches
// of two or more the sgemm order (when cols % ggml_vector_lanes() == 0).
void matmul(ggml_type type, const void *w, size_t row_bytes, int64_t rows, int64_t cols, const void *x_act,
            size_t x_stride, int64_t n_vec, float *y, int64_t y_stride, int64_t r0, int64_t r1,
            cpu_impl impl = cpu_impl::best);

}  // namespace abi::quant
