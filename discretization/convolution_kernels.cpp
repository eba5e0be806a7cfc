#include "discretization/convolution_kernels.hpp"

namespace ctflow {

std::string ConvolutionalSchemeOrder(PetscInt J, bool embedding) {
  return std::string(embedding ? "conv_embed, layernorm, " : "") + "conv_attention, layernorm, " + (J > 0 ? "conv_ffn, " : "") + "layernorm";
}

}  // namespace ctflow
