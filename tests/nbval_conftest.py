"""conftest.py placed beside the notebooks in nbval's scratch work dir (see test_notebooks.py).

stderr is not compared: TensorFlow prints start-up lines there that no log level silences.
Errors still fail the run, and stdout and rich outputs are compared.
"""


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr",)
