"""The LocalCluster `--cluster local:N` starts (segmenter.engine.cluster): it keeps to
itself, whatever else runs on the machine."""

from __future__ import annotations

import socket
import warnings

import pytest

from segmenter.engine.cluster import _local_cluster

pytest.importorskip("distributed", reason="pip install '.[cluster]' (setup.sh --for-tests)")


def test_a_taken_dask_dashboard_port_is_not_the_users_concern() -> None:
    """Port 8787 (Dask's dashboard, e.g. a notebook's cluster) taken: the scheduler's HTTP
    server went there anyway and Dask warned "Port 8787 is already in use ... Hosting the
    HTTP server on port N instead" on the user's terminal (seen in a Ctrl-C test's output).
    It now listens on a free port of the loopback only."""
    import distributed

    taken = socket.socket()
    taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        taken.bind(("127.0.0.1", 8787))
        taken.listen()
    except OSError:
        pass  # taken by someone else already: the same situation
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            cluster = _local_cluster(distributed, 1)
        try:
            http = cluster.scheduler.http_server
            hosts = {s.getsockname()[0] for s in http._sockets.values()}
        finally:
            cluster.close()
    finally:
        taken.close()
    assert [str(w.message) for w in seen if "8787" in str(w.message)] == []
    assert hosts == {"127.0.0.1"}
