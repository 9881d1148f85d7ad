"""Content disarm: every document's safe copy, rebuilt from what it shows (docs/disarm.md).

PDFs and office documents become plain PDFs of page pictures, images are re-encoded without
metadata, text is re-encoded as UTF-8. The document is parsed in a separate process with no
network and CPU, memory and time limits, which sends back only raw pixels and text; `make_safe`
waits for it, checks what it sends and builds the safe copy itself.
"""

from portal.disarm.engine import make_safe
from portal.disarm.outcome import CODES, CouldNotMakeSafe, SafeCopy

__all__ = ["CODES", "CouldNotMakeSafe", "SafeCopy", "make_safe"]
