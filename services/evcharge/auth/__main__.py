from evcharge.common import notls  # noqa: F401 - first, before anything imports asyncio: see there

# isort: split
from evcharge.common import names
from evcharge.common.service import main_entry

from .service import build

if __name__ == "__main__":
    main_entry("auth", names.AUTH, build)
