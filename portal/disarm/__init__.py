"""Content disarm: every document's safe copy, rebuilt from what it shows (docs/disarm.md).

PDFs and office documents become plain PDFs of page pictures, images are re-encoded without
metadata, text is re-encoded as UTF-8. The conversion runs in a separate process with no network
and CPU, memory, time and output limits; `make_safe` waits for it.
"""

from portal.disarm.engine import make_safe
from portal.disarm.outcome import CODES, CouldNotMakeSafe, SafeCopy

__all__ = ["CODES", "CouldNotMakeSafe", "SafeCopy", "make_safe"]
