"""The modules never close their HTTP clients (a module process exits right after): run in-process hundreds
of times, their sockets are collected later, which is not a finding of these tests."""


def pytest_configure(config):
    config.addinivalue_line("filterwarnings", "ignore::ResourceWarning")
    config.addinivalue_line("filterwarnings", "ignore::pytest.PytestUnraisableExceptionWarning")


def pytest_collection_modifyitems(items):
    """Each shard of the fault-sequence test first in the part of the list that ``--dist worksteal`` hands one
    worker (shard k at k/SHARDS of the list): the shards are most of the suite's time, and a worker never gives
    up the two tests at the head of its queue, so two shards that start on one worker run one after the other."""
    shards = [item for item in items if item.originalname == "test_any_fault_sequence_is_survived"]
    if len(shards) < 2:
        return
    rest = [item for item in items if item not in shards]
    total = len(items)
    for index, shard in enumerate(shards):
        rest.insert(index * total // len(shards), shard)
    items[:] = rest
