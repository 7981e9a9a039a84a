from ..common import notls  # noqa: F401 - first, before anything imports asyncio: see there

# isort: split
from ..common import names
from ..common.service import main_entry
from .service import build

if __name__ == "__main__":
    main_entry("evse", names.EVSE, build)
