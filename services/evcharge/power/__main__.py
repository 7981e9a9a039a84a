from ..common import names
from ..common.service import main_entry
from .service import build

if __name__ == "__main__":
    main_entry("power", names.POWER_SUPPLY, build)
