"""Progress bars for long work: tqdm when it helps, silence otherwise."""

from __future__ import annotations

import contextlib
import contextvars

from ._options import check_show_progress

# Work expected to take longer than this (in seconds) shows a bar when show=None.
AUTO_SECONDS = 2.0


# False inside a call that speaks for the whole work with a bar of its own (or was told
# show_progress=False): the bars of the searches it runs inside decide nothing then
_INNER_BARS = contextvars.ContextVar("vecdiag_inner_bars", default=True)


@contextlib.contextmanager
def inner_bars_off():
    """Inside the block, a bar left to decide for itself (``show=None``) stays hidden:
    the calling function's own bar, or its ``show_progress=False``, covers the work it
    runs (a search inside ``vd.diagnose`` showed "knn search" under
    ``show_progress=False``). ``show=True`` still shows one."""
    token = _INNER_BARS.set(False)
    try:
        yield
    finally:
        _INNER_BARS.reset(token)


class _NoBar:
    """Stand-in with tqdm's small interface, used when no bar is shown."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def progress_bar(total: int, *, desc: str, show: bool | None = None,
                 expected_seconds: float | None = None, unit: str | None = None):
    """A tqdm bar over ``total`` steps, or a silent stand-in.

    ``show=True`` forces the bar, ``False`` hides it; ``None`` shows it only when
    ``expected_seconds`` exceeds :data:`AUTO_SECONDS`. ``unit`` names what is counted
    (then shown with k/M/G prefixes, for large counts such as scored pairs). ``show``
    is the caller's ``show_progress``: anything else is refused by that name (the
    string "no" is truthy, so it showed a bar).
    """
    show = check_show_progress(show)
    if show is None:
        show = (_INNER_BARS.get() and expected_seconds is not None
                and expected_seconds > AUTO_SECONDS)
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    if unit is None:
        return tqdm(total=total, desc=desc, leave=False)
    return tqdm(total=total, desc=desc, leave=False, unit=unit, unit_scale=True)
