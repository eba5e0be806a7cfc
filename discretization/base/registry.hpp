// Registry: names in, objects out, for every pluggable piece of ctflow (operators, substep integrators,
// splitting schemes, controls sources): PETSc's TSRegister / TSRegisterAll / TSRegisterDestroy pattern as
// one template instead of a copy per kind.
//
//   static Registry<MyCreator> registry("substep integrator", "substep integrators", RegisterBuiltins);
//   PetscCall(registry.Register("euler", EulerCreate));     // users add their own the same way
//   const MyCreator *create;
//   PetscCall(registry.Find(comm, name, &create));         // "unknown substep integrator 'x'; known ...: euler, ts"
//
// The built-in entries are added by `builtins` on first use after PetscInitialize; PetscFinalize empties every
// registry (through one PetscRegisterFinalize callback), so a program may initialise PETSc again. Entries keep
// their registration order, which is the order of -help and of error messages; registering a name again
// replaces its entry in place.
#pragma once
#include <petscsys.h>

#include <string>
#include <utility>
#include <vector>

namespace ctflow {

namespace detail {
// Clears every registry at PetscFinalize; registers the callback with PETSc once per PetscInitialize.
class RegistryBase {
 public:
  virtual ~RegistryBase() = default;
  virtual void Clear() = 0;

 protected:
  static PetscErrorCode TrackForFinalize(RegistryBase *registry);
};
}  // namespace detail

template <typename Entry>
class Registry : public detail::RegistryBase {
 public:
  using Builtins = PetscErrorCode (*)(Registry &);
  // kind, known: how messages name an entry and the list ("unknown <kind> 'x'; known <known>: a, b").
  Registry(const char kind[], const char known[], Builtins builtins) : kind_(kind), known_(known), builtins_(builtins) {}

  PetscErrorCode Register(const std::string &name, Entry entry) {
    PetscFunctionBeginUser;
    PetscCall(Populate());
    PetscCall(Add(name, std::move(entry)));
    PetscFunctionReturn(0);
  }
  // The entry of `name`; an unknown name is an error on comm listing the known ones.
  PetscErrorCode Find(MPI_Comm comm, const std::string &name, const Entry **entry) {
    PetscFunctionBeginUser;
    PetscCall(Populate());
    for (const auto &e : entries_)
      if (e.first == name) {
        *entry = &e.second;
        PetscFunctionReturn(0);
      }
    SETERRQ(comm, PETSC_ERR_USER_INPUT, "unknown %s '%s'; known %s: %s", kind_, name.c_str(), known_, NameList().c_str());
  }
  PetscErrorCode Has(const std::string &name, bool *has) {
    PetscFunctionBeginUser;
    PetscCall(Populate());
    *has = false;
    for (const auto &e : entries_) *has = *has || e.first == name;
    PetscFunctionReturn(0);
  }
  // The names in registration order, and comma separated.
  PetscErrorCode Names(std::vector<std::string> *names) {
    PetscFunctionBeginUser;
    PetscCall(Populate());
    names->clear();
    for (const auto &e : entries_) PetscCallCXX(names->push_back(e.first));
    PetscFunctionReturn(0);
  }
  std::string NameList() {
    std::string s;
    if (Populate()) return s;
    for (const auto &e : entries_) s += (s.empty() ? "" : ", ") + e.first;
    return s;
  }
  // The names as a PetscFunctionList, for PetscOptionsFList (-help lists the choices).
  PetscErrorCode OptionsList(PetscFunctionList *list) {
    PetscFunctionBeginUser;
    PetscCall(Populate());
    *list = names_;
    PetscFunctionReturn(0);
  }
  void Clear() override {
    entries_.clear();
    (void)PetscFunctionListDestroy(&names_);
    populated_ = false;
  }

 private:
  static void Placeholder() {}
  PetscErrorCode Populate() {
    PetscFunctionBeginUser;
    if (populated_) PetscFunctionReturn(0);
    populated_ = true;
    PetscCall(TrackForFinalize(this));
    PetscCall(builtins_(*this));
    PetscFunctionReturn(0);
  }
  PetscErrorCode Add(const std::string &name, Entry entry) {
    PetscFunctionBeginUser;
    for (auto &e : entries_)
      if (e.first == name) {
        e.second = std::move(entry);
        PetscFunctionReturn(0);
      }
    PetscCallCXX(entries_.emplace_back(name, std::move(entry)));
    PetscCall(PetscFunctionListAdd(&names_, name.c_str(), Placeholder));
    PetscFunctionReturn(0);
  }

  const char *kind_, *known_;
  Builtins builtins_;
  bool populated_ = false;
  std::vector<std::pair<std::string, Entry>> entries_;
  PetscFunctionList names_ = nullptr;
};

}  // namespace ctflow
