"""Opens a page in headless Chromium, as a user's browser would, and reports what went wrong:
console errors, uncaught exceptions, failed resource loads, requests that left file:// and
images that did not load. Standard library only: the Chrome DevTools Protocol over
`--remote-debugging-pipe` (Chromium reads commands on fd 3 and writes replies on fd 4, each a
JSON message ended by a NUL byte).

    with Chromium() as browser:
        page = browser.open(Path("out/index.html"))
    page.problems   # one line per thing that went wrong, empty when the page rendered
    page.checks     # what CHECKS (JavaScript run in the loaded page) returned
"""

import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import List, Optional

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--remote-debugging-pipe",
]
# Run in the page once it has loaded: what the tests check, as JSON.
CHECKS = """JSON.stringify({
  images: Array.from(document.images).map(i => ({
    src: i.getAttribute('src'), alt: i.alt, complete: i.complete, width: i.naturalWidth})),
  tables: Array.from(document.querySelectorAll('table')).map(t => ({
    id: t.id, section: t.closest('section') ? t.closest('section').id : null,
    caption: t.caption ? t.caption.textContent : null, rows: t.tBodies.length ? t.tBodies[0].rows.length : 0})),
  figures: Array.from(document.querySelectorAll('figure[data-kind]')).map(f => f.dataset.kind),
  title: document.title,
})"""
LOCAL_SCHEMES = ("file:", "data:", "about:")


# Puts the two pipe ends on fds 3 and 4, where Chromium looks for them, then becomes Chromium
# (a shell cannot: dash redirects single-digit descriptors only).
ON_FDS_3_AND_4 = """import os, sys
commands, replies = int(sys.argv[1]), int(sys.argv[2])
os.dup2(commands, 3)
os.dup2(replies, 4)
os.close(commands)
os.close(replies)
os.execv(sys.argv[3], sys.argv[3:])
"""


def _above_4(fd: int) -> int:
    """The same pipe end on a descriptor above 4, so that moving it to 3 or 4 overwrites nothing."""
    if fd > 4:
        return fd
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5)
    os.close(fd)
    return moved


def find_chromium() -> Optional[str]:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class PageReport:
    def __init__(self, problems: List[str], checks: dict):
        self.problems = problems
        self.checks = checks


class DevToolsPipe:
    """Commands out on one pipe, replies and events in on the other (a reader thread)."""

    def __init__(self, to_browser: int, from_browser: int):
        self._out = os.fdopen(to_browser, "wb", buffering=0)
        self._in = os.fdopen(from_browser, "rb", buffering=0)
        self._messages: "queue.Queue[Optional[dict]]" = queue.Queue()
        self._next_id = 0
        self.events: List[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        pending = b""
        while True:
            try:
                chunk = self._in.read(65536)
            except OSError:
                chunk = b""
            if not chunk:
                self._messages.put(None)  # the browser closed its end
                return
            pending += chunk
            *whole, pending = pending.split(b"\0")
            for raw in whole:
                self._messages.put(json.loads(raw.decode("utf-8")))

    def _next(self, deadline: float) -> dict:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("Chromium did not answer in time")
        try:
            message = self._messages.get(timeout=left)
        except queue.Empty:
            raise TimeoutError("Chromium did not answer in time") from None
        if message is None:
            raise ConnectionError("Chromium closed the DevTools pipe")
        if "id" not in message:
            self.events.append(message)
        return message

    def call(
        self, method: str, params: Optional[dict] = None, session: Optional[str] = None, timeout_s=120.0
    ):
        """Sends one command and returns its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        command = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            command["sessionId"] = session
        self._out.write(json.dumps(command).encode("utf-8") + b"\0")
        deadline = time.monotonic() + timeout_s
        while True:
            message = self._next(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError("%s failed: %s" % (method, message["error"]))
                return message.get("result", {})

    def wait_for_event(self, method: str, session: str, timeout_s: float, since: int = 0) -> None:
        """Until `method` arrives for `session` among the events from index `since` on."""
        deadline = time.monotonic() + timeout_s

        def arrived() -> bool:
            return any(e["method"] == method and e.get("sessionId") == session for e in self.events[since:])

        while not arrived():
            self._next(deadline)

    def close(self) -> None:
        """After the browser has exited: its end closed, the reader sees the end of the pipe."""
        self._out.close()
        self._reader.join(timeout=10)
        self._in.close()


class Chromium:
    """One headless Chromium with a private profile, stopped by its PID on exit."""

    def __init__(self, binary: Optional[str] = None, timeout_s: float = 180.0):
        self.binary = binary or find_chromium()
        if not self.binary:
            raise FileNotFoundError("no chromium on PATH")
        self.timeout_s = timeout_s

    def __enter__(self) -> "Chromium":
        self._profile = tempfile.TemporaryDirectory(prefix="edgebench-chromium-")
        commands_r, commands_w = (_above_4(fd) for fd in os.pipe())
        replies_r, replies_w = (_above_4(fd) for fd in os.pipe())
        argv = [self.binary, *FLAGS, "--user-data-dir=" + self._profile.name, "about:blank"]
        self.process = subprocess.Popen(
            [sys.executable, "-c", ON_FDS_3_AND_4, str(commands_r), str(replies_w), *argv],
            pass_fds=(commands_r, replies_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(commands_r)
        os.close(replies_w)
        self.pipe = DevToolsPipe(commands_w, replies_r)
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.pipe.call("Browser.close", timeout_s=10)
        except (RuntimeError, TimeoutError, ConnectionError, OSError):
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)
        self.pipe.close()
        self._profile.cleanup()

    def _wait_until_loaded(self, session: str, url: str) -> None:
        """Polls, with a deadline, until the page itself (not about:blank) has loaded."""
        deadline = time.monotonic() + self.timeout_s
        while not _loaded(self.pipe, session, url):
            if time.monotonic() > deadline:
                raise TimeoutError("chromium: %s did not finish loading in %.0f s" % (url, self.timeout_s))
            time.sleep(0.05)

    def open(self, page: Path) -> PageReport:
        """Loads `page` in a new tab, waits for its load event, and reports what went wrong."""
        pipe = self.pipe
        target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            pipe.call(domain + ".enable", session=session)
        since = len(pipe.events)  # about:blank's own load event, if late, is not the page's
        url = Path(page).resolve().as_uri()
        pipe.call("Page.navigate", {"url": url}, session=session)
        pipe.wait_for_event("Page.loadEventFired", session, self.timeout_s, since=since)
        self._wait_until_loaded(session, url)
        answer = pipe.call("Runtime.evaluate", {"expression": CHECKS, "returnByValue": True}, session=session)
        checks = json.loads(answer["result"]["value"])
        events = [e for e in pipe.events if e.get("sessionId") == session]
        return PageReport(problems_in(events) + broken_images(checks), checks)


LOADED = "document.readyState === 'complete' && location.href === %s"


def _loaded(pipe, session: str, url: str) -> bool:
    answer = pipe.call(
        "Runtime.evaluate", {"expression": LOADED % json.dumps(url), "returnByValue": True}, session=session
    )
    return answer["result"].get("value") is True


def problems_in(events: List[dict]) -> List[str]:
    """One line per console error, uncaught exception, failed load or request off this machine."""
    found = []
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            found.append("console error: " + text)
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            found.append(
                "exception: " + details.get("exception", {}).get("description", details.get("text", ""))
            )
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            found.append("log error: %s %s" % (entry.get("text", ""), entry.get("url", "")))
        elif method == "Network.loadingFailed":
            found.append("failed load: %s (%s)" % (params.get("requestId"), params.get("errorText")))
        elif method == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            if not url.startswith(LOCAL_SCHEMES):
                found.append("request off this machine: " + url)
    return found


def broken_images(checks: dict) -> List[str]:
    return [
        "image did not load: %s" % image["src"]
        for image in checks.get("images", [])
        if not image["complete"] or not image["width"]
    ]
