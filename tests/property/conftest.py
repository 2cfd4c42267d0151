"""The modules never close their HTTP clients (a module process exits right after): run in-process hundreds
of times, their sockets are collected later, which is not a finding of these tests."""


def pytest_configure(config):
    config.addinivalue_line("filterwarnings", "ignore::ResourceWarning")
    config.addinivalue_line("filterwarnings", "ignore::pytest.PytestUnraisableExceptionWarning")
