"""Shared by the attack plugins: defeat the Python-level layers the way a real attacker would.

`len.__self__` is the real builtins module; `print.__self__` is the sandbox's import guard.
After `full_python()` the plugin has an unrestricted interpreter: whatever still holds is
the kernel's work (namespaces, seccomp, rlimits).
"""


def full_python():
    guard = print.__self__
    guard.active = False  # the audit tripwire is only a tripwire
    real_import = len.__self__.__import__
    sys = real_import("sys")
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "_RefuseNewModules"]
    import_ = real_import

    def imp(name):
        import_(name)
        return sys.modules[name]

    return imp
