// Registries follow PETSc's XRegister / XRegisterDestroy life cycle: what a program registers is usable by name
// until PetscFinalize, which empties every registry; after a new PetscInitialize the built-in entries are there
// again and the program's are gone. (Its own main: PETSc is initialised twice.)
#include <gtest/gtest.h>
#include <petscsys.h>

#include "discretization/analytic_controls.hpp"
#include "operators/skip_relaxation.hpp"
#include "solver/timestepping/splitting_schemes.hpp"
#include "solver/timestepping/substep_integrators.hpp"

namespace {

PetscErrorCode MirrorCreate(const ctflow::OperatorContext &ctx, PetscInt, std::unique_ptr<ctflow::Operator> *op) {
  *op = std::make_unique<ctflow::Identity>(ctx);
  return 0;
}

ctflow::SplittingExpression Reversed(const std::vector<ctflow::SplittingExpression> &units, const std::vector<PetscInt> &) {
  return ctflow::SplittingExpression::Group(ctflow::SplittingExpression::Kind::Seq, {units.rbegin(), units.rend()});
}

// Whether an operator / scheme / substep integrator / controls type of that name can be created now.
bool Known(const char what[], const std::string &name) {
  ctflow::Grid grid(PETSC_COMM_SELF);
  ctflow::AnalyticControls controls(PETSC_COMM_SELF);
  PetscPushErrorHandler(PetscReturnErrorHandler, nullptr);
  PetscErrorCode ierr = grid.SetUp();
  const std::string kind = what;
  if (kind == "operator") {
    std::unique_ptr<ctflow::Operator> op;
    ierr = ierr ? ierr : ctflow::OperatorCreate(name, {&grid, &controls}, &op);
  } else if (kind == "scheme") {
    PetscInt order;
    ierr = ierr ? ierr : ctflow::SplittingSchemeOrder(PETSC_COMM_SELF, name, &order);
  } else if (kind == "substep") {
    std::unique_ptr<ctflow::SubstepIntegrator> s;
    ierr = ierr ? ierr : ctflow::SubstepIntegratorCreate(PETSC_COMM_SELF, name, &s);
  } else {
    std::unique_ptr<ctflow::Controls> c;
    ierr = ierr ? ierr : ctflow::ControlsCreate(PETSC_COMM_SELF, name, &c);
  }
  PetscPopErrorHandler();
  return ierr == 0;
}

PetscErrorCode EulerCopy(std::unique_ptr<ctflow::SubstepIntegrator> *s) { return ctflow::SubstepIntegratorCreate(PETSC_COMM_SELF, "euler", s); }

TEST(Registry, ProgramEntriesLastUntilPetscFinalize) {
  int argc = 0;
  char **argv = nullptr;
  for (int round = 0; round < 2; ++round) {
    ASSERT_EQ(PetscInitialize(&argc, &argv, nullptr, nullptr), 0);
    for (const auto &builtin :
         {std::pair<const char *, const char *>{"operator", "attention"}, {"scheme", "strang"}, {"substep", "ts"}, {"controls", "layered"}})
      EXPECT_TRUE(Known(builtin.first, builtin.second)) << builtin.second << " in round " << round;
    EXPECT_FALSE(Known("operator", "mirror"));
    EXPECT_FALSE(Known("scheme", "reversed"));
    EXPECT_FALSE(Known("substep", "euler_copy"));
    ASSERT_EQ(ctflow::OperatorRegister("mirror", MirrorCreate), 0);
    ASSERT_EQ(ctflow::SplittingSchemeRegister("reversed", 1, Reversed), 0);
    ASSERT_EQ(ctflow::SubstepIntegratorRegister("euler_copy", EulerCopy), 0);
    EXPECT_TRUE(Known("operator", "mirror"));
    EXPECT_TRUE(Known("scheme", "reversed"));
    EXPECT_TRUE(Known("substep", "euler_copy"));
    const std::vector<std::string> names = ctflow::SplittingSchemeNames();
    EXPECT_EQ(names.back(), "reversed");
    EXPECT_EQ(names.size(), 7u);
    ASSERT_EQ(PetscFinalize(), 0);
  }
}

}  // namespace

int main(int argc, char **argv) {
  ::testing::InitGoogleTest(&argc, argv);
  MPI_Init(&argc, &argv);  // PETSc is initialised and finalised inside the test, twice
  const int failed = RUN_ALL_TESTS();
  MPI_Finalize();
  return failed;
}
