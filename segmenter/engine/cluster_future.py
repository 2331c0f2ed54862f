"""`ClusterFuture`: a concurrent.futures Future settled by a Dask future, as the pool
seam's callers expect (engine.cluster says where Dask's futures differ)."""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError, Future
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")


class ClusterFuture(Future[T]):
    """A concurrent.futures Future settled by a Dask future. `cancel()` succeeds until
    the outcome arrives, as Dask's does, and what arrives after it is dropped."""

    def __init__(self, remote: Any, fetch: bool = True) -> None:
        super().__init__()
        self.remote = remote
        self.fetch = fetch  # False: the result stays on the cluster (None here)
        self._settling = threading.Lock()

    def cancel(self) -> bool:
        with self._settling:
            if self.cancelled():  # a stop, then the pool's close: cancelled once
                return True
            if not super().cancel():
                return False
            self.set_running_or_notify_cancel()  # wakes wait() at once
        self.remote.cancel()
        return True

    def settle(self, remote: Any) -> None:
        """Dask's done callback (its own thread)."""
        with self._settling:
            if self.cancelled() or not self.set_running_or_notify_cancel():
                return  # cancelled here: the task may have finished anyway; dropped
        try:
            if self.fetch:
                self.set_result(remote.result())
            elif (exc := remote.exception()) is not None:
                raise exc
            else:
                self.set_result(None)  # type: ignore[arg-type]
        except CancelledError as exc:  # cancelled by Dask (lost), not by us: re-run it
            self.set_exception(BrokenProcessPool(f"the cluster lost the task: {exc}"))
        except BaseException as exc:  # handed to the dispatch through the future
            if type(exc).__name__ == "KilledWorker":
                exc = BrokenProcessPool(f"its Dask worker died: {exc}")
            self.set_exception(exc)
