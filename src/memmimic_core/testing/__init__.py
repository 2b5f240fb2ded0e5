"""Contract suites for plugin authors, shipped as a pytest plugin.

Subclass the contract of your plugin kind in your own test module and provide the fixture
it asks for; every test of the contract then runs against your backend::

    from memmimic_core.testing.ranker import RankerContract

    class TestMyRanker(RankerContract):
        @pytest.fixture
        def ranker(self):
            return MyRanker(MyRanker.Options(), context=None)

The fixtures in :mod:`memmimic_core.testing.plugin` (loaded automatically when MemMimic is
installed) build registered backends by name, so a suite can also run against any backend
chosen on the command line (``--memmimic-storage postgresql``).
"""
