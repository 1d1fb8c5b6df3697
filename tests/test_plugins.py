"""The plugin manager: built-ins, entry points, blocking and broken plugins."""

from __future__ import annotations

import pytest

from rnnbench.errors import BackendUnavailable, PluginError, UsageError
from rnnbench.plugins import BLOCK_ENV, BUILTIN_PLUGINS, DISABLE_AUTOLOAD_ENV, make_plugin_manager
from rnnbench.plugins.registry import Registry


def test_builtins_are_registered_by_dotted_name(pm):
    assert {pm.get_name(p) for p in pm.get_plugins()} == set(BUILTIN_PLUGINS)
    assert pm.origin_of("rnnbench.backends.numpy_backend").describe() == "built-in"


def test_builtin_backends_are_listed_by_name(registry):
    assert {"numpy", "torch", "tensorflow", "jax"} <= set(registry.backend_names())


def test_entry_point_plugin_is_loaded_with_its_distribution(install_fake_plugin):
    install_fake_plugin("sample", "sample_plugin", "rnnbench-sample", "2.0.1")
    registry = Registry(make_plugin_manager())
    assert registry.task_entries["sample_task"].origin.describe() == "rnnbench-sample 2.0.1"
    entry = registry.backend_entries["missing"]
    assert entry.origin.describe() == "rnnbench-sample 2.0.1"
    assert entry.origin.plugin == "sample"


def test_entry_points_can_be_turned_off_by_environment(install_fake_plugin, monkeypatch):
    install_fake_plugin("sample", "sample_plugin")
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    assert "sample_task" not in Registry(make_plugin_manager()).task_names()


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_blocking_works_for_entry_points(install_fake_plugin, monkeypatch, how):
    install_fake_plugin("sample", "sample_plugin")
    if how == "environment":
        monkeypatch.setenv(BLOCK_ENV, "other, sample")
        pm = make_plugin_manager()
    else:
        pm = make_plugin_manager(block=["sample"])
    assert "sample_task" not in Registry(pm).task_names()
    assert "char_rnn" in Registry(pm).task_names()


def test_blocking_works_for_builtins():
    registry = Registry(make_plugin_manager(block=["rnnbench.backends.torch_backend"], load_entry_points=False))
    assert "torch" not in registry.backend_names()
    assert "numpy" in registry.backend_names()


def test_blocking_a_broken_plugin_lets_the_rest_load(install_fake_plugin, monkeypatch):
    install_fake_plugin("broken", "import_error")
    monkeypatch.setenv(BLOCK_ENV, "broken")
    assert "numpy" in Registry(make_plugin_manager()).backend_names()


def test_misspelled_hook_is_rejected_naming_the_plugin(install_fake_plugin):
    install_fake_plugin("typo", "misspelled_hook", "rnnbench-typo", "0.3")
    with pytest.raises(PluginError, match=r"'typo' \(rnnbench-typo 0.3\) implements an unknown hook.*"
                                          r"rnnbench_register_backend\b"):
        make_plugin_manager()


def test_import_error_names_the_plugin_and_how_to_block_it(install_fake_plugin):
    install_fake_plugin("broken", "import_error", "rnnbench-broken")
    with pytest.raises(PluginError) as info:
        make_plugin_manager()
    message = str(info.value)
    assert "'broken' (rnnbench-broken 1.2.3) failed to import: ModuleNotFoundError" in message
    assert f"{BLOCK_ENV}=broken" in message


def test_duplicate_backend_name_lists_both_origins(install_fake_plugin):
    install_fake_plugin("dup", "duplicate_name", "rnnbench-dup", "9.9")
    with pytest.raises(PluginError, match=r"Duplicate backend name 'numpy': registered by built-in "
                                          r"and by rnnbench-dup 9.9"):
        Registry(make_plugin_manager()).backend_names()


def test_registering_something_else_than_a_backend_class_is_rejected(install_fake_plugin):
    install_fake_plugin("bad", "bad_return")
    with pytest.raises(PluginError, match="registered 'not a class' as a backend. Accepted: a subclass of Backend"):
        Registry(make_plugin_manager()).backend_names()


def test_unknown_backend_lists_what_exists(registry):
    with pytest.raises(UsageError, match=r"Unknown backend 'foo'. Available: jax, numpy, tensorflow, torch"):
        registry.backend("foo")


def test_unknown_task_lists_what_exists(install_fake_plugin):
    install_fake_plugin("sample", "sample_plugin")
    with pytest.raises(UsageError, match=r"Unknown task 'nope'. Available: airline, char_rnn, forecasting, imdb, "
                                         r"sample_task"):
        Registry(make_plugin_manager()).task("nope")


def test_unavailable_backend_is_data_under_all_and_an_error_by_name(install_fake_plugin):
    install_fake_plugin("sample", "sample_plugin")
    registry = Registry(make_plugin_manager())
    chosen, skipped = registry.select_backends(["all"])
    assert "missing" not in [b.name for b in chosen]
    assert skipped["missing"].install_hint == 'pip install "rnnbench-missing"'
    with pytest.raises(BackendUnavailable, match=r"Backend 'missing' is not available: the module "
                                                 r"'rnnbench_no_such_framework' is not installed; install it "
                                                 r'with: pip install "rnnbench-missing"'):
        registry.select_backends(["missing"])


def test_each_manager_is_fresh(install_fake_plugin):
    first = make_plugin_manager(load_entry_points=False)
    install_fake_plugin("sample", "sample_plugin")
    second = make_plugin_manager()
    assert first.get_plugin("sample") is None
    assert second.get_plugin("sample") is not None
