// GELU(h) = h Φ(h), Φ the normal distribution (the exact erf form of torch.nn.GELU, Hendrycks & Gimpel 2016), and its
// derivative Φ(h) + h φ(h), for one double or a GCC vector of them; and the loops of operators/gelu.cpp over an
// activation block, which gelu.cpp compiles once per instruction set (the unit test too). The helpers return vectors
// and are always inlined: includers silence -Wpsabi, which warns of an ABI that never applies.
//
// |h| < 1/2: Φ(h) = 1/2 + h P(h²), P a polynomial. Elsewhere Φ(−t) = e^(−t²/2) Q(t), t = |h|, with the scaled Mills
// ratio Q(t) = e^(t²/2) Φ(−t) (smooth, Q ≈ 1/(t √(2π)) for large t) by a polynomial in t − (midpoint) on each of 25
// pieces of [1/2, 40) (2^e (1 + j/4) ≤ t < 2^e (1 + (j + 1)/4): the exponent and top two mantissa bits of t), and
// e^(−t²/2) by operators/exp_kernel.hpp with t² as an exact sum of two doubles, and h e^(−t²/2) Q(t) = h s (1 + q) Q as
// exact products rounded once at the end. Measured against long-double references (tests/unit/test_gelu.cpp, 4.2 million
// arguments): GELU within 1.25 ulp (1.45 without FMA) where |GELU| ≥ 1e-290; the derivative within 2.8 · 2^-53 (3.23
// without FMA) of |Φ| + |h φ|.
// For h < −37.6, where |GELU| < 5e-308, GELU is −0 and the derivative 0; GELU(±0) = ±0, GELU(∞) = ∞, GELU(−∞) = −0,
// GELU(NaN) = NaN.
#pragma once
#include <petscsys.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "operators/exp_kernel.hpp"

namespace ctflow {
namespace gelu_kernel {

#if CTFLOW_HAVE_SIMD_CLONES
typedef std::int64_t Ints4 __attribute__((vector_size(32)));
typedef std::int64_t Ints8 __attribute__((vector_size(64)));
#endif
// Without run-time dispatch (CTFLOW_HAVE_SIMD_CLONES 0): whether the target has a fused multiply-add (e.g. aarch64).
#ifdef FP_FAST_FMA
inline constexpr bool kNativeFma = true;
#else
inline constexpr bool kNativeFma = false;
#endif

// The polynomials (tools/gelu_tables.py): P's coefficients in h²; Q's by pieces, column k the coefficient of
// (t − midpoint)^(k−1), column 0 the constant's rounded value and column 1 its rounding error (32 rows, 25 used).
inline constexpr double kGeluCentral[9] = {0x1.9884533d43651p-2,   -0x1.1058377e2cee0p-4,  0x1.46d042976915dp-7,
                                           -0x1.37403f6b970f9p-10, 0x1.e42b0d45374a9p-14,  -0x1.3ce8f61933f2dp-17,
                                           0x1.6588264d2769dp-21,  -0x1.61a46a1878897p-25, 0x1.27818543157fdp-29};
inline constexpr int kGeluPieces = 25;
alignas(64) inline constexpr double kGeluMills[16][32] = {
    {0x1.58207d0ae1552p-2, 0x1.3ee88d16af92ep-2, 0x1.28a5d34642fd9p-2, 0x1.14e6fe0b79445p-2, 0x1.f6704da1278cep-3,
     0x1.bdb9f2a73a6d4p-3, 0x1.8f6846b88149ep-3, 0x1.690b32e7a6754p-3, 0x1.3aadddf19e980p-3, 0x1.0bb968cded93fp-3,
     0x1.d0b31c082543cp-4, 0x1.99c2b6db3b3a0p-4, 0x1.5b5acd3b15fbbp-4, 0x1.201fa9259b7acp-4, 0x1.eba5fe5b14b2ap-5,
     0x1.ac6292bdbbfdcp-5, 0x1.66ccb7b9c0c57p-5, 0x1.26b4cfcccca6cp-5, 0x1.f3ddc25e8b10bp-6, 0x1.b1d706d10e138p-6,
     0x1.6a03fdb45c9c7p-6, 0x1.287e3ca70bd62p-6, 0x1.f60cadf141e6fp-7, 0x1.b344cf87420c4p-7, 0x1.6ad8b9ce9823ep-7},
    {0x1.f3fd538287947p-56,  -0x1.bbff40345d6fdp-56, -0x1.e7f3afc8884afp-56, -0x1.0a4cd0ac1dff1p-57, -0x1.fb1d36932a5fbp-57,
     -0x1.4b7a21c2500b7p-57, 0x1.f1abc41100df6p-62,  -0x1.b481a2aa56609p-57, -0x1.a4235d20a0b3bp-58, 0x1.188df3f4c6335p-63,
     -0x1.fa9e33c6acfbdp-58, -0x1.f9a402f2d631ap-59, 0x1.3b0a597c9f99ep-58,  0x1.4a005c06100b4p-58,  0x1.f61ed10bbb526p-60,
     0x1.4eeb71192e8b4p-61,  -0x1.6c7f8b0100bc9p-59, 0x1.984a932e2fd40p-60,  0x1.7bc56e79fe305p-61,  -0x1.278be462d2a73p-62,
     -0x1.485755166245bp-60, -0x1.44eeec66063a1p-61, -0x1.0fa31f6165ac5p-61, 0x1.bef4a83200bd4p-61,  0x1.f2e192459fc78p-61},
    {-0x1.ade419ce494a4p-3,  -0x1.7a88e47b55602p-3,  -0x1.4efb2f2859ee1p-3,  -0x1.29d78a25036a0p-3,  -0x1.f7949e4a74974p-4,
     -0x1.9851f1a92ce7cp-4,  -0x1.4ffe671d69641p-4,  -0x1.18274e105d5c9p-4,  -0x1.b405cc6b87d06p-5,  -0x1.432b1910e5ccfp-5,
     -0x1.ef2cc76a51e03p-6,  -0x1.85dc7cfbbdeadp-6,  -0x1.1be2c5acaa9ddp-6,  -0x1.8b195531b3873p-7,  -0x1.21ae9268527c7p-7,
     -0x1.b9fa6ad8c9c8ep-8,  -0x1.37812312a1bc5p-8,  -0x1.a5dac1d4ffde3p-9,  -0x1.3012a83933bbbp-9,  -0x1.cabcd94632c1ep-10,
     -0x1.3fd5d25b3510ap-10, -0x1.ad7faf263d40ap-11, -0x1.340bd27bb2d28p-11, -0x1.cf42b9d5e6191p-12, -0x1.4208d360f2903p-12},
    {0x1.be70ab91b9709p-4,  0x1.7992fd1894739p-4,  0x1.411f903bbce9ap-4,  0x1.1293ea943f554p-4,  0x1.b659692e8bef9p-5,
     0x1.4a033905d71bdp-5,  0x1.f9a64bc26ea26p-6,  0x1.899966e13bb9dp-6,  0x1.15aa6bd488cb1p-6,  0x1.6c5e3c927cb84p-7,
     0x1.f2f5d00e15ec7p-8,  0x1.62200d79c96f0p-8,  0x1.bfbaed8d60a26p-9,  0x1.07e3e93700dcfp-9,  0x1.4ea50718ea867p-10,
     0x1.c0f9d24fda2d4p-11, 0x1.0b6e08995a324p-11, 0x1.2b9aa2972f7f5p-12, 0x1.6fdc4065bfebap-13, 0x1.e2fd8f9f3edb9p-14,
     0x1.19b886e074e0cp-14, 0x1.36743cc1b9b17p-15, 0x1.7977e83f50cf6p-16, 0x1.ec829d74a9893p-17, 0x1.1d98030e83636p-17},
    {-0x1.95c5e211bc2e3p-5,  -0x1.4ba87ca3d875ep-5,  -0x1.10b3261571944p-5,  -0x1.c305e07eb9f02p-6,  -0x1.56adc42b07d60p-6,
     -0x1.e3d49be3180c6p-7,  -0x1.5c3240e676859p-7,  -0x1.fe2774798747bp-8,  -0x1.49badda1251fdp-8,  -0x1.838c5241004c5p-9,
     -0x1.dec5a1fa0055ep-10, -0x1.34a2573305b92p-10, -0x1.55bc008c2d6edp-11, -0x1.57ff859618f98p-12, -0x1.7b5fb856fe99dp-13,
     -0x1.c159ce7e6fdfbp-14, -0x1.c6399104b5e40p-15, -0x1.a65b0b8517d93p-16, -0x1.ba914cd7eebeep-17, -0x1.fa60e04d46ae2p-18,
     -0x1.eed1bf210cf72p-19, -0x1.bfe7bd3e9dbadp-20, -0x1.cddd0b018d604p-21, -0x1.058425af704e3p-21, -0x1.fa2a81a756132p-23},
    {0x1.4c5103fcbc839p-6,  0x1.07911240420b1p-6,  0x1.a4ad91860d8adp-7,  0x1.51bd13ed1781fp-7,  0x1.eb2f55acaf0e6p-8,
     0x1.476446df8daf1p-8,  0x1.bd7aee0e5cabcp-9,  0x1.34edd09088a07p-9,  0x1.70c53ca78fa4ap-10, 0x1.87b71017320f1p-11,
     0x1.b7d4f1cbd69aap-12, 0x1.031f6ee7d045cp-12, 0x1.fa3b677d6c21fp-14, 0x1.b643d5fcfb13fp-15, 0x1.a6741523ba96ep-16,
     0x1.bb5a0b9514b89p-17, 0x1.7db4e0d67aff9p-18, 0x1.27815575e3119p-19, 0x1.08c63ec9be088p-20, 0x1.0857aad99308ep-21,
     0x1.b145aeeebd5eep-23, 0x1.427553569f059p-24, 0x1.1a27a706f855dp-25, 0x1.156b65db7b422p-26, 0x1.c03440c5a90c8p-28},
    {-0x1.f3b1c1843ea84p-8,  -0x1.81b0fd62cf9cfp-8,  -0x1.2b996da38aecdp-8,  -0x1.d45531d8f1786p-9,  -0x1.4740b9b72429bp-9,
     -0x1.9dff78423dd36p-10, -0x1.0b8d4d1a9affbp-10, -0x1.60da67e9a51bbp-11, -0x1.87595809412d9p-12, -0x1.7a617d69c616dp-13,
     -0x1.8481f80e0655fp-14, -0x1.a48594a476360p-15, -0x1.6caa288a70740p-16, -0x1.1138dc9ab6dcbp-17, -0x1.ce785bb2c0b62p-19,
     -0x1.af782e889f94ap-20, -0x1.3d8100f8c1d64p-21, -0x1.9a8566b334f25p-23, -0x1.3b1d7b35cd4dcp-24, -0x1.12d998884d04ep-25,
     -0x1.7a4544187ca52p-27, -0x1.cf5ddc9aebb55p-29, -0x1.583e3c1725562p-30, -0x1.25f827bd6744dp-31, -0x1.8c93d3fa3168cp-33},
    {0x1.5d655bb2da453p-9,  0x1.0708de445dd02p-9,  0x1.8e9efbfa26ce2p-10, 0x1.2ff6d052fe8cfp-10, 0x1.99793c478e497p-11,
     0x1.ed8be4176bd15p-12, 0x1.302029e0fe501p-12, 0x1.7ebe7f9d5df41p-13, 0x1.8c5d485b9d974p-14, 0x1.5ee01a5145283p-15,
     0x1.4b1e40abd94f6p-16, 0x1.4aaf068e84a65p-17, 0x1.ffea8a091f596p-19, 0x1.4dc8ce2c09896p-20, 0x1.f218716ff2020p-22,
     0x1.9e63ff8aa3e81p-23, 0x1.057d529e58cf9p-24, 0x1.1b229239e4ea6p-26, 0x1.750c7256d10dbp-28, 0x1.1c9ca44c8c537p-29,
     0x1.494b0df5feee0p-31, 0x1.4c43e40f098b7p-33, 0x1.a36422c889e90p-35, 0x1.372b11476b1c3p-36, 0x1.5ea188a33af39p-38},
    {-0x1.cac5ffafef249p-11, -0x1.5174811f361e2p-11, -0x1.f3b97353f4a6fp-12, -0x1.7466495dc2721p-12, -0x1.e4c601bdbd58cp-13,
     -0x1.173f4b427f96ap-13, -0x1.49251ba2be250p-14, -0x1.8c70403693b34p-15, -0x1.80e690c346e5dp-16, -0x1.397eac289ba2fp-17,
     -0x1.111575bc2e406p-18, -0x1.f92b66d600ffdp-20, -0x1.5eaec4099811ap-21, -0x1.8ff51a22113cep-23, -0x1.08149021da8abp-24,
     -0x1.88f1ad602c6b5p-26, -0x1.aa9292538e3fep-28, -0x1.83d8f94ba5ee1p-30, -0x1.b7569d9265566p-32, -0x1.2588edc837351p-33,
     -0x1.1dd53238c9290p-35, -0x1.db932623a9f3bp-38, -0x1.fe36c2573e961p-40, -0x1.49044f199a764p-41, -0x1.35c5dc157df44p-43},
    {0x1.1ce183be1ca0cp-12, 0x1.9a11b02601019p-13, 0x1.291d508d19196p-13, 0x1.b15dae4209f0ap-14, 0x1.11218bca2eeacp-14,
     0x1.2d906059b226fp-15, 0x1.54d22d4dc04ccp-16, 0x1.89d3c3078facdp-17, 0x1.67b72dda51130p-18, 0x1.0eb207ea10af5p-19,
     0x1.b4f3440b177c3p-21, 0x1.778ab968628e4p-22, 0x1.d597b5a6742f3p-24, 0x1.d682617a5c6fdp-26, 0x1.13dc1cd66adbbp-27,
     0x1.700b67f9f5699p-29, 0x1.58ae00c183ff6p-31, 0x1.07d66c26b2997p-33, 0x1.0161247ce87b9p-35, 0x1.2d88abd481838p-37,
     0x1.eecd3193214aap-40, 0x1.53ae6bfc0d7c5p-42, 0x1.35e9350f5de15p-44, 0x1.5b838e136590cp-46, 0x1.1178110cb1fd4p-48},
    {-0x1.50941090d4de7p-14, -0x1.da9f0c2c67a23p-15, -0x1.50e87b3475506p-15, -0x1.e17979d2b6cf6p-16, -0x1.26581f43eeadcp-16,
     -0x1.382683da2ee4ap-17, -0x1.52ff823b5cc6ep-18, -0x1.789716c84f04cp-19, -0x1.448d63548a0e5p-20, -0x1.c4f2c40e27b76p-22,
     -0x1.53d079fbb6b56p-23, -0x1.102d1073065f3p-24, -0x1.33afd16fa5903p-26, -0x1.0fefe8617c347p-28, -0x1.1c0c4241c2aadp-30,
     -0x1.54a373f00fcebp-32, -0x1.13f7dc5582f3bp-34, -0x1.6490620218d3fp-37, -0x1.2c0ad6b97b42fp-39, -0x1.34888b041c881p-41,
     -0x1.ab105cb55073ap-44, -0x1.e44b4cd3c8fb2p-47, -0x1.77f48c7dd42f2p-49, -0x1.6ea7fd863bbd6p-51, -0x1.e27aadbb0b319p-54},
    {0x1.7c144f1011cbdp-16, 0x1.06cb7b3f028b0p-16, 0x1.6de358d784ee6p-17, 0x1.006a915d98378p-17, 0x1.308e04de5fbccp-18,
     0x1.36d1d1b5a3837p-19, 0x1.44f700b2be6aap-20, 0x1.5bae4d6b9e816p-21, 0x1.1b72a5cee822bp-22, 0x1.6ffb77939efabp-24,
     0x1.015c9c9815121p-25, 0x1.8134bb5879a41p-27, 0x1.8b0675480de77p-29, 0x1.351b64bbe31e0p-31, 0x1.207447b06e004p-33,
     0x1.37a78f346a7aap-35, 0x1.b5f96f0b01640p-38, 0x1.deb9b0874c2a3p-41, 0x1.5c09992359186p-43, 0x1.3a77e4c5567fap-45,
     0x1.6f9023e7c74dep-48, 0x1.58914d1529c22p-51, 0x1.c76e23e7ad7acp-54, 0x1.8270282263638p-56, 0x1.a94b1f5b0e5c2p-59},
    {-0x1.9bd32db6b4f33p-18, -0x1.177af5f197993p-18, -0x1.7df1dd808cbbcp-19, -0x1.06bfa27b254b2p-19, -0x1.2f8b9945af1dcp-20,
     -0x1.2aa04f5d07616p-21, -0x1.2d1002f8abf75p-22, -0x1.36b62c3371132p-23, -0x1.e04fddf23bc00p-25, -0x1.22d80a948a43cp-26,
     -0x1.7c3bc1059ce57p-28, -0x1.0a7fe7f0d95b9p-29, -0x1.f146aebdb10eep-32, -0x1.59b6016daaeb0p-34, -0x1.2104a1b0c6edep-36,
     -0x1.19f2b698c8e29p-38, -0x1.585a2b91be59cp-41, -0x1.3f38c28029be6p-44, -0x1.91abde7434404p-47, -0x1.3f41d8035db6ep-49,
     -0x1.3b3bc319d706ap-52, -0x1.e931475fa76b8p-56, -0x1.136a10215b358p-58, -0x1.96cf14dcfa79ap-61, -0x1.764855a18511ap-64},
    {0x1.ad8e1c80813a1p-20, 0x1.1e587057bc43bp-20, 0x1.8068423bfcb34p-21, 0x1.03c7844a7f117p-21, 0x1.243df9a70502fp-22,
     0x1.158df3de87e04p-23, 0x1.0e35b1282edd0p-24, 0x1.0d60ec6ffa4d4p-25, 0x1.8b9a355e4f962p-27, 0x1.c00c1fee712d7p-29,
     0x1.125d6581990abp-30, 0x1.68f362fcd4ea0p-32, 0x1.334bcf6ede4f5p-34, 0x1.7cc5b83f2cd95p-37, 0x1.1de48c5fd1ba3p-39,
     0x1.f8a941a58190dp-42, 0x1.0c95db18882f2p-44, 0x1.a726b4dc52ed5p-48, 0x1.cd6612a517f3cp-51, 0x1.42ea8e95e88fdp-53,
     0x1.0dd069a127fafp-56, 0x1.5ab80f9f6407fp-60, 0x1.4cb36971bb8b1p-63, 0x1.abd7c8a73d28bp-66, 0x1.496d4c625588bp-69},
    {-0x1.b0e152dc9e8a3p-22, -0x1.1ba251aec6193p-22, -0x1.76479423ec528p-23, -0x1.f145ea47b8b7fp-24, -0x1.113ab3b8ddda5p-24,
     -0x1.f5988cfa31d71p-26, -0x1.d8139b5210281p-27, -0x1.c719e761989b5p-28, -0x1.401380ffb4330p-29, -0x1.536ea7cc56e78p-31,
     -0x1.85e705cd010f6p-33, -0x1.e1f8b94897033p-35, -0x1.7cebd2acbb276p-37, -0x1.a425d3a59ff35p-40, -0x1.1b1bfc67c92e5p-42,
     -0x1.c3f064b4c2ccap-45, -0x1.ae35fba58676ap-48, -0x1.1dd9c00354fa2p-51, -0x1.0ccffd5f2b1f3p-54, -0x1.4a3ee5c63509dp-57,
     -0x1.e0f85bc02fb1ep-61, -0x1.f945d1b5b05e6p-65, -0x1.9a0bdedfa1354p-68, -0x1.c8d95c38e4123p-71, -0x1.2f73755c23d97p-74},
    {0x1.a5be59ad264fep-24, 0x1.0fcaea5b1125bp-24, 0x1.60c48dc8b6148p-25, 0x1.cd049e86f947fp-26, 0x1.ee354fb4591d9p-27,
     0x1.b7079dd1a30e3p-28, 0x1.8ffa8e9d85fcdp-29, 0x1.755bdc53e4c78p-30, 0x1.f47d02025fd56p-32, 0x1.f28851f180f2fp-34,
     0x1.0d52888fe6945p-35, 0x1.399e7accee659p-37, 0x1.c667c0be59c91p-40, 0x1.c142265c03b87p-43, 0x1.112aa30a5459dp-45,
     0x1.8c0adc4a11f55p-48, 0x1.49e47eaa62c17p-51, 0x1.76284d1ea2645p-55, 0x1.31cfba1bd161cp-58, 0x1.4b8038d45254ap-61,
     0x1.9954ffcee8186p-65, 0x1.64b7c88b58f44p-69, 0x1.edee27e562f9ap-73, 0x1.df6f80fa78791p-76, 0x1.0aaaac007de42p-79},
};

inline constexpr double kInvSqrt2Pi = 0x1.9884533d43651p-2, kInvSqrt2PiLow = -0x1.cbc0d30ebfd15p-56;  // 1/√(2π) = sum
inline constexpr double kFlush = 37.6;                                                                // e^(−t²/2) < 3.4e-308 beyond: GELU → −0

template <class Real>
struct Lanes;
template <>
struct Lanes<double> {
  typedef std::uint64_t Bits;
  typedef std::int64_t Ints;
};
#if CTFLOW_HAVE_SIMD_CLONES
template <>
struct Lanes<Vec4> {
  typedef Bits4 Bits;
  typedef Ints4 Ints;
};
template <>
struct Lanes<Vec8> {
  typedef Bits8 Bits;
  typedef Ints8 Ints;
};
#endif

// The coefficients c[k] = kGeluMills[k][row] of the lanes' rows. One double: loads. AVX-512: per column a 16-entry permute
// (vpermt2pd) of the rows below 16 (kLow: all the lanes' rows are; LowRows), else two and a blend. AVX2: the table by
// rows (a constexpr transpose), a lane's 16 coefficients as four loads, 4 × 4 transposes into the columns (a third fewer
// instructions than a load per lane and column).
template <bool kLow>
[[gnu::always_inline]] inline void Coefficients(std::int64_t i, double c[16]) {
  for (int k = 0; k < 16; ++k) c[k] = kGeluMills[k][i];
}
[[gnu::always_inline]] inline bool LowRows(std::int64_t) { return true; }
#if CTFLOW_HAVE_SIMD_CLONES
template <bool kLow>
[[gnu::always_inline]] inline void Coefficients(const Ints8 &i, Vec8 c[16]) {
  for (int k = 0; k < 16; ++k) {
    Vec8 t[4];
    std::memcpy(t, kGeluMills[k], sizeof t);
    c[k] = kLow ? __builtin_shuffle(t[0], t[1], i) : (i >= 16 ? __builtin_shuffle(t[2], t[3], i) : __builtin_shuffle(t[0], t[1], i));
  }
}
[[gnu::always_inline]] inline bool LowRows(const Ints8 &i) {
  std::int64_t high = 0;
  for (int l = 0; l < 8; ++l) high |= i[l] >> 4;
  return !high;
}
struct MillsRows {
  double v[32][16];
};
constexpr MillsRows Transpose() {
  MillsRows t{};
  for (int r = 0; r < 32; ++r)
    for (int k = 0; k < 16; ++k) t.v[r][k] = kGeluMills[k][r];
  return t;
}
alignas(64) inline constexpr MillsRows kGeluMillsRows = Transpose();
template <bool kLow>
[[gnu::always_inline]] inline void Coefficients(const Ints4 &i, Vec4 c[16]) {
  const double *p0 = kGeluMillsRows.v[i[0]], *p1 = kGeluMillsRows.v[i[1]], *p2 = kGeluMillsRows.v[i[2]], *p3 = kGeluMillsRows.v[i[3]];
  for (int q = 0; q < 4; ++q) {
    Vec4 r0, r1, r2, r3;
    std::memcpy(&r0, p0 + 4 * q, 32), std::memcpy(&r1, p1 + 4 * q, 32), std::memcpy(&r2, p2 + 4 * q, 32), std::memcpy(&r3, p3 + 4 * q, 32);
    const Vec4 a = __builtin_shuffle(r0, r1, Ints4{0, 4, 2, 6}), b = __builtin_shuffle(r0, r1, Ints4{1, 5, 3, 7});
    const Vec4 e = __builtin_shuffle(r2, r3, Ints4{0, 4, 2, 6}), f = __builtin_shuffle(r2, r3, Ints4{1, 5, 3, 7});
    c[4 * q] = __builtin_shuffle(a, e, Ints4{0, 1, 4, 5}), c[4 * q + 2] = __builtin_shuffle(a, e, Ints4{2, 3, 6, 7});
    c[4 * q + 1] = __builtin_shuffle(b, f, Ints4{0, 1, 4, 5}), c[4 * q + 3] = __builtin_shuffle(b, f, Ints4{2, 3, 6, 7});
  }
}
[[gnu::always_inline]] inline bool LowRows(const Ints4 &) { return true; }
#endif

// a b + c, rounded once with kFma (vfmadd: lane by lane the compiler makes one vector instruction), else twice.
template <bool kFma, class Real>
[[gnu::always_inline]] inline Real Fma(const Real &a, const Real &b, const Real &c) {
  if constexpr (!kFma) return a * b + c;
  else if constexpr (sizeof(Real) == sizeof(double)) return __builtin_fma(a, b, c);
  else {
    Real r;
    for (unsigned l = 0; l < sizeof(Real) / sizeof(double); ++l) r[l] = __builtin_fma(a[l], b[l], c[l]);
    return r;
  }
}

// hi + lo = a b exactly: by fma, or Dekker's product (Veltkamp's splitting) without.
template <bool kFma, class Real>
[[gnu::always_inline]] inline void TwoProduct(const Real &a, const Real &b, Real &hi, Real &lo) {
  hi = a * b;
  if constexpr (kFma) lo = Fma<true>(a, b, -hi);
  else {
    const Real ca = a * 134217729.0, cb = b * 134217729.0, ah = ca - (ca - a), bh = cb - (cb - b), al = a - ah, bl = b - bh;
    lo = ((ah * bh - hi) + ah * bl + al * bh) + al * bl;
  }
}

// s (1 + q) x, rounded once.
template <bool kFma, class Real>
[[gnu::always_inline]] inline Real ScaledProduct(const Real &s, const Real &q, const Real &x) {
  Real hi, lo;
  TwoProduct<kFma>(s, x, hi, lo);
  return hi + Fma<kFma>(hi, q, lo);
}

// gelu ← GELU(h); with kDerivative also derivative ← Φ(h) + h φ(h). kFma: the instruction set has a fused multiply-add
// (every kFma build gives the same bits, vector or not).
template <class Real, bool kFma, bool kDerivative>
[[gnu::always_inline]] inline void Gelu(const Real &h, Real &gelu, Real &derivative) {
  typedef typename Lanes<Real>::Bits Bits;
  typedef typename Lanes<Real>::Ints Ints;
  const Real hc = h > 40 ? 40 : (h < -40 ? -40 : h);  // finite (no exceptions), NaN stays NaN
  const Real t = __builtin_bit_cast(Real, __builtin_bit_cast(Bits, hc) & 0x7fffffffffffffff);
  Real u, ulow, s, q;
  TwoProduct<kFma>(t, t, u, ulow);
  exp_kernel::ExpParts<Real, Bits, true>(-0.5 * u, -0.5 * ulow, s, q);  // e^(−t²/2) = s (1 + q)
  s = t > kFlush ? 0 : s;
  // The piece of t (clamped: t < 1/2 takes the central polynomial), its midpoint, Q(t) = a0 + delta.
  const Bits bits = __builtin_bit_cast(Bits, t);
  Ints i = (Ints)(bits >> 50) - (std::int64_t)(0x3fe0000000000000 >> 50);
  i = i < 0 ? 0 : (i > kGeluPieces - 1 ? kGeluPieces - 1 : i);
  const Real d = t - __builtin_bit_cast(Real, (bits & ~((std::uint64_t(1) << 50) - 1)) | (std::uint64_t(1) << 49));
  Real c[16];
  if (LowRows(i)) Coefficients<true>(i, c);  // the same values either way
  else Coefficients<false>(i, c);
  Real delta = c[15];
#pragma GCC unroll 14
  for (int k = 14; k >= 2; --k) delta = Fma<kFma>(delta, d, c[k]);
  const Real a0 = c[0];
  delta = Fma<kFma>(delta, d, c[1]);
  Real P = kGeluCentral[8] + Real{};
#pragma GCC unroll 8
  for (int k = 7; k >= 0; --k) P = Fma<kFma>(P, u, kGeluCentral[k] + Real{});
  const auto central = t < 0.5, negative = hc < 0;
  // t s (1 + q)(a0 + delta) = t Φ(−t): ts + tsl = t s, A + a = ts a0 exactly, the rest small.
  Real ts, tsl, A, a;
  TwoProduct<kFma>(t, s, ts, tsl);
  TwoProduct<kFma>(ts, a0, A, a);
  const Real m = ts * delta, tail = A + Fma<kFma>(q, A + m, m + Fma<kFma>(tsl, a0, a));
  // Near 0: 1/2 h + h² P, or 1/2 h where h² P is below the last bit (and GELU(±0) = ±0).
  const Real g = central ? (t < 0x1p-600 ? 0.5 * hc : Fma<kFma>(hc, hc * P, 0.5 * hc)) : (negative ? -tail : hc - tail);
  gelu = h > 40 ? h : g;
  if (kDerivative) {  // Φ + h φ = 1/2 + h (P + e^(−t²/2)/√(2π)), or ±e^(−t²/2) (Q(t) − t/√(2π)) (+ 1 for h > 0)
    const Real w = Fma<kFma>(-kInvSqrt2Pi + Real{}, t, a0) + Fma<kFma>(-kInvSqrt2PiLow + Real{}, t, delta);
    const Real e = Fma<kFma>(s, q, s), scaled = ScaledProduct<kFma>(s, q, w);
    derivative = central ? Fma<kFma>(hc, Fma<kFma>(kInvSqrt2Pi + Real{}, e, P), 0.5 + Real{}) : (negative ? scaled : 1 - scaled);
  }
}

// z[k][c] ← GELU(z[k][c] + b[c]) for a rows × F block, vectors of Real along c; pre (if not null) ← z + b.
template <class Real, bool kFma>
[[gnu::always_inline]] inline void BiasLoop(PetscInt rows, PetscInt F, const PetscReal *b, PetscReal *z, PetscReal *pre) {
  constexpr PetscInt L = sizeof(Real) / sizeof(double);
  for (PetscInt k = 0; k < rows; ++k, z += F, pre = pre ? pre + F : pre) {
    PetscInt c = 0;
    for (; c + L <= F; c += L) {
      Real x, y, g;
      std::memcpy(&x, z + c, sizeof x);
      std::memcpy(&y, b + c, sizeof y);
      x += y;
      if (pre) std::memcpy(pre + c, &x, sizeof x);
      Gelu<Real, kFma, false>(x, g, y);
      std::memcpy(z + c, &g, sizeof g);
    }
    for (; c < F; ++c) {
      double x = z[c] + b[c], unused;
      if (pre) pre[c] = x;
      Gelu<double, kFma, false>(x, z[c], unused);
    }
  }
}

// z ← GELU(pre), dz ← dz (Φ + h φ)(pre) for a rows × F block; db[c] (if not null) += Σ_k dz[k][c] after, k in order.
template <class Real, bool kFma>
[[gnu::always_inline]] inline void BackwardLoop(PetscInt rows, PetscInt F, const PetscReal *pre, PetscReal *z, PetscReal *dz, PetscReal *db) {
  constexpr PetscInt L = sizeof(Real) / sizeof(double);
  for (PetscInt k = 0; k < rows; ++k, pre += F, z += F, dz += F) {
    PetscInt c = 0;
    for (; c + L <= F; c += L) {
      Real x, g, d, y;
      std::memcpy(&x, pre + c, sizeof x);
      Gelu<Real, kFma, true>(x, g, d);
      std::memcpy(z + c, &g, sizeof g);
      std::memcpy(&y, dz + c, sizeof y);
      y *= d;
      std::memcpy(dz + c, &y, sizeof y);
      if (!db) continue;
      std::memcpy(&x, db + c, sizeof x);
      x += y;
      std::memcpy(db + c, &x, sizeof x);
    }
    for (; c < F; ++c) {
      double d;
      Gelu<double, kFma, true>(pre[c], z[c], d);
      dz[c] *= d;
      if (db) db[c] += dz[c];
    }
  }
}

}  // namespace gelu_kernel
}  // namespace ctflow
