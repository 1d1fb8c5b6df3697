"""Resident memory (RSS) of this process: its peak over a window of work.

Two sources, combined by taking the larger:

- a background thread reads the RSS every ``interval_s`` (psutil), which
  works everywhere psutil does but can miss a spike shorter than the
  interval;
- on Linux, the kernel's own high-water mark (``VmHWM``), which misses
  nothing; writing ``5`` to ``/proc/self/clear_refs`` resets it to the
  current RSS, so it can be read per window.

The sampler's thread needs the GIL for each read; the frameworks release it
inside their kernels, so reads keep coming during a step.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType

import psutil

DEFAULT_INTERVAL_S = 0.002
STATUS_FILE = Path("/proc/self/status")
CLEAR_REFS_FILE = Path("/proc/self/clear_refs")
RESET_PEAK = "5"  # clear_refs command that resets VmHWM to the current RSS (Linux >= 4.0)


def current_rss() -> int:
    """This process's resident set size now, in bytes."""
    return int(psutil.Process().memory_info().rss)


def kernel_peak_rss() -> int | None:
    """The kernel's RSS high-water mark (VmHWM) in bytes, or None where there is none."""
    try:
        for line in STATUS_FILE.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # reported in kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def reset_kernel_peak() -> bool:
    """Reset VmHWM to the current RSS; False where the kernel does not allow it."""
    try:
        CLEAR_REFS_FILE.write_text(RESET_PEAK)
    except OSError:
        return False
    return True


class RssSampler:
    """Reads the RSS every ``interval_s`` in a daemon thread and keeps the highest value per window."""

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.samples = 0  # RSS reads so far, by the thread and by ``take_peak``
        self._peak = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._process = psutil.Process()

    def _read(self) -> int:
        rss = int(self._process.memory_info().rss)
        with self._lock:
            self.samples += 1
            self._peak = max(self._peak, rss)
        return rss

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._read()

    def take_peak(self) -> int:
        """The highest RSS since the last call (a read now included); starts a new window."""
        self._read()
        with self._lock:
            peak, self._peak = self._peak, 0
        return peak

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()


class PeakTracker(RssSampler):
    """The sampler, plus the kernel's high-water mark where it can be reset per window."""

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        super().__init__(interval_s)
        self.kernel = False  # True once VmHWM is known to reset: every window then reads it too

    def __enter__(self) -> PeakTracker:
        self.kernel = reset_kernel_peak()
        super().__enter__()
        return self

    def take_peak(self) -> int:
        """The highest RSS since the last call, from both sources; starts a new window."""
        peak = super().take_peak()
        if self.kernel:
            peak = max(peak, kernel_peak_rss() or 0)
            reset_kernel_peak()
        return peak

    @property
    def source(self) -> str:
        """Where the peaks come from, for the record."""
        sampled = f"psutil RSS every {self.interval_s:g} s"
        return f"{sampled} and the kernel's VmHWM" if self.kernel else sampled
