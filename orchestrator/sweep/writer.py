"""Store writes off the reading thread."""

import queue
import threading
from typing import Optional


class BackgroundWriter:
    """Store writes in a thread of their own: reading a device's stream (and sending it the
    next trial) never waits on the database. Writes keep their order; `drain` waits for them."""

    def __init__(self):
        self._queue: "queue.Queue" = queue.Queue()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self.failure: Optional[BaseException] = None

    def _run(self):
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                function, args = item
                function(*args)
            except Exception as exc:  # kept and raised by drain(): a lost write must not pass silently
                self.failure = self.failure or exc
            finally:
                self._queue.task_done()

    def put(self, function, *args) -> None:
        self._queue.put((function, args))

    def drain(self) -> None:
        self._queue.join()
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self.failure is not None:
            raise self.failure
