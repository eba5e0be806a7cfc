// The node types of a splitting expression (solver/timestepping/composition.hpp), created by the parser
// (solver/timestepping/composition_parser.cpp): leaf, seq (eq. (58)), avg (eq. (16), (59)), sum (additive parallel).
#pragma once
#include <vector>

#include "solver/timestepping/composition.hpp"

namespace ctflow {

enum class GroupKind { Sequential, Average, Sum };

PetscErrorCode LeafCreate(MPI_Comm comm, std::unique_ptr<Operator> op, const std::string &substep, std::unique_ptr<SplittingNode> *node);
PetscErrorCode GroupCreate(GroupKind kind, std::vector<std::unique_ptr<SplittingNode>> children, std::unique_ptr<SplittingNode> *node);

}  // namespace ctflow
