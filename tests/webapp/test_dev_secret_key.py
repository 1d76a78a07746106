"""Workers starting together agree on the generated development SECRET_KEY."""

from __future__ import annotations

import multiprocessing

from webapp.config import _dev_secret_key


def _key(folder, queue) -> None:
    queue.put(_dev_secret_key(folder))


def test_racing_workers_share_one_key(tmp_path):
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_key, args=(tmp_path, queue)) for _ in range(8)]
    for worker in workers:
        worker.start()
    keys = {queue.get(timeout=30) for _ in workers}
    for worker in workers:
        worker.join()
    assert len(keys) == 1
    assert [p.name for p in tmp_path.iterdir()] == [".dev-secret-key"]
    assert _dev_secret_key(tmp_path) == keys.pop()
