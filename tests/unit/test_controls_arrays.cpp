// ControlsArrays hold their values in one block in the arrays' order (Values(): θ flat), which SetStorage moves to the
// caller's memory without a copy; copies own their values, moves keep them, and arrays whose block is the caller's
// cannot grow.
#include <gtest/gtest.h>

#include <numeric>

#include "discretization/controls_arrays.hpp"

namespace {

using ctflow::ControlsArrays;

// "/a" (2, 3) = 0 … 5, "/b" scalar attribute = 6.
ControlsArrays Example() {
  ControlsArrays x;
  EXPECT_EQ(x.Add(PETSC_COMM_SELF, "/a", {2, 3}), 0);
  EXPECT_EQ(x.Add(PETSC_COMM_SELF, "/b", {}, true), 0);
  std::iota(x.Values(), x.Values() + x.Size(), 0.0);
  return x;
}

TEST(ControlsArrays, AddingWithinTheReservedRoomNeverMovesTheBlock) {
  ControlsArrays x;
  ASSERT_EQ(x.Add(PETSC_COMM_SELF, "/a", {2}), 0);
  x.Values()[1] = 5;
  ASSERT_EQ(x.Reserve(PETSC_COMM_SELF, 2 + 1000 + 3), 0);  // keeps what is there
  const double *block = x.Values();
  EXPECT_EQ(x.Find("/a")->values[1], 5.0);
  ASSERT_EQ(x.Add(PETSC_COMM_SELF, "/b", {10, 100}), 0);
  ASSERT_EQ(x.Add(PETSC_COMM_SELF, "/c", {3}), 0);
  EXPECT_EQ(x.Values(), block);
  EXPECT_EQ(x.Find("/c")->values.data(), block + 1002);
  EXPECT_EQ(x.Find("/a")->values[1], 5.0);
  EXPECT_EQ(x.Find("/b")->values[999], 0.0);
}

TEST(ControlsArrays, ValuesAreOneBlockInTheArraysOrder) {
  ControlsArrays x = Example();
  ASSERT_EQ(x.Size(), 7u);
  EXPECT_EQ(x.Find("/a")->values.data(), x.Values());
  EXPECT_EQ(x.Find("/b")->values.data(), x.Values() + 6);
  EXPECT_EQ(x.Find("/b")->values[0], 6.0);
  x.Find("/a")->values[4] = -1;
  EXPECT_EQ(x.Values()[4], -1.0);
}

TEST(ControlsArrays, CopiesOwnAndMovesKeepTheirValues) {
  ControlsArrays x = Example(), copy = x;
  EXPECT_NE(copy.Values(), x.Values());
  copy.Find("/b")->values[0] = 9;
  EXPECT_EQ(x.Find("/b")->values[0], 6.0);
  EXPECT_EQ(copy.Find("/b")->values.data(), copy.Values() + 6);
  const double *block = x.Values();
  ControlsArrays moved = std::move(x);
  EXPECT_EQ(moved.Values(), block);
  EXPECT_EQ(moved.Find("/a")->values.data(), block);
  EXPECT_EQ(moved.Find("/b")->values[0], 6.0);
  const ControlsArrays zero = moved.ZerosLike();
  EXPECT_EQ(zero.Size(), 7u);
  EXPECT_EQ(zero.Find("/a")->values[5], 0.0);
}

TEST(ControlsArrays, SetStorageViewsTheCallersMemory) {
  ControlsArrays x = Example();
  std::vector<double> theta(x.Values(), x.Values() + x.Size()), other(x.Size(), 1.0);
  x.SetStorage(theta.data());
  EXPECT_EQ(x.Find("/a")->values.data(), theta.data());
  x.Find("/b")->values[0] += 1;
  EXPECT_EQ(theta[6], 7.0);
  x.SetZero();
  EXPECT_EQ(theta, std::vector<double>(7, 0.0));
  x.SetStorage(other.data());
  EXPECT_EQ(x.Find("/b")->values[0], 1.0);
  const ControlsArrays copy = x;  // owns a copy of the caller's values
  EXPECT_NE(copy.Values(), other.data());
  EXPECT_EQ(copy.Find("/a")->values[2], 1.0);
  EXPECT_EQ(x.Add(PETSC_COMM_SELF, "/a", {2, 3}), 0);  // an existing array: nothing to add
  EXPECT_EQ(PetscPushErrorHandler(PetscReturnErrorHandler, nullptr), 0);
  EXPECT_NE(x.Add(PETSC_COMM_SELF, "/c", {2}), 0);  // a new array in the caller's memory
  EXPECT_EQ(PetscPopErrorHandler(), 0);
}

}  // namespace
