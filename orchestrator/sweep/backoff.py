"""The one backoff: exponential waits between attempts, until a deadline."""

from typing import Iterator

BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.5, 10.0


class Backoff:
    """Waits first_s, then twice as long each time (at most max_s), on an injected clock and
    sleep, as long as the next wait ends before `deadline`."""

    def __init__(
        self, seams, deadline: float, first_s: float = BACKOFF_FIRST_S, max_s: float = BACKOFF_MAX_S
    ):
        self.clock, self.sleep = seams.clock, seams.sleep
        self.deadline, self.delay, self.max_s = deadline, first_s, max_s

    @classmethod
    def within(cls, seams, timeout: float, **kwargs) -> "Backoff":
        return cls(seams, seams.clock() + timeout, **kwargs)

    def expired(self) -> bool:
        return self.clock() > self.deadline

    def can_wait(self) -> bool:
        return self.clock() + self.delay <= self.deadline

    def wait(self) -> None:
        self.sleep(self.delay)
        self.delay = min(self.delay * 2, self.max_s)

    def attempts(self) -> Iterator[int]:
        """Yields the attempt number, waiting between attempts; stops once the next wait
        would pass the deadline. The loop body returns (or breaks) on success."""
        number = 0
        while True:
            yield number
            if not self.can_wait():
                return
            self.wait()
            number += 1
